"""What Windows PowerShell 5.1 writes to stderr under WinRS: ``#< CLIXML`` records.

Sources (winrm-protocol.md §4, windows-dns.md §5):
- pywinrm 0.5.0 tests (``test_session.py``, ``conftest.py``) hold captured stderr from real hosts: the
  header ``#< CLIXML\\r\\n`` arrives as its own stream chunk, then ``<Objs Version="1.1.0.1" …>`` with one
  ``<S S="Error">line_x000D__x000A_</S>`` per console line and ``<Obj S="progress">`` records for
  "Preparing modules for first use." (exit code 0).
- The error text is the 5.1 ``ErrorInstance`` NormalView (DefaultFormatters ps1xml):
  message, position message, ``+ CategoryInfo``/``+ FullyQualifiedErrorId`` lines cut into pieces of
  ``BufferWidth - 6`` characters joined by four spaces, then a line holding one space.
- The console host then wraps every line to ``BufferWidth - 1`` cells (PowerShell ComplexWriter /
  StringManipulationHelper.GenerateLines: word wrap for en/fr/de/it/pt/es cultures, hard wrap otherwise).
  Two captures fix the width: pywinrm's Write-Error capture wraps at 79 (buffer 80), the GOW fixture's
  ``[Add-DnsServerResourceReco rdA]`` split is 114 = 120 - 6 (buffer 120). The lab defaults to 120.
- ``CategoryInfo`` text is ``Category: (TargetName:TargetType) [Activity], Reason`` with names longer
  than 40 characters shortened to first 15 + "..." + last 15 (GOW: ``root/Microsoft/...ResourceRecordA``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.lab.windows_dns.host import console_encode

__all__ = [
    "CLIXML_HEADER",
    "DEFAULT_BUFFER_WIDTH",
    "PROGRESS_ACTIVITY",
    "ErrorRecordView",
    "category_info",
    "clixml_document",
    "encode_clixml_string",
    "error_elements",
    "error_stderr",
    "format_error_view",
    "insert_progress",
    "position_message",
    "progress_elements",
    "progress_stderr",
    "stream_elements",
    "wrap_host_lines",
]

CLIXML_HEADER = "#< CLIXML\r\n"
OBJS_OPEN = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
OBJS_CLOSE = "</Objs>"
DEFAULT_BUFFER_WIDTH = 120
PROGRESS_ACTIVITY = "Preparing modules for first use."
_INDENT = 4  # $indent in the 5.1 NormalView


def encode_clixml_string(text: str) -> str:
    """PowerShell serializer escaping for ``<S>`` content.

    Control characters (CR, LF, TAB …), U+FFFE/U+FFFF and lone surrogates become ``_xHHHH_``; an
    underscore that would start such a sequence (``_x``) becomes ``_x005F_``; then XML escaping.
    """
    out: list[str] = []
    for index, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or code in (0xFFFE, 0xFFFF) or 0xD800 <= code <= 0xDFFF:
            out.append(f"_x{code:04X}_")
        elif char == "_" and text[index + 1:index + 2] in ("x", "X"):
            out.append("_x005F_")
        elif char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        else:
            out.append(char)
    return "".join(out)


def _ellipsize(text: str) -> str:
    # ErrorCategoryInfo.Ellipsize: longer than 40 → first 15 + "..." + last 15 (GOW fixture).
    return text if len(text) <= 40 else text[:15] + "..." + text[-15:]


def category_info(category: str, target_name: str = "", target_type: str = "", activity: str = "",
                  reason: str = "") -> str:
    """``ErrorCategoryInfo.GetMessage()``: ``Category: (Target:Type) [Activity], Reason``."""
    return f"{category}: ({_ellipsize(target_name)}:{_ellipsize(target_type)}) [{activity}], {reason}"


def position_message(script_line: str, line: int, column: int, length: int) -> str:
    """``InvocationInfo.PositionMessage`` for a short line: ``At line:1 char:1`` / ``+ text`` / ``+ ~~~``.

    5.1 also trims long lines around the error with ``... `` (GOW fixture); callers needing that
    pass their own text.
    """
    return f"At line:{line} char:{column}\n+ {script_line}\n+ {' ' * (column - 1)}{'~' * max(length, 1)}"


@dataclass
class ErrorRecordView:
    """The parts of an ErrorRecord the 5.1 NormalView prints.

    ``message`` is ``Exception.Message`` (or ``ErrorDetails.Message``, in which case ``details=True``:
    the view then omits the trailing blank line). ``prefix`` reproduces the ``<command> : `` that real
    output shows before the message (``fake : The term 'fake' …``, pywinrm test capture).
    """

    message: str
    fully_qualified_error_id: str
    category_info: str
    position: str = ""
    prefix: str = ""
    origin_computer: str | None = None
    details: bool = False


def _indented_pieces(text: str, width: int) -> str:
    # foreach($line in @($indentString -split "(.{$width})")) {
    #     if($line) { $posmsg += (" " * $indent + $line) } }
    width = max(width, 1)
    pieces = [text[i:i + width] for i in range(0, len(text), width)] or [""]
    return "".join(" " * _INDENT + piece for piece in pieces if piece)


def format_error_view(record: ErrorRecordView, buffer_width: int = DEFAULT_BUFFER_WIDTH) -> str:
    """The 5.1 ``ErrorInstance`` NormalView text (lines separated by ``\\n``), before host wrapping."""
    width = buffer_width - _INDENT - 2
    posmsg = "\n" + record.position if record.position else ""
    posmsg += "\n" + _indented_pieces("+ CategoryInfo          : " + record.category_info, width)
    posmsg += "\n" + _indented_pieces("+ FullyQualifiedErrorId : " + record.fully_qualified_error_id, width)
    if record.origin_computer is not None:
        posmsg += "\n" + _indented_pieces("+ PSComputerName        : " + record.origin_computer, width)
    if record.details:
        return record.prefix + record.message + posmsg
    return record.prefix + record.message + posmsg + "\n "


def _cells(text: str, cjk_cells: bool) -> int:
    if not cjk_cells:
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _words(line: str) -> Iterable[tuple[str, str]]:
    # GetWords: split on ' ' and '\t'; the delimiter is kept as the word's suffix.
    word: list[str] = []
    for char in line:
        if char in (" ", "\t"):
            yield "".join(word), char
            word = []
        else:
            word.append(char)
    yield "".join(word), ""


def _wrap_line_words(line: str, width: int, cjk_cells: bool) -> list[str]:
    # StringManipulationHelper.GenerateLinesWithWordWrap (first and following lines the same width).
    if _cells(line, cjk_cells) <= width:
        return [line]
    lines: list[str] = []
    current = ""
    spaces_left = width
    for word, delim in _words(line):
        token = word + delim
        token_width = _cells(token, cjk_cells)
        if token_width > width:
            for char in token:
                char_width = _cells(char, cjk_cells)
                if char_width > width:
                    char, char_width = "?", 1
                if char_width > spaces_left:
                    lines.append(current)
                    current = char
                    spaces_left = width - char_width
                else:
                    current += char
                    spaces_left -= char_width
        elif token_width > spaces_left:
            lines.append(current)
            current = token
            spaces_left = width - token_width
        else:
            current += token
            spaces_left -= token_width
    lines.append(current)
    return lines


def _wrap_line_hard(line: str, width: int, cjk_cells: bool) -> list[str]:
    # GenerateLinesWithoutWordWrap: cut by display cells; a wide char that cannot fit becomes "?".
    lines: list[str] = []
    offset = 0
    while True:
        rest = line[offset:]
        if _cells(rest, cjk_cells) <= width:
            lines.append(rest)
            return lines
        count = used = 0
        while offset + count < len(line) and used + _cells(line[offset + count], cjk_cells) <= width:
            used += _cells(line[offset + count], cjk_cells)
            count += 1
        if count == 0:
            lines.append("?")
            count = 1
        else:
            lines.append(line[offset:offset + count])
        offset += count


def wrap_host_lines(text: str, buffer_width: int = DEFAULT_BUFFER_WIDTH, word_wrap: bool = True,
                    cjk_cells: bool = False) -> list[str]:
    """Split ``text`` into the console lines the 5.1 host writes (width ``buffer_width - 1``).

    ``word_wrap`` is the en-US behaviour; a ko-KR host hard-wraps. ``cjk_cells`` counts East Asian
    wide characters as two cells — 5.1 does so only on CJK console code pages (inferred).
    """
    width = max(buffer_width - 1, 1)
    wrap = _wrap_line_words if word_wrap else _wrap_line_hard
    out: list[str] = []
    for line in text.replace("\r", "").split("\n"):
        out.extend(wrap(line, width, cjk_cells))
    return out


def stream_elements(lines: Iterable[str], stream: str = "Error") -> list[str]:
    """One ``<S S="Error">line_x000D__x000A_</S>`` per console line (also ``warning``, ``verbose``)."""
    return [f'<S S="{stream}">' + encode_clixml_string(line + "\r\n") + "</S>" for line in lines]


def error_elements(records: Sequence[ErrorRecordView], buffer_width: int = DEFAULT_BUFFER_WIDTH,
                   word_wrap: bool = True, cjk_cells: bool = False) -> list[str]:
    """``<S S="Error">`` elements for uncaught errors, in order."""
    elements: list[str] = []
    for record in records:
        text = format_error_view(record, buffer_width)
        elements.extend(stream_elements(wrap_host_lines(text, buffer_width, word_wrap, cjk_cells)))
    return elements


def progress_elements(activity: str = PROGRESS_ACTIVITY, count: int = 2, first_ref_id: int = 0) -> list[str]:
    """``<Obj S="progress">`` records as captured from a real host (pywinrm ``test_decode_clixml_*``)."""
    record = (f"<MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>{encode_clixml_string(activity)}</AV>"
              "<AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS>")
    elements: list[str] = []
    for n in range(count):
        ref = first_ref_id + n
        if n == 0:
            type_names = (f'<TN RefId="{first_ref_id}"><T>System.Management.Automation.PSCustomObject</T>'
                          "<T>System.Object</T></TN>")
        else:
            type_names = f'<TNRef RefId="{first_ref_id}" />'
        elements.append(f'<Obj S="progress" RefId="{ref}">{type_names}{record}</Obj>')
    return elements


def clixml_document(elements: Sequence[str]) -> str:
    """``#< CLIXML`` + CRLF + ``<Objs …>elements</Objs>``."""
    return CLIXML_HEADER + OBJS_OPEN + "".join(elements) + OBJS_CLOSE


