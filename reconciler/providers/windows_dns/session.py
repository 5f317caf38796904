"""One WinRM shell per run, and the way a fixed PowerShell program is run in it.

- The shell is opened once with ``winrm.Protocol.open_shell(codepage=65001)`` and reused for every
  read and apply command of the run (winrm-protocol.md §1: ``Session.run_ps`` opens a shell per call
  and uses code page 437).
- Every command line is the same small bootstrap sent with ``-EncodedCommand`` (far below the
  8191-character limit, §2); the program text and the payload (base64 of ASCII JSON) travel on
  stdin in pieces of 200,000 bytes like Ansible's (§2), so no value is ever part of any code.
- Success is decided from the program's ``#RESULT`` line on stdout, never from "stderr is empty":
  progress records on stderr with exit code 0 are noise (§4).
- pywinrm retries a timed-out Receive forever (§3), so every command runs under this module's own
  wall-clock deadline.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import Settings

PROGRAM_DIR = Path(__file__).parent / "ps"
CMD_LIMIT = 8191
STDIN_CHUNK = 200_000
RESULT_PREFIX = "#RESULT "


def program_text(name: str) -> str:
    """A shipped program exactly as it is on disk (the lab pins these texts by SHA-256)."""
    return (PROGRAM_DIR / f"{name}.ps1").read_bytes().decode("utf-8")


def command_line(bootstrap: str) -> str:
    encoded = base64.b64encode(bootstrap.encode("utf-16-le")).decode("ascii")
    line = f"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {encoded}"
    if len(line) > CMD_LIMIT:  # a programming error, never data-dependent
        raise RuntimeError(f"bootstrap command line is {len(line)} characters, over {CMD_LIMIT}")
    return line


def stdin_bytes(program: str, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return program.encode("utf-8") + b"\0" + base64.b64encode(body.encode("ascii"))


class RemoteError(Exception):
    """A command that did not produce a result; ``unknown`` = it may have run (outcome unknown)."""

    def __init__(self, message: str, *, unknown: bool = False, auth: bool = False) -> None:
        super().__init__(message)
        self.unknown = unknown
        self.auth = auth


@dataclass
class RunStats:
    shells: int = 0
    commands: int = 0
    stdin_bytes: int = 0
    stdout_bytes: int = 0


def parse_result(stdout: bytes, stderr: bytes, exit_code: int) -> dict[str, Any]:
    text = stdout.decode("utf-8", errors="replace").lstrip("\ufeff")
    for line in text.splitlines():
        if line.startswith(RESULT_PREFIX):
            try:
                doc = json.loads(line[len(RESULT_PREFIX):])
            except json.JSONDecodeError as exc:
                raise RemoteError(f"the program's result is not valid JSON ({exc.msg} at {exc.pos})",
                                  unknown=True) from None
            if not isinstance(doc, dict):
                raise RemoteError("the program's result is not a JSON object", unknown=True)
            return doc
    detail = stderr_text(stderr) or text.strip()[:300] or "no output"
    raise RemoteError(f"the program printed no result (exit code {exit_code}): {detail}", unknown=True)


def stderr_text(stderr: bytes) -> str:
    """The error lines of CLIXML stderr (``<S S="Error">``), or the raw text."""
    raw = stderr.decode("utf-8", errors="replace")
    if not raw.startswith("#< CLIXML"):
        return raw.strip()[:500]
    lines = [re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), s)
             for s in re.findall(r'<S S="Error">(.*?)</S>', raw, flags=re.S)]
    text = "".join(lines).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())[:500]


class WinRMRunner:
    """Runs programs on one Windows host through one WinRM shell."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = RunStats()
        self._protocol: Any = None
        self._shell: str | None = None
        self._lock = threading.Lock()
        self._bootstrap = program_text("bootstrap")

    # ---- connection -----------------------------------------------------------------------------
    def _connect(self) -> Any:
        import requests.certs
        from winrm.protocol import Protocol

        s = self.settings
        password = s.password.reveal() if s.password is not None else None
        kwargs: dict[str, Any] = {
            "endpoint": s.address, "transport": s.transport, "proxy": None,
            "username": s.username, "password": password,
            "server_cert_validation": "validate" if s.verify_tls else "ignore",
            "ca_trust_path": s.ca_file or requests.certs.where(),
            "read_timeout_sec": s.read_timeout, "operation_timeout_sec": s.operation_timeout,
            "message_encryption": "auto",
        }
        if s.transport == "kerberos":
            kwargs.update({k: v for k, v in s.kerberos.items()
                           if k in ("service", "kerberos_delegation", "kerberos_hostname_override")})
        return Protocol(**kwargs)

    def _ensure_shell(self) -> tuple[Any, str]:
        if self._protocol is None:
            self._protocol = self._connect()
        if self._shell is None:
            self._shell = self._protocol.open_shell(codepage=65001, noprofile=True)
            self.stats.shells += 1
        return self._protocol, self._shell

    # ---- running ---------------------------------------------------------------------------------
    def run(self, program: str, payload: dict[str, Any], *, deadline: float | None = None) -> dict[str, Any]:
        """Run one program with its payload; returns its parsed result document."""
        limit = deadline if deadline is not None else self.settings.timeout
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = self._run(program, payload)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        with self._lock:
            worker = threading.Thread(target=work, name="winrm-command", daemon=True)
            worker.start()
            worker.join(limit)
            if worker.is_alive():
                # the client would wait forever (winrm-protocol.md §3); give up this shell
                self._protocol, self._shell = None, None
                raise RemoteError(f"no result within {limit:g} s (the timeout option); the command may still be "
                                  "running on the server", unknown=True)
        if "error" in box:
            raise _translate(box["error"], self.settings)
        return box["value"]

    def _run(self, program: str, payload: dict[str, Any]) -> dict[str, Any]:
        protocol, shell = self._ensure_shell()
        data = stdin_bytes(program, payload)
        command_id = protocol.run_command(shell, command_line(self._bootstrap), console_mode_stdin=False)
        self.stats.commands += 1
        self.stats.stdin_bytes += len(data)
        for start in range(0, len(data), STDIN_CHUNK):
            piece = data[start:start + STDIN_CHUNK]
            protocol.send_command_input(shell, command_id, piece, end=start + STDIN_CHUNK >= len(data))
        stdout, stderr, code = protocol.get_command_output(shell, command_id)
        self.stats.stdout_bytes += len(stdout)
        try:
            protocol.cleanup_command(shell, command_id)
        except Exception:  # noqa: S110 - the result is already in hand; a failed Signal changes nothing
            pass
        return parse_result(stdout, stderr, code)

    def close(self) -> None:
        with self._lock:
            if self._protocol is not None and self._shell is not None:
                try:
                    self._protocol.close_shell(self._shell)
                except Exception:  # noqa: S110 - closing must not hide the run's outcome
                    pass
            self._protocol, self._shell = None, None


