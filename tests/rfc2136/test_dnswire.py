"""dnswire against dnspython, the reference parser: the same owners, rdata and canonical values for
what dnspython writes (with name compression), and a clean WireError for every malformed message."""

from __future__ import annotations

import ipaddress
import struct

import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import dnswire
from reconciler.model import dns as m

ZONE = dns.name.from_text("namgun.or.kr.")


def reference_canonical(rdata: dns.rdata.Rdata) -> str:
    """The canonical value built from dnspython's parsed rdata (how the provider read values before
    dnswire): the reference dnswire.canonical is held to."""
    t = dns.rdatatype
    name = lambda n: n.to_text().lower()  # noqa: E731
    if rdata.rdtype == t.TXT:
        return m.txt_join(rdata.strings)
    if rdata.rdtype == t.A:
        return str(ipaddress.IPv4Address(rdata.address))
    if rdata.rdtype == t.AAAA:
        return str(ipaddress.IPv6Address(rdata.address))
    if rdata.rdtype in (t.CNAME, t.NS, t.PTR):
        return name(rdata.target)
    if rdata.rdtype == t.MX:
        return f"{rdata.preference} {name(rdata.exchange)}"
    if rdata.rdtype == t.SRV:
        return f"{rdata.priority} {rdata.weight} {rdata.port} {name(rdata.target)}"
    value = rdata.value.decode("utf-8", errors="backslashreplace").replace("\\", "\\\\").replace('"', '\\"')
    return f'{rdata.flags} {rdata.tag.decode("ascii", "replace").lower()} "{value}"'

labels = st.one_of(
    st.sampled_from(["www", "MAIL", "_dmarc", "*", "xn--2e0b", "a-b", "_tcp"]),
    st.binary(min_size=1, max_size=12),  # any octets: dots, quotes, spaces, control and high bytes
)
names = st.lists(labels, min_size=0, max_size=4).map(
    lambda parts: dns.name.Name([p.encode() if isinstance(p, str) else p for p in parts]).concatenate(ZONE))


def rdatas() -> st.SearchStrategy[dns.rdata.Rdata]:
    IN = dns.rdataclass.IN
    t = dns.rdatatype
    return st.one_of(
        st.binary(min_size=4, max_size=4).map(lambda b: dns.rdata.from_wire(IN, t.A, b, 0, 4)),
        st.binary(min_size=16, max_size=16).map(lambda b: dns.rdata.from_wire(IN, t.AAAA, b, 0, 16)),
        st.sampled_from(["::ffff:192.0.2.1", "2001:db8::1", "::", "1:0:1:1:1:1:1:1", "::1"]).map(
            lambda s: dns.rdata.from_text(IN, t.AAAA, s)),
        st.lists(st.binary(max_size=255), min_size=1, max_size=4).map(
            lambda strings: dns.rdata.from_wire(IN, t.TXT, b"".join(bytes([len(s)]) + s for s in strings), 0,
                                                sum(len(s) + 1 for s in strings))),
        names.map(lambda n: dns.rdata.from_wire(IN, t.CNAME, n.to_wire(), 0, len(n.to_wire()))),
        names.map(lambda n: dns.rdata.from_wire(IN, t.NS, n.to_wire(), 0, len(n.to_wire()))),
        names.map(lambda n: dns.rdata.from_wire(IN, t.PTR, n.to_wire(), 0, len(n.to_wire()))),
        st.tuples(st.integers(0, 65535), names).map(
            lambda pn: dns.rdata.from_wire(IN, t.MX, struct.pack("!H", pn[0]) + pn[1].to_wire(), 0,
                                           2 + len(pn[1].to_wire()))),
        st.tuples(st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 65535), names).map(
            lambda s: dns.rdata.from_wire(IN, t.SRV, struct.pack("!HHH", *s[:3]) + s[3].to_wire(), 0,
                                          6 + len(s[3].to_wire()))),
        st.tuples(st.integers(0, 255), st.sampled_from([b"issue", b"iodef", b"ISSUEWILD"]), st.binary(max_size=40)).map(
            lambda c: dns.rdata.from_wire(IN, t.CAA, bytes([c[0], len(c[1])]) + c[1] + c[2], 0,
                                          2 + len(c[1]) + len(c[2]))),
    )


@settings(max_examples=400, deadline=None)
@given(rdatas())
def test_canonical_equals_the_dnspython_path(rdata: dns.rdata.Rdata) -> None:
    assert dnswire.canonical(rdata.rdtype, rdata.to_wire()) == reference_canonical(rdata)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, st.integers(0, 2**31 - 1), rdatas()), min_size=1, max_size=12))
