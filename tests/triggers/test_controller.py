"""What the controller calls deployed, and the ways a person steers it: the last *applied* commit (never
a rejected, refused or failed tip), `reconcile-commit SHA --force` over a safety refusal, a drift check
before anything was applied, usage errors and the trigger name each path records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.triggers.gitsource import GitSource
from tests.triggers import filedns
from tests.triggers.conftest import ZONE, World, with_record
from tests.triggers.test_serve import Receiver

INVALID = "zone: lab.namgun.or.kr\nrecords:\n  host: {type: A, value: 999.1.1.1}\n"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def cli(world: World, *args: str) -> int:
    return main(["-c", str(world.config_path), *args])


def state(world: World) -> dict[str, object]:
    source = GitSource.from_config(world.config())
    assert source is not None
    return source.report()


def two_of_four() -> dict[str, list[dict[str, object]]]:
    # two updates of four managed RRsets: 50 % > max_change_share 30 % → refused (plan.check_safety)
    records = with_record("www", "192.0.2.81")
    records["sso"] = [{"type": "A", "value": "192.0.2.91"}]
    return records


def test_a_rejected_push_never_becomes_the_deployed_commit(world: World, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    applied = world.commit("www 변경", records=with_record("www", "192.0.2.81"))
    world.push()
    assert cli(world, "reconcile-commit") == 0
    # the next push changes mail *and* carries an invalid file: rejected whole
    records = {**with_record("www", "192.0.2.81"), "mail": [{"type": "A", "value": "192.0.2.26"}]}
    rejected = world.commit("mail 변경 + 잘못된 파일", {"desired/dns/lab.namgun.or.kr.yaml": INVALID}, records=records)
    world.push()
    assert cli(world, "reconcile-commit") == 1
    report = state(world)
    assert report["deployed"] == applied
    last = report["last_rejected"]
    assert isinstance(last, dict) and last["commit"] == rejected and "rejected" in str(last["message"])
    assert isinstance(report["fetched"], dict) and report["fetched"]["commit"] == rejected
    # drift-check compares with the applied commit: live equals it, so in sync — neither a validation
    # error from the rejected commit nor its mail change reported as drift
    capsys.readouterr()
    assert cli(world, "drift-check") == 0
    out = capsys.readouterr().out
    assert f"drift commit {applied[:12]}: ok" in out
    start = world.events("run_start")[-1]
    assert start["command"] == "drift" and start["source"]["commit"] == applied
    # a hand edit is drift against the applied commit
    with filedns.locked(world.state) as live:
        live[f"{ZONE}/www/A"] = {"ttl": 3600, "values": ["203.0.113.9"]}
    assert cli(world, "drift-check") == 2
    drift = world.events("drift")[-1]
    assert drift["items"] == 1 and drift["changes"][0]["resource"].endswith("www/A")


def test_a_failed_apply_is_recorded_beside_the_deployed_commit(world: World, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    assert cli(world, "reconcile-commit") == 0
    deployed = world.head()
    marker = tmp_path / "crash-once"
    marker.write_text("1")
    monkeypatch.setenv("FILEDNS_CRASH_ONCE", str(marker))
    failed = world.commit("www 변경", records=with_record("www", "192.0.2.81"))
    world.push()
    assert cli(world, "reconcile-commit") == 1
    report = state(world)
    assert report["deployed"] == deployed
    assert isinstance(report["last_failed"], dict) and report["last_failed"]["commit"] == failed


def test_drift_check_before_any_applied_commit_is_a_quiet_noop(world: World, receiver: Receiver,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    world.set_config(notify=f"webhook: {{url: {receiver.url}}}")
    # nothing applied yet at all
    assert cli(world, "drift-check", "--trigger", "timer") == 0
    err = capsys.readouterr().err
    assert "no commit has been applied yet" in err and "error" not in err
    # the first commit is rejected: still nothing deployed, and the rejected tip is not compared with
    world.commit("잘못된 첫 커밋", {"desired/dns/lab.namgun.or.kr.yaml": INVALID})
    world.push()
    assert cli(world, "reconcile-commit") == 1
    receiver.posts.clear()  # the rejection itself is notified; the drift checks are not
    assert cli(world, "drift-check", "--trigger", "timer") == 0
    assert receiver.posts == []
    skipped = world.events("drift_skipped")
    assert len(skipped) == 2 and skipped[-1]["trigger"] == "timer"
    assert not world.events("run_start") and not world.events("trigger_failed")
    assert state(world)["deployed"] is None


def test_a_refused_push_names_the_exact_force_command_and_force_applies_it(world: World, receiver: Receiver,
                                                                          capsys: pytest.CaptureFixture[str]
                                                                          ) -> None:
    world.set_config(notify=f"webhook: {{url: {receiver.url}}}")
    assert cli(world, "reconcile-commit") == 0
    before = world.head()
    sha = world.commit("www + sso 변경", records=two_of_four())
    world.push()
    capsys.readouterr()
    assert cli(world, "reconcile-commit", "--json") == 3
    captured = capsys.readouterr()
    command = f"reconciler -c {world.config_path} reconcile-commit {sha} --force"
    assert command in captured.err
    outcome = json.loads(captured.out.strip().splitlines()[-1])
    assert outcome["status"] == "refused" and command in outcome["message"]
    (posted,) = [json.loads(body) for _, body in receiver.posts]
    assert posted["event"] == "refused" and command in posted["text"]  # the notification names it too
    assert world.live_value("www") == ["192.0.2.80"]
    report = state(world)
    assert report["deployed"] == before
    assert isinstance(report["last_refused"], dict) and report["last_refused"]["commit"] == sha
    # the administrator runs exactly that command
    assert main(command.split()[1:]) == 0
    assert world.live_value("www") == ["192.0.2.81"] and world.live_value("sso") == ["192.0.2.91"]
    start = world.events("run_start")[-1]
    assert start["source"]["commit"] == sha and start["source"]["forced"] is True and start["user"]
    forced = [e for e in world.events("forced") if e["run"] == start["run"]]
    assert forced and "max_change_share" in forced[0]["message"]
    assert "(forced)" in capsys.readouterr().out
    report = state(world)
    assert report["deployed"] == sha and report["deployed_by"] == "cli"
    assert world.audit().verify().ok


def test_force_names_one_commit_and_never_reaches_a_newer_tip(world: World) -> None:
    assert cli(world, "reconcile-commit") == 0
    refused = world.commit("www + sso 변경", records=two_of_four())
    world.push()
    assert cli(world, "reconcile-commit") == 3
    # somebody pushes again before the administrator acts
    records = two_of_four()
    records["mail"] = [{"type": "A", "value": "192.0.2.26"}]
    newer = world.commit("mail 도 변경", records=records)
    world.push()
    assert cli(world, "reconcile-commit", refused, "--force") == 3
    assert world.live_value("www") == ["192.0.2.80"] and world.live_value("mail") == ["192.0.2.25"]
    event = world.events("trigger_rejected")[-1]
    assert event["reason"] == "force for an older commit" and event["tip"] == newer
    assert f"reconcile-commit {newer} --force" in event["message"]
    # naming the new tip (abbreviated is fine) forces exactly it
    assert cli(world, "reconcile-commit", newer[:12], "--force") == 0
    assert world.live_value("mail") == ["192.0.2.26"]


@pytest.mark.parametrize("args", [
    ["reconcile-commit", "--bogus"],
    ["reconcile-commit", "--wait", "soon"],
    ["reconcile-commit", "--wait", "-1"],
    ["reconcile-commit", "--trigger", "Not A Name"],
    ["hook", "pre-receive"],
    ["hook"],
    ["drift-check", "--wait", "x"],
    ["drift-check", "extra"],
    ["watch", "--debounce-ms", "-5"],
    ["serve", "--port", "1"],
])
def test_usage_errors_of_trigger_commands_exit_1_never_2(args: list[str], world: World,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(world, *args)
    assert exc.value.code == 1  # 2 means "changes pending" in this product
    assert "error:" in capsys.readouterr().err
    assert not world.events()  # nothing ran


def test_each_path_records_its_own_trigger(world: World) -> None:
    assert cli(world, "reconcile-commit") == 0
    assert cli(world, "drift-check") == 0
    assert cli(world, "drift-check", "--trigger", "timer") == 0
    world.commit("www", records=with_record("www", "192.0.2.81"))
    world.push()
    assert cli(world, "reconcile-commit", "--trigger", "poll-timer") == 0
    triggers = [(e["command"], e["trigger"]) for e in world.events("run_start")]
    assert triggers == [("apply", "cli"), ("drift", "cli"), ("drift", "timer"), ("apply", "poll-timer")]
