"""Subcommands of the GitOps triggers: serve, watch, reconcile-commit, hook, drift-check."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .. import runs
from ..runs import Console, UserError
from .outcome import Outcome


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="HTTP endpoint for push webhooks, drift timer, /metrics, status page",
                       description="Listen for push webhooks from Gitea/Forgejo, GitHub or GitLab (POST /webhook), "
                                   "reconcile the tracked branch in the background, check drift periodically, "
                                   "serve /healthz, /metrics and a status page on /. Settings: serve: in the config.")
    p.set_defaults(handler=_serve)

    p = sub.add_parser("watch", help="re-validate and re-diff desired/ on every save",
                       description="Watch desired/; after each save (debounced) validate everything and show the "
                                   "plan against the configured targets. Read-only; nothing is applied.")
    p.add_argument("--offline", action="store_true", help="validate only; contact no target")
    p.add_argument("--debounce-ms", type=_non_negative_int, default=150,
                   help="quiet time before a check (default 150)")
    p.add_argument("--lab", action="store_true",
                   help="start the lab emulators and diff against them instead of the configured targets")
    p.add_argument("--desired", type=Path, default=Path("desired"), help="with --lab: the folder to watch")
    p.set_defaults(handler=_watch)

    p = sub.add_parser("reconcile-commit", help="fetch the tracked branch and apply its tip commit",
                       description="Fetch git.branch from git.repository (fast-forward only), export that one commit's "
                                   "desired/ and apply it, recording SHA, author and subject in the audit log. "
                                   "A commit that fails validation is rejected whole. Uncommitted edits are "
                                   "never applied.")
    p.add_argument("commit", nargs="?", metavar="SHA",
                   help="the pushed commit; refused unless the branch holds it (with --force: unless it is the tip)")
    p.add_argument("--force", action="store_true",
                   help="override safety refusals (max_change_share, apex NS) for this run; audited as forced. "
                        "Give the SHA the refusal named, so a newer, unreviewed tip is not forced")
    p.add_argument("--accept-rewrite", action="store_true",
                   help="accept a tip that does not descend from the last accepted commit (audited)")
    p.add_argument("--wait", type=_seconds, help="seconds to wait for another run's lock (default: lock.wait)")
    p.add_argument("--trigger", type=_trigger_name, default="cli",
                   help="name recorded as the run's trigger (default cli; the poll timer unit passes poll-timer)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON on the last line")
    p.set_defaults(handler=_reconcile_commit)

    p = sub.add_parser("hook", help="git server hook entry (post-receive)",
                       description="Run from a bare repository's hooks/post-receive: reads '<old> <new> <ref>' lines "
                                   "on stdin, reconciles a push to the tracked branch and prints the plan back to "
                                   "the pusher. See deploy/git/post-receive.")
    p.add_argument("hook_name", choices=["post-receive"])
    p.add_argument("--wait", type=_seconds, help="seconds to wait for another run's lock")
    p.set_defaults(handler=_hook)

    p = sub.add_parser("drift-check", help="drift check of the deployed commit, with notifications (timers)",
                       description="Compare live state with the last applied commit (or desired/ without git:), "
                                   "record drift in the audit log and notify. Exit 0 in sync, 2 drift, 1 error. "
                                   "Before the first commit is applied there is nothing to compare: exit 0 with "
                                   "a note, no notification.")
    p.add_argument("--wait", type=_seconds, help="seconds to wait for another run's lock")
    p.add_argument("--trigger", type=_trigger_name, default="cli",
                   help="name recorded as the run's trigger (default cli; deploy/systemd's timer passes timer)")
    p.set_defaults(handler=_drift_check)


# Argument types: a bad value is a usage error, which the top-level parser (cli.Parser) turns into
# exit 1 — never argparse's own 2, which means "changes pending" in this product.
def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _trigger_name(text: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", text):
        raise argparse.ArgumentTypeError("lower-case letters, digits and '-', at most 32 characters")
    return text


def _runner(args: argparse.Namespace, console: Console) -> Any:
    from .runner import Runner

    return Runner(runs.load_config(args.config), console)


def _serve(args: argparse.Namespace, console: Console) -> int:
    from .serve import run_serve

    return run_serve(runs.load_config(args.config), console)


def _watch(args: argparse.Namespace, console: Console) -> int:
    from .watch import run_watch

    if not args.lab:
        return run_watch(runs.load_config(args.config), console, offline=args.offline, debounce_ms=args.debounce_ms)
    from ..lab import runner as labrunner

    with labrunner.running(Path(".reconciler/watch-lab"), desired=args.desired) as lab:
        path = lab.write_config(args.desired)
        os.environ.update(lab.env)  # lab-only values the desired state refers to (env:…)
        for service in lab.services:
            console.note(f"lab: {service.name}: {service.describe()}")
        return run_watch(runs.load_config(path), console, offline=args.offline, debounce_ms=args.debounce_ms)


def _finish(outcome: Outcome, console: Console, as_json: bool = False) -> int:
    console.say(f"reconciler: {outcome.headline()}" + (f" (run {outcome.run_id})" if outcome.run_id else ""))
    if as_json:
        console.say(json.dumps(outcome.to_json(), ensure_ascii=False))
    return outcome.exit_code


def _reconcile_commit(args: argparse.Namespace, console: Console) -> int:
    runner = _runner(args, console)
    outcome = runner.reconcile(args.trigger, expect=args.commit, accept_rewrite=args.accept_rewrite,
                               force=args.force, wait=args.wait)
    return _finish(outcome, console, args.json)


def _hook(args: argparse.Namespace, console: Console) -> int:
    from .gitsource import ZERO_SHA, scrub_git_env
    from .runner import trigger_event

    scrub_git_env()  # git set GIT_DIR & co. for the pushed repository; our clone is another one
    runner = _runner(args, console)
    if runner.source is None:
        raise UserError("the config has no git: section; the hook cannot know which branch to reconcile")
    tracked = runner.source.ref
    updates = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    newest = None
    for parts in updates:
        if len(parts) != 3:
            continue
        old, new, ref = parts
        if ref != tracked:
            console.say(f"reconciler: {ref} is not the tracked branch {runner.source.branch}; nothing to do")
            continue
        if new == ZERO_SHA:
            message = (f"branch {runner.source.branch} was deleted; deletion is never applied — the live systems "
                       "keep the last applied commit")
            console.say(f"reconciler: {message}")
            trigger_event(runner.cfg, "trigger_rejected", trigger="git-hook", reason="branch deleted", ref=ref,
                          before=old, message=message)
            continue
        newest = new
    if newest is None:
        return runs.EXIT_OK
    console.say(f"reconciler: reconciling {runner.source.branch} at {newest[:12]} …")
    outcome = runner.reconcile("git-hook", expect=newest, wait=args.wait)
    return _finish(outcome, console)


def _drift_check(args: argparse.Namespace, console: Console) -> int:
    runner = _runner(args, console)
    return _finish(runner.drift(args.trigger, wait=args.wait), console)
