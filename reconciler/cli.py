"""Command line: parse arguments, call into runs.py. Kept thin on purpose."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from . import runs
from .audit import AuditLog
from .runs import Console, UserError
from .text import safe

EPILOG = """\
exit codes (the same for every command):
  0  success; for diff/drift/verify: live equals git
  1  error (bad input or usage, unreachable target, failed change or verification); nothing is
     applied unless the output lists which changes were
  2  diff/drift: changes pending. drift also counts findings that apply cannot fix, such as
     Authentik users who never set a password; apply: not confirmed (answered no, or no
     terminal and no --yes)
  3  refused: by a safety policy (too many changes, every record of a zone, apex NS), or a saved
     plan whose live or desired state moved since it was made; nothing applied

typical use:
  reconciler validate                 check desired/ offline (file:line:col messages)
  reconciler diff                     preview; exit 2 when changes are pending
  reconciler diff --out plan.json     save the plan for review
  reconciler apply plan.json --yes    apply exactly that plan, if live state has not moved
  reconciler drift                    read-only check for cron; records drift in the audit log
  reconciler demo                     everything above against the lab, no setup needed
"""


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print("apply: no terminal to ask on; pass --yes to apply without asking", file=sys.stderr)
        return False
    return input(prompt).strip().lower() in ("y", "yes")


class Parser(argparse.ArgumentParser):
    """Usage errors exit 1, not argparse's 2: in this product 2 means "changes pending"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(runs.EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """-c/--no-color/-q, accepted before and after the subcommand (`reconciler diff -q` works too)."""
    default: dict[str, object] = {"default": argparse.SUPPRESS} if suppress else {}
    config_default = {} if suppress else {"default": Path(os.environ.get("RECONCILER_CONFIG", "reconciler.yaml"))}
    parser.add_argument("-c", "--config", type=Path, **(default or config_default),
                        help="config file (default: ./reconciler.yaml or $RECONCILER_CONFIG)")
    parser.add_argument("--no-color", action="store_true", **default, help="never colour output")
    parser.add_argument("-q", "--quiet", action="store_true", **default, help="no progress or notes on stderr")


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                out.append(child)
                out.extend(_subparsers(child))
    return out


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="reconciler", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Keep Windows DNS / RFC 2136 DNS, Authentik and Stalwart equal to the YAML in git.")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="check desired/ offline; nothing is contacted",
                       description="Validate every file under desired/ against its JSON Schema and the "
                                   "per-type and mail checks. Exit 1 on any error.")
    p.add_argument("--desired", type=Path, help="desired-state folder (default: from the config, else ./desired)")
    p.add_argument("--json", action="store_true", help="machine-readable findings")
    p.add_argument("--skip-secrets", action="store_true",
                   help="do not check that secret references resolve (for CI without secrets)")

    p = sub.add_parser("diff", help="show what apply would change (exit 2 if anything)",
                       description="Read every target, compare with desired/, print the plan. "
                                   "Exit 0 in sync, 2 changes pending, 1 error.")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--out", type=Path, help="also save the plan to this file for `apply PLAN`")
    p.add_argument("--target", action="append", help="only this target (repeatable)")

    p = sub.add_parser("apply", help="apply the plan (asks first unless --yes)",
                       description="Make the plan, show it, ask, apply, read back to verify. With PLAN, "
                                   "apply exactly that saved plan and refuse if live state changed since.")
    p.add_argument("plan", nargs="?", type=Path, help="a plan saved by `diff --out`")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask (automation)")
    p.add_argument("--force", action="store_true", help="override safety limits (still audited)")
    p.add_argument("--target", action="append", help="only this target (repeatable)")

    p = sub.add_parser("drift", help="read-only drift check for cron/timers (exit 2 on drift)",
                       description="Like diff, but records what differs in the audit log. Never writes.")
    p.add_argument("--json", action="store_true", help="print the drift as JSON (the plan plus findings)")
    p.add_argument("--target", action="append", help="only this target (repeatable)")

    p = sub.add_parser("import", help="write desired YAML from a live target",
                       description="Adopt a live system: write its managed objects as desired YAML. "
                                   "Unmanaged objects (SOA, AD, dynamic records) are left out.")
    p.add_argument("--target", required=True, help="the configured target to read (e.g. dc1)")
    p.add_argument("--zone", action="append", default=[], help="only this zone (repeatable)")
    p.add_argument("--out", type=Path, default=Path("desired"), help="folder to write into (default desired/)")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist")

    p = sub.add_parser("audit", help="show or verify the audit log")
    audit_sub = p.add_subparsers(dest="audit_command", metavar="ACTION")
    audit_sub.required = True
    a = audit_sub.add_parser("show", help="print entries")
    a.add_argument("--run", help="only this run id")
    a.add_argument("--last-run", action="store_true", help="only the most recent run")
    a.add_argument("--tail", type=_positive, default=0, metavar="N", help="only the last N entries")
    a.add_argument("--json", action="store_true")
    audit_sub.add_parser("verify", help="check the hash chain; exit 1 if it is broken")

    p = sub.add_parser("lab", help="run the lab emulators and print a config that points at them",
                       description="Start loopback emulators of Windows DNS (WinRM), Authentik and Stalwart, "
                                   "seeded with the organisation's drifted state, until Ctrl-C.")
    p.add_argument("--dir", type=Path, default=Path(".reconciler/lab"), help="where to write lab config/secrets")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    p.add_argument("--no-seed", action="store_true", help="start empty")

    p = sub.add_parser("demo", help="lab + diff + apply + diff + audit, in one go",
                       description="Start the lab, show the drift against desired/, apply it, show that a "
                                   "second diff is empty and print the run's audit trail.")
    p.add_argument("--dir", type=Path, default=Path(".reconciler/demo"),
                   help="scratch folder for the demo's lab, config and audit log (emptied first)")
    p.add_argument("--desired", type=Path, default=Path("desired"), help="desired-state folder to use")

    from .commands_ext import add_extension_commands

    add_extension_commands(sub)
    for child in _subparsers(parser):
        _global_options(child, suppress=True)
    return parser


