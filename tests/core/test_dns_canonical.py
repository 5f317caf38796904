"""Canonical DNS form (reconciler/model/dns.py): every DNS comparison goes through these functions.

Rules under test are the module docstring's, which follow the issue's part 1 and
dns-as-code-anchors.md §1.5/§2.3 (TXT compared as one logical string, however it was split).
"""

from __future__ import annotations

import ipaddress

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import dns as m
from reconciler.model.resource import Resource

ZONE = "namgun.or.kr"


# ------------------------------------------------------------------------------------------ names

@pytest.mark.parametrize("apex", ["@", "", None, ".", "namgun.or.kr", "namgun.or.kr.", "NAMGUN.Or.KR",
                                  " namgun.or.kr. "])
def test_every_spelling_of_the_apex_is_at(apex: str | None) -> None:
    assert m.relative_name(apex, ZONE) == "@"


@pytest.mark.parametrize(("written", "relative"), [
    ("mail", "mail"),
    ("MAIL", "mail"),
    ("Mail.NamGun.or.kr", "mail"),
    ("mail.namgun.or.kr", "mail"),   # repeats the zone suffix: still `mail`, never mail.zone.zone
    ("mail.namgun.or.kr.", "mail"),
    ("default._domainkey", "default._domainkey"),
    ("_DMARC", "_dmarc"),
    ("*.Dev", "*.dev"),
])
def test_relative_names(written: str, relative: str) -> None:
    assert m.relative_name(written, ZONE) == relative


def test_name_repeating_the_zone_suffix_never_doubles_it() -> None:
    rel = m.relative_name("mail.namgun.or.kr", ZONE)
    assert m.absolute_name(rel, ZONE) == "mail.namgun.or.kr."
    assert "namgun.or.kr.namgun.or.kr" not in m.absolute_name(rel, ZONE)
    # and a target written that way is absolute, not relative to the zone
    assert m.target("mail.namgun.or.kr", ZONE) == "mail.namgun.or.kr."


def test_hangul_labels_are_idna_encoded() -> None:
    encoded = "메일".encode("idna").decode()
    assert encoded.startswith("xn--")
    assert m.relative_name("메일", ZONE) == encoded
    assert m.relative_name("메일.namgun.or.kr.", ZONE) == encoded
    assert m.relative_name(encoded.upper(), ZONE) == encoded  # already-encoded, any case
    assert m.target("메일", ZONE) == f"{encoded}.namgun.or.kr."
    assert m.zone_name("한국.kr.") == "xn--3e0b707e.kr"


def test_absolute_name_outside_the_zone_is_an_error() -> None:
    with pytest.raises(m.DnsValueError, match="outside zone"):
        m.relative_name("mail.example.com.", ZONE)


@pytest.mark.parametrize("bad", ["a..b", "x" * 64, "mail extra", "tab\there", "new\nline"])
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(m.DnsValueError):
        m.relative_name(bad, ZONE)
    with pytest.raises(m.DnsValueError):
        m.target(bad, ZONE)


# ---------------------------------------------------------------------------------------- targets

@pytest.mark.parametrize(("written", "canonical"), [
    ("mail", "mail.namgun.or.kr."),                 # bare label: relative to the zone
    ("mail.", "mail."),                             # trailing dot: absolute as written
    ("mail.example.com", "mail.example.com."),      # has a dot: taken as absolute
    ("mail.example.com.", "mail.example.com."),
    ("MAIL.Example.COM", "mail.example.com."),
    ("@", "namgun.or.kr."),
])
def test_target_rule(written: str, canonical: str) -> None:
    assert m.target(written, ZONE) == canonical
    assert m.target(canonical, ZONE) == canonical  # idempotent
    assert m.canonical_value("CNAME", written, ZONE) == canonical
    assert m.canonical_value("NS", written, ZONE) == canonical
    assert m.canonical_value("PTR", written, ZONE) == canonical


def test_target_has_exactly_one_trailing_dot() -> None:
    for text in ("mail", "mail.example.com", "mail.example.com.", "@"):
        value = m.target(text, ZONE)
        assert value.endswith(".") and not value.endswith("..")


# -------------------------------------------------------------------------------- typed rdata text

def _parses(rtype: str, value: str) -> None:
    """Canonical non-TXT text is what dnspython reads as rdata (model/dns.py contract)."""
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value)
    assert rd.to_text() == value


@pytest.mark.parametrize(("value", "canonical"), [
    ({"preference": 10, "exchange": "mail.namgun.or.kr."}, "10 mail.namgun.or.kr."),
    ({"preference": 10, "exchange": "mail"}, "10 mail.namgun.or.kr."),
    ("10 mail.namgun.or.kr.", "10 mail.namgun.or.kr."),
    ("10   MAIL", "10 mail.namgun.or.kr."),
    ("0 mx.example.com", "0 mx.example.com."),
])
def test_mx(value: object, canonical: str) -> None:
    assert m.canonical_value("MX", value, ZONE) == canonical
    _parses("MX", canonical)


