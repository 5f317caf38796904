"""The zone-transfer reader's TSIG rules (RFC 8945 §5.3.1), against a loopback server that answers
with messages dnspython signs: a good multi-message transfer reads whole; an unsigned answer, an
unsigned last message, a wrong key or records after the closing SOA are refused with a message that
names the server and the zone. dnspython itself accepts an unsigned answer to a signed transfer."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import dns.message
import dns.name
import dns.rdata
import dns.rrset
import dns.tsig
import pytest

from reconciler.config import Target
from reconciler.dnswire import WireError
from reconciler.providers.base import ProviderError, Scope
from reconciler.providers.rfc2136 import create, transfer

ZONE = "namgun.or.kr"
ORIGIN = dns.name.from_text(ZONE)
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
KEY_NAME = dns.name.from_text("reconciler-key.")
KEYRING = {KEY_NAME: dns.tsig.Key(KEY_NAME, SECRET)}  # as settings.Tsig.keyring() makes it
OTHER_KEYRING = {KEY_NAME: dns.tsig.Key(KEY_NAME, "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcg==")}
SOA = dns.rdata.from_text("IN", "SOA", f"ns1.{ZONE}. hostmaster.{ZONE}. 7 3600 600 86400 300")

Plan = Callable[[dns.message.Message], list[bytes]]


def rrset(name: str, rtype: str, value: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(dns.name.from_text(name, ORIGIN), 300, "IN", rtype, value)


def answers(query: dns.message.Message, *, sign: list[bool], keyring: dict | None = None,
            after_end: bool = False, bodies: list[list[dns.rrset.RRset]] | None = None) -> list[bytes]:
    """A three-message AXFR answer: SOA + www, mail + NS, SOA; each message signed or not."""
    bodies = bodies or [[dns.rrset.from_rdata(ORIGIN, 300, SOA), rrset("www", "A", "192.0.2.1")],
                        [rrset("mail", "A", "192.0.2.25"), rrset("@", "NS", f"ns1.{ZONE}.")],
                        [dns.rrset.from_rdata(ORIGIN, 300, SOA)]]
    if after_end:
        bodies[2].append(rrset("late", "A", "192.0.2.99"))
    out: list[bytes] = []
    ctx = None
    for index, body in enumerate(bodies):
        response = dns.message.make_response(query)
        if index:
            response.question = []
        response.answer = body
        if not sign[index]:
            response.tsig = None
            wire = response.to_wire()
            if ctx is not None:
                ctx.update(wire)
        else:
            if keyring is not None:
                response.use_tsig(keyring, KEY_NAME)
                response.request_mac = query.mac
            wire = response.to_wire(multi=True, tsig_ctx=ctx)
            ctx = response.tsig_ctx
        out.append(wire)
    return out


@pytest.fixture
def axfr_server() -> Iterator[Callable[[Plan], int]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(5)
    threads: list[threading.Thread] = []

    def start(plan: Plan) -> int:
        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                size = struct.unpack("!H", conn.recv(2))[0]
                wire = b""
                while len(wire) < size:
                    wire += conn.recv(size - len(wire))
                query = dns.message.from_wire(wire, keyring=KEYRING)
                for message in plan(query):
                    try:
                        conn.sendall(struct.pack("!H", len(message)) + message)
                    except OSError:
                        return  # the client stopped reading at a message it refused

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return listener.getsockname()[1]

    yield start
    for thread in threads:
        thread.join(timeout=5)
    listener.close()


def run(port: int) -> tuple[list, int]:
    return transfer.transfer("127.0.0.1", port, ORIGIN, dns.rdatatype.AXFR, serial=0, timeout=2, lifetime=5,
                             keyring=KEYRING, key_name=KEY_NAME, algorithm=dns.tsig.default_algorithm)


def test_signed_multi_message_transfer_reads_whole(axfr_server: Callable[[Plan], int]) -> None:
    records, count = run(axfr_server(lambda q: answers(q, sign=[True, True, True])))
    assert count == 3
    assert [(owner, rdtype) for owner, rdtype, *_ in records] == [
        (f"{ZONE}.", 6), (f"www.{ZONE}.", 1), (f"mail.{ZONE}.", 1), (f"{ZONE}.", 2), (f"{ZONE}.", 6)]


def test_an_unsigned_middle_message_is_covered_by_the_next_signature(axfr_server: Callable[[Plan], int]) -> None:
    records, count = run(axfr_server(lambda q: answers(q, sign=[True, False, True])))
    assert count == 3 and len(records) == 5


@pytest.mark.parametrize("sign, keyring, problem", [
    ([False, False, False], None, "not signed"),
    ([True, True, False], None, "last message of the transfer is not signed"),
    ([True, True, True], OTHER_KEYRING, None),  # signed with another secret
])
def test_unsigned_or_forged_answers_are_refused(axfr_server: Callable[[Plan], int], sign: list[bool],
                                                keyring: dict | None, problem: str | None) -> None:
    port = axfr_server(lambda q: answers(q, sign=sign, keyring=keyring))
    with pytest.raises(dns.tsig.BadSignature, match=problem):
        run(port)


def test_records_after_the_closing_soa_are_refused(axfr_server: Callable[[Plan], int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    port = axfr_server(lambda q: answers(q, sign=[True, True, True], after_end=True))
    monkeypatch.setenv("XFR_TEST_SECRET", SECRET)
    provider = create(Target("bind-lab", "rfc2136", {
        "server": "127.0.0.1", "port": port, "zones": [ZONE], "timeout": 2,
        "tsig": {"name": "reconciler-key.", "secret": "env:XFR_TEST_SECRET"}}, {}, "test"))
    with pytest.raises(ProviderError) as info:
        provider.read(Scope([], zones={ZONE}))
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and ZONE in text and "records after the end of the zone transfer" in text
    assert SECRET not in text



def soa(owner: str = "@", serial: int = 7) -> dns.rrset.RRset:
    return rrset(owner, "SOA", f"ns1.{ZONE}. hostmaster.{ZONE}. {serial} 3600 600 86400 300")


@pytest.mark.parametrize("bodies, problem", [
    ([[soa()], [rrset("www", "A", "192.0.2.1")], [soa(serial=8)]], "opened at serial 7 and closed at 8"),
    ([[soa()], [soa("sub")], [rrset("www", "A", "192.0.2.1")], [soa()]], f"SOA record for sub.{ZONE}."),
    ([[dns.rrset.from_text("evil.example.", 300, "IN", "SOA", ". . 7 1 1 1 1")], [soa()]], "SOA record for evil"),
    ([[soa()], [dns.rrset.from_text(f"www.{ZONE}.", 300, "CH", "TXT", "x")], [soa()]], "class CH"),
])
def test_a_transfer_that_is_not_one_zone_is_refused(axfr_server: Callable[[Plan], int],
                                                    bodies: list, problem: str) -> None:
    port = axfr_server(lambda q: answers(q, sign=[True] * len(bodies), keyring=KEYRING, bodies=bodies))
    with pytest.raises(WireError, match=problem):
        run(port)
