"""One run at a time: two real processes, a killed holder, and the in-process rules."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from reconciler.triggers import lock
from tests.triggers.conftest import World, wait_for, with_record, zone_yaml


def holder_pid(world: World) -> int | None:
    holder = lock.read_holder(world.state_dir)
    return holder.pid if holder else None


def test_a_second_run_waits_bounded_or_names_the_holder(world: World) -> None:
    world.lock_wait = 0.3
    world.write_config()
    world.commit("www 변경", records=with_record("www", "192.0.2.81"))
    world.push()
    slow = world.popen("reconcile-commit", env={"FILEDNS_APPLY_DELAY": "8"})
    try:
        wait_for(lambda: Path(f"{world.state}.applying").exists(), timeout=30)
        holder = lock.read_holder(world.state_dir)
        assert holder is not None and holder.pid == slow.pid and "apply" in holder.command
        # a person runs the plain `apply` meanwhile: it waits 0.3 s, then names who holds the lock
        busy = world.cli("apply", "--yes", timeout=60, stdin="")
        assert busy.returncode == 1
        assert f"pid {slow.pid}" in busy.stderr and "holds the lock" in busy.stderr, busy.stderr
        # a trigger with a long enough wait queues behind it and then runs
        patient = world.cli("reconcile-commit", "--wait", "60", timeout=90)
        assert patient.returncode == 0, patient.stderr
    finally:
        _out, err = slow.communicate(timeout=60)
    assert slow.returncode == 0, err
    assert world.live_value("www") == ["192.0.2.81"]
    # the two runs did not overlap: the first ended before the second started
    entries = world.audit().entries()
    starts = [i for i, e in enumerate(entries) if e["event"] == "run_start"]
    ends = [i for i, e in enumerate(entries) if e["event"] == "run_end"]
    assert len(starts) == 2 and ends[0] < starts[1]
    assert world.audit().verify().ok
    assert holder_pid(world) is None  # a clean release leaves no record


def test_a_killed_run_leaves_a_stale_lock_that_the_next_run_takes_over(world: World) -> None:
    world.commit("sso 변경", records=with_record("sso", "192.0.2.91"))
    world.push()
    victim = world.popen("reconcile-commit", env={"FILEDNS_APPLY_DELAY": "60"})
    try:
        wait_for(lambda: Path(f"{world.state}.applying").exists(), timeout=30)
        assert holder_pid(world) == victim.pid
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=30)
    assert world.live_value("sso") == ["192.0.2.90"]  # killed before it wrote anything
    report = world.audit().verify()
    assert report.ok and len(report.unfinished_runs) == 1  # the killed run shows as unfinished
    nxt = world.cli("reconcile-commit", timeout=60)
    assert nxt.returncode == 0, nxt.stderr
    assert f"took over a stale lock: pid {victim.pid}" in nxt.stderr
    assert "no longer exists" in nxt.stderr
    stale = world.events("lock_stale")
    assert stale and stale[-1]["holder"]["pid"] == victim.pid
    assert world.live_value("sso") == ["192.0.2.91"]  # the next trigger converges
    report = world.audit().verify()
    assert report.ok and len(report.unfinished_runs) == 1


def test_a_provider_crash_mid_run_leaves_a_verifiable_log_and_the_next_run_converges(world: World,
                                                                                      tmp_path: Path) -> None:
    marker = tmp_path / "crash-once"
    marker.write_text("1")
    world.commit("www 변경", records=with_record("www", "192.0.2.87"))
    world.push()
    first = world.cli("reconcile-commit", env={"FILEDNS_CRASH_ONCE": str(marker)})
    assert first.returncode == 1
    assert "simulated provider crash" in first.stdout + first.stderr
    assert world.live_value("www") == ["192.0.2.80"]
    second = world.cli("reconcile-commit", env={"FILEDNS_CRASH_ONCE": str(marker)})
    assert second.returncode == 0, second.stderr
    assert world.live_value("www") == ["192.0.2.87"]
    report = world.audit().verify()
    assert report.ok and report.unfinished_runs == []


def test_reentrant_in_one_thread_and_serialised_across_threads(tmp_path: Path) -> None:
    order: list[str] = []
    with lock.hold(tmp_path, "outer", wait=1) as outer:
        assert not outer.nested
        with lock.hold(tmp_path, "inner", wait=0) as inner:  # a trigger calling runs.apply
            assert inner.nested
        record = json.loads((tmp_path / lock.LOCK_NAME).read_text())
        assert record["command"] == "outer" and record["pid"] == os.getpid()

        def other() -> None:
            with lock.hold(tmp_path, "other", wait=10):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("outer-done")
    thread.join(10)
    assert order == ["outer-done", "other"]
    with pytest.raises(lock.LockBusy) as info:
        with lock.hold(tmp_path, "a", wait=1):
            failures: list[BaseException] = []

            def blocked() -> None:
                try:
                    with lock.hold(tmp_path, "b", wait=0.2):
                        pass
                except lock.LockBusy as exc:
                    failures.append(exc)

            t = threading.Thread(target=blocked)
            t.start()
            t.join(5)
            raise failures[0]
    assert f"pid {os.getpid()}" in str(info.value) and "'a'" in str(info.value)


def test_diff_needs_no_lock(world: World) -> None:
    desired = world.root / "desired-unused" / "dns"
    desired.mkdir(parents=True)
    (desired / "namgun.or.kr.yaml").write_text(zone_yaml(with_record("www", "192.0.2.88")), "utf-8")
    with lock.hold(world.state_dir, "apply (held by the test)", wait=1):
        done = world.cli("diff", timeout=60)
        assert done.returncode == 2, done.stderr  # changes pending, shown while another run holds the lock
        assert "192.0.2.88" in done.stdout and "holds the lock" not in done.stderr
        busy = world.cli("drift", timeout=60)
        assert busy.returncode == 1 and "holds the lock" in busy.stderr  # drift writes the audit log: it waits