def error_stderr(records: Sequence[ErrorRecordView], codepage: int = 437, *,
                 buffer_width: int = DEFAULT_BUFFER_WIDTH, word_wrap: bool = True, progress: bool = False,
                 cjk_cells: bool = False) -> bytes:
    """The stderr bytes of a PowerShell run that ended with these uncaught errors.

    Encoded with the console code page like the rest of the console output: with 437, Hangul becomes
    '?' (pywinrm#288); with 949 the bytes are not UTF-8 and pywinrm's ``_clean_error_msg`` gives up
    (pywinrm#333, #181).
    """
    elements = progress_elements() if progress else []
    elements += error_elements(records, buffer_width, word_wrap, cjk_cells)
    return console_encode(clixml_document(elements), codepage)


def progress_stderr(codepage: int = 437, activity: str = PROGRESS_ACTIVITY) -> bytes:
    """stderr of a successful run that only showed module-loading progress (exit code stays 0)."""
    return console_encode(clixml_document(progress_elements(activity)), codepage)


def insert_progress(stderr: bytes, codepage: int = 437, activity: str = PROGRESS_ACTIVITY) -> bytes:
    """Put progress records in front of whatever the command wrote to stderr.

    CLIXML stderr gets them inside its ``<Objs>`` (as in the pywinrm capture, before the ``S`` nodes);
    other stderr gets a separate CLIXML document first.
    """
    header = CLIXML_HEADER.encode("ascii")
    if not stderr:
        return progress_stderr(codepage, activity)
    if stderr.startswith(header):
        marker = stderr.find(b">", len(header))
        if marker != -1 and stderr[len(header):].startswith(b"<Objs"):
            ref_base = _next_ref_id(stderr)
            extra = console_encode("".join(progress_elements(activity, first_ref_id=ref_base)), codepage)
            return stderr[:marker + 1] + extra + stderr[marker + 1:]
    return progress_stderr(codepage, activity) + stderr


def _next_ref_id(stderr: bytes) -> int:
    # Keep RefIds unique if the document already holds objects.
    ids = [int(m) for m in re.findall(rb'RefId="(\d+)"', stderr)]
    return max(ids) + 1 if ids else 0
