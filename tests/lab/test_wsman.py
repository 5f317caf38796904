"""The lab WinRM endpoint driven by the real pywinrm 0.5.0 client on 127.0.0.1 (winrm-protocol.md §9-§10)."""

from __future__ import annotations

import base64
import math
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

import pytest
import requests
import winrm
import xmltodict
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)

from reconciler.lab.windows_dns.clixml import ErrorRecordView, category_info, error_stderr, position_message
from reconciler.lab.windows_dns.host import (
    CommandResult,
    EchoHost,
    PowerShellHost,
    ShellInfo,
    console_decode,
    extract_encoded_script,
)
from reconciler.lab.windows_dns.wsman import WinRMConfig, WinRMServer

pytestmark = pytest.mark.timeout(30)

USER, PASSWORD = "Administrator", "Lab-Pass-1"
RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"


class FnHost:
    """A host whose behaviour is a function; ``reads`` says whether it consumes stdin."""

    def __init__(self, fn: Callable[[str, str | None, bytes, ShellInfo], CommandResult], reads: bool = False):
        self.fn = fn
        self.reads = reads
        self.calls = 0

    def reads_stdin(self, command_line: str, script: str | None) -> bool:
        return self.reads

    def run(self, command_line: str, script: str | None, stdin: bytes, shell: ShellInfo) -> CommandResult:
        self.calls += 1
        return self.fn(command_line, script, stdin, shell)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_server() -> Iterator[Callable[..., WinRMServer]]:
    servers: list[WinRMServer] = []

    def factory(
        host: PowerShellHost | None = None, config: WinRMConfig | None = None, **kwargs: object
    ) -> WinRMServer:
        server = WinRMServer(host or EchoHost(), {USER: PASSWORD}, config, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.stop()


def session(server: WinRMServer, password: str = PASSWORD) -> winrm.Session:
    return winrm.Session(server.endpoint, auth=(USER, password), transport="basic")


def protocol(server: WinRMServer, operation_timeout: int = 20, read_timeout: int = 30) -> winrm.Protocol:
    return winrm.Protocol(
        server.endpoint,
        transport="basic",
        username=USER,
        password=PASSWORD,
        operation_timeout_sec=operation_timeout,
        read_timeout_sec=read_timeout,
    )


def encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


# --- the basic exchange ------------------------------------------------------------------------------


def test_run_ps_round_trip_uses_five_requests(make_server: Callable[..., WinRMServer]) -> None:
    host = EchoHost()
    server = make_server(host)
    result = session(server).run_ps("Get-DnsServerZone | ConvertTo-Json")
    assert (result.status_code, result.std_out, result.std_err) == (
        0,
        b"Get-DnsServerZone | ConvertTo-Json\r\n",
        b"",
    )
    # §1: open shell, one command, Receive, Signal, Delete — every call.
    assert server.stats.requests == {"Create": 1, "Command": 1, "Receive": 1, "Signal": 1, "Delete": 1}
    assert server.stats.http_requests == 5
    assert (server.stats.shells_opened, server.stats.shells_closed, server.stats.commands_run) == (1, 1, 1)
    command_line, script, stdin, shell = host.calls[0]
    assert command_line.startswith("powershell -encodedcommand ")
    assert script == "Get-DnsServerZone | ConvertTo-Json"
    assert stdin == b"" and shell.codepage == 437 and shell.user == USER
    assert server.open_shell_count() == 0


def test_run_cmd_with_arguments_and_cmd_error(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server()
    ok = session(server).run_cmd("echo", ["hello", "world"])
    assert (ok.status_code, ok.std_out, ok.std_err) == (0, b"hello world\r\n", b"")
    bad = session(server).run_cmd("ipconfig2")
    assert bad.status_code == 1 and bad.std_out == b""
    assert bad.std_err.startswith(b"'ipconfig2' is not recognized as an internal or external command,")


def test_protocol_reuses_one_shell_for_many_commands(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server()
    client = protocol(server)
    shell_id = client.open_shell(codepage=65001)
    outputs = []
    for n in range(3):
        command_id = client.run_command(
            shell_id, f"powershell -NoProfile -EncodedCommand {encoded(f'step {n}')}"
        )
        outputs.append(client.get_command_output(shell_id, command_id))
        client.cleanup_command(shell_id, command_id)
    client.close_shell(shell_id)
    assert outputs == [(f"step {n}\r\n".encode(), b"", 0) for n in range(3)]
    assert server.stats.requests == {"Create": 1, "Command": 3, "Receive": 3, "Signal": 3, "Delete": 1}


def test_response_envelopes_have_the_real_header_shape(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server()
    client = protocol(server)
    ns = {
        "s": "http://www.w3.org/2003/05/soap-envelope",
        "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
        "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    }
    seen_ids = set()
    for _ in range(2):
        message_id = uuid.uuid4()
        envelope = {
            "env:Envelope": client.build_wsman_header(
                action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                resource_uri=RESOURCE_CMD,
                message_id=message_id,
            )
        }
        envelope["env:Envelope"]["env:Body"] = {
            "rsp:Shell": {"rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}
        }
        response = requests.post(
            server.endpoint,
            data=xmltodict.unparse(envelope).encode(),
            auth=(USER, PASSWORD),
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/soap+xml;charset=UTF-8"
        assert int(response.headers["Content-Length"]) == len(response.content)
        root = ET.fromstring(response.content)  # noqa: S314 - our own loopback server's answer
        assert (
            root.findtext("s:Header/a:Action", namespaces=ns)
            == "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"
        )
        assert root.findtext("s:Header/a:RelatesTo", namespaces=ns) == f"uuid:{message_id}"
        fresh = root.findtext("s:Header/a:MessageID", namespaces=ns)
        assert fresh and fresh.startswith("uuid:") and fresh != f"uuid:{message_id}"
        seen_ids.add(fresh)
        # pywinrm takes the first element with Name="ShellId": the selector, as real servers send it.
        first = next(node for node in root.iter() if node.get("Name") == "ShellId")
        assert first.tag.endswith("Selector")
        assert root.findtext("s:Body/rsp:Shell/rsp:ShellId", namespaces=ns) == first.text
        assert root.findtext("s:Body/rsp:Shell/rsp:IdleTimeOut", namespaces=ns) == "PT180.000S"
    assert len(seen_ids) == 2


# --- code pages and stdin ----------------------------------------------------------------------------


def test_hangul_output_is_question_marks_under_437_and_utf8_under_65001(
    make_server: Callable[..., WinRMServer],
) -> None:
    server = make_server(
        FnHost(lambda line, script, stdin, shell: CommandResult("남근 김경본 ok\r\n", b"", 0))
    )
    # Session.run_ps cannot change the code page: 437 turns Hangul into '?' (pywinrm#288).
    assert session(server).run_ps("x").std_out == b"?? ??? ok\r\n"
    client = protocol(server)
    shell_id = client.open_shell(codepage=65001)
    command_id = client.run_command(shell_id, f"powershell -encodedcommand {encoded('x')}")
    stdout, stderr, code = client.get_command_output(shell_id, command_id)
    client.cleanup_command(shell_id, command_id)
    client.close_shell(shell_id)
    assert (stdout.decode("utf-8"), stderr, code) == ("남근 김경본 ok\r\n", b"", 0)


def test_unsupported_code_page_is_refused(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server()
    with pytest.raises(WSManFaultError) as info:
        protocol(server).open_shell(codepage=12345)
    assert info.value.fault_subcode == "w:InvalidParameter"
    assert server.stats.shells_opened == 0


def test_stdin_script_in_utf8_chunks_like_ansible(make_server: Callable[..., WinRMServer]) -> None:
    host = EchoHost()
    server = make_server(host)
    client = protocol(server)
    shell_id = client.open_shell(codepage=65001, env_vars={"OWNER": "김경본"})
    bootstrap = "$ErrorActionPreference = 'Stop'; $input | Out-String"
    command_id = client.run_command(
        shell_id,
        f"PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
        f"{encoded(bootstrap)}",
        console_mode_stdin=False,
        skip_cmd_shell=False,
    )
    payload = "Add record 남근\r\n".encode() * 3
    client.send_command_input(shell_id, command_id, payload[:10], end=False)  # splits a Hangul character
    client.send_command_input(shell_id, command_id, payload[10:], end=True)
    stdout, stderr, code = client.get_command_output(shell_id, command_id)
    client.cleanup_command(shell_id, command_id)
    client.close_shell(shell_id)
    assert (stdout, stderr, code) == (payload + b"\r\n", b"", 0)
    _, script, stdin, shell = host.calls[0]
    assert script == bootstrap and stdin == payload
    assert shell.env == {"OWNER": "김경본"} and shell.codepage == 65001
    assert server.stats.requests["Send"] == 2 and server.stats.stdin_bytes == len(payload)


def test_stdin_reader_waits_for_end_and_receive_times_out_meanwhile(
    make_server: Callable[..., WinRMServer],
) -> None:
    host = FnHost(
        lambda line, script, stdin, shell: CommandResult(console_decode(stdin, shell.codepage), b"", 0),
        reads=True,
    )
    server = make_server(host)
    client = protocol(server, operation_timeout=1, read_timeout=5)
    shell_id = client.open_shell(codepage=65001)
    command_id = client.run_command(shell_id, f"powershell -encodedcommand {encoded('$input')}")
    client.send_command_input(shell_id, command_id, "김경본".encode(), end=False)
    started = time.monotonic()
    with pytest.raises(WinRMOperationTimeoutError):
        client.get_command_output_raw(shell_id, command_id)
    assert time.monotonic() - started >= 0.9  # the server waited OperationTimeout (PT1S) before the fault
    assert host.calls == 0 and server.stats.faults["w:TimedOut"] == 1
    client.send_command_input(shell_id, command_id, " 남근".encode(), end=True)
    assert client.get_command_output(shell_id, command_id) == ("김경본 남근".encode(), b"", 0)
    assert host.calls == 1


# --- stderr and exit codes ---------------------------------------------------------------------------


def _zone_missing(shell: ShellInfo) -> bytes:
    record = ErrorRecordView(
        message="Failed to get the zone information for example.org on server WIN-LAB01.",
        fully_qualified_error_id="WIN32 9601,Get-DnsServerZone",
        category_info=category_info(
            "ObjectNotFound",
            "example.org",
            "root/Microsoft/Windows/DNS/DnsServerZone",
            "Get-DnsServerZone",
            "CimException",
        ),
        position=position_message("Get-DnsServerZone -Name example.org", 1, 1, 17),
        prefix="Get-DnsServerZone : ",
    )
    return error_stderr([record], shell.codepage)


def test_clixml_error_is_status_1_with_cleaned_stderr(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(
        FnHost(lambda line, script, stdin, shell: CommandResult("", _zone_missing(shell), 1))
    )
    result = session(server).run_ps("Get-DnsServerZone -Name example.org")
    assert result.status_code == 1 and result.std_out == b""
    # pywinrm's _clean_error_msg joins the S nodes and strips: the formatted 5.1 error view.
    assert result.std_err == (
        b"Get-DnsServerZone : Failed to get the zone information for example.org on server WIN-LAB01.\n"
        b"At line:1 char:1\n"
        b"+ Get-DnsServerZone -Name example.org\n"
        b"+ ~~~~~~~~~~~~~~~~~\n"
        # 114-character pieces joined by four spaces, then host-wrapped at 119: the cmdlet name is split
        # (windows-dns.md §5, GOW fixture "[Add-DnsServerResourceReco rdA]").
        b"    + CategoryInfo          : ObjectNotFound: "
        b"(example.org:root/Microsoft/Windows/DNS/DnsServerZone) "
        b"[Get-DnsServerZon \n"
        b"   e], CimException\n"
        b"    + FullyQualifiedErrorId : WIN32 9601,Get-DnsServerZone"
    )


def test_raw_stderr_arrives_with_header_chunk_first(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(
        FnHost(lambda line, script, stdin, shell: CommandResult("", _zone_missing(shell), 1))
    )
    client = protocol(server)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, f"powershell -encodedcommand {encoded('x')}")
    stdout, stderr, code = client.get_command_output(shell_id, command_id)
    assert stdout == b"" and code == 1 and stderr.startswith(b'#< CLIXML\r\n<Objs Version="1.1.0.1"')
    assert stderr == _zone_missing(ShellInfo(shell_id, 437, {}, USER))


def test_progress_noise_on_stderr_keeps_exit_code_0(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(
        FnHost(lambda line, script, stdin, shell: CommandResult("[]\r\n", b"", 0)),
        WinRMConfig(progress_noise=True),
    )
    result = session(server).run_ps("Get-DnsServerResourceRecord -ZoneName example.org | ConvertTo-Json")
    # §4: progress-only CLIXML has no S nodes, so pywinrm returns it raw — not a failure.
    assert (result.status_code, result.std_out) == (0, b"[]\r\n")
    assert result.std_err.startswith(b"#< CLIXML\r\n") and b'<Obj S="progress"' in result.std_err
    assert b"Preparing modules for first use." in result.std_err
    # Plain cmd.exe commands are not PowerShell: no progress records.
    assert session(server).run_cmd("echo", ["x"]).std_err == b""


def test_progress_noise_plus_error_cleans_to_the_error_only(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(
        FnHost(lambda line, script, stdin, shell: CommandResult("", _zone_missing(shell), 1)),
        WinRMConfig(progress_noise=True),
    )
    result = session(server).run_ps("x")
    assert result.status_code == 1
    assert result.std_err.startswith(b"Get-DnsServerZone : Failed to get the zone information")
    assert b"progress" not in result.std_err


def test_host_exception_ends_the_command_instead_of_hanging(make_server: Callable[..., WinRMServer]) -> None:
    def broken(line: str, script: str | None, stdin: bytes, shell: ShellInfo) -> CommandResult:
        raise RuntimeError("emulator bug")

    server = make_server(FnHost(broken))
    result = session(server).run_ps("x")
    assert result.status_code == 1 and result.std_err == b"lab host failed\r\n"
    assert [type(exc) for exc in server.host_errors] == [RuntimeError]


# --- limits ------------------------------------------------------------------------------------------


def test_command_line_limit_8191(make_server: Callable[..., WinRMServer]) -> None:
    host = EchoHost()
    server = make_server(host)
    longest = "A" * 3061  # §2: 27 + 4*ceil(2N/3) <= 8191  =>  N <= 3061
    assert len(f"powershell -encodedcommand {encoded(longest)}") == 8191
    assert session(server).run_ps(longest).status_code == 0
    assert server.stats.commands_run == 1
    too_long = session(server).run_ps(longest + "A")
    assert (too_long.status_code, too_long.std_out, too_long.std_err) == (
        1,
        b"The command line is too long.\r\n",
        b"",
    )
    assert server.stats.commands_run == 1 and server.stats.commands_too_long == 1
    # Characters outside the BMP count two UTF-16 code units.
    assert session(server).run_ps("😀" * 1531).status_code == 1


def test_bad_password_is_401_and_invalid_credentials(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server()
    with pytest.raises(InvalidCredentialsError):
        session(server, password="wrong").run_ps("x")
    assert server.stats.unauthorized == 1 and server.stats.shells_opened == 0
    raw = requests.post(server.endpoint, data=b"<x/>", auth=(USER, "wrong"), timeout=10)
    assert raw.status_code == 401
    assert raw.headers["WWW-Authenticate"] == 'Basic realm="WSMAN"' and raw.headers["Content-Length"] == "0"
    # User names are case-insensitive, passwords are not.
    assert (
        winrm.Session(server.endpoint, auth=(USER.lower(), PASSWORD), transport="basic")
        .run_ps("x")
        .status_code
        == 0
    )


def test_request_over_max_envelope_size_is_413(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(EchoHost())
    client = protocol(server)
    shell_id = client.open_shell(codepage=65001)
    command_id = client.run_command(shell_id, f"powershell -encodedcommand {encoded('$input')}")
    client.send_command_input(shell_id, command_id, b"a" * 200_000, end=False)  # Ansible's chunk size fits
    with pytest.raises(WinRMTransportError) as info:
        client.send_command_input(shell_id, command_id, b"a" * 400_000, end=False)  # base64 > 500 KB
    assert info.value.code == 413 and str(info.value) == "Bad HTTP response returned from server. Code 413"
    assert server.stats.too_large == 1


def test_max_envelope_size_is_configurable(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(config=WinRMConfig(max_envelope_size_kb=150))  # pre-2012R2 default
    client = protocol(server)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, f"powershell -encodedcommand {encoded('$input')}")
    with pytest.raises(WinRMTransportError):
        client.send_command_input(shell_id, command_id, b"a" * 120_000, end=True)


def test_large_output_is_split_across_receives(make_server: Callable[..., WinRMServer]) -> None:
    text = "".join(f"record-{n:06d} 남근\r\n" for n in range(40_000))
    server = make_server(FnHost(lambda line, script, stdin, shell: CommandResult(text, b"", 0)))
    client = protocol(server)
    shell_id = client.open_shell(codepage=65001)
    command_id = client.run_command(shell_id, f"powershell -encodedcommand {encoded('dump')}")
    stdout, stderr, code = client.get_command_output(shell_id, command_id)
    assert (stdout.decode("utf-8"), stderr, code) == (text, b"", 0)
    size = len(text.encode("utf-8"))
    # Each ReceiveResponse stays under pywinrm's 153600-byte MaxEnvelopeSize, base64 costs 4/3.
    assert server.stats.requests["Receive"] >= math.ceil(size * 4 / 3 / 153_600)
    assert 100_000 < server.stats.max_response_bytes <= 153_600


def test_extra_running_responses_before_done(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(config=WinRMConfig(running_responses=3))
    result = session(server).run_ps("one two three four")
    assert (result.status_code, result.std_out) == (0, b"one two three four\r\n")
    assert server.stats.requests["Receive"] == 4


def test_first_receive_timeout_fault_is_retried_by_pywinrm(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(config=WinRMConfig(receive_timeouts=1))
    result = session(server).run_ps("x")
    assert (result.status_code, result.std_out) == (0, b"x\r\n")
    assert server.stats.requests["Receive"] == 2 and server.stats.faults == {"w:TimedOut": 1}


def test_unknown_shell_is_the_real_invalid_selectors_fault(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server()
    with pytest.raises(WSManFaultError) as info:
        protocol(server).close_shell("0A6E6A01-8AB2-4037-86CC-BFC826A1244E")
    fault = info.value
    assert (fault.code, fault.fault_code, fault.fault_subcode) == (500, "s:Sender", "w:InvalidSelectors")
    assert fault.wsman_fault_code == 2150858843
    assert "0A6E6A01-8AB2-4037-86CC-BFC826A1244E failed because the shell was not found" in fault.response


def test_unknown_command_id_is_a_fault(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server()
    client = protocol(server)
    shell_id = client.open_shell()
    with pytest.raises(WSManFaultError) as info:
        client.get_command_output_raw(shell_id, str(uuid.uuid4()))
    assert info.value.fault_subcode == "w:InvalidParameter"


def test_max_shells_per_user(make_server: Callable[..., WinRMServer]) -> None:
    server = make_server(config=WinRMConfig(max_shells_per_user=2))
    client = protocol(server)
    first, _second = client.open_shell(), client.open_shell()
    with pytest.raises(WSManFaultError) as info:
        client.open_shell()
    assert info.value.wsman_fault_code == 2150859173
    assert "maximum number of 2 concurrent shells" in info.value.reason
    client.close_shell(first)
    assert client.open_shell()
    assert server.open_shell_count(USER) == 2


def test_idle_shell_expires(make_server: Callable[..., WinRMServer]) -> None:
    clock = FakeClock()
    server = make_server(config=WinRMConfig(idle_timeout_ms=180_000), clock=clock)
    client = protocol(server)
    shell_id = client.open_shell()
    clock.now += 170  # activity within the timeout keeps the shell
    command_id = client.run_command(shell_id, "echo still here")
    assert client.get_command_output(shell_id, command_id) == (b"still here\r\n", b"", 0)
    clock.now += 181
    with pytest.raises(WSManFaultError) as info:
        client.run_command(shell_id, "echo too late")
    assert info.value.wsman_fault_code == 2150858843
    assert server.stats.shells_expired == 1 and server.open_shell_count() == 0


# --- the command-line parser the host relies on ------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "powershell -encodedcommand {b}",
        "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {b}",
        "powershell.exe -enc {b}",
        "POWERSHELL -e {b}",
        "powershell -ec {b}",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -NoProfile -EncodedCommand {b}",
    ],
)
def test_encoded_command_forms(line: str) -> None:
    script = "Write-Output '김경본'"
    assert extract_encoded_script(line.format(b=encoded(script))) == script


@pytest.mark.parametrize(
    "line",
    [
        "cmd /c echo {b}",
        "powershell -Command Write-Output -EncodedCommand {b}",
        "powershell -NoProfile",
        "powershell -EncodedCommand not-base64!",
        "powershell -EncodedCommand QQ==",  # one byte: not UTF-16LE
    ],
)
def test_not_an_encoded_command(line: str) -> None:
    assert extract_encoded_script(line.format(b=encoded("x"))) is None
