"""`reconciler demo`: the whole loop against the lab, start to finish, with nothing to set up.

1. start the lab seeded with the organisation's drifted live state;
2. `diff` against desired/ (exit 2: changes pending);
3. `apply --yes` (reads back to verify);
4. `diff` again (exit 0: in sync);
5. print the run's audit trail and verify the chain.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import runs
from ..audit import AuditLog
from ..runs import Console, UserError
from .runner import running


def _step(console: Console, title: str) -> None:
    bar = "=" * 78
    console.say("")
    console.say(f"\033[1m{title}\033[0m" if console.color else title)
    console.say(bar)


def run_demo(workdir: Path, desired: Path, console: Console) -> int:
    if not desired.is_dir():
        raise UserError(f"{desired}: no desired-state folder here; run the demo from the repository root")
    if workdir.exists():
        shutil.rmtree(workdir)  # a fresh lab and audit log every time
    with running(workdir, desired=desired) as lab:
        config_path = lab.write_config(desired)
        saved = {k: os.environ.get(k) for k in lab.env}
        os.environ.update(lab.env)
        try:
            cfg = runs.load_config(config_path)
            _step(console, "1. The lab (emulators on 127.0.0.1, seeded with today's drifted state)")
            for service in lab.services:
                console.say(f"  {service.name:<8} {service.describe()}")
            console.say(f"  config: {config_path}")

            _step(console, "2. reconciler diff — what differs between git and the live systems")
            code = runs.diff(cfg, console, as_json=False, out=None, targets=None)
            meaning = {0: "in sync", 2: "changes pending"}.get(code, "error")
            console.say(f"(exit code {code}: {meaning})")
            if code == runs.EXIT_ERROR:
                return code

            _step(console, "3. reconciler apply --yes — apply, then read back to verify")
            code = runs.apply(cfg, console, plan_file=None, yes=True, force=False, targets=None,
                              confirm=lambda _: True)
            console.say(f"(exit code {code})")
            if code != runs.EXIT_OK:
                return code

            _step(console, "4. reconciler diff — a second diff must be empty")
            code = runs.diff(cfg, console, as_json=False, out=None, targets=None)
            console.say(f"(exit code {code}: {'in sync' if code == 0 else 'NOT in sync'})")
            second = code

            _step(console, "5. reconciler audit show --last-run — the audit trail of the apply")
            from ..cli import format_entry

            log = AuditLog(cfg.audit_log)
            entries = log.entries()
            run_ids = [e.get("run") for e in entries if e.get("event") == "run_start"]
            for entry in entries:
                if run_ids and entry.get("run") == run_ids[-1]:
                    console.say(format_entry(entry))
            report = log.verify()
            console.say(f"audit verify: {report.entries} entries, chain {'intact' if report.ok else 'BROKEN'}")
            console.say("")
            console.say("Try it yourself: `reconciler lab` starts the lab and keeps it running; it prints the config")
            console.say("and the env file to use (README \"Everyday use\").")
            return runs.EXIT_OK if second == runs.EXIT_OK and report.ok else runs.EXIT_ERROR
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
