"""UPDATE construction without a server: prerequisites, TXT octets, size-aware batching."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import dnswire
from reconciler.model import dns as m
from reconciler.model.resource import Resource
from reconciler.plan import Change
from reconciler.providers.rfc2136 import records, updates
from reconciler.providers.rfc2136.zonedata import ZoneData

ZONE = "namgun.or.kr"
ORIGIN = dns.name.from_text(ZONE)
KEYRING = dns.tsigkeyring.from_text({"k.": ("hmac-sha512", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")})
KEY = dns.name.from_text("k.")
ALG = dns.name.from_text("hmac-sha512")


def rr(name: str, rtype: str, values: list[str], ttl: int = 3600) -> Resource:
    return Resource(m.KIND, (ZONE, name, rtype), m.rrset_data(ttl, values))


def held(data: ZoneData, relative: str, ttl: int, rdata: dns.rdata.Rdata) -> None:
    """A record as if the zone transfer had brought it."""
    data.add(data.owner(relative).to_text().lower(), rdata.rdtype, ttl, rdata.to_wire())


def data_with(*resources: Resource) -> ZoneData:
    data = ZoneData(ZONE, ORIGIN)
    for res in resources:
        for value in res.data["values"]:
            held(data, res.key[1], res.data["ttl"], records.to_rdata(res.key[2], value))
    return data


def parsed(steps: list[updates.Step]) -> dns.update.UpdateMessage:
    """The rendered UPDATE as dnspython reads it (the reference for what the server is sent)."""
    msg = dns.message.from_wire(updates.render(ORIGIN, steps, 4242))
    assert isinstance(msg, dns.update.UpdateMessage) and msg.id == 4242 and msg.zone[0].name == ORIGIN
    return msg


def test_create_has_rrset_does_not_exist_prerequisite() -> None:
    step = updates.make_step(Change.create("t", rr("www", "A", ["192.0.2.1"])), data_with())
    msg = parsed([step])
    (prereq,) = msg.prerequisite
    assert prereq.deleting == dns.rdataclass.NONE and prereq.rdtype == dns.rdatatype.A and len(prereq) == 0
    (add,) = msg.update
    assert add.rdclass == dns.rdataclass.IN and add.ttl == 3600


def test_update_repeats_exact_rdata_read() -> None:
    live = rr("split", "TXT", ["v=spf1 -all"])
    data = ZoneData(ZONE, ORIGIN)
    odd = dns.rdata.from_text("IN", "TXT", '"v=spf1 " "-all"')  # split by another tool
    held(data, "split", 3600, odd)
    step = updates.make_step(Change.update("t", live, rr("split", "TXT", ["v=spf1 mx -all"]), ["values"]), data)
    assert step.present == [odd.to_wire()]
    msg = parsed([step])
    (prereq,) = msg.prerequisite
    assert prereq.rdclass == dns.rdataclass.IN and prereq.ttl == 0 and list(prereq) == [odd]
    delete, add = msg.update
    assert delete.deleting == dns.rdataclass.ANY and add.deleting is None


def test_apex_ns_update_adds_then_removes_old_values() -> None:
    live = rr("@", "NS", ["ns1.namgun.or.kr."])
    step = updates.make_step(Change.update("t", live, rr("@", "NS", ["ns2.namgun.or.kr."]), ["values"]),
                             data_with(live))
    msg = parsed([step])
    add, remove = msg.update
    assert add.deleting is None and str(add[0].target) == "ns2.namgun.or.kr."
    assert remove.deleting == dns.rdataclass.NONE and str(remove[0].target) == "ns1.namgun.or.kr."


def test_apex_ns_delete_and_soa_refused() -> None:
    live = rr("@", "NS", ["ns1.namgun.or.kr."])
    with pytest.raises(updates.StepError, match="apex NS"):
        updates.make_step(Change.delete("t", live), data_with(live))
    soa = Resource(m.KIND, (ZONE, "@", "SOA"), {"ttl": 0, "values": ["x"]})
    with pytest.raises(updates.StepError, match="SOA"):
        updates.make_step(Change.delete("t", soa), data_with())


def test_long_txt_is_split_into_character_strings() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 392
    rdata = records.to_rdata("TXT", value)
    assert [len(s) for s in rdata.strings] == [255, 155]
    assert dnswire.canonical(rdata.rdtype, rdata.to_wire()) == value


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=1200))
def test_txt_round_trip_any_text(value: str) -> None:
    rdata = records.to_rdata("TXT", value)
    assert all(len(s) <= 255 for s in rdata.strings)
    wire = rdata.to_digestable()
    back = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TXT, wire, 0, len(wire))
    assert dnswire.canonical(back.rdtype, back.to_wire()) == value


@pytest.mark.parametrize("rtype,value", [
    ("A", "192.0.2.1"), ("AAAA", "2001:db8::1"), ("CNAME", "www.namgun.or.kr."),
    ("MX", "10 mail.namgun.or.kr."), ("SRV", "0 5 993 mail.namgun.or.kr."),
    ("CAA", '0 issue "letsencrypt.org"'), ("CAA", '0 iodef "mailto:보안@namgun.or.kr \\"x\\""'),
    ("PTR", "mail.namgun.or.kr."), ("NS", "ns1.namgun.or.kr."),
])
def test_canonical_round_trip(rtype: str, value: str) -> None:
    rdata = records.to_rdata(rtype, value)
    assert dnswire.canonical(rdata.rdtype, rdata.to_wire()) == value


def make_changes(count: int, long_every: int = 7) -> tuple[list[updates.Step], ZoneData]:
    data = ZoneData(ZONE, ORIGIN)
    steps = []
    for i in range(count):
        if i % 3 == 0:
            live = rr(f"h{i}", "A", [f"192.0.2.{i % 250}"])
            for v in live.data["values"]:
                held(data, live.key[1], 3600, records.to_rdata("A", v))
            change = Change.update("t", live, rr(f"h{i}", "A", [f"198.51.100.{i % 250}"]), ["values"])
        elif i % long_every == 0:
            change = Change.create("t", rr(f"k{i}._domainkey", "TXT", ["v=DKIM1; p=" + "Q" * 380]))
        else:
            change = Change.create("t", rr(f"n{i}", "TXT", [f"값 {i}; \"quoted\" \\ end"]))
        steps.append(updates.make_step(change, data))
    return steps, data


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=900), st.sampled_from([600, 1500, 4096, 16384, 65535]))
def test_batches_never_exceed_the_limit(count: int, limit: int) -> None:
    steps, _ = make_changes(count)
    fixed = updates.overhead(ORIGIN, KEY, ALG)
    steps = [s for s in steps if fixed + s.size <= limit]  # check() refuses the others before apply
    batches = updates.pack(steps, limit, fixed)
    assert sum(len(b) for b in batches) == len(steps)
    assert len({s.change.id for b in batches for s in b}) == len(steps)
    for batch in batches:
        wire, mac = updates.sign(updates.render(ORIGIN, batch, 1), KEYRING, KEY)
        assert len(wire) <= limit and mac
        assert dns.message.from_wire(wire, keyring=KEYRING).had_tsig  # dnspython verifies the signature


def test_batching_is_not_one_message_per_record() -> None:
    steps, _ = make_changes(1000)
    batches = updates.pack(steps, 32768, updates.overhead(ORIGIN, KEY, ALG))
    assert 1 < len(batches) <= 10


def test_changes_of_one_name_stay_together_in_order() -> None:
    a = rr("x", "A", ["192.0.2.1"])
    steps = [updates.make_step(Change.create("t", rr("x", "CNAME", ["www.namgun.or.kr."])), data_with()),
             updates.make_step(Change.delete("t", a), data_with(a))]
    steps += make_changes(200)[0]
    for batch in updates.pack(steps, 1200, updates.overhead(ORIGIN, KEY, ALG)):
        ops = [(s.change.op, s.change.key[2]) for s in batch if s.change.key[1] == "x"]
        if ops:
            assert ops == [("delete", "A"), ("create", "CNAME")]


def test_apex_ns_keeps_a_value_that_differs_only_in_letter_case() -> None:
    # held "NS1.namgun.or.kr." and desired "ns1.namgun.or.kr." are one record to DNS: deleting the held
    # spelling after adding the new one would delete both (RFC 2136 §2.5.4 compares names without case)
    data = ZoneData(ZONE, ORIGIN)
    held(data, "@", 3600, dns.rdata.from_text("IN", "NS", "NS1.namgun.or.kr."))
    live = rr("@", "NS", ["ns1.namgun.or.kr."])
    step = updates.make_step(Change.update("t", live, rr("@", "NS", ["ns1.namgun.or.kr.", "ns2.namgun.or.kr."]),
                                           ["values"]), data)
    assert step.remove == [] and len(step.add) == 2


def test_a_signed_update_is_accepted_by_dnspython_and_matches_its_own_rendering() -> None:
    steps, _ = make_changes(40)
    wire, mac = updates.sign(updates.render(ORIGIN, steps, 77), KEYRING, KEY)
    ours = dns.message.from_wire(wire, keyring=KEYRING)
    assert ours.had_tsig and ours.mac == mac
    reference = dns.update.UpdateMessage(ORIGIN, id=77)
    for step in steps:  # the same records through dnspython's own API
        if step.present is not None:
            rdataset = dns.rdataset.Rdataset(dns.rdataclass.IN, step.rdtype)
            for w in step.present:
                rdataset.add(dns.rdata.from_wire(1, step.rdtype, w, 0, len(w)), 0)
            reference.present(step.owner, rdataset)
        if step.absent:
            reference.absent(step.owner, step.rdtype)
    for step in steps:
        if step.delete_rrset:
            reference.delete(step.owner, step.rdtype)
        if step.add:
            reference.add(step.owner, step.add_ttl,
                          *[dns.rdata.from_wire(1, step.rdtype, w, 0, len(w)) for w in step.add])
    again = dns.message.from_wire(reference.to_wire())
    assert [str(r) for r in ours.prerequisite] == [str(r) for r in again.prerequisite]
    assert [str(r) for r in ours.update] == [str(r) for r in again.update]