@pytest.mark.parametrize("bad", ["70000 mail", "-1 mail", "x mail", "10", "10 mail extra",
                                 {"preference": 65536, "exchange": "mail"}, {"exchange": "mail"},
                                 {"preference": True, "exchange": "mail"}])
def test_mx_errors(bad: object) -> None:
    with pytest.raises(m.DnsValueError):
        m.canonical_value("MX", bad, ZONE)


@pytest.mark.parametrize(("value", "canonical"), [
    ({"priority": 0, "weight": 5, "port": 5060, "target": "sip"}, "0 5 5060 sip.namgun.or.kr."),
    ("10 60 443 sip.example.com.", "10 60 443 sip.example.com."),
    ("10 60 443 SIP.Example.com", "10 60 443 sip.example.com."),
])
def test_srv(value: object, canonical: str) -> None:
    assert m.canonical_value("SRV", value, ZONE) == canonical
    _parses("SRV", canonical)


@pytest.mark.parametrize("bad", ["1 2 3", "1 2 3 sip extra", "1 2 70000 sip", "a 2 3 sip",
                                 {"priority": 1, "weight": 2, "target": "sip"},
                                 {"priority": 1, "weight": 2, "port": 99999, "target": "sip"}])
def test_srv_errors(bad: object) -> None:
    with pytest.raises(m.DnsValueError):
        m.canonical_value("SRV", bad, ZONE)


@pytest.mark.parametrize(("value", "canonical"), [
    ({"flags": 0, "tag": "issue", "value": "letsencrypt.org"}, '0 issue "letsencrypt.org"'),
    ({"flags": 128, "tag": "ISSUE", "value": "letsencrypt.org"}, '128 issue "letsencrypt.org"'),
    ('0 issue "letsencrypt.org"', '0 issue "letsencrypt.org"'),
    ('0 iodef "mailto:postmaster@namgun.or.kr"', '0 iodef "mailto:postmaster@namgun.or.kr"'),
    ("0 issuewild ;", '0 issuewild ";"'),
])
def test_caa(value: object, canonical: str) -> None:
    assert m.canonical_value("CAA", value, ZONE) == canonical
    _parses("CAA", canonical)


@pytest.mark.parametrize("bad", ["x issue foo", "256 issue foo", '0 bad-tag "x"', "0 issue",
                                 {"flags": 0, "tag": "issue"}])
def test_caa_errors(bad: object) -> None:
    # a non-numeric flag used to escape as a bare ValueError (a crash in validate)
    with pytest.raises(m.DnsValueError):
        m.canonical_value("CAA", bad, ZONE)


@pytest.mark.parametrize(("rtype", "value", "canonical"), [
    ("A", " 211.244.144.69 ", "211.244.144.69"),
    ("AAAA", "2001:DB8:0:0::1", "2001:db8::1"),
    ("AAAA", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
])
def test_addresses(rtype: str, value: str, canonical: str) -> None:
    assert m.canonical_value(rtype, value, ZONE) == canonical
    _parses(rtype, canonical)


@pytest.mark.parametrize(("rtype", "bad"), [("A", "1.2.3.256"), ("A", "010.1.1.1"), ("A", 16909060),
                                            ("A", "2001:db8::1"), ("AAAA", "1.2.3.4"), ("AAAA", "2001:db8::g")])
def test_bad_addresses(rtype: str, bad: object) -> None:
    with pytest.raises(m.DnsValueError, match="not a valid"):
        m.canonical_value(rtype, bad, ZONE)


def test_unknown_type() -> None:
    with pytest.raises(m.DnsValueError, match="unsupported"):
        m.canonical_value("SPF", "v=spf1", ZONE)


# -------------------------------------------------------------------------------------------- TXT

def test_txt_is_one_logical_string_kept_verbatim() -> None:
    value = 'v=DMARC1; p=quarantine; rua=mailto:postmaster@namgun.or.kr "quoted" \\ $x `y` 남근'
    assert m.canonical_value("TXT", value, ZONE) == value
    long = "v=DKIM1; k=rsa; p=" + "A" * 392
    assert len(long) == 410
    assert m.canonical_value("TXT", long, ZONE) == long  # never split or quoted in canonical form


def test_txt_must_be_a_string() -> None:
    with pytest.raises(m.DnsValueError, match="must be a string"):
        m.canonical_value("TXT", 123, ZONE)


def test_txt_chunks_of_a_410_character_value() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 392
    chunks = m.txt_chunks(value)
    assert [len(c) for c in chunks] == [255, 155]
    assert m.txt_join(chunks) == value


def test_txt_chunks_never_cut_a_utf8_sequence() -> None:
    # 254 ASCII octets then a 3-octet Hangul syllable: a 255-octet cut would land inside it
    value = "a" * 254 + "남근" * 100
    chunks = m.txt_chunks(value)
    assert len(chunks[0]) == 254
    for chunk in chunks:
        assert 0 < len(chunk) <= 255
        chunk.decode("utf-8")  # every string is valid UTF-8 on its own
    assert m.txt_join(chunks) == value


def test_txt_chunks_empty_value() -> None:
    assert m.txt_chunks("") == [b""]
    assert m.txt_join([b""]) == ""


def test_txt_join_compares_on_octets_however_split() -> None:
    value = "v=spf1 ip4:211.244.144.69 mx ~all"
    raw = value.encode()
    for cut in range(len(raw) + 1):
        assert m.txt_join([raw[:cut], raw[cut:]]) == value


TXT_ALPHABET = st.one_of(
    st.sampled_from([*"\"'$`;\\\n\r\t {}()=@.:,%#!*&|<>~^", "남", "근", "김", "경", "본", "é", "€", "😀"]),
    st.characters(codec="utf-8"),
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=TXT_ALPHABET, min_size=1, max_size=2000))
def test_txt_chunks_round_trip_property(value: str) -> None:
    chunks = m.txt_chunks(value)
    assert all(len(c) <= m.TXT_CHUNK for c in chunks)
    assert all(c for c in chunks)  # a non-empty value never yields an empty string
    for chunk in chunks:
        chunk.decode("utf-8")
    assert m.txt_join(chunks) == value
    assert b"".join(chunks) == value.encode("utf-8")
    # greedy: every chunk but the last is within 3 octets of full (a UTF-8 sequence is at most 4)
    assert all(len(c) >= m.TXT_CHUNK - 3 for c in chunks[:-1])
    assert m.canonical_value("TXT", value, ZONE) == value


