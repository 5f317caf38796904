"""Audit log: hash chain, tamper detection, torn writes, unfinished runs, redaction, concurrency."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from reconciler import audit
from reconciler.audit import AuditLog, verify_bytes


def filled(path: Path, count: int = 6) -> AuditLog:
    log = AuditLog(path)
    log.append("run_start", "r1", trigger="cli", user="남근@host")
    for i in range(count - 2):
        log.append("change_result", "r1", change=f"c{i}", ok=True, resource="dns.rrset namgun.or.kr/메일/A")
    log.append("run_end", "r1", status="ok", exit_code=0)
    return log


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_chain_verifies(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit.jsonl")
    report = log.verify()
    assert report.ok and report.entries == 6 and report.unfinished_runs == [] and report.torn == 0
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0]["prev"] == audit.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    assert "남근@host" in (tmp_path / "audit.jsonl").read_text("utf-8")  # UTF-8, not \\u escapes


def test_missing_log_verifies_empty(tmp_path: Path) -> None:
    report = AuditLog(tmp_path / "none.jsonl").verify()
    assert report.ok and report.entries == 0


def test_changed_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    raw = lines(path)
    raw[2] = raw[2].replace(b'"ok":true', b'"ok":false')
    path.write_bytes(b"".join(raw))
    report = verify_bytes(path.read_bytes())
    assert not report.ok
    assert report.problems[0].startswith("line 3 ") and "content does not match" in report.problems[0]


def test_changed_line_with_recomputed_hash_breaks_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    raw = lines(path)
    entry = json.loads(raw[2])
    entry["ok"] = False
    del entry["hash"]
    entry["hash"] = audit._hash(entry)
    raw[2] = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(raw))
    report = verify_bytes(path.read_bytes())
    assert not report.ok
    assert any(p.startswith("line 4 ") and "chain broken" in p for p in report.problems)


def test_removed_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    raw = lines(path)
    del raw[3]
    path.write_bytes(b"".join(raw))
    report = verify_bytes(path.read_bytes())
    assert not report.ok
    assert any("line 4" in p and "chain broken" in p for p in report.problems)
    assert any("sequence 5 where 4 was expected" in p for p in report.problems)


def test_inserted_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    raw = lines(path)
    forged = {"seq": 3, "ts": 0.0, "run": "r1", "event": "change_result", "ok": True,
              "prev": json.loads(raw[1])["hash"]}
    forged["hash"] = audit._hash(forged)  # self-consistent, chained onto line 2
    raw.insert(2, json.dumps(forged).encode() + b"\n")
    path.write_bytes(b"".join(raw))
    report = verify_bytes(path.read_bytes())
    assert not report.ok
    assert any(p.startswith("line 4 ") and "chain broken" in p for p in report.problems)


def test_duplicated_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    raw = lines(path)
    raw.insert(3, raw[2])
    path.write_bytes(b"".join(raw))
    assert not verify_bytes(path.read_bytes()).ok


def test_reordered_lines_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    raw = lines(path)
    raw[2], raw[3] = raw[3], raw[2]
    path.write_bytes(b"".join(raw))
    report = verify_bytes(path.read_bytes())
    assert not report.ok
    assert any(p.startswith("line 3 ") for p in report.problems)


def test_garbage_lines_are_reported_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path, 4)
    raw = lines(path)
    raw[1:1] = [b"{not json\n", b"[also not\n", b"[1, 2]\n"]
    path.write_bytes(b"".join(raw))
    report = verify_bytes(path.read_bytes())
    assert not report.ok
    assert "line 2: not valid JSON" in report.problems and "line 3: not valid JSON" in report.problems
    assert "line 4: not an audit entry" in report.problems


# ------------------------------------------------------------------------------------- torn writes

def test_torn_last_line_is_repaired_by_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = filled(path)
    half = json.dumps({"seq": 7, "event": "change_result", "resource": "메일"}, ensure_ascii=False).encode()
    half = half[: len(half) // 2 + 1]  # cut inside a Hangul character: not even valid UTF-8
    with path.open("ab") as fh:
        fh.write(half)
    report = log.verify()
    assert report.ok and report.torn == 1  # an interrupted write, not tampering
    entry = log.append("run_start", "r2", trigger="cli")
    assert entry["seq"] == 8
    events = [e.get("event") for e in log.entries()]
    assert events[-3:] == ["unparseable", "torn_tail", "run_start"]
    repair = log.entries()[-2]
    assert repair["seq"] == 7 and repair["torn_bytes"] == len(half)
    report = log.verify()
    assert report.ok, report.problems
    assert report.torn == 1 and report.entries == 8
    assert report.unfinished_runs == ["r2"]
    log.append("run_end", "r2", status="ok", exit_code=0)
    assert log.verify().ok and log.verify().unfinished_runs == []


def test_torn_line_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = filled(path)
    path.write_bytes(path.read_bytes()[:-1])  # the last entry is whole; its newline never made it
    log.append("run_start", "r2")
    report = log.verify()
    assert report.ok, report.problems
    assert [e["seq"] for e in log.entries()] == list(range(1, 8))
    assert "torn_tail" not in [e["event"] for e in log.entries()]


def test_torn_first_write_of_a_new_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"seq":1,"ts":1.0,"ev')
    log = AuditLog(path)
    log.append("run_start", "r1")
    report = log.verify()
    assert report.ok and report.torn == 1
    assert [e["seq"] for e in log.entries() if "seq" in e] == [1, 2]


def _append_then_die(path: str) -> None:
    """Child process: write half of an entry and die without cleanup, as a kill -9 would leave it."""
    real_write = os.write

    def half_write(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])
        os._exit(9)

    audit.os.write = half_write  # type: ignore[assignment]
    AuditLog(Path(path)).append("change_result", "r1", change="x", ok=True)


def test_process_killed_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = filled(path)
    proc = multiprocessing.get_context("spawn").Process(target=_append_then_die, args=(str(path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 9
    assert not path.read_bytes().endswith(b"\n")
    log.append("run_start", "r2")
    report = log.verify()
    assert report.ok and report.torn == 1


# ------------------------------------------------------------------------------------ runs, secrets

def test_unfinished_run_is_reported_and_the_next_run_verifies(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("run_start", "killed", trigger="cli")
    log.append("change_intended", "killed", change="a")
    log.append("run_start", "next", trigger="timer")
    log.append("run_end", "next", status="ok", exit_code=0)
    report = log.verify()
    assert report.ok and report.unfinished_runs == ["killed"]


def test_secret_named_fields_are_redacted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = log.append("change_intended", "r1", password="pw-1-값", detail={
        "token": "tok-2", "Authorization": "Basic xyz-3", "admin_password": "pw-4",
        "nested": [{"api_key": "key-5"}, {"tsig_secret": "sec-6"}], "name": "김경본"})
    text = (tmp_path / "audit.jsonl").read_text("utf-8")
    for value in ("pw-1-값", "tok-2", "xyz-3", "pw-4", "key-5", "sec-6"):
        assert value not in text
    assert entry["password"] == "[redacted]"
    assert entry["detail"]["nested"][1]["tsig_secret"] == "[redacted]"
    assert entry["detail"]["name"] == "김경본"  # ordinary fields are kept
    assert log.verify().ok


def test_odd_values_are_stored_as_text_and_still_verify(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = log.append("change_result", "r1", detail={"raw": b"\x00\xff", "key": ("a", "b"), "when": Path("/x")})
    assert entry["detail"] == {"raw": "b'\\x00\\xff'", "key": ["a", "b"], "when": "/x"}
    log.append("run_end", "r1")
    assert log.verify().ok
    assert log.entries()[0] == entry


# ------------------------------------------------------------------------------------- concurrency

def _append_many(path: str, who: str, count: int) -> None:
    log = AuditLog(Path(path))
    for i in range(count):
        log.append("change_result", who, change=f"{who}-{i}", ok=True)


@pytest.mark.timeout(120)
def test_concurrent_appends_from_processes_keep_seq_contiguous(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), f"p{n}", 60)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(100)
        assert proc.exitcode == 0
    entries = AuditLog(path).entries()
    assert [e["seq"] for e in entries] == list(range(1, 181))
    for who in ("p0", "p1", "p2"):  # each writer's own entries stay in its order
        mine = [e["change"] for e in entries if e["run"] == who]
        assert mine == [f"{who}-{i}" for i in range(60)]
    report = AuditLog(path).verify()
    assert report.ok, report.problems[:3]
    assert report.entries == 180


def test_lines_cut_from_the_end_are_detected_through_the_head_file(tmp_path):
    from reconciler.audit import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(5):
        log.append("note", "run-1", n=i)
    assert log.verify().ok
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:3]))  # the chain of the first three is intact on its own
    report = log.verify()
    assert not report.ok
    assert any("removed from the end" in p for p in report.problems)


def test_torn_tail_cut_inside_a_hangul_character_verifies_and_is_repaired(tmp_path):
    from reconciler.audit import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("note", "r1", name="남근")
    with open(log.path, "ab") as fh:
        fh.write('{"seq":2,"event":"note","name":"남'.encode()[:-1])  # killed mid-character
    report = log.verify()
    assert report.ok and report.torn == 1
    log.append("note", "r2")
    report = log.verify()
    assert report.ok and report.torn == 1 and report.entries == 3
    assert [e["event"] for e in log.entries() if "event" in e][-2:] == ["torn_tail", "note"]
