"""The seam between the lab's WinRS endpoint (wsman.py) and whatever runs the commands.

The endpoint speaks WS-Management; a *host* plays powershell.exe / cmd.exe behind it. The emulated
Windows DNS server plugs in here by implementing :class:`PowerShellHost`; this module also carries the
helpers both sides need (decoding ``-EncodedCommand``, console code pages) and :class:`EchoHost`, a tiny
host for protocol tests.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import ntpath
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "CommandResult",
    "EchoHost",
    "PowerShellHost",
    "ShellInfo",
    "codec_for_codepage",
    "console_decode",
    "console_encode",
    "extract_encoded_script",
]


@dataclass
class ShellInfo:
    """What the shell was opened with (rsp:Shell body and WINRS_* options of the Create request)."""

    shell_id: str
    codepage: int
    env: dict[str, str]
    user: str


@dataclass
class CommandResult:
    """What the command leaves behind.

    ``stdout`` is text; the endpoint encodes it with the shell's code page (winrm-protocol.md §5).
    ``stderr`` is sent as is: already CLIXML bytes (see clixml.py, encoded with the code page, as
    PowerShell does) or plain bytes (cmd.exe messages).
    """

    stdout: str
    stderr: bytes
    exit_code: int


@runtime_checkable
class PowerShellHost(Protocol):
    """Runs one WinRS command.

    ``command_line`` is the full line (``rsp:Command`` plus ``rsp:Arguments``); ``script`` is the decoded
    ``-EncodedCommand`` text or None when the line is not such a PowerShell invocation.
    ``run`` may be called from a worker thread; it must not block forever unless that is the point of
    the test (pywinrm then retries the Receive timeout forever, winrm-protocol.md §3).
    """

    def run(self, command_line: str, script: str | None, stdin: bytes, shell: ShellInfo) -> CommandResult: ...

    def reads_stdin(self, command_line: str, script: str | None) -> bool:
        """True when the command consumes stdin: the endpoint then runs it only after ``End="true"``."""
        ...


# PowerShell 5.1 CommandLineParameterParser: MatchSwitch(key, "encodedcommand", "e") or "ec" — any prefix
# of "encodedcommand" from "e" on, or "ec" (winrm-protocol.md §1-§2; Ansible uses -EncodedCommand).
_ENC_NAME = "encodedcommand"
# Switches after which the rest of the line belongs to the command/file, not to powershell.exe.
_TERMINAL_SWITCHES = ("command", "file")


def _is_encoded_switch(token: str) -> bool:
    if not token.startswith("-"):
        return False
    name = token[1:].lower()
    return name == "ec" or (len(name) >= 1 and _ENC_NAME.startswith(name))


def _is_terminal_switch(token: str) -> bool:
    # "-c…" (-Command) and "-f…" (-File) take the rest of the line; an -EncodedCommand after them is text.
    name = token[1:].lower() if token.startswith("-") else ""
    return bool(name) and any(full.startswith(name) for full in _TERMINAL_SWITCHES)


def extract_encoded_script(command_line: str) -> str | None:
    """Decode ``powershell[.exe] [flags…] -EncodedCommand <base64>`` (case-insensitive), else None.

    pywinrm's ``run_ps`` sends ``powershell -encodedcommand <b64>`` (UTF-16LE, base64); Ansible sends
    ``PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand <b64>``.
    A value that is not valid base64 of UTF-16LE text gives None (the host sees only the line).
    """
    tokens = command_line.split()
    if not tokens:
        return None
    exe = ntpath.basename(tokens[0].strip('"')).lower()
    if exe not in ("powershell", "powershell.exe"):
        return None
    for index, token in enumerate(tokens[1:], start=1):
        if _is_encoded_switch(token):
            if index + 1 >= len(tokens):
                return None
            return _decode_utf16_base64(tokens[index + 1])
        if _is_terminal_switch(token):
            return None
    return None


def _decode_utf16_base64(value: str) -> str | None:
    try:
        raw = base64.b64decode(value, validate=True)
        return raw.decode("utf-16-le")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def codec_for_codepage(codepage: int) -> str | None:
    """Python codec for a Windows code page (437 → cp437, 65001 → utf-8), or None if unknown."""
    if codepage == 65001:
        return "utf-8"
    try:
        return codecs.lookup(f"cp{codepage}").name
    except LookupError:
        return None


def console_encode(text: str, codepage: int) -> bytes:
    """Bytes a Windows console writes for ``text`` in ``codepage``: unmappable characters become '?'.

    winrm-protocol.md §5: with WINRS_CODEPAGE=437 Hangul or Chinese arrives as '?' (pywinrm#288).
    """
    codec = codec_for_codepage(codepage) or "cp437"
    return text.encode(codec, errors="replace")


def console_decode(data: bytes, codepage: int) -> str:
    """How the remote process reads stdin bytes in ``codepage`` (invalid bytes → U+FFFD)."""
    codec = codec_for_codepage(codepage) or "cp437"
    return data.decode(codec, errors="replace")


class EchoHost:
    """A tiny host for protocol tests.

    - PowerShell (``-EncodedCommand``): a script containing ``$input`` reads stdin (like Ansible's
      bootstrap) and echoes the stdin text; any other script is echoed back. Output ends with CRLF.
    - ``echo <text>`` (cmd.exe): prints the text; ``set <NAME>`` prints ``NAME=value`` from the shell
      environment; anything else is cmd.exe's "not recognized" message on stderr with exit code 1.
    """

    def __init__(self, stdin_marker: str = "$input") -> None:
        self.stdin_marker = stdin_marker
        self.calls: list[tuple[str, str | None, bytes, ShellInfo]] = []

    def reads_stdin(self, command_line: str, script: str | None) -> bool:
        return script is not None and self.stdin_marker in script

    def run(self, command_line: str, script: str | None, stdin: bytes, shell: ShellInfo) -> CommandResult:
        self.calls.append((command_line, script, stdin, shell))
        if script is not None:
            if self.reads_stdin(command_line, script):
                return CommandResult(console_decode(stdin, shell.codepage) + "\r\n", b"", 0)
            return CommandResult(script + "\r\n", b"", 0)
        verb, _, rest = command_line.strip().partition(" ")
        if verb.lower() == "echo":
            return CommandResult(rest + "\r\n", b"", 0)
        if verb.lower() == "set" and rest:
            name = rest.strip()
            if name in shell.env:
                return CommandResult(f"{name}={shell.env[name]}\r\n", b"", 0)
            return CommandResult("", console_encode(f"Environment variable {name} not defined\r\n",
                                                    shell.codepage), 1)
        # cmd.exe's message for an unknown command (stderr, exit 1).
        message = (f"'{verb}' is not recognized as an internal or external command,\r\n"
                   "operable program or batch file.\r\n")
        return CommandResult("", console_encode(message, shell.codepage), 1)
