"""The Windows DNS provider against the lab over real pywinrm and real DNS sockets (issue 2 part 7)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.lab.common import Fault
from reconciler.lab.windows_dns.dnsserver import Record
from reconciler.lab.windows_dns.service import WindowsDnsService
from reconciler.model import dns as m
from reconciler.model.resource import Resource
from reconciler.plan import Change, diff_target
from reconciler.providers.base import LiveState, ProviderError, Scope
from reconciler.providers.windows_dns.provider import WindowsDnsProvider
from tests.windows_dns.conftest import KEY, ZONE, ProviderFactory


def rrset(name: str, rtype: str, values: list[Any], ttl: int = 3600) -> Resource:
    return Resource(m.KIND, (ZONE, name, rtype),
                    m.rrset_data(ttl, [m.canonical_value(rtype, v, ZONE) for v in values]))


def plan(prov: WindowsDnsProvider, desired: list[Resource]) -> tuple[list[Change], LiveState]:
    live = prov.read(Scope(desired, {ZONE}))
    changes, _ = diff_target(prov, desired, live, {"purge": False})
    return changes, live


def converge(prov: WindowsDnsProvider, desired: list[Resource]) -> list[Any]:
    changes, _ = plan(prov, desired)
    assert prov.check(changes) == {}
    results = prov.apply(changes)
    assert all(r.ok for r in results), [r.error for r in results]
    again, _ = plan(prov, desired)
    assert again == [], [c.ident for c in again]
    return results


def txt_at(lab: WindowsDnsService, name: str) -> list[list[str]]:
    return [r.data["strings"] for r in lab.lab.model.zone_records(ZONE) if r.name == name and r.rrtype == "TXT"]


def vias(lab: WindowsDnsService) -> list[tuple[str, str, str]]:
    return [(j["via"], j["op"], j["name"]) for j in lab.lab.model.journal if j["via"] != "seed"]


# ---- read -----------------------------------------------------------------------------------------
def test_read_is_one_command_and_applies_the_guard_rules(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    live = provider().read(Scope([], {ZONE}))
    assert lab.lab.winrm.stats.snapshot()["requests"]["Command"] == 1
    res = {r.key[1:]: r for r in live.resources.values()}
    assert res[("printer", "A")].guard is None                       # static, hand-made: unmanaged, deletable
    assert "dynamic" in (res[("namgun-laptop", "A")].guard or "")    # Timestamp set
    assert "apex NS" in (res[("@", "NS")].guard or "")
    assert "Active Directory" in (res[("_ldap._tcp.dc._msdcs", "SRV")].guard or "")
    assert [u.resource.key[2] for u in live.unmanaged] == ["SOA"]
    # the seeded DKIM is the 255-character cut, read over DNS
    (dkim,) = res[("default._domainkey", "TXT")].data["values"]
    assert len(dkim) == 255


@pytest.mark.parametrize("mode", ["first", "crlf"])
def test_multi_string_txt_is_read_whole_whatever_the_cmdlet_shows(lab: WindowsDnsService,
                                                                   provider: ProviderFactory, mode: str) -> None:
    lab.lab.model.behaviour.txt_readback = mode
    lab.lab.model.server().zone(ZONE).records.append(Record("s2._domainkey", "TXT", 3600,
                                                             {"strings": [KEY[:255], KEY[255:]]}))
    live = provider().read(Scope([], {ZONE}))
    assert live.resources[(m.KIND, (ZONE, "s2._domainkey", "TXT"))].data["values"] == [KEY]


def test_ws2025_hex_addresses_are_read_as_addresses(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    lab.lab.model.behaviour.cim_mode = "ws2025hex"
    live = provider().read(Scope([], {ZONE}))
    assert live.resources[(m.KIND, (ZONE, "mail", "A"))].data["values"] == ["211.244.144.69"]


def test_missing_zone_names_the_zone_and_the_win32_code(provider: ProviderFactory) -> None:
    prov = provider(zones=["nope.kr"])
    with pytest.raises(ProviderError, match=r"zone nope.kr does not exist on the server \(WIN32 9601"):
        prov.read(Scope([], {"nope.kr"}))


def test_auto_created_zone_is_refused(provider: ProviderFactory) -> None:
    prov = provider(zones=["0.in-addr.arpa"])
    with pytest.raises(ProviderError, match="manages only primary zones"):
        prov.read(Scope([], {"0.in-addr.arpa"}))


def test_wrong_password_is_a_clear_error_without_the_secret(lab: WindowsDnsService, provider: ProviderFactory,
                                                            tmp_path: Any) -> None:
    bad = tmp_path / "bad-password"
    bad.write_text("not-the-password")
    with pytest.raises(ProviderError) as err:
        provider(password=f"file:{bad}").read(Scope([], {ZONE}))
    assert "rejected the credentials of svc-reconciler (HTTP 401)" in str(err.value)
    assert "not-the-password" not in str(err.value) and lab.lab.password not in str(err.value)


def test_unreachable_host_is_a_clear_error(provider: ProviderFactory) -> None:
    with pytest.raises(ProviderError, match=r"cannot reach http://127\.0\.0\.1:9/wsman"):
        provider(address="http://127.0.0.1:9/wsman").read(Scope([], {ZONE}))


def test_unreachable_dns_server_stops_the_read(provider: ProviderFactory) -> None:
    with pytest.raises(ProviderError, match=r"cannot read TXT .* over DNS"):
        provider(dns_server="127.0.0.1:9").read(Scope([], {ZONE}))


def test_own_deadline_when_the_server_hangs(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    lab.control.inject(Fault(lambda method, path: True, delay=3.0, status=500))
    with pytest.raises(ProviderError, match="no result within 1 s"):
        provider(timeout=1).read(Scope([], {ZONE}))


def test_progress_noise_on_stderr_is_not_failure(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    lab.lab.winrm.config.progress_noise = True
    live = provider().read(Scope([], {ZONE}))
    assert (m.KIND, (ZONE, "mail", "A")) in live.resources


# ---- apply ---------------------------------------------------------------------------------------------
def todays_fix() -> list[Resource]:
    return [rrset("default._domainkey", "TXT", [KEY]), rrset("mail", "TXT", ["v=spf1 a -all"])]


def test_fix_todays_faults_in_one_apply_command(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    prov = provider()
    changes, _ = plan(prov, todays_fix())
    before = lab.lab.winrm.stats.snapshot()["requests"]["Command"]
    results = prov.apply(changes)
    assert all(r.ok for r in results), [r.error for r in results]
    assert lab.lab.winrm.stats.snapshot()["requests"]["Command"] == before + 1
    assert txt_at(lab, "default._domainkey") == [[KEY[:255], KEY[255:]]]
    assert ("dnscmd", "add", "default._domainkey") in vias(lab)
    assert ("dnscmd", "remove", "default._domainkey") in vias(lab)   # the cut value, removed exactly
    assert prov.verify_published(changes) == []
    assert plan(prov, todays_fix())[0] == []


def test_dnscmd_storing_only_the_first_string_falls_back_to_wmi(lab: WindowsDnsService,
                                                                provider: ProviderFactory) -> None:
    lab.lab.model.behaviour.dnscmd_txt = "first_only"
    converge(provider(), [rrset("s3._domainkey", "TXT", [KEY])])
    assert txt_at(lab, "s3._domainkey") == [[KEY[:255], KEY[255:]]]   # nothing truncated left behind
    assert ("wmi", "add", "s3._domainkey") in vias(lab)


def test_no_path_publishes_it_a_clear_stop_and_the_old_value_stays(lab: WindowsDnsService,
                                                                   provider: ProviderFactory) -> None:
    lab.lab.model.behaviour.dnscmd_txt = "off"
    lab.lab.model.behaviour.wmi_txt = "off"
    prov = provider()
    changes, _ = plan(prov, [rrset("default._domainkey", "TXT", [KEY])])
    (result,) = prov.apply(changes)
    assert not result.ok and not result.skipped
    assert "long TXT not published exactly; tried dnscmd: The term 'dnscmd.exe' is not recognized" in (
        result.error or "")
    assert "; wmi: Generic failure" in (result.error or "")
    assert result.detail["ops_done"] == 0
    assert txt_at(lab, "default._domainkey") == [[KEY[:255]]]   # add before remove: the old value kept


def test_a_path_that_silently_truncates_is_undone(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    lab.lab.model.behaviour.dnscmd_txt = "off"
    lab.lab.model.behaviour.wmi_txt = "first_only"
    prov = provider()
    changes, _ = plan(prov, [rrset("s4._domainkey", "TXT", [KEY])])
    (result,) = prov.apply(changes)
    assert "wmi: reported success but DNS does not answer the whole value" in (result.error or "")
    assert txt_at(lab, "s4._domainkey") == []   # the truncated record was taken out again


def test_check_refuses_what_no_configured_path_can_carry(provider: ProviderFactory) -> None:
    quoted = 'v=DKIM1; n="quoted"; p=' + "Q" * 300
    prov = provider(long_txt=["dnscmd"])
    changes, _ = plan(prov, [rrset("q._domainkey", "TXT", [quoted])])
    refusals = prov.check(changes)
    assert list(refusals.values()) and "add 'wmi' to long_txt" in next(iter(refusals.values()))
    assert provider(long_txt=["dnscmd", "wmi"]).check(changes) == {}


def test_awkward_txt_values_round_trip(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    values = ['quote " back\\slash `tick $dollar ;semi', "남근 김경본 " * 30, "x" * 254, "y" * 255, "",
              "line\nbreak"]
    desired = [rrset(f"t{i}", "TXT", [v]) for i, v in enumerate(values)]
    converge(provider(), desired)
    for i, v in enumerate(values):
        assert "".join(s for strings in txt_at(lab, f"t{i}") for s in strings) == v


def test_ttl_only_change_uses_set(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    converge(provider(), [rrset("mail", "A", ["211.244.144.69"], ttl=300)])
    assert [v for v in vias(lab) if v[2] == "mail"] == [("cmdlet:Set-DnsServerResourceRecord", "update", "mail")]


def test_cname_replacement_removes_then_adds(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    converge(provider(), [rrset("www", "CNAME", ["mail.namgun.or.kr."])])
    converge(provider(), [rrset("www", "CNAME", ["printer.namgun.or.kr."])])
    assert [v[1] for v in vias(lab) if v[2] == "www"] == ["add", "remove", "add"]


def test_multi_value_types_and_order(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    desired = [rrset("@", "MX", [{"preference": 20, "exchange": "backup.namgun.or.kr."},
                                 {"preference": 10, "exchange": "mail.namgun.or.kr."}]),
               rrset("_sip._tcp", "SRV", [{"priority": 10, "weight": 5, "port": 5060, "target": "mail"}]),
               rrset("web", "A", ["10.0.0.2", "10.0.0.1"]), rrset("web", "AAAA", ["fd00::0001"]),
               rrset("@", "CAA", [{"flags": 0, "tag": "issue", "value": "letsencrypt.org"}])]
    converge(provider(), desired)


def test_a_change_that_fails_half_way_says_what_was_done(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    prov = provider()
    desired = [rrset("printer", "A", ["192.168.10.41"], ttl=600), rrset("web", "A", ["10.9.9.9"])]
    changes, _ = plan(prov, desired)
    # someone adds the new printer address by hand as a CNAME conflict … simpler: the zone goes away
    # for one name: make the add fail with a CNAME collision
    model = lab.lab.model
    zone = model.server().zone(ZONE)
    zone.records = [r for r in zone.records if r.name != "printer"]
    zone.records.append(Record("printer", "CNAME", 3600, {"HostNameAlias": "mail.namgun.or.kr."}))
    results = {r.change_id: r for r in prov.apply(changes)}
    failed = next(c for c in changes if c.key[1] == "printer")
    assert not results[failed.id].ok and results[failed.id].detail["win32"] == 9709
    assert "not applied: add printer A failed" in (results[failed.id].error or "")
    other = next(c for c in changes if c.key[1] == "web")
    assert results[other.id].ok   # the next change went on


def test_apply_of_many_changes_is_one_command(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    prov = provider()
    desired = [rrset(f"host{i}", "A", [f"10.1.{i // 200}.{i % 200 + 1}"]) for i in range(300)]
    changes, _ = plan(prov, desired)
    before = lab.lab.winrm.stats.snapshot()["requests"]["Command"]
    assert all(r.ok for r in prov.apply(changes))
    assert lab.lab.winrm.stats.snapshot()["requests"]["Command"] == before + 1
    assert lab.lab.winrm.stats.snapshot()["shells_opened"] == 1    # one shell for the whole run


def test_payload_limit_splits_into_several_commands(lab: WindowsDnsService, provider: ProviderFactory) -> None:
    prov = provider(max_payload=2000)
    changes, _ = plan(prov, [rrset(f"h{i}", "A", [f"10.2.0.{i + 1}"]) for i in range(40)])
    before = lab.lab.winrm.stats.snapshot()["requests"]["Command"]
    assert all(r.ok for r in prov.apply(changes))
    assert lab.lab.winrm.stats.snapshot()["requests"]["Command"] - before > 1


def test_failed_transport_marks_the_batch_unknown_and_skips_the_rest(lab: WindowsDnsService,
                                                                      provider: ProviderFactory) -> None:
    prov = provider(max_payload=2000, timeout=2)
    changes, _ = plan(prov, [rrset(f"h{i}", "A", [f"10.3.0.{i + 1}"]) for i in range(40)])
    lab.control.inject(Fault(lambda method, path: True, delay=4.0, status=500, times=50))
    results = prov.apply(changes)
    assert results[0].detail.get("unknown") and not results[0].skipped
    assert results[-1].skipped and "not sent" in (results[-1].error or "")
