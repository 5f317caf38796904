"""The lab emulates exactly the programs the provider ships (pinned by SHA-256), and the wire framing."""

from __future__ import annotations

import base64
import json

import pytest
import winrm
from winrm.protocol import Protocol

from reconciler.lab.windows_dns import programs
from reconciler.lab.windows_dns.service import WindowsDnsService
from reconciler.providers.windows_dns import session
from tests.windows_dns.conftest import ZONE


def test_emulations_are_pinned_to_the_shipped_program_texts() -> None:
    # Changing a .ps1 file without updating its emulation (and the pin) must fail here.
    assert programs.EMULATED == programs.shipped_hashes()


@pytest.mark.parametrize("name", ["bootstrap", "read", "apply"])
def test_programs_are_ascii_and_carry_their_marker(name: str) -> None:
    text = session.program_text(name)
    assert text.isascii()
    assert text.splitlines()[0] == f"# reconciler-program: windows-dns-{name}/1"


def test_bootstrap_command_line_is_far_below_the_cmd_limit() -> None:
    line = session.command_line(session.program_text("bootstrap"))
    assert len(line) < 8191 and line.startswith("powershell.exe -NoProfile -NonInteractive")


def _raw_run(lab: WindowsDnsService, program: str, payload: dict[str, object]) -> tuple[bytes, bytes, int]:
    proto = Protocol(lab.lab.endpoint, transport="basic", username=lab.lab.username, password=lab.lab.password)
    shell = proto.open_shell(codepage=65001)
    try:
        cid = proto.run_command(shell, session.command_line(session.program_text("bootstrap")),
                                console_mode_stdin=False)
        proto.send_command_input(shell, cid, session.stdin_bytes(program, payload), end=True)
        out = proto.get_command_output(shell, cid)
        proto.cleanup_command(shell, cid)
        return out
    finally:
        proto.close_shell(shell)


def test_an_edited_program_is_refused_not_guessed(lab: WindowsDnsService) -> None:
    edited = session.program_text("read").replace("Get-DnsServerZone", "Get-DnsServerZone ")
    stdout, stderr, code = _raw_run(lab, edited, {"zone": ZONE})
    assert code == 1 and stdout == b"" and b"LabProgramMismatch" in stderr


def test_the_shipped_read_program_through_raw_pywinrm(lab: WindowsDnsService) -> None:
    stdout, _, code = _raw_run(lab, session.program_text("read"), {"zone": ZONE, "computer": None})
    doc = session.parse_result(stdout, b"", code)
    assert doc["ok"] and doc["zone"]["name"] == ZONE and stdout.isascii()
    assert any(r["n"] == "printer" and r["d"] == ["192.168.10.40"] for r in doc["records"])


def test_errors_come_back_as_data(lab: WindowsDnsService) -> None:
    stdout, _, code = _raw_run(lab, session.program_text("read"), {"zone": "nope.kr"})
    doc = session.parse_result(stdout, b"", code)
    assert code == 1 and doc["error"]["id"] == "WIN32 9601,Get-DnsServerZone"


def test_payload_values_are_never_code(lab: WindowsDnsService) -> None:
    # a zone name that would be code if interpolated is only ever a parameter value
    evil = "x'; Remove-DnsServerZone -Name namgun.or.kr -Force; '"
    stdout, _, code = _raw_run(lab, session.program_text("read"), {"zone": evil})
    doc = session.parse_result(stdout, b"", code)
    assert not doc["ok"] and evil in doc["error"]["message"]
    assert any(z.name == ZONE for _, z in lab.lab.model.iter_zones())


def test_a_plain_run_ps_of_the_program_is_not_the_provider_path(lab: WindowsDnsService) -> None:
    # run directly (not through the bootstrap) the program gets no payload, like real PowerShell
    sess = winrm.Session(lab.lab.endpoint, auth=(lab.lab.username, lab.lab.password), transport="basic")
    result = sess.run_ps(session.program_text("read"))
    assert result.status_code == 1 and b"ConvertFrom-Json" in result.std_err


def test_stdin_is_ascii_whatever_the_values() -> None:
    data = session.stdin_bytes("x", {"v": "남근 \"quoted\" `tick` $x"})
    assert data.isascii()
    _program, _, b64 = data.partition(b"\0")
    assert json.loads(base64.b64decode(b64))["v"] == "남근 \"quoted\" `tick` $x"
