"""Loopback WinRM endpoint: WS-Management / WinRS as pywinrm 0.5.0 speaks it (winrm-protocol.md §9-§10).

A threaded HTTP server on 127.0.0.1 (reconciler/lab/common.py) that answers ``POST /wsman`` SOAP
envelopes: transfer ``Create``/``Delete`` of a ``cmd`` shell, and the shell actions ``Command``,
``Send``, ``Receive``, ``Signal``. Commands are handed to a :class:`~.host.PowerShellHost`.

Fidelity (sources in winrm-protocol.md unless named):
- Basic auth; a mismatch is 401 with ``WWW-Authenticate: Basic realm="WSMAN"`` (§7, §10).
- Every answer: ``a:Action`` = request action + ``Response``, a fresh ``a:MessageID``, ``a:RelatesTo``
  = the request's MessageID, ``Content-Length`` always (§10). CreateResponse carries
  ``x:ResourceCreated`` and the ``rsp:Shell`` block real servers send (pywinrm ``winrm_responses``).
- stdout is encoded with ``WINRS_CODEPAGE`` (437 default: unmappable → '?'; 65001 = UTF-8) (§5).
- The 8191-character cmd.exe line limit answers ``The command line is too long.`` on stdout (§2).
- A request body over ``MaxEnvelopeSizekb`` is HTTP 413 (§3); a ReceiveResponse never exceeds the
  client's ``w:MaxEnvelopeSize``: longer output goes out over several Receives, ``Running`` until the
  last (WSMV 2.2.4.27).
- A command that reads stdin runs only after ``End="true"``; a Receive that waits longer than the
  request's ``w:OperationTimeout`` gets the 2150858793 ``w:TimedOut`` fault pywinrm retries (§3).
- Faults are HTTP 500 SOAP faults in the real shape (pywinrm ``test_exceptions.py`` captures).
- Quotas: MaxShellsPerUser and IdleTimeout (WSMV 2.2.4.42 defaults 30 and 180000 ms).
"""

from __future__ import annotations

import base64
import binascii
import collections
import hmac
import re
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from reconciler.lab.common import LabControl, LabHandler, LabHTTPServer
from reconciler.lab.windows_dns.clixml import CLIXML_HEADER, insert_progress
from reconciler.lab.windows_dns.host import (
    CommandResult,
    PowerShellHost,
    ShellInfo,
    codec_for_codepage,
    console_encode,
    extract_encoded_script,
)

__all__ = ["WSMAN_PATH", "WSManFaultSpec", "WinRMConfig", "WinRMServer", "WinRMStats"]

WSMAN_PATH = "/wsman"

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDR = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
NS_MSWSMAN = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"

RESOURCE_CMD = f"{NS_SHELL}/cmd"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
STATE_DONE = f"{NS_SHELL}/CommandState/Done"
STATE_RUNNING = f"{NS_SHELL}/CommandState/Running"
SIGNAL_TERMINATE = f"{NS_SHELL}/signal/terminate"

_TRANSFER_ACTIONS = {"Create", "Delete"}
_SHELL_ACTIONS = {"Command", "Send", "Receive", "Signal"}
_CLIENT_MAX_ENVELOPE = 153600  # pywinrm always sends this (§3); used when a request omits it


@dataclass
class WinRMConfig:
    """Server-side limits and fidelity switches. Defaults are the documented Windows ones."""

    max_envelope_size_kb: int = 500          # §3: WS2012R2+ default (historically 150)
    max_shells_per_user: int = 30            # WSMV 2.2.4.42 (real hosts: 20, 5 on Win7/2008)
    idle_timeout_ms: int = 180_000           # WSMV 2.2.4.42 (a 2017 dump: 7200000)
    command_line_limit: int = 8191           # §2: cmd.exe (WINRS_SKIP_CMD_SHELL=FALSE)
    process_line_limit: int = 32767          # CreateProcess limit when cmd.exe is skipped (inferred)
    too_long_exit_code: int = 1              # §2: value unverified
    progress_noise: bool = False             # §4: "Preparing modules…" CLIXML on stderr, exit code kept
    progress_activity: str = "Preparing modules for first use."
    running_responses: int = 0               # extra Receive answers in state Running before Done
    receive_timeouts: int = 0                # first N Receives of each command answer w:TimedOut
    machine: str = "WIN-LAB01"               # Machine attribute of faults, rsp:Owner domain part
    default_operation_timeout: float = 60.0  # when a request carries no w:OperationTimeout


