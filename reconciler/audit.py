"""Append-only, hash-chained audit log (JSON lines), for ISMS-P evidence.

Each line is one JSON object: ``seq`` (1, 2, 3 … with no gap), ``ts``, ``run`` (run id), ``event``,
event fields, ``prev`` (the previous line's ``hash``; the first line's is 64 zeros) and ``hash`` =
SHA-256 of the line's canonical JSON without ``hash``. Changing, removing, inserting or reordering a
line breaks ``seq`` or the chain, and ``verify`` names the first line where it breaks.

Writes take an exclusive ``flock`` on the file, append one line and ``fsync`` it, so two processes
never interleave and a line that was acknowledged survives a crash. A process killed in the middle
of a write can leave a torn last line without its newline: the next writer finds it, ends it, and
appends a ``torn_tail`` entry that records the torn bytes' hash, so the chain stays verifiable and
the damage stays visible. A run without ``run_end`` shows as unfinished; the next run still verifies.
Secrets never reach this file: callers pass canonical data only, and ``redact`` strips known secret
fields as a second line of defence.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import getpass
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
SECRET_KEYS = {"password", "secret", "secrets", "token", "key_secret", "api_key", "authorization"}
# Any key containing one of these is redacted too (e.g. admin_password, AUTHENTIK_TOKEN, tsig_secret).
SECRET_PARTS = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "private_key",
                "credential")


def _hash(entry: dict[str, Any]) -> str:
    body = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=4096)  # the same few field names, thousands of entries per apply
def _secret_key(key: object) -> bool:
    low = str(key).lower()
    return low in SECRET_KEYS or any(part in low for part in SECRET_PARTS)


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[redacted]" if _secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def append(self, event: str, run: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.append_many(run, [(event, fields)])[0]

    def append_many(self, run: str | None, events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Append several entries (each its own chained line) under one lock, with one fsync.

        The engine records a batch's intents before sending it and its results after: one fsync per
        batch instead of one per line keeps the audit log from dominating a 1,000-change apply.
        """
        with self._locked() as fd:
            last, torn = _tail(fd)
            seq = last["seq"] + 1 if last else 1
            prev = last["hash"] if last else GENESIS
            if torn is not None and _complete(torn, prev):
                # Killed between the entry and its newline: the entry itself is whole and chained.
                os.write(fd, b"\n")
                last, torn = json.loads(torn), None
                seq, prev = last["seq"] + 1, last["hash"]
            lines: list[bytes] = []
            if torn is not None:
                lines.append(b"")  # ends the torn line
                repair = {"seq": seq, "ts": time.time(), "run": run, "event": "torn_tail",
                          "torn_sha256": hashlib.sha256(torn).hexdigest(), "torn_bytes": len(torn), "prev": prev}
                repair["hash"] = _hash(repair)
                lines.append(_line(repair))
                seq, prev = seq + 1, repair["hash"]
            written: list[dict[str, Any]] = []
            for event, fields in events:
                entry = {"seq": seq, "ts": time.time(), "run": run, "event": event, **_plain(redact(fields)),
                         "prev": prev}
                entry["hash"] = _hash(entry)
                lines.append(_line(entry))
                written.append(entry)
                seq, prev = seq + 1, entry["hash"]
            if not lines:
                return []
            os.write(fd, b"\n".join(lines) + b"\n")
            os.fsync(fd)
            if written:
                self._write_head(written[-1])
            return written

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_bytes().split(b"\n"):
            if raw.strip():
                try:
                    out.append(json.loads(raw))
                except ValueError:  # JSONDecodeError, or UnicodeDecodeError for a line cut mid-character
                    out.append({"event": "unparseable", "raw_bytes": len(raw)})
        return out

    @property
    def head_path(self) -> Path:
        return self.path.with_name(self.path.name + ".head")

    def _write_head(self, entry: dict[str, Any]) -> None:
        """Record the newest (seq, hash) beside the log: cutting lines off the end, which the chain
        alone cannot show, then shows as a log shorter than its head."""
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        tmp.write_text(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}), "utf-8")
        os.replace(tmp, self.head_path)

    def verify(self) -> VerifyReport:
        report = verify_bytes(self.path.read_bytes() if self.path.exists() else b"")
        try:
            head = json.loads(self.head_path.read_text("utf-8"))
        except (OSError, ValueError):
            return report
        if isinstance(head, dict) and (head.get("seq", 0) > report.last_seq or
                                       (head.get("seq") == report.last_seq and head.get("hash") != report.last_hash)):
            report.problems.append(f"the log ends at seq {report.last_seq} but its head file records seq "
                                   f"{head.get('seq')}: entries were removed from the end")
        return report


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as JSON reads them back (tuples → lists, anything else → str), so the hash computed now
    is the hash verify computes later, and an odd value in a provider's detail never aborts a run."""
    return json.loads(json.dumps(fields, ensure_ascii=False, default=str))


