"""Units without a server: target settings, IXFR application, answer comparison."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdata
import pytest

from reconciler.config import Target
from reconciler.dnswire import Record
from reconciler.providers.base import ProviderError
from reconciler.providers.rfc2136 import create
from reconciler.providers.rfc2136.settings import SettingsError, parse
from reconciler.providers.rfc2136.zonedata import TransferFormatError, ZoneData, apply_transfer
from reconciler.verify.compare import Expected, compare
from reconciler.verify.query import Answer, Server, ServerError, parse_server

ZONE = "namgun.or.kr"
ORIGIN = dns.name.from_text(ZONE)
GOOD = {"server": "127.0.0.1", "zones": [ZONE], "tsig": {"name": "k.", "secret": "env:X"}}


# --------------------------------------------------------------------------------------- settings

@pytest.mark.parametrize("options,message", [
    ({**GOOD, "server": ""}, "option server is required"),
    ({**GOOD, "server": "dns.namgun.or.kr"}, "server must be an IP address"),
    ({**GOOD, "port": 70000}, "port must be 1..65535"),
    ({**GOOD, "zones": []}, "zones must be a non-empty list"),
    ({**GOOD, "tsig": {"name": "k.", "secret": "c2VjcmV0"}}, "inline secrets are refused"),
    ({**GOOD, "tsig": {"name": "k.", "secret": "env:X", "algorithm": "hmac-sha3"}}, "tsig.algorithm"),
    ({**GOOD, "max_message_size": 70000}, "max_message_size must be 512..65535"),
    ({**GOOD, "zone_list": []}, "unknown option(s) zone_list"),
])
def test_settings_errors(options: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse("bind", options)


def test_settings_error_names_target_and_config_line() -> None:
    target = Target("bind-lab", "rfc2136", {**GOOD, "port": "x"}, {}, "reconciler.yaml:7")
    with pytest.raises(ProviderError, match=r"bind-lab: reconciler.yaml:7: port must be an integer"):
        create(target)


def test_settings_defaults() -> None:
    settings = parse("bind", {"server": "::1", "zone": "Namgun.OR.kr."})
    assert settings.zones == (ZONE,) and settings.port == 53 and settings.tsig is None
    assert settings.where == "[::1]:53" and settings.max_message_size == 32768


def test_secret_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X", "c2VjcmV0c2VjcmV0")
    settings = parse("bind", GOOD)
    assert "c2VjcmV0" not in repr(settings)
    assert settings.tsig is not None and settings.tsig.keyring()


def test_bad_base64_secret_message_does_not_quote_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X", "not base64 at all!!")
    settings = parse("bind", GOOD)
    with pytest.raises(Exception, match="env:X is not valid base64") as info:
        settings.tsig.keyring()  # type: ignore[union-attr]
    assert "not base64 at all" not in str(info.value)


# ------------------------------------------------------------------------------------------ IXFR

def soa(serial: int) -> tuple[dns.name.Name, int, dns.rdata.Rdata]:
    return ORIGIN, 3600, dns.rdata.from_text("IN", "SOA", f"ns1.{ZONE}. h.{ZONE}. {serial} 1 1 1 1")


def a(name: str, addr: str) -> tuple[dns.name.Name, int, dns.rdata.Rdata]:
    return dns.name.from_text(name, ORIGIN), 300, dns.rdata.from_text("IN", "A", addr)


def messages(*rrs: tuple[dns.name.Name, int, dns.rdata.Rdata]) -> list[Record]:
    """The records of a transfer answer as dnswire reads them."""
    return [(name.to_text().lower(), rdata.rdtype, rdata.rdclass, ttl, rdata.to_wire()) for name, ttl, rdata in rrs]


def test_axfr_then_ixfr_applies_each_version_in_order() -> None:
    data, kind, _ = apply_transfer(None, ZONE, ORIGIN, messages(soa(1), a("www", "192.0.2.1"),
                                                               a("old", "192.0.2.9"), soa(1)))
    assert kind == "axfr" and data.serial == 1 and set(data.rrsets) == {("www", 1), ("old", 1)}
    data, kind, _ = apply_transfer(data, ZONE, ORIGIN, messages(
        soa(3),
        soa(1), a("www", "192.0.2.1"), soa(2), a("www", "192.0.2.2"),  # version 1 → 2
        soa(2), a("old", "192.0.2.9"), soa(3), a("new", "192.0.2.3"),  # version 2 → 3
        soa(3)))
    assert kind == "ixfr" and data.serial == 3
    assert {k: [r.to_text() for r in v.rdatas] for k, v in data.rrsets.items()} == {
        ("www", 1): ["192.0.2.2"], ("new", 1): ["192.0.2.3"]}


def test_ixfr_up_to_date_and_full_fallback() -> None:
    data, _, _ = apply_transfer(None, ZONE, ORIGIN, messages(soa(5), a("www", "192.0.2.1"), soa(5)))
    same, kind, _ = apply_transfer(data, ZONE, ORIGIN, messages(soa(5)))
    assert kind == "current" and same is data
    full, kind, _ = apply_transfer(data, ZONE, ORIGIN, messages(soa(9), a("x", "192.0.2.7"), soa(9)))
    assert kind == "axfr" and set(full.rrsets) == {("x", 1)}


def test_ixfr_from_another_serial_is_rejected() -> None:
    data, _, _ = apply_transfer(None, ZONE, ORIGIN, messages(soa(5), soa(5)))
    with pytest.raises(TransferFormatError, match="not at the serial held"):
        apply_transfer(data, ZONE, ORIGIN, messages(soa(7), soa(6), soa(7), soa(7)))


def test_zone_names() -> None:
    data = ZoneData(ZONE, ORIGIN)
    assert data.relative(f"{ZONE}.") == "@" and data.relative(f"a.b.{ZONE}.") == "a.b"
    with pytest.raises(TransferFormatError, match="outside the zone"):
        data.relative("other.example.")
    assert data.owner("@") == ORIGIN


# --------------------------------------------------------------------------------------- compare

SERVER = Server("127.0.0.1", 5353)


def txt_answer(*strings: bytes, ttl: int = 3600, aa: bool = True) -> Answer:
    wire = b"".join(bytes([len(s)]) + s for s in strings)
    return Answer(dns.name.from_text(f"x.{ZONE}"), 16, rcode=dns.rcode.NOERROR, authoritative=aa, ttl=ttl,
                  wires=[wire])


def expect(value: str | None, ttl: int | None = 3600) -> Expected:
    return Expected(ZONE, "x", "TXT", ttl, None if value is None else (value,))


def test_compare_exact_regardless_of_split() -> None:
    assert compare(expect("ab cd"), txt_answer(b"ab", b" cd"), SERVER) == []


def test_compare_truncated_and_missplit() -> None:
    (msg,) = compare(expect("a" * 300), txt_answer(b"a" * 255), SERVER)
    assert "TXT value truncated: the server publishes 255 of 300 octets (1 character-string(s))" in msg
    (msg,) = compare(expect("v=spf1 mx -all"), txt_answer(b"v=spf1", b"mx", b"-all"), SERVER)
    assert "TXT value mis-split: the server's 3 character-strings (6, 2, 4 octets)" in msg


def test_compare_missing_stale_ttl_deleted_not_authoritative() -> None:
    missing = Answer(dns.name.from_text(f"x.{ZONE}"), 16, rcode=dns.rcode.NXDOMAIN, authoritative=True)
    assert "missing (NXDOMAIN)" in compare(expect("v"), missing, SERVER)[0]
    assert compare(expect(None), missing, SERVER) == []
    assert "still published after its deletion" in compare(expect(None), txt_answer(b"v"), SERVER)[0]
    assert "TTL 60, desired 3600" in compare(expect("v"), txt_answer(b"v", ttl=60), SERVER)[0]
    assert "not authoritative" in compare(expect("v"), txt_answer(b"v", aa=False), SERVER)[0]
    resolver = Server("127.0.0.1", 53, recursive=True)
    assert compare(expect("v"), txt_answer(b"v", ttl=60, aa=False), resolver) == []
    assert "TTL 4000 is above" in compare(expect("v"), txt_answer(b"v", ttl=4000, aa=False), resolver)[0]
    failed = Answer(dns.name.from_text(f"x.{ZONE}"), 16, error="no answer from 127.0.0.1:5353 within 3s")
    assert compare(expect("v"), failed, SERVER) == [f"{ZONE}/x/TXT at 127.0.0.1:5353: no answer from "
                                                   "127.0.0.1:5353 within 3s"]


@pytest.mark.parametrize("text,host,port", [
    ("127.0.0.1", "127.0.0.1", 53), ("127.0.0.1:5353", "127.0.0.1", 5353), ("[::1]:54", "::1", 54), ("::1", "::1", 53),
])
def test_parse_server(text: str, host: str, port: int) -> None:
    server = parse_server(text)
    assert (server.host, server.port) == (host, port)


def test_parse_server_bad_port() -> None:
    with pytest.raises(ServerError, match=r"port must be 1\.\.65535"):
        parse_server("127.0.0.1:0")


def test_ixfr_differences_must_chain_and_delete_only_what_is_held() -> None:
    data, _, _ = apply_transfer(None, ZONE, ORIGIN, messages(soa(5), a("www", "192.0.2.1"), soa(5)))
    with pytest.raises(TransferFormatError, match="starts at serial 6, not at the version reached \\(7\\)"):
        apply_transfer(data, ZONE, ORIGIN, messages(soa(9), soa(5), soa(7), soa(6), soa(9), soa(9)))
    data, _, _ = apply_transfer(None, ZONE, ORIGIN, messages(soa(5), a("www", "192.0.2.1"), soa(5)))
    with pytest.raises(TransferFormatError, match="deletes a record"):
        apply_transfer(data, ZONE, ORIGIN, messages(soa(6), soa(5), a("www", "192.0.2.77"), soa(6), soa(6)))


def test_a_record_outside_the_zone_makes_the_transfer_unusable() -> None:
    outside = dns.name.Name([b"www.namgun", b"or", b"kr", b""])  # "www\.namgun.or.kr.": not in the zone
    with pytest.raises(TransferFormatError, match="outside the zone"):
        apply_transfer(None, ZONE, ORIGIN, messages(soa(5), (outside, 300, dns.rdata.from_text("IN", "A", "192.0.2.1")),
                                                    soa(5)))
