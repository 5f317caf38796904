"""Engine and CLI runs against an in-memory provider (tests/core/fakeprovider.py).

The provider is a test double; what is under test is the real engine (parallel read, resolve, diff,
safety, apply, verify, audit) and the real CLI (exit codes 0/1/2/3, saved plans, drift, audit).
"""

from __future__ import annotations

import json
import threading

import pytest

from reconciler import cli
from reconciler.engine import EngineError
from reconciler.model.resource import GUARD

from . import fakeprovider
from .world import CONFIG, OTHER, OTHER_YAML, ZONE, ZONE_YAML, World, events, rr, run

# ------------------------------------------------------------------------------------ engine level

def test_targets_are_read_in_parallel(world: World) -> None:
    barrier = threading.Barrier(2)  # each read waits until both are in progress: a serial engine breaks it
    world.dc1.barrier = world.dc2.barrier = barrier
    engine = world.engine()
    try:
        plan, lives = engine.plan()
    finally:
        engine.close()
    assert not barrier.broken
    assert set(lives) == {"dc1", "dc2"}
    assert world.dc1.read_threads.isdisjoint(world.dc2.read_threads)
    assert {c.target for c in plan.changes} == {"dc1", "dc2"}
    assert plan.summary() == {"create": 8, "update": 0, "delete": 0}


def test_plan_fingerprints_facts_and_unmanaged(world: World) -> None:
    world.sync()
    world.dc1.put(rr(ZONE, "console-added", "A", "10.1.1.1"),
                  rr(ZONE, "@", "SOA", "dc1. hostmaster. 1 2 3 4 5", **{GUARD: "SOA is never managed"}))
    engine = world.engine()
    plan, _ = engine.plan()
    assert plan.empty
    assert set(plan.fingerprints) == {"dc1", "dc2"} and plan.facts["dc1"] == {"kind": "windows_dns", "fake": True}
    assert sorted(u.resource.key[1] for _, u in plan.unmanaged) == ["@", "console-added"]
    assert plan.source["desired_digest"]


def test_read_error_names_the_target_and_nothing_is_planned(world: World) -> None:
    world.dc2.fail_read = "zone other.kr does not exist (WIN32 9601)"
    with pytest.raises(EngineError, match=r"dc2: zone other.kr does not exist \(WIN32 9601\)"):
        world.engine().plan()


def test_only_selected_targets_are_read(world: World) -> None:
    plan, lives = world.engine().plan(["dc2"])
    assert set(lives) == {"dc2"} and world.dc1.reads == 0
    assert {c.target for c in plan.changes} == {"dc2"}


def test_desired_resource_no_target_serves_is_an_error(world: World) -> None:
    (world.root / "desired" / "dns" / "third.kr.yaml").write_text("records:\n  x: {type: A, value: 1.1.1.1}\n")
    with pytest.raises(EngineError, match=r"no target in reconciler.yaml serves dns.rrset third.kr/x/A"):
        world.engine().assign()


def test_check_plan_binds_a_saved_plan_to_the_live_state(world: World) -> None:
    engine = world.engine()
    plan, _ = engine.plan()
    assert engine.check_plan(plan)[:2] == ([], [])
    world.dc1.put(rr(ZONE, "sneaky", "A", "6.6.6.6"))
    assert engine.check_plan(plan)[:2] == ([], ["dc1: the live state changed since the plan was made; make a new plan"])


# ---------------------------------------------------------------------------------------- CLI runs

