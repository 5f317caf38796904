"""What a triggered run did, read back from the audit log entries it wrote.

Triggers (hook, serve, timer) need the same facts for their answer, the metrics, the status page and
notifications: which run, which commit, how many changes were applied per target, how many drift
items per target, what was refused or failed. The audit log already holds all of it, so a trigger
notes the log's size before the run and reads the entries appended after.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# status: ok · changes (drift found) · failed · refused · rejected (commit/event not usable) ·
# noop (nothing to do yet, e.g. a drift check before any commit was applied; never notified)
STATUS_BY_EXIT = {0: "ok", 1: "failed", 2: "changes", 3: "refused"}


@dataclass
class Outcome:
    kind: str  # "apply" or "drift"
    trigger: str
    status: str
    exit_code: int
    message: str = ""
    run_id: str | None = None
    commit: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    duration: float = 0.0
    summary: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)  # target -> changes applied
    drift: dict[str, int] = field(default_factory=dict)  # target -> drift items
    refusals: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    forced: bool = False  # safety refusals overridden on request (reconcile-commit --force)
    forceable: bool = True  # every refusal of a refused run can be overridden with --force

    @property
    def notable(self) -> bool:
        """Worth a notification: drift, a failure, a refusal or a rejected commit."""
        return self.status in ("failed", "refused", "rejected") or (self.kind == "drift" and self.status == "changes")

    def headline(self) -> str:
        commit = f" commit {self.commit.get('commit', '')[:12]}" if self.commit.get("commit") else ""
        counts = ", ".join(f"{k} {v}" for k, v in self.summary.items()) if self.summary else ""
        parts = [f"{self.kind}{commit}: {self.status}" + (" (forced)" if self.forced else "")]
        if self.kind == "apply" and self.applied:
            parts.append(f"{sum(self.applied.values())} change(s) applied")
        elif counts and self.kind == "apply":
            parts.append(f"plan {counts}")
        if self.drift and any(self.drift.values()):
            parts.append("drift " + ", ".join(f"{t} {n}" for t, n in sorted(self.drift.items()) if n))
        if self.message:
            parts.append(self.message)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "trigger": self.trigger, "status": self.status, "exit_code": self.exit_code,
                "message": self.message, "run": self.run_id, "commit": self.commit, "started": self.started,
                "duration": round(self.duration, 3), "summary": self.summary, "applied": self.applied,
                "drift": self.drift, "refusals": self.refusals, "errors": self.errors, "forced": self.forced}


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def entries_since(path: Path, offset: int) -> list[dict[str, Any]]:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return []
    out = []
    for raw in data.split(b"\n"):
        if raw.strip():
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a torn line; the audit log records it on its next append
    return out


def fill(outcome: Outcome, entries: list[dict[str, Any]]) -> Outcome:
    """Add what the run's audit entries say (the last run_start among them is the run)."""
    starts = [e for e in entries if e.get("event") == "run_start"]
    if not starts:
        return outcome
    run = starts[-1].get("run")
    outcome.run_id = run
    mine = [e for e in entries if e.get("run") == run]
    for entry in mine:
        event = entry.get("event")
        if event == "run_start" and isinstance(entry.get("source"), dict):
            src = entry["source"]
            outcome.commit = {k: src[k] for k in ("commit", "author", "subject", "branch") if k in src} or \
                outcome.commit
        elif event == "plan":
            outcome.summary = dict(entry.get("summary") or {})
        elif event == "change_result":
            if entry.get("ok"):
                target = str(entry.get("target"))
                outcome.applied[target] = outcome.applied.get(target, 0) + 1
            else:
                outcome.errors.append(f"{entry.get('target')}: {entry.get('error')}")
        elif event == "refusal":
            outcome.refusals.append(f"{entry.get('target', '')}: {entry.get('message')}".lstrip(": "))
            outcome.forceable = outcome.forceable and entry.get("forceable", True) is not False
        elif event == "error":
            outcome.errors.append(str(entry.get("message")))
        elif event == "drift":
            outcome.drift[str(entry.get("target"))] = int(entry.get("items") or 0)
        elif event == "verify" and not entry.get("ok"):
            outcome.errors.extend(str(f) for f in entry.get("failures") or [])
    return outcome
