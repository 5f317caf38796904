"""The lab's PowerShell host: what naive one-line readers see (windows-dns.md §2.4, winrm-protocol.md §4/§6)."""

from __future__ import annotations

import json

import pytest

from reconciler.lab.windows_dns import pshost
from reconciler.lab.windows_dns.dnsserver import WindowsDnsModel
from reconciler.lab.windows_dns.host import CommandResult, ShellInfo
from reconciler.lab.windows_dns.pshost import ProgramRun, PsHost
from reconciler.lab.windows_dns.seed import load_namgun

ZONE = "namgun.or.kr"
SHELL = ShellInfo("S1", 65001, {}, "svc")


@pytest.fixture
def model() -> WindowsDnsModel:
    return load_namgun(dkim_value="v=DKIM1; k=rsa; p=" + "K" * 392)


@pytest.fixture
def host(model: WindowsDnsModel) -> PsHost:
    return PsHost(model)


def run(host: PsHost, script: str) -> CommandResult:
    return host.run("powershell -encodedcommand x", script, b"", SHELL)


def test_one_record_is_not_wrapped_in_an_array(host: PsHost) -> None:
    out = run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name printer -Node | ConvertTo-Json")
    assert out.exit_code == 0 and out.stderr == b""
    doc = json.loads(out.stdout)
    assert isinstance(doc, dict) and doc["HostName"] == "printer"
    assert out.stdout.endswith("}\r\n") and '"HostName":  "printer"' in out.stdout  # 5.1 layout


def test_raw_record_data_hides_the_address_in_cim_properties(host: PsHost) -> None:
    # ESAM fixture shape: record at level 0, default depth 2
    doc = json.loads(run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name printer -Node "
                               "| ConvertTo-Json").stdout)
    data = doc["RecordData"]
    assert "IPv4Address" not in data
    assert data["CimInstanceProperties"] == ['IPv4Address = "192.168.10.40"']
    assert data["CimClass"]["CimSuperClassName"] == "DnsServerResourceRecordData"
    assert data["CimSystemProperties"]["ClassName"] == "DnsServerResourceRecordA"
    assert doc["TimeToLive"]["TotalSeconds"] == 3600 and doc["Timestamp"] is None


def test_forced_array_pushes_record_data_one_level_deeper(host: PsHost) -> None:
    # GOW fixture shape: ConvertTo-Json @($r) → record at level 1, CimClass becomes a string
    out = run(host, f"$r = Get-DnsServerResourceRecord -ZoneName {ZONE} -Name mail -RRType A -Node; "
                    "ConvertTo-Json @($r) -Compress")
    doc = json.loads(out.stdout)
    assert isinstance(doc, list) and len(doc) == 1
    assert doc[0]["RecordData"] == {
        "CimClass": "root/Microsoft/Windows/DNS:DnsServerResourceRecordA",
        "CimInstanceProperties": 'IPv4Address = "211.244.144.69"',
        "CimSystemProperties": "Microsoft.Management.Infrastructure.CimSystemProperties"}


def test_depth_4_gives_name_value_objects_and_timespan_objects(host: PsHost) -> None:
    out = run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name '@' -RRType Soa -Node "
                    "| Select-Object -Property * -ExcludeProperty Cim* | ConvertTo-Json -Depth 4")
    doc = json.loads(out.stdout)
    assert "CimClass" not in doc  # DC-MSDNS: Cim* excluded at the root
    props = {p["Name"]: p["Value"] for p in doc["RecordData"]["CimInstanceProperties"]}
    assert props["PrimaryServer"] == "dc01.namgun.or.kr."
    assert props["ExpireLimit"]["TotalSeconds"] == 86400


def test_ws2025_hex_mode(model: WindowsDnsModel, host: PsHost) -> None:
    model.behaviour.cim_mode = "ws2025hex"
    doc = json.loads(run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name printer -Node "
                               "| ConvertTo-Json -Depth 4").stdout)
    assert doc["RecordData"]["CimInstanceProperties"][0]["Value"] == "C0A80A28"  # nrkno#85


def test_whole_zone_is_an_array_and_dynamic_timestamps_are_dates(host: PsHost) -> None:
    doc = json.loads(run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} | ConvertTo-Json -Compress").stdout)
    laptop = next(r for r in doc if r["HostName"] == "NAMGUN-LAPTOP")
    assert laptop["Timestamp"].startswith("/Date(")  # "\/Date(ms)\/" once decoded


def test_empty_pipeline_prints_nothing(host: PsHost) -> None:
    out = run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name printer -Node -RRType Txt "
                    "-ErrorAction SilentlyContinue | ConvertTo-Json")
    assert out.stdout == "" and out.stderr == b""
    assert out.exit_code == 1  # $? of the last statement is false (PowerShell#13501)


def test_uncaught_error_is_clixml_on_stderr_with_exit_1(host: PsHost) -> None:
    out = run(host, "Get-DnsServerResourceRecord -ZoneName nope.kr | ConvertTo-Json")
    text = out.stderr.decode()
    assert text.startswith("#< CLIXML\r\n") and '<S S="Error">' in text
    assert "WIN32 9601,Get-DnsServerResourceRecord" in text
    assert out.exit_code == 1 and out.stdout == ""