def test_exit_codes_diff_apply_diff(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(world, capsys, "diff")
    assert code == 2
    assert "+ create dns.rrset namgun.or.kr/mail/TXT" in out and "Plan: 8 to create" in out
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 0, err
    assert out.count("  applied  ") == 8 and "apply complete: 8 change(s) applied and verified" in err
    assert len(world.dc1.applied) == 6 and len(world.dc2.applied) == 2
    code, out, _ = run(world, capsys, "diff")
    assert code == 0 and "Plan: 0 to create, 0 to update, 0 to delete." in out
    code, _, err = run(world, capsys, "apply", "--yes")
    assert code == 0 and "nothing to do" in err
    kinds = [e["event"] for e in events(world)]
    assert kinds.count("run_start") == kinds.count("run_end") == 2
    assert kinds.count("change_intended") == kinds.count("change_result") == 8
    verify = [e for e in events(world) if e["event"] == "verify"]
    assert verify and verify[0]["ok"] is True
    assert world.audit.verify().ok


def test_diff_json_is_a_plan(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(world, capsys, "diff", "--json")
    assert code == 2
    body = json.loads(out)
    assert body["summary"] == {"create": 8, "update": 0, "delete": 0}
    names = {tuple(c["key"]) for c in body["changes"]}
    assert (ZONE, "메일".encode("idna").decode(), "CNAME") in names


def test_apply_without_yes_and_no_terminal_asks_and_does_nothing(world: World,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(world, capsys, "apply")
    assert code == 2 and "pass --yes" in err
    assert world.dc1.applied == [] and [e["event"] for e in events(world)][-2] == "declined"


def test_read_failure_means_nothing_applied(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.dc2.fail_read = "cannot connect to fake-dc2: connection refused"
    code, _, err = run(world, capsys, "apply", "--yes")
    assert code == 1
    assert "dc2: cannot connect to fake-dc2: connection refused" in err
    assert world.dc1.applied == [] and world.dc2.applied == [] and world.dc1.resources == {}
    kinds = [e["event"] for e in events(world)]
    assert kinds == ["run_start", "error", "run_end"]
    assert events(world)[-1]["exit_code"] == 1
    code, out, err = run(world, capsys, "diff", "--out", str(world.root / "p.json"))
    assert code == 1 and "dc2:" in err
    # the target that could be read is still shown, the other is named as not read, no plan is saved
    assert "dc1 (" in out and "+ create" in out and "dc2: NOT READ: cannot connect" in out
    assert "plan not saved" in err and not (world.root / "p.json").exists()


def test_unexpected_provider_exception_is_an_error_not_a_crash(world: World,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    world.dc1.crash_read = True
    code, _, err = run(world, capsys, "diff")
    assert code == 1 and "dc1: unexpected RuntimeError: connection reset" in err


def test_partial_apply_failure(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sync()
    for res in list(world.dc1.resources.values()):
        if res.key[2] == "TXT":
            del world.dc1.resources[(res.kind, res.key)]  # three TXT creates pending on dc1
    failing = ("dns.rrset", (ZONE, "mail", "TXT"))
    world.dc1.fail_on = {failing}
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 1
    applied = [line for line in out.splitlines() if line.startswith("  applied")]
    failed = [line for line in out.splitlines() if line.startswith("  FAILED")]
    skipped = [line for line in out.splitlines() if line.startswith("  NOT applied")]
    # changes go in the desired file's order: @ TXT, mail TXT (fails), _dmarc TXT (not attempted)
    assert len(applied) == 1 and "namgun.or.kr/@/TXT" in applied[0]
    assert len(failed) == 1 and "mail/TXT" in failed[0] and "WIN32 9711" in failed[0]
    assert len(skipped) == 1 and "_dmarc/TXT" in skipped[0]
    assert "1 applied, 1 failed, 1 not attempted" in err
    results = {e["resource"] if "resource" in e else e["change"]: e for e in events(world)
               if e["event"] == "change_result"}
    assert sorted((r["ok"], r["skipped"]) for r in results.values()) == [(False, False), (False, True), (True, False)]
    failed_entry = next(r for r in results.values() if not r["ok"] and not r["skipped"])
    assert failed_entry["error"].startswith("WIN32 9711") and failed_entry["detail"] == {"win32": 9711}
    assert events(world)[-1]["event"] == "run_end" and events(world)[-1]["status"] == "failed"
    # the next run converges from the live state
    world.dc1.fail_on = set()
    code, out, _ = run(world, capsys, "apply", "--yes")
    assert code == 0 and out.count("  applied  ") == 2
    assert run(world, capsys, "diff")[0] == 0
    assert world.audit.verify().ok


def test_provider_raising_mid_apply_leaves_the_outcome_unknown(world: World,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    world.dc1.crash_apply = 2  # two changes went in, then the connection dropped
    code, out, _ = run(world, capsys, "apply", "--yes", "--target", "dc1")
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("  FAILED")]
    assert len(failed) == 6 and all("outcome unknown" in line and "ConnectionResetError" in line for line in failed)
    assert "NOT applied" not in out  # two of them did go in: "not applied" would be false
    results = [e for e in events(world) if e["event"] == "change_result"]
    assert len(results) == 6 and all(e["ok"] is False and e["skipped"] is False for e in results)
    assert len(world.dc1.applied) == 2
    world.dc1.crash_apply = None
    code, out, _ = run(world, capsys, "apply", "--yes", "--target", "dc1")
    assert code == 0 and out.count("  applied  ") == 4  # the next run converges from what is live


def test_verify_catches_a_provider_that_changes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sync()
    world.dc1.put(rr(ZONE, "mail", "A", "10.9.9.9"))
    world.dc1.lie = True
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 1
    assert "verify: dc1: dns.rrset namgun.or.kr/mail/A still differs after apply (update values)" in out
    assert "1 verification failure(s)" in err
    (verify,) = [e for e in events(world) if e["event"] == "verify"]
    assert verify["ok"] is False and verify["targets"] == ["dc1"]


def test_safety_refusal_exit_3_and_force(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sync()
    for name, rtype in (("mail", "A"), ("mail", "TXT"), ("_dmarc", "TXT")):  # 3 of 6 managed: 50%
        world.dc1.put(rr(ZONE, name, rtype, "10.0.0.99" if rtype == "A" else "stale"))
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 3
    assert "refused (override with --force): dc1: zone namgun.or.kr: the plan updates or deletes 3 of 6" in out
    assert "nothing was applied" in err and world.dc1.applied == []
    assert [e["event"] for e in events(world)].count("refusal") == 1
    assert run(world, capsys, "diff")[0] == 2  # diff only reports; its exit code stays 2
    code, out, _ = run(world, capsys, "apply", "--yes", "--force")
    assert code == 0 and len(world.dc1.applied) == 3
    assert "forced" in [e["event"] for e in events(world)]


def test_apex_ns_change_is_refused_without_force(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sync()
    (world.root / "desired" / "dns" / f"{OTHER}.yaml").write_text(
        OTHER_YAML + "  '@': {type: NS, values: [ns1.other.kr., ns2.other.kr.]}\n", "utf-8")
    world.dc2.put(rr(OTHER, "@", "NS", "ns1.other.kr.", **{GUARD: "apex NS"}))
    code, out, _ = run(world, capsys, "apply", "--yes")
    assert code == 3 and "apex NS" in out and world.dc2.applied == []
    assert run(world, capsys, "apply", "--yes", "--force")[0] == 0


def test_saved_plan_applies_exactly_and_only_while_live_is_unchanged(world: World,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = world.root / "plan.json"
    code, _, err = run(world, capsys, "diff", "--out", str(plan_file))
    assert code == 2 and "plan saved" in err
    saved = json.loads(plan_file.read_text("utf-8"))
    # live moved since: refused, nothing applied
    world.dc2.put(rr(OTHER, "late", "A", "10.0.0.7"))
    code, _, err = run(world, capsys, "apply", str(plan_file), "--yes")
    assert code == 3 and "dc2: the live state changed since the plan was made" in err  # refused
    assert world.dc1.applied == [] and world.dc2.applied == []
    assert any(e["event"] == "refusal" for e in events(world))
    del world.dc2.resources[("dns.rrset", (OTHER, "late", "A"))]
    # desired moved since: refused
    zone_file = world.root / "desired" / "dns" / f"{OTHER}.yaml"
    zone_file.write_text(OTHER_YAML.replace("10.0.0.2", "10.0.0.3"), "utf-8")
    code, _, err = run(world, capsys, "apply", str(plan_file), "--yes")
    assert code == 3 and "the desired state changed since the plan was made" in err  # refused
    assert world.dc2.applied == []
    zone_file.write_text(OTHER_YAML, "utf-8")
    # unchanged: applies exactly the saved changes
    code, _, _ = run(world, capsys, "apply", str(plan_file), "--yes")
    assert code == 0
    assert sorted(world.dc1.applied + world.dc2.applied) == sorted(
        f"{c['op']} {c['kind']} {'/'.join(c['key'])}" for c in saved["changes"])


def test_tampered_saved_plan_is_refused(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = world.root / "plan.json"
    run(world, capsys, "diff", "--out", str(plan_file))
    body = json.loads(plan_file.read_text("utf-8"))
    body["changes"][0]["after"]["data"]["values"] = ["6.6.6.6"]
    plan_file.write_text(json.dumps(body), "utf-8")
    code, _, err = run(world, capsys, "apply", str(plan_file), "--yes")
    assert code == 1 and "checksum mismatch" in err
    assert world.dc1.applied == [] and world.dc2.applied == []


def test_drift_records_and_exits_2(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sync()
    assert run(world, capsys, "drift")[0] == 0
    world.dc1.put(rr(ZONE, "mail", "TXT", "v=spf1 -all"))
    code, out, _ = run(world, capsys, "drift")
    assert code == 2 and "~ update dns.rrset namgun.or.kr/mail/TXT" in out
    drift = [e for e in events(world) if e["event"] == "drift" and e["target"] == "dc1"]
    assert [d["items"] for d in drift] == [0, 1]
    assert drift[-1]["changes"] == [{"op": "update", "resource": "dns.rrset namgun.or.kr/mail/TXT",
                                     "fields": ["values"]}]
    assert world.dc1.applied == []  # drift never writes
    code, out, _ = run(world, capsys, "drift", "--json")
    assert code == 2 and json.loads(out)["summary"]["update"] == 1


def test_invalid_desired_contacts_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    (world.root / "desired" / "dns" / f"{OTHER}.yaml").write_text("records:\n  www: {type: A, value: 10.0.0.300}\n")
    for command in (["diff"], ["apply", "--yes"], ["drift"], ["validate"]):
        code, out, err = run(world, capsys, *command)
        assert code == 1, command
        assert "desired/dns/other.kr.yaml:2:" in out + err
    assert world.dc1.reads == world.dc2.reads == 0


def test_unknown_target_and_missing_config(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(world, capsys, "diff", "--target", "nope")
    assert code == 1 and "unknown target 'nope'" in err
    code = cli.main(["-c", str(world.root / "missing.yaml"), "diff"])
    assert code == 1 and "config file not found" in capsys.readouterr().err


def test_config_unknown_key_points_at_it(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.config.write_text(CONFIG.replace("lock: {wait: 5}", "lock: {wait: 5}\npolicy: {purge: true}"), "utf-8")
    code, _, err = run(world, capsys, "diff")
    assert code == 1 and f"{world.config}:5:1: error: unknown key 'policy'" in err


def test_audit_verify_and_show(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run(world, capsys, "apply", "--yes")
    code, out, _ = run(world, capsys, "audit", "verify")
    assert code == 0 and "chain intact" in out
    code, out, _ = run(world, capsys, "audit", "show", "--last-run")
    assert code == 0 and "run_start" in out and "run_end" in out
    path = world.root / "state" / "audit.jsonl"
    with path.open("ab") as fh:
        fh.write(b'{"seq": 99, "ev')  # a torn last line (an interrupted write)
    code, out, _ = run(world, capsys, "audit", "show")
    assert code == 0 and "unparseable" in out
    code, out, _ = run(world, capsys, "audit", "verify")
    assert code == 0 and "1 torn line(s)" in out
    raw = path.read_bytes().splitlines(keepends=True)
    del raw[2]
    path.write_bytes(b"".join(raw))
    code, out, _ = run(world, capsys, "audit", "verify")
    assert code == 1 and "BROKEN" in out


def test_dkim_reference_is_resolved_for_a_single_target(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """`diff --target dc1` and verify after apply must still resolve a Ref held by the Stalwart target."""
    world.config.write_text(CONFIG + "  mail: {kind: stalwart, address: fake-mail, kinds: [], "
                                     "password: env:CORE_FAKE_PASSWORD}\n", "utf-8")
    dkim = "v=DKIM1; k=rsa; p=" + "B" * 392
    fakeprovider.SERVERS["fake-mail"].dkim = {"rsa-namgun.or.kr": dkim}
    zone = world.root / "desired" / "dns" / f"{ZONE}.yaml"
    zone.write_text(ZONE_YAML + "  default._domainkey: {type: TXT, value: {from: stalwart, dkim: rsa-namgun.or.kr}}\n",
                    "utf-8")
    code, out, _ = run(world, capsys, "diff", "--target", "dc1", "--json")
    assert code == 2, out
    body = json.loads(out)
    (change,) = [c for c in body["changes"] if c["key"][1] == "default._domainkey"]
    assert change["after"]["data"]["values"] == [dkim]
    assert set(body["fingerprints"]) == {"dc1"}
    code, out, err = run(world, capsys, "apply", "--yes", "--target", "dc1")
    assert code == 0, out + err
    key = ("dns.rrset", (ZONE, "default._domainkey", "TXT"))
    assert world.dc1.resources[key].data["values"] == [dkim]
    assert run(world, capsys, "diff", "--target", "dc1")[0] == 0
    fakeprovider.SERVERS["fake-mail"].dkim = {}
    code, _, err = run(world, capsys, "diff")
    assert code == 1 and "no DKIM signature 'rsa-namgun.or.kr'" in err


def test_verify_only_record_in_a_zone_no_target_serves_is_not_an_error(tmp_path):
    """An ISP-managed PTR is declared `verify_only`: checked by `reconciler verify`, never written, so
    it needs no target; every other record of an unserved zone is still a configuration error."""
    from reconciler.config import Config, Target
    from reconciler.desired.loader import DesiredState
    from reconciler.engine import Engine, EngineError
    from reconciler.model.resource import Resource

    class Serves:
        name = "dc1"

        def __init__(self, target):
            self.target = target

        def serves(self, res):
            return res.key[0] == "namgun.or.kr"

        def close(self):
            return None

    ptr = Resource("dns.rrset", ("144.244.211.in-addr.arpa", "69", "PTR"), {"ttl": 3600,
                   "values": ["mail.namgun.or.kr."]}, {"verify_only": True})
    mx = Resource("dns.rrset", ("namgun.or.kr", "@", "MX"), {"ttl": 3600, "values": ["10 mail.namgun.or.kr."]})
    cfg = Config(path=tmp_path / "r.yaml", desired=tmp_path, state_dir=tmp_path, audit_log=tmp_path / "a",
                 policies={}, targets={"dc1": Target("dc1", "windows_dns", {}, {}, "r.yaml:1")})
    engine = Engine(cfg, DesiredState(root=tmp_path, resources=[ptr, mx]), provider_factory=Serves)
    assert engine.assign() == {"dc1": [mx]}
    stray = Resource("dns.rrset", ("example.org", "@", "A"), {"ttl": 1, "values": ["192.0.2.1"]})
    engine = Engine(cfg, DesiredState(root=tmp_path, resources=[ptr, mx, stray]), provider_factory=Serves)
    with pytest.raises(EngineError, match="no target"):
        engine.assign()


def _reseal(plan: dict) -> dict:
    """What an attacker who can edit the plan file does: change it and recompute its checksum."""
    from reconciler.plan import _checksum

    body = {k: v for k, v in plan.items() if k != "checksum"}
    return {**body, "checksum": _checksum(body)}


def test_forged_saved_plan_is_refused_even_with_a_valid_checksum(world: World,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = world.root / "plan.json"
    assert run(world, capsys, "diff", "--out", str(plan_file))[0] == 2
    saved = json.loads(plan_file.read_text("utf-8"))
    evil = json.loads(json.dumps(saved["changes"][0]))
    evil["key"] = [evil["key"][0], "evil", "A"]
    evil["after"] = {"kind": "dns.rrset", "key": evil["key"], "data": {"ttl": 60, "values": ["203.0.113.66"]}}
    evil["op"], evil["before"], evil["target"] = "create", None, "dc1"
    saved["changes"].append(evil)
    plan_file.write_text(json.dumps(_reseal(saved)), "utf-8")
    code, _, err = run(world, capsys, "apply", str(plan_file), "--yes")
    assert code == 3 and "not what git and the live state give" in err
    assert world.dc1.applied == [] and world.dc2.applied == []


def test_saved_plan_naming_an_unknown_target_or_op_is_rejected_before_anything_is_sent(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = world.root / "plan.json"
    assert run(world, capsys, "diff", "--out", str(plan_file))[0] == 2
    saved = json.loads(plan_file.read_text("utf-8"))
    saved["changes"][0]["target"] = "nosuch"
    plan_file.write_text(json.dumps(_reseal(saved)), "utf-8")
    code, _, err = run(world, capsys, "apply", str(plan_file), "--yes")
    assert code == 1 and "nosuch: the plan names a target" in err
    saved["changes"][0]["target"], saved["changes"][0]["op"] = "dc1", "explode"
    plan_file.write_text(json.dumps(_reseal(saved)), "utf-8")
    code, _, err = run(world, capsys, "apply", str(plan_file), "--yes")
    assert code == 1 and "unknown change op" in err and "Traceback" not in err
    assert world.dc1.applied == [] and world.dc2.applied == []