# ------------------------------------------------------------------------------------ value sets

def test_values_are_a_set() -> None:
    a = m.rrset_data(300, ["10 b.example.com.", "20 a.example.com.", "10 b.example.com."])
    b = m.rrset_data(300, ["20 a.example.com.", "10 b.example.com."])
    assert a == b
    assert a["values"] == ["10 b.example.com.", "20 a.example.com."]
    assert Resource(m.KIND, (ZONE, "@", "MX"), a) == Resource(m.KIND, (ZONE, "@", "MX"), b)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]), min_size=1), st.randoms())
def test_order_and_duplicates_never_diff(values: list[str], rnd: object) -> None:
    shuffled = list(values) + list(values)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert m.rrset_data(60, values) == m.rrset_data(60, shuffled)


def test_canonical_forms_meet_in_one_rrset() -> None:
    """Two spellings of the same MX set canonicalise to equal data."""
    a = [m.canonical_value("MX", v, ZONE) for v in ("10 mail", {"preference": 20, "exchange": "MX2.example.com"})]
    b = [m.canonical_value("MX", v, ZONE) for v in ("20 mx2.example.com.", "10 mail.namgun.or.kr.")]
    assert m.rrset_data(3600, a) == m.rrset_data(3600, b)


@pytest.mark.parametrize(("name", "guarded"), [
    ("_ldap._tcp.dc._msdcs", True), ("_msdcs", True), ("DomainDnsZones", True), ("x.forestdnszones", True),
    ("_kerberos._udp", True), ("mail", False), ("@", False), ("_dmarc", False), ("default._domainkey", False),
])
def test_guarded_names(name: str, guarded: bool) -> None:
    # windows-dns.md §8 guard rule (c): AD-managed names and everything below them
    assert m.is_guarded_name(name) is guarded


def test_caa_text_form_with_escaped_quote_is_not_escaped_twice():
    from reconciler.model import dns as m

    from_text = m.canonical_value("CAA", '0 iodef "mailto:a\\"b@namgun.or.kr"', "namgun.or.kr")
    from_dict = m.canonical_value("CAA", {"flags": 0, "tag": "iodef", "value": 'mailto:a"b@namgun.or.kr'},
                                  "namgun.or.kr")
    assert from_text == from_dict == '0 iodef "mailto:a\\"b@namgun.or.kr"'


@given(st.lists(st.one_of(st.just("*"), st.text(alphabet="abcXYZ019-_", min_size=1, max_size=70)),
                min_size=1, max_size=6), st.booleans())
def test_ascii_fast_path_gives_what_dnspython_gives(labels, dot):
    """model.dns skips dnspython for plain ASCII names; it must never change the answer."""
    import dns.name

    from reconciler.model import dns as m

    text = ".".join(labels) + ("." if dot else "")
    try:
        slow = dns.name.from_unicode(text.rstrip(".") + ".").to_text().rstrip(".").lower()
    except dns.exception.DNSException:
        with pytest.raises(m.DnsValueError):
            m._idna(text)
        return
    assert m._idna(text) == slow


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.ip_addresses(v=4).map(str),
                 st.lists(st.integers(0, 300), min_size=4, max_size=4).map(lambda p: ".".join(map(str, p))),
                 st.lists(st.sampled_from(["0", "00", "01", "1", "255", "256", "099"]), min_size=4, max_size=4)
                 .map(".".join)))
def test_ipv4_fast_path_equals_ipaddress(text: str) -> None:
    try:
        want: str | None = str(ipaddress.IPv4Address(text))
    except ValueError:
        want = None
    try:
        got: str | None = m.canonical_value("A", text, "example.kr")
    except m.DnsValueError:
        got = None
    assert got == want
