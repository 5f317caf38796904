"""The lab's port-53 server over real loopback sockets, read with dnspython (windows-dns.md §3.1)."""

from __future__ import annotations

from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update
import pytest

from reconciler.lab.windows_dns import dnscmd
from reconciler.lab.windows_dns.cmdlets import DnsServerCmdlets
from reconciler.lab.windows_dns.dns53 import Dns53Server
from reconciler.lab.windows_dns.dnsserver import Record, WindowsDnsModel
from reconciler.lab.windows_dns.seed import load_namgun

ZONE = "namgun.or.kr"
HOST = "127.0.0.1"
KEY = "v=DKIM1; k=rsa; p=" + "Q" * 392  # 410 characters


@pytest.fixture
def model() -> WindowsDnsModel:
    return load_namgun(dkim_value=KEY)


@pytest.fixture
def server(model: WindowsDnsModel) -> Iterator[Dns53Server]:
    with Dns53Server(model) as srv:
        yield srv


def udp(server: Dns53Server, name: str, rdtype: str, **kw: object) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype, **kw), HOST, port=server.port, timeout=3)


def tcp(server: Dns53Server, msg: dns.message.Message) -> dns.message.Message:
    return dns.query.tcp(msg, HOST, port=server.port, timeout=3)


def txt_strings(resp: dns.message.Message) -> list[list[bytes]]:
    return [list(rd.strings) for rrset in resp.answer for rd in rrset]


def test_multi_string_txt_published_by_dnscmd_is_seen_whole_over_udp_and_tcp(model: WindowsDnsModel,
                                                                             server: Dns53Server) -> None:
    out = dnscmd.run(model, ["/recordadd", ZONE, "s2._domainkey", "3600", "TXT", KEY[:255], KEY[255:]])
    assert out.exit_code == 0
    expected = [[KEY[:255].encode(), KEY[255:].encode()]]
    assert txt_strings(udp(server, f"s2._domainkey.{ZONE}", "TXT")) == expected
    assert txt_strings(tcp(server, dns.message.make_query(f"s2._domainkey.{ZONE}", "TXT"))) == expected
    # while the cmdlet shows only the first string (DSC; default read-back switch)
    shown = DnsServerCmdlets(model).get_resource_record(ZONE, "s2._domainkey", node=True)[0]
    assert shown.RecordData.DescriptiveText == KEY[:255]


def test_todays_cut_dkim_is_visible_over_dns(server: Dns53Server) -> None:
    resp = udp(server, f"default._domainkey.{ZONE}", "TXT")
    assert resp.flags & dns.flags.AA
    assert txt_strings(resp) == [[KEY[:255].encode()]]


def test_hangul_txt_goes_out_as_utf8(model: WindowsDnsModel, server: Dns53Server) -> None:
    DnsServerCmdlets(model).add_resource_record(ZONE, "owner", "Txt", DescriptiveText="남근")
    assert txt_strings(udp(server, f"owner.{ZONE}", "TXT")) == [["남근".encode()]]


def test_nxdomain_and_nodata_carry_the_soa(server: Dns53Server) -> None:
    nx = udp(server, f"nothere.{ZONE}", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == dns.rdatatype.SOA
    nodata = udp(server, f"mail.{ZONE}", "TXT")  # the missing HELO SPF record
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].ttl == 3600
    empty_non_terminal = udp(server, f"_tcp.{ZONE}", "A")
    assert empty_non_terminal.rcode() == dns.rcode.NOERROR


def test_names_below_the_msdcs_delegation_get_a_referral(server: Dns53Server) -> None:
    resp = udp(server, f"_ldap._tcp.dc._msdcs.{ZONE}", "SRV")
    assert not resp.flags & dns.flags.AA and not resp.answer
    assert resp.authority[0].name.to_text() == f"_msdcs.{ZONE}."