# A run builds tens of thousands of long-lived objects (records, resources) and frees little cyclic
# garbage; at CPython's default threshold (700 allocations) the collector re-scans them hundreds of
# times, about a tenth of a 10,000-record plan. Collections still run, just less often.
GC_THRESHOLD = (50_000, 20, 100)


def main(argv: list[str] | None = None) -> int:
    if gc.get_threshold()[0] < GC_THRESHOLD[0]:
        gc.set_threshold(*GC_THRESHOLD)
    parser = build_parser()
    args = parser.parse_args(argv)
    color = sys.stdout.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    console = Console(color=color, quiet=args.quiet)
    try:
        return dispatch(args, console)
    except BrokenPipeError:
        # `reconciler audit show | head`: the reader left; that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return runs.EXIT_OK
    except UserError as exc:
        console.error(str(exc))
        return runs.EXIT_ERROR
    except KeyboardInterrupt:
        console.error("interrupted; the audit log shows the run as unfinished")
        return 130


def dispatch(args: argparse.Namespace, console: Console) -> int:
    cmd = args.command
    if cmd == "validate":
        desired = args.desired
        if desired is None:
            desired = runs.load_config(args.config).desired if args.config.exists() else Path("desired")
        return runs.validate(desired, console, args.json, check_secrets=not args.skip_secrets)
    if cmd == "audit":
        return _audit(args, console)
    if cmd == "lab":
        from .lab.runner import run_lab

        return run_lab(args.dir, latency=args.latency_ms / 1000, seed=not args.no_seed, console=console)
    if cmd == "demo":
        from .lab.demo import run_demo

        return run_demo(args.dir, args.desired, console)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args, console))
    cfg = runs.load_config(args.config)
    if cmd == "diff":
        return runs.diff(cfg, console, as_json=args.json, out=args.out, targets=args.target)
    if cmd == "apply":
        return runs.apply(cfg, console, plan_file=args.plan, yes=args.yes, force=args.force,
                          targets=args.target, confirm=_confirm)
    if cmd == "drift":
        return runs.drift(cfg, console, as_json=args.json, targets=args.target)
    if cmd == "import":
        return runs.import_live(cfg, console, target=args.target, zones=args.zone, out_dir=args.out,
                                overwrite=args.overwrite)
    raise UserError(f"unknown command {cmd}")


def _audit_path(args: argparse.Namespace) -> Path:
    if args.config.exists():
        return runs.load_config(args.config).audit_log
    return Path(".reconciler/audit.jsonl")


def _audit(args: argparse.Namespace, console: Console) -> int:
    log = AuditLog(_audit_path(args))
    if not log.path.exists():
        raise UserError(f"no audit log at {log.path} (wrong config, or nothing has run yet)")
    if args.audit_command == "verify":
        report = log.verify()
        for problem in report.problems:
            console.say(f"BROKEN: {problem}")
        for run in report.unfinished_runs:
            console.say(f"unfinished run: {run} (started, never ended: killed or crashed)")
        if report.torn:
            console.say(f"{report.torn} torn line(s) from interrupted writes, each recorded by a torn_tail entry")
        console.say(f"{log.path}: {report.entries} entries, chain {'intact' if report.ok else 'BROKEN'}")
        return runs.EXIT_OK if report.ok else runs.EXIT_ERROR
    entries = log.entries()
    if args.last_run:
        runs_seen = [e.get("run") for e in entries if e.get("event") == "run_start"]
        args.run = runs_seen[-1] if runs_seen else None
    if args.run:
        entries = [e for e in entries if e.get("run") == args.run]
        if not entries:
            raise UserError(f"no run {args.run!r} in {log.path} (`reconciler audit show --json` lists run ids)")
    if args.tail:
        entries = entries[-args.tail:]
    for entry in entries:
        if args.json:
            console.say(json.dumps(entry, ensure_ascii=False))
        else:
            console.say(format_entry(entry))
    return runs.EXIT_OK


def format_entry(entry: dict[str, object]) -> str:
    import time as _time

    ts = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(float(entry.get("ts", 0) or 0)))  # type: ignore[arg-type]
    skip = {"seq", "ts", "run", "event", "prev", "hash", "before", "after"}
    fields = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in skip and v not in (None, [], {}))
    # str(): a torn line reads back as {"event": "unparseable"} without seq, and None has no :>5 format
    return safe(f"{entry.get('seq', '-')!s:>5} {ts} {entry.get('event')!s:<16} {fields}")


if __name__ == "__main__":
    sys.exit(main())
