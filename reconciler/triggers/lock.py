"""One run at a time: an fcntl lock on `<state_dir>/run.lock`, held for the whole run.

The kernel drops an ``flock`` when its holder dies, however it dies (SIGKILL included), so the lock
itself can never go stale; what can go stale is the *holder record* written into the file (pid,
host, start time, command). A clean release empties the record; a record still present when we get
the lock therefore belongs to a run that was killed or crashed, and is reported as a stale lock
taken over (and written to the audit log by the caller). The file is never unlinked: deleting a
lock file while another process waits on it lets two runs hold "the" lock at once.

Within one process the lock is re-entrant for the thread that holds it (a trigger takes it, then
calls `runs.apply`, which takes it again) and other threads queue on a process-local mutex first,
because two ``flock`` calls on separate descriptors of one process would block each other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audit import AuditLog

if TYPE_CHECKING:
    from ..config import Config

LOCK_NAME = "run.lock"
DEFAULT_WAIT = 30.0
_POLL = 0.05

_mutex = threading.Lock()
_local = threading.local()


class LockBusy(Exception):
    """Another run holds the lock and did not let go within the wait; the message names it."""

    def __init__(self, holder: Holder | None, waited: float, path: Path) -> None:
        self.holder = holder
        self.waited = waited
        self.path = path
        who = holder.describe() if holder else "another run (no holder record yet)"
        super().__init__(f"another reconciler run holds the lock: {who}; waited {waited:.0f}s "
                         f"({path}). Try again when it has finished.")


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    start: float
    command: str

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.start))
        return f"pid {self.pid} on {self.host}, running {self.command!r} since {started}"

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "start": self.start, "command": self.command}

    @classmethod
    def parse(cls, raw: bytes) -> Holder | None:
        try:
            obj = json.loads(raw.decode("utf-8"))
            return cls(int(obj["pid"]), str(obj["host"]), float(obj["start"]), str(obj["command"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None


@dataclass
class Acquired:
    holder: Holder
    stale: Holder | None  # the record a killed or crashed run left behind, if any
    waited: float
    nested: bool = False

    @property
    def stale_message(self) -> str | None:
        if self.stale is None:
            return None
        alive = pid_alive(self.stale)
        state = {False: "that process no longer exists", None: "it ran on another host",
                 True: "its lock was released without clearing the record"}[alive]
        return f"took over a stale lock: {self.stale.describe()} ({state}; killed or crashed)"


def pid_alive(holder: Holder) -> bool | None:
    """Whether the holder's process exists; None when it ran on another host (cannot tell)."""
    if holder.host != socket.gethostname():
        return None
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(state_dir: Path) -> Holder | None:
    try:
        return Holder.parse((state_dir / LOCK_NAME).read_bytes())
    except OSError:
        return None


@contextlib.contextmanager
def hold(state_dir: Path, command: str, *, wait: float = DEFAULT_WAIT,
         on_wait: Callable[[Holder | None], None] | None = None) -> Iterator[Acquired]:
    """Hold the run lock for the body; wait at most ``wait`` seconds, else raise LockBusy.
    ``on_wait`` is told once, with the holder, when the lock is busy and the wait begins."""
    depth = getattr(_local, "depth", 0)
    if depth:
        _local.depth = depth + 1
        try:
            yield Acquired(_local.holder, None, 0.0, nested=True)
        finally:
            _local.depth -= 1
        return
    start = time.monotonic()
    path = state_dir / LOCK_NAME
    if not _mutex.acquire(timeout=max(0.0, wait)):
        raise LockBusy(read_holder(state_dir), time.monotonic() - start, path)
    fd = -1
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if on_wait is not None:
                on_wait(_read_fd(fd))
                on_wait = None
            waited = time.monotonic() - start
            if waited >= wait:
                raise LockBusy(_read_fd(fd), waited, path)
            time.sleep(min(_POLL, max(0.0, wait - waited)))
        stale = _read_fd(fd)
        holder = Holder(os.getpid(), socket.gethostname(), time.time(), command)
        _write_fd(fd, json.dumps(holder.to_json(), ensure_ascii=False).encode("utf-8"))
        _local.depth, _local.holder = 1, holder
        try:
            yield Acquired(holder, stale, time.monotonic() - start)
        finally:
            _local.depth = 0
            _write_fd(fd, b"")  # a clean release leaves no record; a record means a killed run
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if fd >= 0:
            os.close(fd)
        _mutex.release()


def _read_fd(fd: int) -> Holder | None:
    size = os.fstat(fd).st_size
    return Holder.parse(os.pread(fd, size, 0)) if size else None


def _write_fd(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    if data:
        os.pwrite(fd, data, 0)
    os.fsync(fd)


def lock_wait(cfg: Config) -> float:
    return float(cfg.section("lock").get("wait", DEFAULT_WAIT))


@contextlib.contextmanager
def guard(cfg: Config, command: str, note: Callable[[str], None] = lambda text: None,
          error: type[Exception] = RuntimeError, *, wait: float | None = None) -> Iterator[Acquired]:
    """`hold` for a configured run: audits a stale-lock takeover, turns LockBusy into ``error``."""
    try:
        limit = lock_wait(cfg) if wait is None else wait

        def waiting(holder: Holder | None) -> None:
            if limit > 0:
                who = holder.describe() if holder else "another run"
                note(f"waiting up to {limit:g}s for the run lock held by {who}")

        with hold(cfg.state_dir, command, wait=limit, on_wait=waiting) as acquired:
            if acquired.stale is not None:
                message = acquired.stale_message or ""
                note(message)
                AuditLog(cfg.audit_log).append("lock_stale", None, message=message,
                                               holder=acquired.stale.to_json(), taken_by=acquired.holder.to_json())
            yield acquired
    except LockBusy as exc:
        raise error(str(exc)) from None
