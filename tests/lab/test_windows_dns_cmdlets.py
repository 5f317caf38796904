"""DnsServer cmdlet semantics of the lab (windows-dns.md §2, §4, §5, §9), called through cmdlets.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.lab.windows_dns.binder import BindingError
from reconciler.lab.windows_dns.cmdlets import CmdletError, DnsServerCmdlets
from reconciler.lab.windows_dns.dnsserver import Behaviour, Record, WindowsDnsModel, Zone
from reconciler.lab.windows_dns.seed import load_namgun

ZONE = "namgun.or.kr"


@pytest.fixture
def model() -> WindowsDnsModel:
    return load_namgun(dkim_value="v=DKIM1; k=rsa; p=" + "A" * 392)


@pytest.fixture
def dns(model: WindowsDnsModel) -> DnsServerCmdlets:
    return DnsServerCmdlets(model)


def names(records: list) -> list[tuple[str, str]]:
    return [(r.HostName, r.RecordType) for r in records]


# ---- Get: -Node vs subtree, -RRType, errors (§2.1, §5) -----------------------------------------
def test_name_without_node_also_returns_child_names(dns: DnsServerCmdlets) -> None:
    subtree = dns.get_resource_record(ZONE, "_msdcs")
    node = dns.get_resource_record(ZONE, "_msdcs", node=True)
    assert node and all(r.HostName == "_msdcs" for r in node)
    assert ("_ldap._tcp.dc._msdcs", "SRV") in names(subtree)   # child name, zone-relative HostName
    assert len(subtree) > len(node)


def test_apex_with_and_without_node_returns_several_objects(dns: DnsServerCmdlets) -> None:
    apex = dns.get_resource_record(ZONE, "@", node=True)
    assert {"SOA", "NS", "A", "MX", "TXT"} <= {r.RecordType for r in apex}   # DnsServerDsc#281
    whole = dns.get_resource_record(ZONE)
    assert len(whole) > len(apex)


def test_rrtype_is_case_insensitive_and_validated(dns: DnsServerCmdlets) -> None:
    mx = dns.get_resource_record(ZONE, "@", rrtype="mx", node=True)
    assert [(r.RecordData.MailExchange, r.RecordData.Preference) for r in mx] == [("mail.namgun.or.kr.", 10)]
    with pytest.raises(BindingError) as err:
        dns.get_resource_record(ZONE, "@", rrtype="SPF")
    assert err.value.fqid == "ParameterArgumentValidationError,Get-DnsServerResourceRecord"


def test_missing_zone_is_9601_with_the_documented_message(dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError) as err:
        dns.get_resource_record("nope.kr", "x")
    assert err.value.fqid == "WIN32 9601,Get-DnsServerResourceRecord"
    assert err.value.category == "ObjectNotFound"
    assert err.value.message == "Failed to get the zone information for nope.kr on server DC01."


def test_missing_name_is_9714(dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError) as err:
        dns.get_resource_record(ZONE, "nothere", node=True)
    assert err.value.fqid == "WIN32 9714,Get-DnsServerResourceRecord"


def test_type_filter_with_no_match_is_a_switch(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError):
        dns.get_resource_record(ZONE, "printer", rrtype="Txt", node=True)
    model.behaviour.get_type_filter_empty = "empty"
    assert dns.get_resource_record(ZONE, "printer", rrtype="Txt", node=True) == []


def test_fqdn_name_is_relative_unless_switched(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError) as err:  # community.windows#564: FQDN names "do not work"
        dns.get_resource_record(ZONE, "mail.namgun.or.kr", node=True)
    assert "9714" in err.value.fqid
    model.behaviour.fqdn_name = "strip"
    assert names(dns.get_resource_record(ZONE, "mail.namgun.or.kr", node=True, rrtype="A")) == [("mail", "A")]


def test_computer_name_selects_the_server(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    other = model.add_server("DC02").add_zone(Zone(ZONE))
    other.records.append(Record("only-on-dc02", "A", 600, {"IPv4Address": "10.9.9.9"}))
    assert names(dns.get_resource_record(ZONE, "only-on-dc02", computer_name="DC02")) == [("only-on-dc02", "A")]
    with pytest.raises(CmdletError):
        dns.get_resource_record(ZONE, "only-on-dc02")  # the local server does not have it
    with pytest.raises(CmdletError) as err:
        dns.get_resource_record(ZONE, computer_name="DC09")
    assert err.value.fqid == "WIN32 1722,Get-DnsServerResourceRecord"


def test_records_keep_case_timestamp_and_trailing_dots(dns: DnsServerCmdlets) -> None:
    laptop = dns.get_resource_record(ZONE, "namgun-laptop", node=True, rrtype="A")[0]
    assert laptop.HostName == "NAMGUN-LAPTOP"          # case preserved (DC-AD)
    assert laptop.Timestamp is not None                 # dynamic
    printer = dns.get_resource_record(ZONE, "printer", node=True)[0]
    assert printer.Timestamp is None                    # static
    srv = dns.get_resource_record(ZONE, "_ldap._tcp.dc._msdcs", node=True)[0]
    assert srv.RecordData.DomainName.endswith(".")
    assert printer.DistinguishedName == ("DC=printer,DC=namgun.or.kr,cn=MicrosoftDNS,DC=DomainDnsZones,"
                                         "DC=namgun,DC=or,DC=kr")


# ---- Add (§4.1) -----------------------------------------------------------------------------------
def test_add_is_silent_without_passthru_and_defaults_ttl_to_one_hour(dns: DnsServerCmdlets) -> None:
    assert dns.add_resource_record(ZONE, "web", "A", IPv4Address="10.1.1.1") == []
    rec = dns.get_resource_record(ZONE, "web", node=True)[0]
    assert rec.TimeToLive == timedelta(hours=1)
    out = dns.add_resource_record(ZONE, "web2", "A", IPv4Address="10.1.1.2", time_to_live="00:05:00",
                                  pass_thru=True)
    assert out[0].TimeToLive == timedelta(minutes=5)


def test_duplicate_is_9711(dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError) as err:
        dns.add_resource_record(ZONE, "printer", "A", IPv4Address="192.168.10.40")
    assert err.value.fqid == "WIN32 9711,Add-DnsServerResourceRecord"
    assert err.value.category == "ResourceExists"
    assert err.value.message == "Failed to create resource record printer in zone namgun.or.kr on server DC01."


def test_typed_cmdlet_names_itself_in_the_error_id(dns: DnsServerCmdlets) -> None:
    inv = dns.invoke("Add-DnsServerResourceRecordA", [("Name", "printer"), ("ZoneName", ZONE),
                                                      ("IPv4Address", "192.168.10.40")])
    assert [e.fqid for e in inv.errors] == ["WIN32 9711,Add-DnsServerResourceRecordA"]  # GOW fixture


def test_integer_ttl_is_ticks_not_seconds(dns: DnsServerCmdlets) -> None:
    # [TimeSpan]300 is 300 ticks: a PowerShell caller passing -TimeToLive 300 gets TTL 0
    inv = dns.invoke("Add-DnsServerResourceRecord", [("ZoneName", ZONE), ("Name", "ticks"), ("A", True),
                                                     ("IPv4Address", "10.0.0.3"), ("TimeToLive", 300)])
    assert not inv.errors
    assert dns.get_resource_record(ZONE, "ticks", node=True)[0].TimeToLive == timedelta(0)


@pytest.mark.parametrize("code", [9708, 9709])
def test_cname_conflict_code_is_a_switch(model: WindowsDnsModel, dns: DnsServerCmdlets, code: int) -> None:
    model.behaviour.cname_conflict_code = code
    with pytest.raises(CmdletError) as err:
        dns.add_resource_record(ZONE, "printer", "CName", HostNameAlias="mail.namgun.or.kr.")
    assert err.value.fqid == f"WIN32 {code},Add-DnsServerResourceRecord"
    dns.add_resource_record(ZONE, "alias", "CName", HostNameAlias="mail.namgun.or.kr.")
    with pytest.raises(CmdletError) as err2:
        dns.add_resource_record(ZONE, "alias", "Txt", DescriptiveText="beside a CNAME")
    assert err2.value.fqid == f"WIN32 {code},Add-DnsServerResourceRecord"


def test_cname_target_reads_back_with_trailing_dot(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    dns.add_resource_record(ZONE, "www", "CName", HostNameAlias="mail.namgun.or.kr.")
    assert dns.get_resource_record(ZONE, "www", node=True)[0].RecordData.HostNameAlias == "mail.namgun.or.kr."
    # a target without the dot: zone appended or taken as absolute, unverified (windows-dns.md §4.1)
    dns.add_resource_record(ZONE, "www2", "CName", HostNameAlias="mail.namgun.or.kr")
    assert dns.get_resource_record(ZONE, "www2", node=True)[0].RecordData.HostNameAlias == \
        "mail.namgun.or.kr.namgun.or.kr."
    model.behaviour.relative_target = "absolute"
    dns.add_resource_record(ZONE, "www3", "CName", HostNameAlias="mail.namgun.or.kr")
    assert dns.get_resource_record(ZONE, "www3", node=True)[0].RecordData.HostNameAlias == "mail.namgun.or.kr."


@pytest.mark.parametrize(("limit", "length", "ok"), [(254, 254, True), (254, 255, False), (255, 255, True),
                                                      (255, 256, False)])
def test_descriptive_text_line_limit(model: WindowsDnsModel, dns: DnsServerCmdlets, limit: int, length: int,
                                     ok: bool) -> None:
    model.behaviour.txt_line_limit = limit
    text = "v=" + "x" * (length - 2)
    if ok:
        dns.add_resource_record(ZONE, "long", "Txt", DescriptiveText=text)
        assert dns.get_resource_record(ZONE, "long", node=True)[0].RecordData.DescriptiveText == text
    else:
        with pytest.raises(CmdletError) as err:
            dns.add_resource_record(ZONE, "long", "Txt", DescriptiveText=text)
        assert err.value.message.startswith("InputObject for resource record has an invalid value.")


def test_the_410_character_dkim_value_is_rejected_by_the_cmdlet(dns: DnsServerCmdlets) -> None:
    key = "v=DKIM1; k=rsa; p=" + "B" * 392  # MSD#3745, MSD#2423
    with pytest.raises(CmdletError):
        dns.add_resource_record(ZONE, "s2._domainkey", "Txt", DescriptiveText=key)
    with pytest.raises(CmdletError):  # Example 8's CRLF form does not get past the total limit either
        dns.add_resource_record(ZONE, "s2._domainkey", "Txt", DescriptiveText=key[:200] + "\r\n" + key[200:])


def test_crlf_in_short_text_splits_into_strings(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    dns.add_resource_record(ZONE, "two", "Txt", DescriptiveText="first\r\nsecond")
    stored = next(r for r in model.server().zone(ZONE).records if r.name == "two")
    assert stored.data["strings"] == ["first", "second"]
    model.behaviour.txt_cmdlet_crlf = "literal"
    dns.add_resource_record(ZONE, "one", "Txt", DescriptiveText="first\r\nsecond")
    stored = next(r for r in model.server().zone(ZONE).records if r.name == "one")
    assert stored.data["strings"] == ["first\r\nsecond"]


def test_hangul_text_round_trips(dns: DnsServerCmdlets) -> None:
    dns.add_resource_record(ZONE, "owner", "Txt", DescriptiveText="담당: 남근, 김경본")
    assert dns.get_resource_record(ZONE, "owner", node=True)[0].RecordData.DescriptiveText == "담당: 남근, 김경본"


def test_age_record_makes_a_dynamic_record(dns: DnsServerCmdlets) -> None:
    rec = dns.add_resource_record(ZONE, "aged", "A", IPv4Address="10.0.0.9", age_record=True, pass_thru=True)[0]
    assert rec.Timestamp is not None and rec.Timestamp.minute == 0 and rec.Timestamp.second == 0


# ---- multi-string TXT read-back (§3) -------------------------------------------------------------
def test_multi_string_txt_readback_is_a_switch(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    zone = model.server().zone(ZONE)
    zone.records.append(Record("gui", "TXT", 3600, {"strings": ["part one", "part two"]}))
    assert dns.get_resource_record(ZONE, "gui", node=True)[0].RecordData.DescriptiveText == "part one"
    model.behaviour.txt_readback = "crlf"
    assert dns.get_resource_record(ZONE, "gui", node=True)[0].RecordData.DescriptiveText == "part one\r\npart two"


# ---- Remove (§4.2) --------------------------------------------------------------------------------
def test_remove_record_data_forms(dns: DnsServerCmdlets) -> None:
    dns.remove_resource_record(ZONE, "printer", "A", record_data="192.168.10.40")
    dns.remove_resource_record(ZONE, "@", "MX", record_data=["10", "mail.namgun.or.kr."])
    dns.remove_resource_record(ZONE, "_ldap._tcp", "Srv", record_data=["0", "100", "389", "dc01.namgun.or.kr."])
    dns.remove_resource_record(ZONE, "_dmarc", "Txt",
                               record_data="v=DMARC1; p=quarantine; rua=mailto:postmaster@namgun.or.kr")
    for name in ("printer", "_ldap._tcp", "_dmarc"):
        with pytest.raises(CmdletError):
            dns.get_resource_record(ZONE, name, node=True)
    with pytest.raises(CmdletError):
        dns.get_resource_record(ZONE, "@", rrtype="Mx", node=True)


def test_remove_with_display_form_is_invalid_value(dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError) as err:  # MSD#1149
        dns.remove_resource_record(ZONE, "_ldap._tcp", "Srv", record_data="[0][100][389][dc01.namgun.or.kr.]")
    assert err.value.message.startswith("InputObject for resource record has an invalid value.")


def test_remove_without_record_data_deletes_all_of_name_and_type(model: WindowsDnsModel,
                                                                 dns: DnsServerCmdlets) -> None:
    dns.add_resource_record(ZONE, "multi", "A", IPv4Address=["10.0.0.1", "10.0.0.2"])
    dns.add_resource_record(ZONE, "multi", "Txt", DescriptiveText="keep me")
    dns.remove_resource_record(ZONE, "multi", "A")
    assert names(dns.get_resource_record(ZONE, "multi", node=True)) == [("multi", "TXT")]


def test_remove_nothing_to_delete_codes(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError) as err:
        dns.remove_resource_record(ZONE, "ghost", "A")
    assert err.value.fqid == "WIN32 9714,Remove-DnsServerResourceRecord"
    model.behaviour.remove_nomatch_code = 9701
    with pytest.raises(CmdletError) as err2:
        dns.remove_resource_record(ZONE, "printer", "A", record_data="192.168.10.99")
    assert err2.value.fqid == "WIN32 9701,Remove-DnsServerResourceRecord"


def test_remove_without_force_fails_in_a_remote_shell(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    with pytest.raises(CmdletError) as err:
        dns.remove_resource_record(ZONE, "printer", "A", force=False)
    assert err.value.fqid.startswith("HostException")
    assert dns.get_resource_record(ZONE, "printer", node=True)
    model.behaviour.remove_without_force = "proceed"
    dns.remove_resource_record(ZONE, "printer", "A", force=False)
    with pytest.raises(CmdletError):
        dns.get_resource_record(ZONE, "printer", node=True)


def test_remove_input_object_removes_exactly_that_record(dns: DnsServerCmdlets) -> None:
    dns.add_resource_record(ZONE, "pair", "A", IPv4Address=["10.0.0.1", "10.0.0.2"])
    second = [r for r in dns.get_resource_record(ZONE, "pair", node=True) if r.RecordData.IPv4Address == "10.0.0.2"]
    dns.remove_resource_record(ZONE, input_object=second[0])
    left = dns.get_resource_record(ZONE, "pair", node=True)
    assert [r.RecordData.IPv4Address for r in left] == ["10.0.0.1"]


def test_piping_a_multi_string_txt_back_does_not_match_when_only_the_first_string_shows(
        model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    model.server().zone(ZONE).records.append(Record("gui", "TXT", 3600, {"strings": ["a" * 255, "b" * 100]}))
    obj = dns.get_resource_record(ZONE, "gui", node=True)[0]
    with pytest.raises(CmdletError):
        dns.remove_resource_record(ZONE, input_object=obj)
    model.behaviour.txt_readback = "crlf"
    obj = dns.get_resource_record(ZONE, "gui", node=True)[0]
    dns.remove_resource_record(ZONE, input_object=obj)


# ---- Set (§4.3) ------------------------------------------------------------------------------------
def test_set_changes_ttl(dns: DnsServerCmdlets) -> None:
    old = dns.get_resource_record(ZONE, "mail", node=True, rrtype="A")[0]
    new = old.clone()
    new.TimeToLive = timedelta(seconds=300)
    out = dns.set_resource_record(ZONE, old, new, pass_thru=True)
    assert out[0].TimeToLive == timedelta(seconds=300)
    assert dns.get_resource_record(ZONE, "mail", node=True, rrtype="A")[0].TimeToLive == timedelta(seconds=300)


def test_set_changes_srv_numbers_but_not_other_data(model: WindowsDnsModel, dns: DnsServerCmdlets) -> None:
    old = dns.get_resource_record(ZONE, "_kpasswd._tcp", node=True)[0]
    new = old.clone()
    new.RecordData.properties["Port"] = 4464
    dns.set_resource_record(ZONE, old, new)
    assert dns.get_resource_record(ZONE, "_kpasswd._tcp", node=True)[0].RecordData.Port == 4464
    a_old = dns.get_resource_record(ZONE, "printer", node=True)[0]
    a_new = a_old.clone()
    a_new.RecordData.properties["IPv4Address"] = "192.168.10.41"
    with pytest.raises(CmdletError):
        dns.set_resource_record(ZONE, a_old, a_new)
    model.behaviour.set_changes_data = True
    dns.set_resource_record(ZONE, a_old, a_new)
    assert dns.get_resource_record(ZONE, "printer", node=True)[0].RecordData.IPv4Address == "192.168.10.41"


def test_set_cannot_change_name(dns: DnsServerCmdlets) -> None:
    old = dns.get_resource_record(ZONE, "printer", node=True)[0]
    new = old.clone()
    new.HostName = "printer2"
    with pytest.raises(CmdletError):
        dns.set_resource_record(ZONE, old, new)


# ---- Get-DnsServerZone (§7) ---------------------------------------------------------------------------
def test_zone_fields_follow_the_ad_zone_fixture(dns: DnsServerCmdlets) -> None:
    zone = dns.get_zone(ZONE)[0]
    assert (zone.ZoneType, zone.IsDsIntegrated, zone.IsAutoCreated, zone.DynamicUpdate, zone.ReplicationScope,
            zone.DirectoryPartitionName, zone.SecureSecondaries, zone.ZoneFile) == (
        "Primary", True, False, "Secure", "Domain", "DomainDnsZones.namgun.or.kr", "NoTransfer", None)
    auto = [z.ZoneName for z in dns.get_zone() if z.IsAutoCreated]
    assert sorted(auto) == ["0.in-addr.arpa", "127.in-addr.arpa", "255.in-addr.arpa"]


def test_missing_zone_in_get_zone_is_non_terminating(dns: DnsServerCmdlets) -> None:
    inv = dns.invoke("Get-DnsServerZone", [("Name", ["nope.kr", ZONE])])
    assert [z.ZoneName for z in inv.output] == [ZONE]
    assert [e.fqid for e in inv.errors] == ["WIN32 9601,Get-DnsServerZone"]


# ---- parameter binding -------------------------------------------------------------------------------
def test_parameter_prefixes_aliases_and_unknown_names(dns: DnsServerCmdlets) -> None:
    inv = dns.invoke("Get-DnsServerResourceRecord", [("ZoneN", ZONE), ("Na", "printer"), ("Nod", True)])
    assert names(inv.output) == [("printer", "A")]
    with pytest.raises(BindingError) as zone_amb:  # -Zone matches -ZoneName and -ZoneScope
        dns.invoke("Get-DnsServerResourceRecord", [("Zone", ZONE)])
    assert zone_amb.value.fqid == "AmbiguousParameter,Get-DnsServerResourceRecord"
    inv = dns.invoke("Get-DnsServerResourceRecord", [("ForwardLookupZone", ZONE), ("Name", "printer"),
                                                     ("Node", True)])
    assert names(inv.output) == [("printer", "A")]
    with pytest.raises(BindingError) as err:
        dns.invoke("Get-DnsServerResourceRecord", [("ZoneName", ZONE), ("Bogus", 1)])
    assert err.value.fqid == "NamedParameterNotFound,Get-DnsServerResourceRecord"
    with pytest.raises(BindingError) as amb:
        dns.invoke("Add-DnsServerResourceRecord", [("ZoneName", ZONE), ("Name", "x"), ("A", True),
                                                   ("IPv4Address", "10.0.0.1"), ("P", True)])
    assert amb.value.fqid == "AmbiguousParameter,Add-DnsServerResourceRecord"


def test_positional_zone_and_name(dns: DnsServerCmdlets) -> None:
    inv = dns.invoke("Get-DnsServerResourceRecord", [("Node", True)], [ZONE, "printer"])
    assert names(inv.output) == [("printer", "A")]


def test_add_without_a_type_switch_cannot_resolve_the_set(dns: DnsServerCmdlets) -> None:
    with pytest.raises(BindingError) as err:
        dns.invoke("Add-DnsServerResourceRecord", [("ZoneName", ZONE), ("Name", "x"), ("IPv4Address", "10.0.0.1")])
    assert err.value.fqid in ("AmbiguousParameterSet,Add-DnsServerResourceRecord",
                              "MissingMandatoryParameter,Add-DnsServerResourceRecord")


def test_behaviour_defaults_are_the_strict_variants() -> None:
    b = Behaviour()
    assert (b.txt_line_limit, b.txt_readback, b.cname_conflict_code) == (254, "first", 9709)


def test_concurrent_writers_lose_nothing(model: WindowsDnsModel) -> None:
    import threading

    serial_before = model.server().zone(ZONE).soa().data["SerialNumber"]  # type: ignore[union-attr]
    errors: list[Exception] = []

    def writer(n: int) -> None:
        dns = DnsServerCmdlets(model)
        try:
            for i in range(25):
                dns.add_resource_record(ZONE, f"t{n}-{i}", "A", IPv4Address=f"10.{n}.0.{i + 1}")
                model.dump()  # readers inspect while writers write
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    added = [r for r in model.zone_records(ZONE) if r.name.startswith("t")]
    assert len(added) == 200
    assert model.server().zone(ZONE).soa().data["SerialNumber"] == serial_before + 200  # type: ignore[union-attr]
