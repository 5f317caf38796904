"""End to end through real pywinrm against the Windows DNS lab (WinRM endpoint + PsHost + port 53)."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError
from winrm.protocol import Protocol

from reconciler.lab.windows_dns import start_lab
from reconciler.lab.windows_dns.service import WindowsDnsService

ZONE = "namgun.or.kr"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[WindowsDnsService]:
    svc = start_lab(tmp_path)
    try:
        yield svc
    finally:
        svc.stop()


def session(svc: WindowsDnsService, password: str | None = None) -> winrm.Session:
    return winrm.Session(svc.lab.endpoint, auth=(svc.lab.username, password or svc.lab.password),
                         transport="basic", read_timeout_sec=30, operation_timeout_sec=20)


def test_run_ps_reads_the_raw_cim_json(service: WindowsDnsService) -> None:
    r = session(service).run_ps(f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name _dmarc -Node | ConvertTo-Json")
    assert r.status_code == 0 and r.std_err == b""
    doc = json.loads(r.std_out)
    assert doc["HostName"] == "_dmarc" and "DescriptiveText" not in doc["RecordData"]
    assert doc["RecordData"]["CimInstanceProperties"] == [
        'DescriptiveText = "v=DMARC1; p=quarantine; rua=mailto:postmaster@namgun.or.kr"']


def test_run_ps_error_comes_back_as_cleaned_clixml(service: WindowsDnsService) -> None:
    r = session(service).run_ps(f"Get-DnsServerResourceRecord -ZoneName {ZONE} -Name ghost -Node")
    assert r.status_code == 1 and r.std_out == b""
    text = r.std_err.decode()
    assert text.startswith("Get-DnsServerResourceRecord : Failed to get ghost record in namgun.or.kr zone")
    assert "WIN32 9714,Get-DnsServerResourceRecord" in text.replace("\n", "")


def test_bad_credentials_are_rejected(service: WindowsDnsService) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(service, password="wrong").run_ps("Get-DnsServerZone")


def test_code_page_437_turns_hangul_into_question_marks(service: WindowsDnsService) -> None:
    sess = session(service)
    add = sess.run_ps(f"Add-DnsServerResourceRecord -ZoneName {ZONE} -Name owner -Txt -DescriptiveText '남근'")
    assert add.status_code == 0
    read = (f"$r = Get-DnsServerResourceRecord -ZoneName {ZONE} -Name owner -Node; "
            "ConvertTo-Json $r.RecordData.DescriptiveText")
    assert sess.run_ps(read).std_out == b'"??"\r\n'  # Session always opens code page 437 (pywinrm#288)
    proto = Protocol(service.lab.endpoint, transport="basic", username=service.lab.username,
                     password=service.lab.password)
    shell = proto.open_shell(codepage=65001)
    try:
        encoded = base64.b64encode(read.encode("utf-16-le")).decode()
        cid = proto.run_command(shell, f"powershell -EncodedCommand {encoded}")
        out, _err, code = proto.get_command_output(shell, cid)
        proto.cleanup_command(shell, cid)
    finally:
        proto.close_shell(shell)
    assert (out.decode("utf-8"), code) == ('"남근"\r\n', 0)


def test_a_write_over_winrm_is_visible_on_port_53(service: WindowsDnsService) -> None:
    r = session(service).run_ps(f"dnscmd DC01 /recordadd {ZONE} mail 3600 TXT 'v=spf1 a -all'")
    assert r.status_code == 0, r.std_err
    host, port = service.target["dns_server"].split(":")
    resp = dns.query.udp(dns.message.make_query(f"mail.{ZONE}", "TXT"), host, port=int(port), timeout=3)
    assert [list(rd.strings) for rrset in resp.answer for rd in rrset] == [[b"v=spf1 a -all"]]


def test_target_entry_and_secret_file(service: WindowsDnsService) -> None:
    target = service.target
    assert target["kind"] == "windows_dns" and target["zones"] == [ZONE]
    assert target["address"].startswith("http://127.0.0.1:") and target["allow_unencrypted"] is True
    path = Path(target["password"].removeprefix("file:"))
    assert path.read_text() == service.lab.password
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert service.lab.winrm.stats.snapshot()["http_requests"] == 0