class WinRMStats:
    """Counters for tests and benchmarks (round trips). Thread-safe; ``reset()`` zeroes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: collections.Counter[str] = collections.Counter()  # by action: Create, Receive…
            self.http_requests = 0        # every HTTP request to the endpoint, incl. 401/413
            self.unauthorized = 0
            self.too_large = 0
            self.faults: collections.Counter[str] = collections.Counter()  # by subcode, e.g. "w:TimedOut"
            self.shells_opened = 0
            self.shells_closed = 0
            self.shells_expired = 0
            self.commands_started = 0     # Command requests accepted
            self.commands_run = 0         # host.run invocations
            self.commands_too_long = 0
            self.stdin_bytes = 0
            self.max_response_bytes = 0

    def bump(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def count_action(self, action: str) -> None:
        with self._lock:
            self.requests[action] += 1

    def count_fault(self, subcode: str) -> None:
        with self._lock:
            self.faults[subcode] += 1

    def response_size(self, size: int) -> None:
        with self._lock:
            self.max_response_bytes = max(self.max_response_bytes, size)

    @property
    def round_trips(self) -> int:
        return self.http_requests

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests), "http_requests": self.http_requests,
                "unauthorized": self.unauthorized, "too_large": self.too_large, "faults": dict(self.faults),
                "shells_opened": self.shells_opened, "shells_closed": self.shells_closed,
                "shells_expired": self.shells_expired, "commands_started": self.commands_started,
                "commands_run": self.commands_run, "commands_too_long": self.commands_too_long,
                "stdin_bytes": self.stdin_bytes, "max_response_bytes": self.max_response_bytes,
            }


@dataclass
class WSManFaultSpec:
    """One SOAP fault: ``s:Code``/``s:Subcode``, reason text, ``f:WSManFault Code``."""

    code: str              # "s:Sender" | "s:Receiver"
    subcode: str           # e.g. "w:TimedOut"
    reason: str
    wsman_code: int
    message: str = ""
    fault_detail: str | None = None


class _Fault(Exception):
    def __init__(self, spec: WSManFaultSpec) -> None:
        super().__init__(spec.reason)
        self.spec = spec


# --- the faults the endpoint answers ----------------------------------------------------------------

_TIMED_OUT_TEXT = ("The WS-Management service cannot complete the operation within the time specified in "
                   "OperationTimeout.  ")


def _timed_out() -> WSManFaultSpec:
    # pywinrm tests/test_exceptions.py test_wsman_fault_known_fault (captured from Server 2022).
    return WSManFaultSpec("s:Receiver", "w:TimedOut", _TIMED_OUT_TEXT, 2150858793, _TIMED_OUT_TEXT)


def _shell_not_found(shell_id: str) -> WSManFaultSpec:
    # pywinrm tests winrm_responses/shells.py CLOSE_SHELL_RESPONSE_ALREADY_CLOSED; WinRb/WinRM#146, #253.
    return WSManFaultSpec(
        "s:Sender", "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid "
        "selectors for the resource. ",
        2150858843,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not "
        "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer "
        "exists on the server. Provide the correct ShellId or create a new shell and retry the operation. ",
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors")


def _missing_shell_selector() -> WSManFaultSpec:
    # Openwsman/openwsman#83 (text); WSManFault code unverified.
    return WSManFaultSpec(
        "s:Sender", "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid "
        "selectors for the resource. ",
        2150858843,
        "The Windows Remote Shell cannot process the request because it requires the following selector: "
        "ShellId. Retry with the correct selector. ",
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors")


def _max_shells(limit: int) -> WSManFaultSpec:
    # Message and code 2150859173: test-kitchen#656, hashicorp/vagrant#7489. Subcode unverified.
    text = ("The WS-Management service cannot process the request. This user is allowed a maximum number "
            f"of {limit} concurrent shells, which has been exceeded. Close existing shells or raise the "
            "quota for this user. ")
    return WSManFaultSpec("s:Receiver", "w:InternalError", text, 2150859173, text)


def _invalid_parameter(detail: str = "") -> WSManFaultSpec:
    # masterzen/winrm#80 (empty command). WSManFault code 87 = ERROR_INVALID_PARAMETER (unverified).
    return WSManFaultSpec("s:Sender", "w:InvalidParameter", "The parameter is incorrect. ", 87,
                          detail or "The parameter is incorrect. ")


def _schema_validation(detail: str) -> WSManFaultSpec:
    # Code 2150858817 appears in pywinrm's tests (SchemaValidationError); texts unverified.
    reason = ("The SOAP XML in the message does not match the corresponding XML schema definition. "
              "Change the XML and retry. ")
    return WSManFaultSpec("s:Sender", "w:SchemaValidationError", reason, 2150858817, detail)


def _action_not_supported(action: str) -> WSManFaultSpec:
    # Shape and code (ERROR_WSMAN_INVALID_ACTIONURI) unverified.
    return WSManFaultSpec("s:Sender", "a:ActionNotSupported",
                          "The WS-Management service cannot process the request because the WS-Addressing "
                          "Action URI in the request is not compatible with the resource. ", 2150858753,
                          f"Unsupported action: {action}")


def _resource_not_found() -> WSManFaultSpec:
    # ERROR_WSMAN_RESOURCE_NOT_FOUND 0x80338000; subcode unverified. The lab serves only the cmd shell.
    text = ("The WS-Management service cannot process the request. The service cannot find the resource "
            "identified by the resource URI and selectors. ")
    return WSManFaultSpec("s:Sender", "w:DestinationUnreachable", text, 2150858752, text)


def _envelope_too_small(max_env: int) -> WSManFaultSpec:
    # HRESULT 0x80338111 (§3: "exceeded the configured MaxEnvelopeSize quota"); subcode unverified.
    text = (f"The WS-Management service cannot process the request because the response does not fit in "
            f"the MaxEnvelopeSize of {max_env} bytes requested by the client. ")
    return WSManFaultSpec("s:Sender", "w:EncodingLimit", text, 2150859025, text)


# --- state -------------------------------------------------------------------------------------------


@dataclass
class _Output:
    """Output of a finished command, handed out over one or more ReceiveResponses."""

    pieces: collections.deque[tuple[str, bytes]]
    exit_code: int
    total: int
    running_sent: int = 0
    finished: bool = False


@dataclass
class _Command:
    command_id: str
    command_line: str
    script: str | None
    needs_stdin: bool
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    output: _Output | None = None
    receives: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Shell:
    info: ShellInfo
    idle_timeout_ms: int
    created: float
    last_activity: float
    client_ip: str
    commands: dict[str, _Command] = field(default_factory=dict)


@dataclass
class _Request:
    action: str              # short name: Create, Command, …
    message_id: str
    max_envelope: int
    operation_timeout: float
    selectors: dict[str, str]
    options: dict[str, str]
    body: ET.Element


_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def _parse_duration(text: str | None) -> float | None:
    """xs:duration as WS-Man uses it (``PT20S``, ``PT20.000S``, ``P0DT0H0M0S``) → seconds."""
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def _duration_text(seconds: float) -> str:
    whole = int(seconds)
    days, rem = divmod(whole, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    return f"P{days}DT{hours}H{minutes}M{secs}S"


def _q(tag: str, ns: str) -> str:
    return f"{{{ns}}}{tag}"


class WinRMServer(LabHTTPServer):
    """The lab's WinRM endpoint. ``server.endpoint`` is ``http://127.0.0.1:<port>/wsman``.

    ``host`` runs the commands; ``credentials`` maps user name → password (Basic auth, user names
    compared case-insensitively like Windows accounts). ``clock`` drives the idle timeout (tests pass
    a fake one); waits for output use real time.
    """

    def __init__(self, host: PowerShellHost, credentials: Mapping[str, str],
                 config: WinRMConfig | None = None, *, control: LabControl | None = None, port: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.config = config or WinRMConfig()
        self.stats = WinRMStats()
        self.host_errors: list[BaseException] = []
        self._credentials = {name.casefold(): password for name, password in credentials.items()}
        self._clock = clock
        self._lock = threading.Lock()
        self._shells: dict[str, _Shell] = {}
        super().__init__(_WinRMHandler, control or LabControl(), self, port)

    # --- public helpers -----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"{self.url}{WSMAN_PATH}"

    def open_shell_count(self, user: str | None = None) -> int:
        with self._lock:
            return sum(1 for shell in self._shells.values()
                       if user is None or shell.info.user.casefold() == user.casefold())

    def start(self) -> WinRMServer:
        # Same as LabHTTPServer.start, with a short poll interval so stop() returns in ~50 ms, not 0.5 s.
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"lab-winrm-{self.port}", daemon=True)
        self._thread.start()
        return self

    def serving(self) -> _Serving:
        """``with WinRMServer(...).serving() as server:`` starts and always stops it."""
        return _Serving(self)

    # --- HTTP level ---------------------------------------------------------------------------------

    def authenticate(self, header: str | None) -> str | None:
        """The user name for a valid ``Authorization: Basic`` header, else None."""
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        expected = self._credentials.get(user.casefold())
        if not sep or expected is None:
            return None
        if not hmac.compare_digest(password.encode("utf-8"), expected.encode("utf-8")):
            return None
        return user

    def handle_envelope(self, body: bytes, user: str, client_ip: str) -> tuple[int, bytes]:
        """Process one authenticated SOAP request; returns (HTTP status, response body)."""
        message_id = ""
        try:
            request = self._parse(body)
            message_id = request.message_id
            self.stats.count_action(request.action)
            self._expire_idle()
            handler = getattr(self, f"_do_{request.action.lower()}")
            response = handler(request, user, client_ip)
        except _Fault as fault:
            self.stats.count_fault(fault.spec.subcode)
            response = self._fault_envelope(fault.spec, message_id)
            self.stats.response_size(len(response))
            return 500, response
        self.stats.response_size(len(response))
        return 200, response

    # --- parsing ------------------------------------------------------------------------------------

    def _parse(self, body: bytes) -> _Request:
        if b"<!DOCTYPE" in body[:4096]:
            raise _Fault(_schema_validation("DTDs are not allowed"))
        try:
            root = ET.fromstring(body)  # noqa: S314 - loopback lab endpoint; DTDs rejected above
        except ET.ParseError as exc:
            raise _Fault(_schema_validation(f"XML is not well formed: {exc}")) from None
        header = root.find(_q("Header", NS_SOAP))
        soap_body = root.find(_q("Body", NS_SOAP))
        if root.tag != _q("Envelope", NS_SOAP) or header is None or soap_body is None:
            raise _Fault(_schema_validation("not a SOAP 1.2 envelope"))
        action_uri = (header.findtext(_q("Action", NS_ADDR)) or "").strip()
        message_id = (header.findtext(_q("MessageID", NS_ADDR)) or "").strip()
        action = action_uri.rsplit("/", 1)[-1]
        known = ((action in _TRANSFER_ACTIONS and action_uri == f"{NS_TRANSFER}/{action}")
                 or (action in _SHELL_ACTIONS and action_uri == f"{NS_SHELL}/{action}"))
        if not known:
            raise _Fault(_action_not_supported(action_uri))
        resource = (header.findtext(_q("ResourceURI", NS_WSMAN)) or "").strip()
        if resource != RESOURCE_CMD:
            raise _Fault(_resource_not_found())
        max_env_text = header.findtext(_q("MaxEnvelopeSize", NS_WSMAN))
        try:
            max_envelope = int(max_env_text) if max_env_text else _CLIENT_MAX_ENVELOPE
        except ValueError:
            raise _Fault(_schema_validation("MaxEnvelopeSize is not a number")) from None
        timeout = _parse_duration(header.findtext(_q("OperationTimeout", NS_WSMAN)))
        selectors = {sel.get("Name", ""): (sel.text or "").strip()
                     for sel in header.iterfind(f"{_q('SelectorSet', NS_WSMAN)}/{_q('Selector', NS_WSMAN)}")}
        options = {opt.get("Name", ""): (opt.text or "").strip()
                   for opt in header.iterfind(f"{_q('OptionSet', NS_WSMAN)}/{_q('Option', NS_WSMAN)}")}
        return _Request(action, message_id, max_envelope,
                        timeout if timeout is not None else self.config.default_operation_timeout,
                        selectors, options, soap_body)

    # --- shells -------------------------------------------------------------------------------------

    def _expire_idle(self) -> None:
        now = self._clock()
        with self._lock:
            expired = [sid for sid, shell in self._shells.items()
                       if (now - shell.last_activity) * 1000 > shell.idle_timeout_ms]
            for sid in expired:
                del self._shells[sid]
        if expired:
            self.stats.bump("shells_expired", len(expired))

    def _shell_for(self, request: _Request, user: str) -> _Shell:
        shell_id = request.selectors.get("ShellId")
        if not shell_id:
            raise _Fault(_missing_shell_selector())
        with self._lock:
            shell = self._shells.get(shell_id.upper())
            # Another user's shell is as good as missing (WinRM scopes shells to their owner).
            if shell is None or shell.info.user.casefold() != user.casefold():
                raise _Fault(_shell_not_found(shell_id))
            shell.last_activity = self._clock()
            return shell

    def _do_create(self, request: _Request, user: str, client_ip: str) -> bytes:
        shell_el = request.body.find(_q("Shell", NS_SHELL))
        if shell_el is None:
            raise _Fault(_schema_validation("rsp:Shell is missing"))
        codepage_text = request.options.get("WINRS_CODEPAGE", "437")
        try:
            codepage = int(codepage_text)
        except ValueError:
            raise _Fault(_invalid_parameter(f"WINRS_CODEPAGE {codepage_text!r} is not a number")) from None
        if codec_for_codepage(codepage) is None:
            raise _Fault(_invalid_parameter(f"code page {codepage} is not supported"))  # unverified
        env = {var.get("Name", ""): var.text or ""
               for var in shell_el.iterfind(f"{_q('Environment', NS_SHELL)}/{_q('Variable', NS_SHELL)}")}
        idle_ms = self.config.idle_timeout_ms
        requested = _parse_duration(shell_el.findtext(_q("IdleTimeOut", NS_SHELL)))
        if requested is not None and 0 < requested * 1000 < idle_ms:
            idle_ms = int(requested * 1000)  # a client may ask for less, not more (inferred)
        now = self._clock()
        shell_id = str(uuid.uuid4()).upper()
        with self._lock:
            owned = sum(1 for s in self._shells.values() if s.info.user.casefold() == user.casefold())
            if owned >= self.config.max_shells_per_user:
                raise _Fault(_max_shells(self.config.max_shells_per_user))
            info = ShellInfo(shell_id=shell_id, codepage=codepage, env=env, user=user)
            self._shells[shell_id] = _Shell(info, idle_ms, now, now, client_ip)
        self.stats.bump("shells_opened")
        body = (
            f"<x:ResourceCreated><a:Address>{escape(self.endpoint)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{RESOURCE_CMD}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            f"</x:ResourceCreated>"
            f'<rsp:Shell xmlns:rsp="{NS_SHELL}"><rsp:ShellId>{shell_id}</rsp:ShellId>'
            f"<rsp:ResourceUri>{RESOURCE_CMD}</rsp:ResourceUri>"
            f"<rsp:Owner>{escape(self.config.machine)}\\{escape(user)}</rsp:Owner>"
            f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP>"
            f"<rsp:IdleTimeOut>PT{idle_ms / 1000:.3f}S</rsp:IdleTimeOut>"
            f"<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            f"<rsp:ShellRunTime>{_duration_text(0)}</rsp:ShellRunTime>"
            f"<rsp:ShellInactivity>{_duration_text(0)}</rsp:ShellInactivity></rsp:Shell>"
        )
        return self._envelope("Create", request.message_id, body)

    def _do_delete(self, request: _Request, user: str, client_ip: str) -> bytes:
        shell = self._shell_for(request, user)
        with self._lock:
            self._shells.pop(shell.info.shell_id, None)
        self.stats.bump("shells_closed")
        return self._envelope("Delete", request.message_id, "")

    # --- commands -----------------------------------------------------------------------------------

    def _command_for(self, shell: _Shell, command_id: str | None) -> _Command:
        command = shell.commands.get((command_id or "").upper())
        if command is None:
            # Fault shape for an unknown CommandId unverified.
            raise _Fault(_invalid_parameter(f"CommandId {command_id} is not known in this shell"))
        return command

    def _do_command(self, request: _Request, user: str, client_ip: str) -> bytes:
        shell = self._shell_for(request, user)
        line_el = request.body.find(_q("CommandLine", NS_SHELL))
        if line_el is None:
            raise _Fault(_schema_validation("rsp:CommandLine is missing"))
        command_text = (line_el.findtext(_q("Command", NS_SHELL)) or "").strip()
        if not command_text:
            raise _Fault(_invalid_parameter())  # masterzen/winrm#80
        arguments = [arg.text or "" for arg in line_el.iterfind(_q("Arguments", NS_SHELL))]
        command_line = " ".join([command_text, *arguments])
        skip_cmd = request.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        command_id = str(uuid.uuid4()).upper()
        self.stats.bump("commands_started")
        if skip_cmd and len(command_line) > self.config.process_line_limit:
            raise _Fault(_invalid_parameter("The filename or extension is too long. "))  # unverified
        if not skip_cmd and len(command_line) > self.config.command_line_limit:
            # §2: cmd.exe refuses before anything runs; message on stdout, exit code unverified.
            command = _Command(command_id, command_line, None, needs_stdin=False, started=True)
            stdout = console_encode("The command line is too long.\r\n", shell.info.codepage)
            command.output = _Output(collections.deque([("stdout", stdout)]), self.config.too_long_exit_code,
                                     len(stdout))
            command.done.set()
            self.stats.bump("commands_too_long")
        else:
            script = extract_encoded_script(command_line)
            needs_stdin = bool(self.host.reads_stdin(command_line, script))
            command = _Command(command_id, command_line, script, needs_stdin)
        with self._lock:
            shell.commands[command_id] = command
        if not command.started and not command.needs_stdin:
            self._start(shell, command)
        body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
        return self._envelope("Command", request.message_id, body)

    def _do_send(self, request: _Request, user: str, client_ip: str) -> bytes:
        shell = self._shell_for(request, user)
        stream = request.body.find(f"{_q('Send', NS_SHELL)}/{_q('Stream', NS_SHELL)}")
        if stream is None or stream.get("Name") != "stdin":
            raise _Fault(_invalid_parameter("rsp:Send needs a stdin rsp:Stream"))
        command = self._command_for(shell, stream.get("CommandId"))
        try:
            data = base64.b64decode((stream.text or "").strip(), validate=True)
        except binascii.Error:
            raise _Fault(_schema_validation("stdin is not base64")) from None
        start = False
        with command.lock:
            if command.stdin_closed:
                raise _Fault(_invalid_parameter("stdin of this command is already closed"))  # unverified
            command.stdin.extend(data)
            if (stream.get("End") or "").lower() == "true":
                command.stdin_closed = True
                start = command.needs_stdin and not command.started
        self.stats.bump("stdin_bytes", len(data))
        if start:
            self._start(shell, command)
        return self._envelope("Send", request.message_id, "<rsp:SendResponse/>")

    def _start(self, shell: _Shell, command: _Command) -> None:
        with command.lock:
            if command.started:
                return
            command.started = True
            stdin = bytes(command.stdin)
        info = ShellInfo(shell.info.shell_id, shell.info.codepage, dict(shell.info.env), shell.info.user)
        worker = threading.Thread(target=self._run_host, args=(info, command, stdin), daemon=True,
                                  name=f"winrs-{command.command_id[:8]}")
        worker.start()

    def _run_host(self, info: ShellInfo, command: _Command, stdin: bytes) -> None:
        self.stats.bump("commands_run")
        try:
            result = self.host.run(command.command_line, command.script, stdin, info)
        except Exception as exc:  # a broken host must not hang the client; the test reads host_errors
            self.host_errors.append(exc)
            result = CommandResult("", console_encode("lab host failed\r\n", info.codepage), 1)
        stdout = console_encode(result.stdout, info.codepage)
        stderr = result.stderr
        if self.config.progress_noise and command.script is not None:
            stderr = insert_progress(stderr, info.codepage, self.config.progress_activity)
        pieces: collections.deque[tuple[str, bytes]] = collections.deque()
        if stdout:
            pieces.append(("stdout", stdout))
        header = CLIXML_HEADER.encode("ascii")
        if stderr.startswith(header) and len(stderr) > len(header):
            # Real hosts deliver the CLIXML header as its own chunk (pywinrm conftest capture).
            pieces.extend([("stderr", header), ("stderr", stderr[len(header):])])
        elif stderr:
            pieces.append(("stderr", stderr))
        command.output = _Output(pieces, result.exit_code, len(stdout) + len(stderr))
        command.done.set()

    def _do_receive(self, request: _Request, user: str, client_ip: str) -> bytes:
        shell = self._shell_for(request, user)
        desired = request.body.find(f"{_q('Receive', NS_SHELL)}/{_q('DesiredStream', NS_SHELL)}")
        if desired is None:
            raise _Fault(_schema_validation("rsp:DesiredStream is missing"))
        command = self._command_for(shell, desired.get("CommandId"))
        with command.lock:
            command.receives += 1
            forced_timeout = command.receives <= self.config.receive_timeouts
        if forced_timeout or not command.done.wait(timeout=max(request.operation_timeout, 0.0)):
            raise _Fault(_timed_out())
        shell.last_activity = self._clock()
        assert command.output is not None
        with command.lock:
            return self._receive_response(request, command, command.output)

    def _receive_response(self, request: _Request, command: _Command, output: _Output) -> bytes:
        cid = command.command_id
        final_tail = (f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>'
                      f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>'
                      f'<rsp:CommandState CommandId="{cid}" State="{STATE_DONE}">'
                      f"<rsp:ExitCode>{output.exit_code}</rsp:ExitCode></rsp:CommandState>")
        base = len(self._envelope("Receive", request.message_id,
                                  f"<rsp:ReceiveResponse>{final_tail}</rsp:ReceiveResponse>"))
        per_stream = len(f'<rsp:Stream Name="stdout" CommandId="{cid}"></rsp:Stream>')
        budget = request.max_envelope - base
        if budget < per_stream + 4 and output.pieces:
            raise _Fault(_envelope_too_small(request.max_envelope))
        running_target = self.config.running_responses
        cap = None
        if output.running_sent < running_target:
            # Spread the output over the extra Running answers (and the last one).
            cap = max(1, -(-output.total // (running_target + 1)))
        streams: list[str] = []
        taken = 0
        while output.pieces and budget >= per_stream + 4 and (cap is None or taken < cap):
            name, data = output.pieces[0]
            room = ((budget - per_stream) // 4) * 3
            if cap is not None:
                room = min(room, cap - taken)
            chunk = data[:room]
            if len(chunk) < len(data):
                output.pieces[0] = (name, data[len(chunk):])
            else:
                output.pieces.popleft()
            encoded = base64.b64encode(chunk).decode("ascii")
            streams.append(f'<rsp:Stream Name="{name}" CommandId="{cid}">{encoded}</rsp:Stream>')
            budget -= per_stream + len(encoded)
            taken += len(chunk)
        done = not output.pieces and output.running_sent >= running_target
        if done:
            output.finished = True
            tail = final_tail
        else:
            if output.running_sent < running_target:
                output.running_sent += 1
            tail = f'<rsp:CommandState CommandId="{cid}" State="{STATE_RUNNING}"/>'
        response = self._envelope("Receive", request.message_id,
                                  f"<rsp:ReceiveResponse>{''.join(streams)}{tail}</rsp:ReceiveResponse>")
        if len(response) > request.max_envelope:  # internal guard: never send what the client refuses
            raise AssertionError("ReceiveResponse exceeds the client's MaxEnvelopeSize")
        return response

    def _do_signal(self, request: _Request, user: str, client_ip: str) -> bytes:
        shell = self._shell_for(request, user)
        signal = request.body.find(_q("Signal", NS_SHELL))
        if signal is None:
            raise _Fault(_schema_validation("rsp:Signal is missing"))
        command = self._command_for(shell, signal.get("CommandId"))
        code = (signal.findtext(_q("Code", NS_SHELL)) or "").strip()
        if code == SIGNAL_TERMINATE:
            with self._lock:
                shell.commands.pop(command.command_id, None)
        return self._envelope("Signal", request.message_id, "<rsp:SignalResponse/>")

    # --- envelopes ----------------------------------------------------------------------------------

    @staticmethod
    def _envelope(action: str, relates_to: str, body: str) -> bytes:
        namespace = NS_TRANSFER if action in _TRANSFER_ACTIONS else NS_SHELL
        return (
            f'<s:Envelope xml:lang="en-US" xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDR}" xmlns:x="{NS_TRANSFER}" '
            f'xmlns:w="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}" xmlns:p="{NS_MSWSMAN}">'
            f"<s:Header><a:Action>{namespace}/{action}Response</a:Action>"
            f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
            f"<a:To>{ANONYMOUS}</a:To><a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
            f"<s:Body>{body}</s:Body></s:Envelope>"
        ).encode()

    def _fault_envelope(self, spec: WSManFaultSpec, relates_to: str) -> bytes:
        detail = f"<w:FaultDetail>{spec.fault_detail}</w:FaultDetail>" if spec.fault_detail else ""
        relates = f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>" if relates_to else ""
        return (
            f'<s:Envelope xml:lang="en-US" xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDR}" xmlns:x="{NS_TRANSFER}" '
            f'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
            f'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="{NS_WSMAN}" '
            f'xmlns:p="{NS_MSWSMAN}">'
            f"<s:Header><a:Action>{FAULT_ACTION}</a:Action>"
            f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID><a:To>{ANONYMOUS}</a:To>{relates}"
            f"</s:Header><s:Body><s:Fault><s:Code><s:Value>{spec.code}</s:Value>"
            f"<s:Subcode><s:Value>{spec.subcode}</s:Value></s:Subcode></s:Code>"
            f'<s:Reason><s:Text xml:lang="en-US">{escape(spec.reason)}</s:Text></s:Reason>'
            f"<s:Detail>{detail}<f:WSManFault xmlns:f={quoteattr(NS_FAULT)} Code=\"{spec.wsman_code}\" "
            f"Machine={quoteattr(self.config.machine)}><f:Message>{escape(spec.message or spec.reason)}"
            f"</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>"
        ).encode()


class _Serving:
    def __init__(self, server: WinRMServer) -> None:
        self.server = server

    def __enter__(self) -> WinRMServer:
        return self.server.start()

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class _WinRMHandler(LabHandler):
    server: WinRMServer  # type: ignore[assignment]

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle + the client's delayed ACK
        # add ~40 ms to every round trip and would distort the benchmarks' latency model.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _dispatch(self, method: str) -> None:
        # LabHandler.read_body caches the body on the handler, and a keep-alive connection (pywinrm's
        # requests.Session) reuses the handler: forget the previous request's body first.
        self._body = None
        super()._dispatch(method)

    def handle_request(self, method: str) -> None:
        server = self.server
        body = self.read_body()  # always drained, so keep-alive stays in step
        server.stats.bump("http_requests")
        if self.path.split("?", 1)[0] != WSMAN_PATH:
            self.reply(404)
            return
        if method != "POST":
            self.reply(405, headers={"Allow": "POST"})
            return
        user = server.authenticate(self.headers.get("Authorization"))
        if user is None:
            server.stats.bump("unauthorized")
            self.reply(401, headers={"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        if len(body) > server.config.max_envelope_size_kb * 1024:
            server.stats.bump("too_large")
            self.reply(413)
            self.close_connection = True
            return
        status, response = server.handle_envelope(body, user, self.client_address[0])
        self.reply(status, response, {"Content-Type": "application/soap+xml;charset=UTF-8"})