def test_exit_code_follows_the_last_statement(host: PsHost) -> None:
    out = run(host, f"Get-DnsServerResourceRecord -ZoneName nope.kr; Get-DnsServerZone -Name {ZONE} "
                    "| ConvertTo-Json -Compress")
    assert out.exit_code == 0 and out.stderr.startswith(b"#< CLIXML")
    assert json.loads(out.stdout)["ZoneName"] == ZONE


def test_error_action_preference_stop_ends_the_script(host: PsHost) -> None:
    out = run(host, "$ErrorActionPreference = 'Stop'\nGet-DnsServerResourceRecord -ZoneName nope.kr\n"
                    f"Get-DnsServerZone -Name {ZONE} | ConvertTo-Json")
    assert out.exit_code == 1 and out.stdout == ""


def test_command_not_found_and_unsupported_syntax(host: PsHost) -> None:
    out = run(host, "Resolve-Nothing -Name x")
    assert b"CommandNotFoundException" in out.stderr and out.exit_code == 1
    out = run(host, "foreach ($x in 1,2) { $x }")
    assert b"LabUnsupportedSyntax" in out.stderr and out.exit_code == 1


def test_add_and_read_back_through_the_interpreter(host: PsHost) -> None:
    out = run(host, f"Add-DnsServerResourceRecord -ZoneName {ZONE} -Name web -A -IPv4Address 10.0.0.5 "
                    "-TimeToLive (New-TimeSpan -Seconds 300) -PassThru | ConvertTo-Json -Compress")
    assert json.loads(out.stdout)["TimeToLive"]["TotalSeconds"] == 300
    again = run(host, f"Add-DnsServerResourceRecord -ZoneName {ZONE} -Name web -A -IPv4Address 10.0.0.5")
    assert b"WIN32 9711,Add-DnsServerResourceRecord" in again.stderr


def test_json_escaping_of_51(host: PsHost) -> None:
    run(host, f"Add-DnsServerResourceRecord -ZoneName {ZONE} -Name q -Txt -DescriptiveText \"it's <a&b>\"")
    out = run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name q -Node | Select-Object -Skip 1")
    assert out.exit_code == 1 and b"LabUnsupportedSyntax" in out.stderr  # outside the subset: never a guess
    expanded = run(host, f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name q -Node "
                         "| Select-Object -ExpandProperty RecordData | ConvertTo-Json -Compress")
    # RecordData at level 0: its CimInstanceProperties items (level 2) are still objects
    (prop,) = json.loads(expanded.stdout)["CimInstanceProperties"]
    assert (prop["Name"], prop["Value"]) == ("DescriptiveText", "it's <a&b>")
    raw = run(host, f"$r = Get-DnsServerResourceRecord -ZoneName {ZONE} -Name q -Node; "
                    "ConvertTo-Json -InputObject $r.RecordData.DescriptiveText").stdout
    assert raw == '"it\\u0027s \\u003ca\\u0026b\\u003e"\r\n'


def test_hangul_output_is_text_the_endpoint_encodes(host: PsHost) -> None:
    run(host, f"Add-DnsServerResourceRecord -ZoneName {ZONE} -Name owner -Txt -DescriptiveText '남근'")
    out = run(host, f"$r = Get-DnsServerResourceRecord -ZoneName {ZONE} -Name owner -Node; "
                    "ConvertTo-Json $r.RecordData.DescriptiveText")
    assert out.stdout == '"남근"\r\n'


def test_known_program_registration_and_hash_pinning(host: PsHost) -> None:
    seen: list[ProgramRun] = []

    def handler(prog: ProgramRun) -> CommandResult:
        seen.append(prog)
        return CommandResult(f"ran {prog.name}/{prog.version} with {len(prog.stdin)} bytes\r\n", b"", 0)

    text = "# reconciler-program: test-echo/1\r\nWrite-Output 'never interpreted'\r\n"
    pshost.register_program("test-echo", "1", handler, sha256=pshost.text_sha256(text), reads_stdin=True)
    assert host.reads_stdin("powershell -encodedcommand x", text)
    out = host.run("powershell -encodedcommand x", text, b"payload", SHELL)
    assert out.stdout == "ran test-echo/1 with 7 bytes\r\n" and len(seen) == 1
    drifted = host.run("powershell -encodedcommand x", text + "# edited\r\n", b"", SHELL)
    assert drifted.exit_code == 1 and b"LabProgramMismatch" in drifted.stderr and len(seen) == 1


def test_unregistered_marker_falls_back_to_the_interpreter(host: PsHost) -> None:
    out = run(host, "# reconciler-program: nobody/9\nGet-DnsServerZone -Name namgun.or.kr | ConvertTo-Json -Compress")
    assert json.loads(out.stdout)["ZoneName"] == ZONE


def test_native_dnscmd_from_the_interpreter(host: PsHost, model: WindowsDnsModel) -> None:
    out = run(host, f"dnscmd DC01 /recordadd {ZONE} mail 3600 TXT 'v=spf1 a -all'\n$LASTEXITCODE")
    assert out.stdout.endswith("Command completed successfully.\r\n0\r\n")
    assert [r.data["strings"] for r in model.zone_records(ZONE) if r.name == "mail" and r.rrtype == "TXT"] == [
        ["v=spf1 a -all"]]


def test_cmd_level_commands_are_not_emulated(host: PsHost) -> None:
    out = host.run("ipconfig /all", None, b"", SHELL)
    assert out.exit_code == 1 and b"not recognized" in out.stderr