def test_message_records_equal_dnspython_with_compression(rrs: list) -> None:
    message = dns.message.Message(id=7)
    for name, ttl, rdata in rrs:
        rrset = dns.rrset.RRset(name, rdata.rdclass, rdata.rdtype)
        rrset.add(rdata, ttl)
        message.answer.append(rrset)
    wire = message.to_wire()  # dnspython compresses owners and the names inside NS/CNAME/PTR/MX
    parsed = dnswire.Message(wire)
    reference = dns.message.from_wire(wire, one_rr_per_rrset=True)  # in wire order, duplicates kept
    expected = [(rrset.name.to_text().lower(), rd.rdtype, rd.rdclass, rrset.ttl, rd.to_wire())
                for rrset in reference.answer for rd in rrset]
    assert parsed.answer == expected
    assert parsed.id == 7


def test_soa_and_unhandled_types_are_written_out_uncompressed() -> None:
    message = dns.message.Message(id=1)
    for text, rtype in ((f"ns1.{ZONE} hostmaster.{ZONE} 2026120301 3600 600 86400 300", "SOA"),
                        (f"hostmaster.{ZONE} txt.{ZONE}", "RP"),
                        ("1 1 dd465c09cfa51fb45020cc83316fff21b9ec74ac", "SSHFP")):
        rrset = dns.rrset.RRset(ZONE, dns.rdataclass.IN, dns.rdatatype.from_text(rtype))
        rrset.add(dns.rdata.from_text("IN", rtype, text), 300)
        message.answer.append(rrset)
    parsed = dnswire.Message(message.to_wire())
    assert [r[4] for r in parsed.answer] == [rs[0].to_wire() for rs in message.answer]
    assert dnswire.soa_serial(parsed.answer[0][4]) == 2026120301


def header(an: int = 1, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 1, 0x8000, 0, an, 0, ar)


A_RR = struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 1])


@pytest.mark.parametrize("wire, problem", [
    (header() + b"\xc0\x0c" + A_RR, "does not point backwards"),  # a pointer to itself: a loop
    (header() + b"\x03www\xc0\x20" + A_RR, "does not point backwards"),  # a pointer forwards
    (header() + b"\x03ww", "past the end"),
    (header() + b"\xc0", "past the end"),
    (header() + b"\x41" + b"a" * 65 + b"\x00" + A_RR, "unknown label type"),
    (header() + b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00" + A_RR, "longer than 255"),
    (header() + b"\x00" + struct.pack("!HHIH", 1, 1, 300, 5) + bytes(5), "wrong length"),
    (header() + b"\x00" + struct.pack("!HHIH", 1, 1, 300, 40) + bytes(4), "past the end"),
    (header() + b"\x00" + struct.pack("!HHIH", 16, 1, 300, 3) + b"\x05ab", "past its rdata"),
    (header() + b"\x00" + A_RR + b"junk", "octets after the last record"),
    (header() + b"\x00" + struct.pack("!HHIH", 5, 1, 300, 3) + b"\x01a\x00" + b"x", "octets after"),
    (header() + b"\x00" + struct.pack("!HHIH", 5, 1, 300, 4) + b"\x01a\x00x", "does not match its name"),
    (header(an=0, ar=2) + b"\x00" + struct.pack("!HHIH", 250, 255, 0, 0) + b"\x00" + A_RR, "TSIG record"),
    (b"\x00\x01", "shorter than its header"),
])
def test_malformed_messages_raise_wire_error(wire: bytes, problem: str) -> None:
    with pytest.raises(dnswire.WireError, match=problem):
        dnswire.Message(wire)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_octets_never_crash_otherwise(noise: bytes) -> None:
    try:
        dnswire.Message(header(an=3) + noise)
    except dnswire.WireError:
        pass


# ------------------------------------------------------------------ verification answers (query.py)

def test_pipelined_answer_reading_equals_the_dnspython_path() -> None:
    from reconciler.verify.query import Answer, _read_wire

    def reference(out: Answer, response: dns.message.Message) -> Answer:  # the dnspython reading it replaced
        out.rcode, out.authoritative = response.rcode(), bool(response.flags & dns.flags.AA)
        target = out.name
        for _ in range(8):
            rrset = response.get_rrset(response.answer, target, dns.rdataclass.IN, out.rdtype)
            if rrset is not None:
                out.wires, out.ttl = [rd.to_wire() for rd in rrset], rrset.ttl
                break
            alias = response.get_rrset(response.answer, target, dns.rdataclass.IN, dns.rdatatype.CNAME)
            if alias is None or out.rdtype == dns.rdatatype.CNAME:
                break
            out.cname = out.cname or alias[0].target
            target = alias[0].target
        return out

    name = dns.name.from_text(f"www.{ZONE}")
    query = dns.message.make_query(name, "A")
    cases = {
        "direct": [(f"www.{ZONE}", 300, "A", "192.0.2.1"), (f"www.{ZONE}", 300, "A", "192.0.2.2")],
        "chain": [(f"www.{ZONE}", 60, "CNAME", f"web.{ZONE}"), (f"web.{ZONE}", 60, "CNAME", f"Host.{ZONE}"),
                  (f"host.{ZONE}", 120, "A", "192.0.2.7")],
        "dangling": [(f"www.{ZONE}", 60, "CNAME", "gone.example.")],
        "empty": [],
    }
    for label, rrs in cases.items():
        response = dns.message.make_response(query)
        for owner, ttl, rtype, value in rrs:
            response.answer.append(dns.rrset.from_text(owner, ttl, "IN", rtype, value))
        response.flags |= dns.flags.AA
        wire = response.to_wire()
        got = _read_wire((name, dns.rdatatype.A), wire)
        want = reference(Answer(name, dns.rdatatype.A), dns.message.from_wire(wire))
        assert got is not None, label
        assert (got.wires, got.ttl, got.cname, got.rcode, got.authoritative) == (
            want.wires, want.ttl, want.cname, want.rcode, want.authoritative), label
    truncated = dns.message.make_response(query)
    truncated.flags |= dns.flags.TC
    other = dns.message.make_response(dns.message.make_query(f"mail.{ZONE}", "A"))
    for wire in (truncated.to_wire(), other.to_wire(), query.to_wire(), b"\x00" * 12 + b"junk"):
        assert _read_wire((name, dns.rdatatype.A), wire) is None  # retried one by one


# ------------------------------------------------------- hardening (an attacker's review, issue 6)

def test_a_long_chain_of_pointers_is_refused_quickly() -> None:
    # Each pointer points at the one before it: dnspython stops after 16 hops; without a cap every name
    # pointing at the chain's end walks all of it (seconds per message).
    wire = bytearray(struct.pack("!HHHHHH", 1, 0x8000, 0, 0, 0, 0)) + b"\x00"  # offset 12: the root name
    previous = 12
    for _ in range(40):
        here = len(wire)
        wire += bytes([0xC0 | (previous >> 8), previous & 0xFF])
        previous = here
    assert dnswire.read_name(bytes(wire), 13 + 2 * 15, {})[0] == "."  # 16 hops: still a name
    with pytest.raises(dnswire.WireError, match="more than 16"):
        dnswire.read_name(bytes(wire), previous, {})


def test_opt_only_once_in_the_additional_section_and_its_extended_rcode_counts() -> None:
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0x01000000, 0)  # extended rcode 1 → BADVERS (16)
    assert dnswire.Message(struct.pack("!HHHHHH", 1, 0x8000, 0, 0, 0, 1) + opt).rcode == 16
    with pytest.raises(dnswire.WireError, match="outside the additional section"):
        dnswire.Message(struct.pack("!HHHHHH", 1, 0x8000, 0, 1, 0, 0) + opt)
    with pytest.raises(dnswire.WireError, match="malformed OPT"):
        dnswire.Message(struct.pack("!HHHHHH", 1, 0x8000, 0, 0, 0, 2) + opt + opt)


