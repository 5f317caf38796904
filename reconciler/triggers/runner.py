"""A triggered run: take the lock, fetch, accept one commit, export it, validate it, apply it.

Shared by the git hook, `reconciler serve` and the drift timer so each trigger behaves the same:

- one run at a time (lock.py), for the whole run including fetch and validation;
- exactly one commit, exported from git into a temporary folder (gitsource.py), recorded as the
  run's ``source`` (SHA, author, subject) so it lands in the audit log's run_start and plan entries;
- a commit whose desired state does not validate is rejected whole, audited, and nothing is applied;
- every outcome that needs a person (drift, failure, refusal, rejection) goes to notify.py.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import runs
from ..audit import AuditLog, new_run_id
from ..config import Config
from ..desired import loader
from ..runs import Console, UserError
from . import lock
from .gitsource import CommitInfo, GitSource, GitSourceError, HistoryRewritten
from .notify import Notifier
from .outcome import STATUS_BY_EXIT, Outcome, entries_since, fill, log_size

Listener = Callable[[Outcome], None]


def _yes(prompt: str) -> bool:
    return True


def force_command(cfg: Config, sha: str) -> str:
    """The exact command that applies ``sha`` over a safety refusal (names -c unless it is the default)."""
    default = Path(os.environ.get("RECONCILER_CONFIG", "reconciler.yaml"))
    config = "" if _same_file(cfg.path, default) else f"-c {shlex.quote(str(cfg.path))} "
    return f"reconciler {config}reconcile-commit {sha} --force"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def trigger_event(cfg: Config, event: str, **fields: Any) -> str:
    """Audit something a trigger decided on its own (rejected commit, ignored push …); returns the run id."""
    run = new_run_id()
    AuditLog(cfg.audit_log).append(event, run, **fields)
    return run


class Runner:
    """Runs triggered by hooks, webhooks and timers; reports each outcome to listeners and notifier."""

    def __init__(self, cfg: Config, console: Console, *, listeners: list[Listener] | None = None) -> None:
        self.cfg = cfg
        self.console = console
        self.source = GitSource.from_config(cfg)
        self.notifier = Notifier(cfg.section("notify"))
        self.listeners = list(listeners or [])

    # ---------------------------------------------------------------------------------------- apply
    def reconcile(self, trigger: str, *, expect: str | None = None, accept_rewrite: bool = False,
                  force: bool = False, wait: float | None = None) -> Outcome:
        """Fetch the tracked branch and apply its tip (a commit the branch holds), as one run.

        ``force`` overrides safety refusals (max_change_share, apex NS …) for this run only; with
        ``expect`` it applies only if that commit is the tip, so a force never reaches a commit
        nobody reviewed. Refusals a provider makes ("cannot") are never overridden.
        """
        outcome = Outcome("apply", trigger, "failed", runs.EXIT_ERROR)
        start = time.monotonic()
        try:
            with lock.guard(self.cfg, f"apply ({trigger}{', forced' if force else ''})", self.console.note,
                            UserError, wait=wait):
                offset = log_size(self.cfg.audit_log)
                info = self._reconcile(outcome, trigger, expect, accept_rewrite, force)
                fill(outcome, entries_since(self.cfg.audit_log, offset))
                if info is not None:
                    self._settle(outcome, trigger, info, force)
        except UserError as exc:  # the lock is busy
            self._busy(outcome, trigger, exc)
        outcome.duration = time.monotonic() - start
        return self._finish(outcome)

    def _reconcile(self, outcome: Outcome, trigger: str, expect: str | None, accept_rewrite: bool,
                   force: bool) -> CommitInfo | None:
        """Fetch, accept and apply; returns the commit when runs.apply ran (outcome has its exit code)."""
        source = self.source
        if source is None:
            outcome.message = "no git: section in the config; a triggered run needs git.repository and git.branch"
            self.console.error(outcome.message)
            trigger_event(self.cfg, "trigger_rejected", trigger=trigger, reason="no git source configured")
            return None
        try:
            tip = source.fetch()
            if expect and not source.contains(expect, tip):
                raise GitSourceError(f"commit {expect[:12]} is not on branch {source.branch} after fetching; "
                                     "nothing was applied")
            if force and expect and source.resolve(expect) != tip:
                # --force was decided for one reviewed commit; a newer tip gets its own decision.
                outcome.status, outcome.exit_code = "refused", runs.EXIT_REFUSED
                outcome.commit = {"commit": tip}
                outcome.message = (f"--force names commit {expect[:12]}, but the tip of {source.branch} is now "
                                   f"{tip[:12]}; nothing was applied. Review the new tip, then run "
                                   f"`{force_command(self.cfg, tip)}`")
                trigger_event(self.cfg, "trigger_rejected", trigger=trigger, reason="force for an older commit",
                              requested=expect, tip=tip, message=outcome.message)
                self.console.error(outcome.message)
                return None
            advance = source.advance(tip, accept_rewrite=accept_rewrite)
            info = source.commit_info(tip)
        except HistoryRewritten as exc:
            outcome.status, outcome.exit_code, outcome.message = "refused", runs.EXIT_REFUSED, str(exc)
            outcome.commit = {"commit": exc.tip}
            trigger_event(self.cfg, "history_rewritten", trigger=trigger, branch=source.branch,
                          accepted=exc.accepted, tip=exc.tip, message=str(exc))
            source.record("last_refused", exc.tip, trigger=trigger, reason="history rewritten", message=str(exc))
            self.console.error(str(exc))
            return None
        except GitSourceError as exc:
            outcome.status, outcome.message = "failed", str(exc)
            trigger_event(self.cfg, "trigger_failed", trigger=trigger, reason="git", message=str(exc))
            self.console.error(str(exc))
            return None
        source.record("fetched", info.sha, trigger=trigger)
        outcome.commit = {"commit": info.sha, "author": info.author, "subject": info.subject, "branch": info.branch}
        if advance.rewritten:
            trigger_event(self.cfg, "history_rewrite_accepted", trigger=trigger, branch=source.branch,
                          accepted=advance.previous, tip=tip, commit=info.sha)
        note = source.dirty_note()
        if note:
            self.console.note(note)
        self.console.note(f"commit {info.short} by {info.author}: {info.subject}")
        with tempfile.TemporaryDirectory(prefix="reconciler-commit-") as tmp:
            try:
                desired = source.export(info.sha, Path(tmp))
            except GitSourceError as exc:
                self._reject(outcome, trigger, info.to_source(), [str(exc)])
                return None
            state = loader.load(desired, base=Path(tmp), check_secrets=True,
                                controller_refs=runs.controller_refs(self.cfg))
            if not state.ok:
                self._reject(outcome, trigger, info.to_source(), [str(d) for d in state.diagnostics.errors])
                return None
            cfg = dataclasses.replace(self.cfg, desired=desired)
            # a forced run says so in its own run_start (with the user), beside the engine's `forced` entries
            run_source = {**info.to_source(), "forced": True} if force else info.to_source()
            outcome.forced = force
            try:
                code = runs.apply(cfg, self.console, plan_file=None, yes=True, force=force, targets=None,
                                  confirm=_yes, trigger=trigger, source=run_source)
            except UserError as exc:
                code = runs.EXIT_ERROR
                outcome.message = str(exc)
                self.console.error(str(exc))
        outcome.exit_code = code
        outcome.status = STATUS_BY_EXIT.get(code, "failed")
        return info

    def _settle(self, outcome: Outcome, trigger: str, info: CommitInfo, force: bool) -> None:
        """Record what became of the commit; only a complete apply makes it the deployed one."""
        source = self.source
        assert source is not None
        if outcome.exit_code == runs.EXIT_OK:
            source.record("applied", info.sha, trigger=trigger, **({"forced": True} if force else {}))
            return
        if outcome.exit_code == runs.EXIT_REFUSED:
            if outcome.forceable:
                hint = (f"nothing was applied; if this change is intended, an administrator overrides the "
                        f"refusal for this commit only with `{force_command(self.cfg, info.sha)}` (audited as "
                        "forced)")
            else:
                hint = "nothing was applied; the refusal cannot be overridden with --force (see the reasons)"
            outcome.message = "; ".join(m for m in (outcome.message, hint) if m)
            self.console.error(hint)
            source.record("last_refused", info.sha, trigger=trigger, reason="safety policy",
                          refusals=outcome.refusals[:20])
            return
        source.record("last_failed", info.sha, trigger=trigger, message=outcome.message,
                      applied=sum(outcome.applied.values()), errors=outcome.errors[:20])

    def _reject(self, outcome: Outcome, trigger: str, source: dict[str, Any], problems: list[str]) -> None:
        outcome.status, outcome.exit_code = "rejected", runs.EXIT_ERROR
        outcome.message = (f"commit {source['commit'][:12]} rejected: {len(problems)} problem(s) in desired/; "
                           "nothing was applied")
        outcome.errors = problems[:50]
        for problem in problems:
            self.console.error(problem)
        self.console.error(outcome.message)
        trigger_event(self.cfg, "commit_rejected", trigger=trigger, source=source, problems=problems[:200],
                      message=outcome.message)
        if self.source is not None:
            self.source.record("last_rejected", str(source["commit"]), trigger=trigger, message=outcome.message,
                               problems=problems[:20])

    # ---------------------------------------------------------------------------------------- drift
    def drift(self, trigger: str, *, wait: float | None = None) -> Outcome:
        """Compare live state with the last applied commit (or the configured desired/ without git)."""
        outcome = Outcome("drift", trigger, "failed", runs.EXIT_ERROR)
        start = time.monotonic()
        try:
            with lock.guard(self.cfg, f"drift ({trigger})", self.console.note, UserError, wait=wait):
                offset = log_size(self.cfg.audit_log)
                self._drift(outcome, trigger)
                fill(outcome, entries_since(self.cfg.audit_log, offset))
        except UserError as exc:
            self._busy(outcome, trigger, exc)
        outcome.duration = time.monotonic() - start
        return self._finish(outcome)

    def _drift(self, outcome: Outcome, trigger: str) -> None:
        source = self.source
        sha = None
        if source is not None:
            try:
                source.repo()
                sha = source.deployed()
            except GitSourceError as exc:
                outcome.message = str(exc)
                trigger_event(self.cfg, "trigger_failed", trigger=trigger, reason="git", message=str(exc))
                return
            if sha is None:
                # Nothing applied yet (a fresh install, or every commit so far rejected/refused): there is
                # no deployed state to compare with. Not an alarm; the first applied commit ends it.
                outcome.status, outcome.exit_code = "noop", runs.EXIT_OK
                outcome.message = ("no commit has been applied yet, so there is nothing to compare the live "
                                   "systems with; the first push (or `reconciler reconcile-commit`) applies one")
                self.console.note(f"drift-check: {outcome.message}")
                outcome.run_id = trigger_event(self.cfg, "drift_skipped", trigger=trigger,
                                               reason="nothing applied yet", message=outcome.message)
                return
        with tempfile.TemporaryDirectory(prefix="reconciler-drift-") as tmp:
            cfg, src = self.cfg, {}
            if source is not None and sha is not None:
                try:
                    info = source.commit_info(sha)
                    desired = source.export(sha, Path(tmp))
                except GitSourceError as exc:
                    outcome.message = str(exc)
                    trigger_event(self.cfg, "trigger_failed", trigger=trigger, reason="git", message=str(exc))
                    self.console.error(str(exc))
                    return
                src = info.to_source()
                outcome.commit = {"commit": info.sha, "author": info.author, "subject": info.subject}
                cfg = dataclasses.replace(self.cfg, desired=desired)
            try:
                code = runs.drift(cfg, self.console, as_json=False, targets=None, trigger=trigger, source=src)
            except UserError as exc:
                code = runs.EXIT_ERROR
                outcome.message = str(exc)
                self.console.error(str(exc))
        outcome.exit_code = code
        outcome.status = STATUS_BY_EXIT.get(code, "failed")

    # ---------------------------------------------------------------------------------------- after
    def _busy(self, outcome: Outcome, trigger: str, exc: Exception) -> None:
        outcome.status, outcome.message = "busy", str(exc)
        self.console.error(str(exc))
        trigger_event(self.cfg, "trigger_failed", trigger=trigger, reason="busy", message=str(exc))

    def _finish(self, outcome: Outcome) -> Outcome:
        if self.notifier.configured:
            for delivery in self.notifier.send(outcome):
                if not delivery.ok:
                    self.console.error(f"notification by {delivery.channel} failed: {delivery.error}")
                    AuditLog(self.cfg.audit_log).append("notify_failed", outcome.run_id, channel=delivery.channel,
                                                        error=delivery.error, status=outcome.status)
        for listener in self.listeners:
            listener(outcome)
        return outcome