def _translate(exc: BaseException, settings: Settings) -> Exception:
    """A transport failure as a message that names the target and never a credential."""
    if isinstance(exc, RemoteError):
        return exc
    from winrm import exceptions as wx

    where = settings.address
    if isinstance(exc, wx.InvalidCredentialsError):
        return RemoteError(f"{where} rejected the credentials of {settings.username} (HTTP 401)", auth=True)
    if isinstance(exc, wx.WinRMTransportError) and getattr(exc, "code", None) == 413:
        return RemoteError(f"{where} refused a request as too large (HTTP 413, MaxEnvelopeSizekb)", unknown=True)
    if isinstance(exc, wx.WSManFaultError):
        return RemoteError(f"{where} answered a WS-Management fault: {exc.reason or exc}", unknown=True)
    name = type(exc).__name__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or name == "SSLError":
        return RemoteError(f"TLS certificate of {where} could not be verified (set tls.ca_file to the CA that "
                           "issued it; certificate validation stays on)")
    if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "NewConnectionError", "MaxRetryError"):
        return RemoteError(f"cannot reach {where}: {name}", unknown=name == "ReadTimeout")
    if isinstance(exc, wx.WinRMError):
        return RemoteError(f"{where}: {exc}")
    return RemoteError(f"{where}: unexpected {name}: {text[:300]}", unknown=True)