def test_caa_with_a_tag_dnspython_refuses_is_refused() -> None:
    rdata = b"\x00\x06is-sue" + b"x"
    wire = header() + b"\x00" + struct.pack("!HHIH", 257, 1, 300, len(rdata)) + rdata
    with pytest.raises(dnswire.WireError, match="CAA"):
        dnswire.Message(wire)


@pytest.mark.parametrize("owner, relative", [
    ("namgun.or.kr.", "@"), ("www.namgun.or.kr.", "www"), ("a.b.namgun.or.kr.", "a.b"),
    ("www\\.namgun.or.kr.", None),  # one label "www.namgun": outside the zone
    ("www\\\\.namgun.or.kr.", "www\\\\"),  # a label ending in a backslash, then the zone
    ("xnamgun.or.kr.", None), ("or.kr.", None), ("other.example.", None),
])
def test_relative_to_is_label_aware(owner: str, relative: str | None) -> None:
    assert dnswire.relative_to(owner, "namgun.or.kr.") == relative


def test_pipelined_questions_expire_while_a_server_keeps_sending() -> None:
    """A server that answers two of three questions and sends a stray datagram every 20 ms: the third
    question must still expire (and go to the one-by-one retry) instead of waiting forever."""
    import socket
    import threading
    import time

    from reconciler.verify.query import Server, _pipelined

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.02)
    stop = threading.Event()

    def serve() -> None:
        peer = None
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(65535)
            except TimeoutError:
                wire = None
            if wire:
                query = dns.message.from_wire(wire)
                if query.question[0].name.labels[0] != b"n2":
                    response = dns.message.make_response(query)
                    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.1"))
                    sock.sendto(response.to_wire(), peer)
            if peer:
                sock.sendto(b"\xff\xff" + bytes(10), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    questions = [(dns.name.from_text(f"n{i}.example."), dns.rdatatype.A) for i in range(3)]
    try:
        started = time.monotonic()
        answers = _pipelined(Server("127.0.0.1", sock.getsockname()[1]), questions, 0.5)
        seconds = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()
    assert seconds < 3
    assert sorted(str(q[0]) for q in answers) == ["n0.example.", "n1.example."]