def _line(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _complete(raw: bytes, prev: str) -> bool:
    """True if ``raw`` is a whole entry that chains onto ``prev`` (only its newline is missing)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(entry, dict) or "hash" not in entry or entry.get("prev") != prev:
        return False
    body = {k: v for k, v in entry.items() if k != "hash"}
    return _hash(body) == entry["hash"]


def _tail(fd: int) -> tuple[dict[str, Any] | None, bytes | None]:
    """The last complete entry, and the torn bytes after it if the file does not end with a newline."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None, None
    chunk = 1 << 16
    data = b""
    pos = size
    while pos > 0:
        read = min(chunk, pos)
        pos -= read
        data = os.pread(fd, read, pos) + data
        if data.count(b"\n") >= 2 or pos == 0:
            break
    torn = None
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n")
        torn = data[cut + 1:]
        data = data[: cut + 1]
        if cut < 0 and pos > 0:  # pragma: no cover - a torn line longer than the window
            raise RuntimeError("audit log tail is damaged beyond repair")
    lines = [line for line in data.split(b"\n") if line.strip()]
    if not lines:
        return None, torn
    return json.loads(lines[-1]), torn


@dataclass
class VerifyReport:
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    unfinished_runs: list[str] = field(default_factory=list)
    torn: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bytes(data: bytes) -> VerifyReport:
    report = VerifyReport()
    prev = GENESIS
    expected_seq = 1
    open_runs: dict[str, int] = {}
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_last = number == len(lines)  # no newline after it: a torn write not yet repaired
        try:
            entry = json.loads(raw)
        except ValueError:  # JSONDecodeError, or UnicodeDecodeError for a line cut mid-character
            if is_last:  # an interrupted write; the next append repairs and records it
                report.torn += 1
                continue
            try:
                nxt = json.loads(lines[number]) if number < len(lines) and lines[number].strip() else {}
            except ValueError:
                nxt = {}
            if isinstance(nxt, dict) and nxt.get("event") == "torn_tail" \
                    and nxt.get("torn_sha256") == hashlib.sha256(raw).hexdigest():
                report.torn += 1
                continue
            report.problems.append(f"line {number}: not valid JSON")
            continue
        if not isinstance(entry, dict) or "hash" not in entry:
            report.problems.append(f"line {number}: not an audit entry")
            continue
        claimed = entry.pop("hash")
        if _hash(entry) != claimed:
            report.problems.append(f"line {number} (seq {entry.get('seq')}): content does not match its hash "
                                   "(line changed)")
        if entry.get("prev") != prev:
            report.problems.append(f"line {number} (seq {entry.get('seq')}): chain broken (a line before it was "
                                   "changed, removed, inserted or reordered)")
        if entry.get("seq") != expected_seq:
            report.problems.append(f"line {number}: sequence {entry.get('seq')} where {expected_seq} was expected")
        prev = claimed
        seq = entry.get("seq")
        report.last_seq, report.last_hash = (seq if isinstance(seq, int) else report.last_seq), claimed
        expected_seq = (seq if isinstance(seq, int) and not isinstance(seq, bool) else expected_seq) + 1
        report.entries += 1
        run = entry.get("run")
        if entry.get("event") == "run_start" and run:
            open_runs[run] = number
        elif entry.get("event") == "run_end" and run:
            open_runs.pop(run, None)
    report.unfinished_runs = sorted(open_runs)
    return report


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