def test_cname_is_followed_inside_the_zone(model: WindowsDnsModel, server: Dns53Server) -> None:
    DnsServerCmdlets(model).add_resource_record(ZONE, "webmail", "CName", HostNameAlias=f"mail.{ZONE}.")
    resp = udp(server, f"webmail.{ZONE}", "A")
    assert [rrset.rdtype for rrset in resp.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_other_zones_are_refused(server: Dns53Server) -> None:
    assert udp(server, "example.com", "A").rcode() == dns.rcode.REFUSED


def test_large_answer_sets_tc_without_edns(model: WindowsDnsModel, server: Dns53Server) -> None:
    zone = model.server().zone(ZONE)
    for i in range(4):
        zone.records.append(Record("big", "TXT", 3600, {"strings": [chr(97 + i) * 250]}))
    plain = udp(server, f"big.{ZONE}", "TXT")
    assert plain.flags & dns.flags.TC
    edns = udp(server, f"big.{ZONE}", "TXT", use_edns=0, payload=4000)
    assert not edns.flags & dns.flags.TC and len(txt_strings(edns)) == 4


def test_axfr_refused_on_ad_zone_and_allowed_when_the_zone_says_so(model: WindowsDnsModel,
                                                                   server: Dns53Server) -> None:
    assert tcp(server, dns.message.make_query(ZONE, "AXFR")).rcode() == dns.rcode.REFUSED
    model.server().zone(ZONE).secure_secondaries = "TransferAnyServer"
    messages = dns.query.xfr(HOST, ZONE, port=server.port, timeout=3, relativize=False)
    rrsets = [rrset for msg in messages for rrset in msg.answer]
    assert rrsets[0].rdtype == dns.rdatatype.SOA and rrsets[-1].rdtype == dns.rdatatype.SOA
    assert any(r.name.to_text() == f"printer.{ZONE}." for r in rrsets)


def test_rfc2136_update_is_refused_on_a_secure_zone(server: Dns53Server) -> None:
    msg = dns.update.UpdateMessage(ZONE)
    msg.add("mail", 3600, "TXT", '"v=spf1 a -all"')
    assert tcp(server, msg).rcode() == dns.rcode.REFUSED  # Secure needs GSS-TSIG


def test_rfc2136_update_on_a_nonsecure_zone_adds_a_dynamic_multi_string_txt(model: WindowsDnsModel,
                                                                            server: Dns53Server) -> None:
    model.server().zone(ZONE).dynamic_update = "NonsecureAndSecure"
    msg = dns.update.UpdateMessage(ZONE)
    msg.add("s3._domainkey", 3600, "TXT", f'"{KEY[:255]}" "{KEY[255:]}"')
    assert tcp(server, msg).rcode() == dns.rcode.NOERROR
    assert txt_strings(udp(server, f"s3._domainkey.{ZONE}", "TXT")) == [[KEY[:255].encode(), KEY[255:].encode()]]
    (stored,) = [r for r in model.zone_records(ZONE) if r.name == "s3._domainkey"]
    assert stored.timestamp is not None          # an update makes a dynamic record (switch)
    assert model.journal[-1]["via"] == "rfc2136"
    model.behaviour.update_sets_timestamp = False
    msg = dns.update.UpdateMessage(ZONE)
    msg.add("s4._domainkey", 3600, "TXT", '"x"')
    tcp(server, msg)
    assert next(r for r in model.zone_records(ZONE) if r.name == "s4._domainkey").timestamp is None


def test_rfc2136_prerequisites_and_deletes(model: WindowsDnsModel, server: Dns53Server) -> None:
    model.server().zone(ZONE).dynamic_update = "NonsecureAndSecure"
    msg = dns.update.UpdateMessage(ZONE)
    msg.absent("printer")
    msg.add("printer", 3600, "A", "10.0.0.1")
    assert tcp(server, msg).rcode() == dns.rcode.YXDOMAIN
    msg = dns.update.UpdateMessage(ZONE)
    msg.present("printer", "A")
    msg.delete("printer", "A", "192.168.10.40")
    msg.add("printer", 600, "A", "192.168.10.41")
    assert tcp(server, msg).rcode() == dns.rcode.NOERROR
    assert [r.data["IPv4Address"] for r in model.zone_records(ZONE) if r.name == "printer"] == ["192.168.10.41"]
    msg = dns.update.UpdateMessage(ZONE)
    msg.delete("@", "NS")  # apex NS survives an update delete
    tcp(server, msg)
    assert [r for r in model.zone_records(ZONE) if r.name == "@" and r.rrtype == "NS"]


def test_rfc2136_switch_off_refuses(model: WindowsDnsModel, server: Dns53Server) -> None:
    model.server().zone(ZONE).dynamic_update = "NonsecureAndSecure"
    model.behaviour.rfc2136 = False
    msg = dns.update.UpdateMessage(ZONE)
    msg.add("x", 60, "A", "10.0.0.1")
    assert tcp(server, msg).rcode() == dns.rcode.REFUSED


def test_soa_serial_moves_with_every_change(model: WindowsDnsModel, server: Dns53Server) -> None:
    before = udp(server, ZONE, "SOA").answer[0][0].serial
    DnsServerCmdlets(model).add_resource_record(ZONE, "new", "A", IPv4Address="10.0.0.7")
    assert udp(server, ZONE, "SOA").answer[0][0].serial == before + 1
    assert server.counter["query"] >= 2
