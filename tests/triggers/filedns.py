"""A small DNS provider for the trigger tests: RRsets kept in a JSON file, shared between processes.

The trigger tests exercise git, locks, webhooks and notifications, not a DNS server, so they use this
instead of a lab emulator (until one is wired in): it is registered under the `rfc2136` kind by
monkeypatching `reconciler.providers.base.REGISTRY` (in-process) or by `install()` (subprocesses).
Reads and writes take an flock on the file, so two processes see each other's changes, and tests
change the "live" state behind reconciler's back to make drift. Knobs for fault tests, by
environment so each process can differ: FILEDNS_APPLY_DELAY (seconds to sleep inside apply, after
writing `<state>.applying` with the pid) and FILEDNS_CRASH_ONCE (a file: if it exists, apply deletes
it and raises, like a provider bug).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from reconciler.config import Target
from reconciler.model import dns as m
from reconciler.model.resource import Resource
from reconciler.plan import Change
from reconciler.providers import base
from reconciler.providers.base import BaseProvider, ChangeResult, LiveState, Progress, Scope, no_progress

KIND = "rfc2136"
SPEC = "tests.triggers.filedns:create"


def install() -> None:
    base.REGISTRY[KIND] = SPEC


@contextlib.contextmanager
def locked(path: Path) -> Iterator[dict[str, Any]]:
    """The state as a dict, written back when the block ends (under an exclusive flock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, os.fstat(fd).st_size, 0)
        state: dict[str, Any] = json.loads(raw) if raw.strip() else {}
        before = json.dumps(state, sort_keys=True)
        yield state
        after = json.dumps(state, sort_keys=True, ensure_ascii=False).encode()
        if after != before.encode():
            os.ftruncate(fd, 0)
            os.pwrite(fd, after, 0)
            os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_state(path: Path) -> dict[str, Any]:
    with locked(path) as state:
        return dict(state)


def key_text(key: tuple[str, ...]) -> str:
    return "/".join(key)


class FileDns(BaseProvider):
    kinds = (m.KIND,)

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.path = Path(str(target.options["state"]))
        self.zones = set(target.options.get("zones") or [])

    def serves(self, resource: Resource) -> bool:
        return resource.kind == m.KIND and (not self.zones or resource.key[0] in self.zones)

    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState:
        live = LiveState(self.name)
        for key, data in read_state(self.path).items():
            zone, name, rtype = key.split("/")
            if self.zones and zone not in self.zones:
                continue
            live.add(Resource(m.KIND, (zone, name, rtype), {"ttl": data["ttl"], "values": sorted(data["values"])}))
        return live

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        delay = float(os.environ.get("FILEDNS_APPLY_DELAY", "0") or 0)
        if delay:
            Path(f"{self.path}.applying").write_text(str(os.getpid()))
            time.sleep(delay)
        crash = os.environ.get("FILEDNS_CRASH_ONCE")
        if crash and Path(crash).exists():
            Path(crash).unlink()
            raise RuntimeError("filedns: simulated provider crash")
        results = []
        with locked(self.path) as state:
            for i, change in enumerate(changes):
                if change.op == "delete":
                    state.pop(key_text(change.key), None)
                else:
                    assert change.after is not None
                    state[key_text(change.key)] = {"ttl": change.after.data["ttl"],
                                                   "values": list(change.after.data["values"])}
                results.append(ChangeResult(change.id, True))
                progress("filedns", i + 1, len(changes))
        return results


def create(target: Target) -> FileDns:
    return FileDns(target)
