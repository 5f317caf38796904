"""Plan: diff desired against live, the safety policies, and the saved-plan format."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from reconciler.config import DEFAULT_POLICIES, Target
from reconciler.model import dns as m
from reconciler.model.resource import GUARD, Resource
from reconciler.plan import Change, Plan, Refusal, _checksum, check_safety, diff_target
from reconciler.providers.base import BaseProvider, LiveState, Unmanaged

ZONE = "namgun.or.kr"


class Prov(BaseProvider):
    kinds = ("dns.rrset", "authentik.user")


def prov(name: str = "dc1") -> Prov:
    return Prov(Target(name, "windows_dns", {}, dict(DEFAULT_POLICIES), "test"))


def pol(**over: Any) -> dict[str, Any]:
    return {**DEFAULT_POLICIES, **over}


def rr(name: str, rtype: str, *values: str, ttl: int = 3600, zone: str = ZONE, **meta: Any) -> Resource:
    return Resource(m.KIND, (zone, name, rtype), m.rrset_data(ttl, list(values)), dict(meta))


def live_of(*resources: Resource, target: str = "dc1") -> LiveState:
    state = LiveState(target)
    for res in resources:
        state.add(res)
    return state


def user(username: str, **data: Any) -> Resource:
    base = {"name": "김경본", "email": f"{username}@namgun.or.kr", "is_active": True, "groups": ["mail-users"]}
    return Resource("authentik.user", (username,), {**base, **data})


# ------------------------------------------------------------------------------------------- diff

def test_create_update_delete() -> None:
    desired = [rr("mail", "A", "211.244.144.69"), rr("www", "A", "1.2.3.4", ttl=300)]
    live = live_of(rr("www", "A", "1.2.3.4"), rr("old", "A", "9.9.9.9"))
    changes, unmanaged = diff_target(prov(), desired, live, pol(purge=True))
    by_op = {c.op: c for c in changes}
    assert sorted(by_op) == ["create", "delete", "update"]
    assert by_op["create"].key == (ZONE, "mail", "A") and by_op["create"].before is None
    assert by_op["update"].key == (ZONE, "www", "A") and by_op["update"].fields == ["ttl"]
    assert by_op["update"].before.data["ttl"] == 3600 and by_op["update"].after.data["ttl"] == 300
    assert by_op["delete"].key == (ZONE, "old", "A") and by_op["delete"].after is None
    assert unmanaged == []
    assert all(c.target == "dc1" for c in changes)


def test_in_sync_is_empty_whatever_the_value_order() -> None:
    desired = [rr("@", "MX", "20 b.example.com.", "10 a.example.com.")]
    live = live_of(rr("@", "MX", "10 a.example.com.", "20 b.example.com.", "10 a.example.com."))
    assert diff_target(prov(), desired, live, pol()) == ([], [])


def test_value_set_change_is_an_update_of_values_only() -> None:
    desired = [rr("mail", "TXT", "v=spf1 a -all", "hello")]
    live = live_of(rr("mail", "TXT", "hello"))
    (change,), _ = diff_target(prov(), desired, live, pol())
    assert change.op == "update" and change.fields == ["values"]


def test_only_fields_the_desired_side_declares_are_compared() -> None:
    desired = [Resource("authentik.user", ("kkb",), {"name": "김경본", "is_active": True})]
    live = live_of(user("kkb", last_login="2026-01-01", uid="abc"))
    assert diff_target(prov(), desired, live, pol()) == ([], [])
    desired = [Resource("authentik.user", ("kkb",), {"name": "김경본 (KKB)", "is_active": True})]
    (change,), _ = diff_target(prov(), desired, live, pol())
    assert change.fields == ["name"]


def test_dicts_compare_on_desired_keys_only() -> None:
    live = live_of(user("kkb", attributes={"locale": "ko", "goauthentik.io/user/sources": ["ldap"]}))
    same = [user("kkb", attributes={"locale": "ko"})]
    assert diff_target(prov(), same, live, pol()) == ([], [])
    other = [user("kkb", attributes={"locale": "en"})]
    (change,), _ = diff_target(prov(), other, live, pol())
    assert change.fields == ["attributes"]
    nested = [user("kkb", attributes={"settings": {"theme": "dark"}})]
    (change,), _ = diff_target(prov(), nested, live, pol())  # a desired key missing live is a change
    assert change.fields == ["attributes"]


def test_field_missing_live_is_a_change() -> None:
    desired = [user("kkb", type="internal")]
    live = live_of(user("kkb"))
    (change,), _ = diff_target(prov(), desired, live, pol())
    assert change.fields == ["type"]


def test_guarded_live_objects_are_never_deleted_even_with_purge() -> None:
    soa = rr("@", "SOA", "dc1.namgun.or.kr. hostmaster. 1 900 600 86400 3600", **{GUARD: "SOA is never managed"})
    ad = rr("_ldap._tcp.dc._msdcs", "SRV", "0 100 389 dc1.namgun.or.kr.", **{GUARD: "Active Directory record"})
    dyn = rr("pc-42", "A", "10.0.0.42", **{GUARD: "dynamic record (Timestamp set)"})
    live = live_of(soa, ad, dyn, rr("mail", "A", "211.244.144.69"))
    changes, unmanaged = diff_target(prov(), [rr("mail", "A", "211.244.144.69")], live, pol(purge=True))
    assert changes == []
    assert {(u.resource.key[1], u.reason) for u in unmanaged} == {
        ("@", "SOA is never managed"), ("_ldap._tcp.dc._msdcs", "Active Directory record"),
        ("pc-42", "dynamic record (Timestamp set)")}


def test_guarded_object_declared_in_git_is_updated() -> None:
    ns = rr("@", "NS", "dc1.namgun.or.kr.", **{GUARD: "apex NS"})
    (change,), unmanaged = diff_target(prov(), [rr("@", "NS", "dc1.namgun.or.kr.", "dc2.namgun.or.kr.")],
                                       live_of(ns), pol())
    assert change.op == "update" and unmanaged == []


def test_purge_false_reports_unmanaged() -> None:
    live = live_of(rr("mail", "A", "211.244.144.69"), rr("console-added", "A", "10.1.1.1"))
    changes, unmanaged = diff_target(prov(), [rr("mail", "A", "211.244.144.69")], live, pol())
    assert changes == []
    (item,) = unmanaged
    assert item.resource.key == (ZONE, "console-added", "A")
    assert "purge is off" in item.reason


def test_provider_unmanaged_are_passed_through() -> None:
    live = live_of()
    live.unmanaged.append(Unmanaged(rr("x", "HINFO", "a b"), "type not modelled"))
    _, unmanaged = diff_target(prov(), [], live, pol(purge=True))
    assert [u.reason for u in unmanaged] == ["type not modelled"]


def test_verify_only_records_are_never_written() -> None:
    ptr = Resource(m.KIND, ("144.244.211.in-addr.arpa", "69", "PTR"), m.rrset_data(3600, ["mail.namgun.or.kr."]),
                   {"verify_only": True})
    changes, unmanaged = diff_target(prov(), [ptr], live_of(), pol(purge=True))
    assert changes == [] and unmanaged == []


def test_apex_ns_change_needs_force() -> None:
    desired = [rr("@", "NS", "dc1.namgun.or.kr.", "dc2.namgun.or.kr.")]
    live = live_of(rr("@", "NS", "dc1.namgun.or.kr."))
    changes, _ = diff_target(prov(), desired, live, pol())
    assert changes[0].force_reason and "apex NS" in changes[0].force_reason
    refusals = check_safety("dc1", changes, live, pol())
    assert len(refusals) == 1 and refusals[0].forceable and refusals[0].change_ids == [changes[0].id]
    changes, _ = diff_target(prov(), desired, live, pol(allow_root_ns=True))
    assert changes[0].force_reason is None
    assert check_safety("dc1", changes, live, pol(allow_root_ns=True)) == []
    # a delegation (NS below the apex) is an ordinary change
    changes, _ = diff_target(prov(), [rr("sub", "NS", "ns1.example.com.")], live_of(), pol())
    assert changes[0].force_reason is None


# ----------------------------------------------------------------------------------------- safety

def zone_of(count: int, zone: str = ZONE) -> list[Resource]:
    return [rr(f"h{i}", "A", f"10.0.0.{i}", zone=zone) for i in range(count)]


def updates(records: list[Resource], count: int) -> list[Change]:
    return [Change.update("dc1", r, rr(r.key[1], "A", "10.9.9.9", zone=r.key[0]), ["values"]) for r in records[:count]]


def test_updates_within_the_share_pass_and_over_it_are_refused() -> None:
    records = zone_of(10)
    live = live_of(*records)
    assert check_safety("dc1", updates(records, 3), live, pol()) == []  # 30% is not over 30%
    (refusal,) = check_safety("dc1", updates(records, 4), live, pol())
    assert refusal.forceable and "4 of 10" in refusal.message and len(refusal.change_ids) == 4
    assert check_safety("dc1", updates(records, 4), live, pol(max_change_share=0.5)) == []


def test_deletes_count_toward_the_share() -> None:
    records = zone_of(10)
    live = live_of(*records)
    deletes = [Change.delete("dc1", r) for r in records[:2]]
    assert check_safety("dc1", deletes + updates(records[2:], 1), live, pol()) == []
    assert len(check_safety("dc1", deletes + updates(records[2:], 2), live, pol())) == 1


def test_guarded_records_do_not_count_as_managed() -> None:
    records = zone_of(4)
    guarded = [rr(f"ad{i}", "A", "10.1.1.1", **{GUARD: "AD"}) for i in range(20)]
    live = live_of(*records, *guarded)
    (refusal,) = check_safety("dc1", updates(records, 2), live, pol())  # 2 of 4 managed, not 2 of 24
    assert "2 of 4" in refusal.message


@pytest.mark.parametrize("size", [1, 2, 3, 50])
def test_deleting_every_record_of_a_zone_is_refused_whatever_its_size(size: int) -> None:
    records = zone_of(size)
    live = live_of(*records, rr("@", "SOA", "x. y. 1 2 3 4 5", **{GUARD: "SOA"}))
    changes = [Change.delete("dc1", r) for r in records]
    refusals = check_safety("dc1", changes, live, pol(max_change_share=1.0))
    assert len(refusals) == 1 and "every managed object" in refusals[0].message
    assert refusals[0].forceable


def test_emptying_one_zone_is_refused_even_when_another_is_large() -> None:
    big, small = zone_of(100), zone_of(2, zone="other.kr")
    live = live_of(*big, *small)
    refusals = check_safety("dc1", [Change.delete("dc1", r) for r in small], live, pol())
    assert len(refusals) == 1 and "zone other.kr" in refusals[0].message


def test_share_is_per_zone() -> None:
    a, b = zone_of(10), zone_of(10, zone="other.kr")
    live = live_of(*a, *b)
    changes = updates(a, 3) + updates(b, 3)  # 6 of 20 overall, 3 of 10 in each zone
    assert check_safety("dc1", changes, live, pol()) == []


def test_small_zones_allow_single_updates() -> None:
    records = zone_of(3)
    assert check_safety("dc1", updates(records, 1), live_of(*records), pol()) == []


def test_creates_are_never_limited() -> None:
    live = live_of(*zone_of(1))
    creates = [Change.create("dc1", rr(f"new{i}", "A", "10.2.2.2")) for i in range(500)]
    assert check_safety("dc1", creates, live, pol()) == []
    assert check_safety("dc1", creates, live_of(), pol()) == []


def test_identity_objects_have_their_own_group() -> None:
    users = [user(f"u{i}") for i in range(10)]
    live = live_of(*users, *zone_of(10))
    deactivate = [Change.update("sso", u, user(u.key[0], is_active=False), ["is_active"]) for u in users[:4]]
    (refusal,) = check_safety("sso", deactivate, live, pol())
    assert "authentik.user" in refusal.message and "4 of 10" in refusal.message


def test_blocking_respects_force_but_not_provider_refusals() -> None:
    plan = Plan(refusals=[Refusal("dc1", "too many", ["a"]), Refusal("dc1", "cannot publish", ["b"], forceable=False)])
    assert len(plan.blocking(force=False)) == 2
    assert [r.message for r in plan.blocking(force=True)] == ["cannot publish"]


# -------------------------------------------------------------------------------------- plan JSON

def sample_plan() -> Plan:
    dkim = "v=DKIM1; k=rsa; p=" + "Q" * 392
    changes = [
        Change.create("dc1", rr("default._domainkey", "TXT", dkim)),
        Change.update("dc1", rr("mail", "TXT", "v=spf1 a"), rr("mail", "TXT", "v=spf1 a -all"), ["values"]),
        Change.delete("dc1", rr("old", "A", "10.0.0.1"), warnings=["was added by hand"]),
        Change.update("sso", user("kkb", name="김경본"), user("kkb", name="김경본 (관리)"), ["name"]),
    ]
    changes[1].force_reason = "test reason"
    return Plan(changes=changes,
                unmanaged=[("dc1", Unmanaged(rr("pc-1", "A", "10.0.0.9", **{GUARD: "dynamic"}), "dynamic"))],
                refusals=[Refusal("dc1", "dc1 refusal 남근", [changes[1].id])],
                fingerprints={"dc1": "a" * 64, "sso": "b" * 64}, facts={"dc1": {"kind": "windows_dns"}},
                notes=["note 김경본"], source={"desired_digest": "c" * 64, "commit": "deadbeef"})


def test_plan_json_round_trip() -> None:
    plan = sample_plan()
    body = json.loads(json.dumps(plan.to_json(), ensure_ascii=False))
    again = Plan.from_json(body)
    assert again.to_json() == plan.to_json()
    assert [c.id for c in again.changes] == [c.id for c in plan.changes]
    assert [(c.op, c.key, c.fields, c.warnings, c.force_reason) for c in again.changes] == \
           [(c.op, c.key, c.fields, c.warnings, c.force_reason) for c in plan.changes]
    assert again.changes[0].after == plan.changes[0].after
    assert again.summary() == {"create": 1, "update": 2, "delete": 1}


def test_change_id_depends_on_content() -> None:
    a = Change.update("dc1", rr("mail", "A", "1.1.1.1"), rr("mail", "A", "2.2.2.2"), ["values"])
    b = Change.update("dc1", rr("mail", "A", "1.1.1.1"), rr("mail", "A", "2.2.2.3"), ["values"])
    c = Change.update("dc2", rr("mail", "A", "1.1.1.1"), rr("mail", "A", "2.2.2.2"), ["values"])
    assert len({a.id, b.id, c.id}) == 3


def _tampered(edit: Any) -> dict[str, Any]:
    body = copy.deepcopy(sample_plan().to_json())
    edit(body)
    return json.loads(json.dumps(body))


@pytest.mark.parametrize("edit", [
    lambda b: b["changes"][0]["after"]["data"]["values"].__setitem__(0, "v=DKIM1; p=evil"),
    lambda b: b["changes"].pop(2),
    lambda b: b["changes"][2].__setitem__("op", "create"),
    lambda b: b["fingerprints"].__setitem__("dc1", "0" * 64),
    lambda b: b["refusals"].clear(),
    lambda b: b["source"].__setitem__("desired_digest", "d" * 64),
    lambda b: b.pop("checksum"),
], ids=["value", "removed-change", "op", "fingerprint", "refusals", "digest", "no-checksum"])
def test_plan_tampering_is_detected(edit: Any) -> None:
    with pytest.raises(ValueError, match="checksum"):
        Plan.from_json(_tampered(edit))


def test_plan_format_is_checked() -> None:
    body = sample_plan().to_json()
    body["format"] = 99
    with pytest.raises(ValueError, match="format"):
        Plan.from_json(body)


def test_malformed_plan_bodies_are_value_errors() -> None:
    with pytest.raises(ValueError, match="not a plan"):
        Plan.from_json([])  # type: ignore[arg-type]
    body = sample_plan().to_json()
    del body["changes"][0]["op"]
    del body["checksum"]
    body["checksum"] = _checksum(body)  # consistent checksum, broken body
    with pytest.raises(ValueError, match="malformed"):
        Plan.from_json(body)


def test_terminal_control_sequences_in_values_are_shown_escaped_not_executed():
    from reconciler.model.resource import Resource
    from reconciler.plan import Change, Plan
    from reconciler.render import render_plan

    hostile = "v=spf1 -all\x1b]0;pwned\x07\x1b[2K\rfake line\x9b"
    res = Resource("dns.rrset", ("namgun.or.kr", "mail", "TXT"), {"ttl": 60, "values": [hostile]})
    text = render_plan(Plan(changes=[Change.create("dc1", res)], fingerprints={"dc1": "x"}))
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text and "\x9b" not in text
    assert "\\x1b]0;pwned\\x07\\x1b[2K\\rfake line" in text
