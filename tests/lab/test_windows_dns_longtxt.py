"""Long-TXT write paths of windows-dns.md §3.1 (dnscmd, WMI), each a switch, and native argument passing."""

from __future__ import annotations

import pytest

from reconciler.lab.windows_dns import dnscmd
from reconciler.lab.windows_dns.dnsserver import WindowsDnsModel
from reconciler.lab.windows_dns.seed import load_namgun
from reconciler.lab.windows_dns.wmi import WBEM_E_FAILED, MicrosoftDnsWmi, WmiError

ZONE = "namgun.or.kr"
KEY = "v=DKIM1; k=rsa; p=" + "Z" * 392


@pytest.fixture
def model() -> WindowsDnsModel:
    return load_namgun(dkim_value=KEY)


def stored(model: WindowsDnsModel, name: str) -> list[list[str]]:
    return [r.data["strings"] for r in model.zone_records(ZONE) if r.name == name and r.rrtype == "TXT"]


def test_dnscmd_recordadd_publishes_every_string(model: WindowsDnsModel) -> None:
    out = dnscmd.run(model, ["DC01", "/recordadd", ZONE, "s2._domainkey", "3600", "TXT", KEY[:255], KEY[255:]])
    assert (out.exit_code, out.stdout.splitlines()[-1]) == (0, "Command completed successfully.")
    assert stored(model, "s2._domainkey") == [[KEY[:255], KEY[255:]]]
    assert model.journal[-1]["via"] == "dnscmd"


def test_dnscmd_first_only_silently_keeps_one_string(model: WindowsDnsModel) -> None:
    model.behaviour.dnscmd_txt = "first_only"
    out = dnscmd.run(model, ["/recordadd", ZONE, "s2._domainkey", "TXT", KEY[:255], KEY[255:]])
    assert out.exit_code == 0  # reports success: only a DNS read shows the loss
    assert stored(model, "s2._domainkey") == [[KEY[:255]]]


def test_dnscmd_off_is_not_installed(model: WindowsDnsModel) -> None:
    model.behaviour.dnscmd_txt = "off"
    out = dnscmd.run(model, ["/recordadd", ZONE, "x", "TXT", "a"])
    assert not out.installed and "not recognized" in out.stdout


def test_dnscmd_errors_and_delete(model: WindowsDnsModel) -> None:
    dup = dnscmd.run(model, ["/recordadd", ZONE, "printer", "A", "192.168.10.40"])
    assert dup.exit_code == 9711 and "DNS_ERROR_RECORD_ALREADY_EXISTS" in dup.stdout
    missing_zone = dnscmd.run(model, ["/recordadd", "nope.kr", "x", "A", "10.0.0.1"])
    assert missing_zone.exit_code == 9601
    too_long = dnscmd.run(model, ["/recordadd", ZONE, "x", "TXT", "y" * 256])
    assert too_long.exit_code == 13
    assert dnscmd.run(model, ["/recorddelete", ZONE, "default._domainkey", "TXT", KEY[:255]]).exit_code == 1
    assert stored(model, "default._domainkey")  # without /f the prompt is not answered
    done = dnscmd.run(model, ["/recorddelete", ZONE, "default._domainkey", "TXT", KEY[:255], "/f"])
    assert done.exit_code == 0 and stored(model, "default._domainkey") == []


def test_wmi_create_from_text_representation(model: WindowsDnsModel) -> None:
    wmi = MicrosoftDnsWmi(model)
    inst = wmi.create_from_text(".", ZONE, f's2._domainkey.{ZONE}. IN TXT "{KEY[:255]}" "{KEY[255:]}"')
    assert stored(model, "s2._domainkey") == [[KEY[:255], KEY[255:]]]
    assert inst.OwnerName == f"s2._domainkey.{ZONE}"
    # master-file escapes carry quotes, backslashes and semicolons exactly
    wmi.create_from_text(".", ZONE, f'tricky.{ZONE}. 300 IN TXT "a\\"b\\\\c; d"')
    assert stored(model, "tricky") == [['a"b\\c; d']]
    (found,) = wmi.query("MicrosoftDNS_TXTType", container_name=ZONE, owner_name=f"tricky.{ZONE}")
    wmi.delete(found)
    assert stored(model, "tricky") == []


@pytest.mark.parametrize(("mode", "expected"), [("multi", [["one", "two"]]), ("first_only", [["one"]])])
def test_wmi_txt_switch(model: WindowsDnsModel, mode: str, expected: list[list[str]]) -> None:
    model.behaviour.wmi_txt = mode
    MicrosoftDnsWmi(model).create_from_text(".", ZONE, f'w.{ZONE}. IN TXT "one" "two"')
    assert stored(model, "w") == expected


def test_wmi_off_and_bad_input_fail(model: WindowsDnsModel) -> None:
    wmi = MicrosoftDnsWmi(model)
    with pytest.raises(WmiError):
        wmi.create_from_text(".", ZONE, "other.example.com. IN TXT \"x\"")  # outside the container
    with pytest.raises(WmiError):
        wmi.create_from_text(".", ZONE, f"printer.{ZONE}. IN A 192.168.10.40")  # duplicate
    model.behaviour.wmi_txt = "off"
    with pytest.raises(WmiError) as err:
        wmi.create_from_text(".", ZONE, f'w.{ZONE}. IN TXT "one"')
    assert err.value.hresult == WBEM_E_FAILED and err.value.message == "Generic failure "


@pytest.mark.parametrize(("args", "argv"), [
    (["plain"], ["plain"]),
    (["with space"], ["with space"]),
    (["v=DKIM1; k=rsa"], ["v=DKIM1; k=rsa"]),
    (['say "hi" now'], ["say hi now"]),        # 5.1 does not escape embedded quotes
    (['"pre-quoted"'], ["pre-quoted"]),
    (["trailing\\ x\\"], ["trailing\\ x\""]),   # a backslash before the added quote escapes it
    (["", "b"], ["b"]),                         # an empty argument disappears
    (["남근 김경본"], ["남근 김경본"]),
])
def test_ps51_native_arguments_round_trip_through_the_crt(args: list[str], argv: list[str]) -> None:
    assert dnscmd.crt_split(dnscmd.ps51_command_line("dnscmd", args))[1:] == argv
