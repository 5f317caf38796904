"""A minimal Windows PowerShell 5.1 for the lab: the ``PowerShellHost`` behind the WinRM endpoint.

Two ways a command runs:

1. **Known programs.** A script whose first line is ``# reconciler-program: <name>/<version>`` is
   run by the Python emulation registered for that program with :func:`register_program` (reconciler's
   own fixed PowerShell programs; their emulations call cmdlets.py). A registration may pin the
   SHA-256 of the program text, so the lab refuses text it was not written for instead of
   pretending to run it.
2. **The interpreter.** Anything else is parsed as a small PowerShell subset: statements separated
   by newlines or ``;``; ``$var = <pipeline>``; pipelines of commands with named/positional
   arguments, switches, ``-Name:value``, quoted strings, numbers, ``$true/$false/$null``, ``a,b``
   arrays, ``@(...)``, ``(...)``/``$(...)`` sub-expressions, ``$var`` and ``$var.Prop`` and
   ``exit N``. Commands: the DnsServer cmdlets of cmdlets.py, ``ConvertTo-Json`` (psjson.py),
   ``New-TimeSpan``, ``Select-Object`` (``-Property``/``-ExcludeProperty``/``-First``),
   ``Write-Output``, ``Out-Null``, ``Out-String``. So a naive reader such as
   ``Get-DnsServerResourceRecord -ZoneName x | ConvertTo-Json`` sees exactly the raw-CIM JSON quirks
   (windows-dns.md §2.4) and a one-object result without array brackets (winrm-protocol.md §6).
   Constructs outside the subset fail loudly with a ``LabUnsupportedSyntax`` error record: the lab
   never guesses what a script meant.

Errors follow PowerShell: cmdlet errors are non-terminating unless ``-ErrorAction Stop`` or
``$ErrorActionPreference = 'Stop'``; uncaught ones go to stderr as CLIXML (clixml.py) and the exit
code is 1 when the last statement failed or a terminating error stopped the script
(winrm-protocol.md §4, PowerShell#13501).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.lab.windows_dns import cim, dnscmd, psjson
from reconciler.lab.windows_dns.binder import BindingError, format_timespan
from reconciler.lab.windows_dns.clixml import ErrorRecordView, category_info, error_stderr, position_message
from reconciler.lab.windows_dns.cmdlets import (
    CmdletError,
    DnsRecordObject,
    DnsServerCmdlets,
    DnsZoneObject,
    LabUnsupported,
)
from reconciler.lab.windows_dns.dnsserver import WindowsDnsModel
from reconciler.lab.windows_dns.host import CommandResult, ShellInfo, console_encode

PROGRAM_MARKER = re.compile(r"^\s*#\s*reconciler-program:\s*([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)\s*$")


# ---- known programs ------------------------------------------------------------------------------
@dataclass
class ProgramRun:
    """What a known-program emulation receives."""

    script: str
    stdin: bytes
    shell: ShellInfo
    host: PsHost
    name: str
    version: str


ProgramHandler = Callable[[ProgramRun], CommandResult]


@dataclass(frozen=True)
class KnownProgram:
    name: str
    version: str
    handler: ProgramHandler
    sha256: str | None = None   # of the program text (UTF-8), when the lab must match it exactly
    reads_stdin: bool = False


_PROGRAMS: dict[tuple[str, str], KnownProgram] = {}


def register_program(name: str, version: str, handler: ProgramHandler, *, sha256: str | None = None,
                     reads_stdin: bool = False) -> None:
    """Registration point for reconciler's own fixed programs (``# reconciler-program: name/version``)."""
    _PROGRAMS[(name.lower(), version.lower())] = KnownProgram(name, version, handler, sha256, reads_stdin)


def registered_program(name: str, version: str) -> KnownProgram | None:
    return _PROGRAMS.get((name.lower(), version.lower()))


def program_marker(script: str | None) -> tuple[str, str] | None:
    if not script:
        return None
    first = script.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    m = PROGRAM_MARKER.match(first)
    return (m.group(1), m.group(2)) if m else None


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- errors --------------------------------------------------------------------------------------
class ScriptError(Exception):
    """An error record raised to the top (terminating) or written as non-terminating."""

    def __init__(self, message: str, fqid: str, category: str, *, activity: str = "", reason: str = "",
                 target: str = "", target_type: str = "", position: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fqid = fqid
        self.category = category
        self.activity = activity
        self.reason = reason
        self.target = target
        self.target_type = target_type
        self.position = position

    def view(self) -> ErrorRecordView:
        prefix = f"{self.activity} : " if self.activity else ""
        return ErrorRecordView(self.message, self.fqid,
                               category_info(self.category, self.target, self.target_type, self.activity,
                                             self.reason), self.position, prefix)


class LabUnsupportedSyntax(ScriptError):
    def __init__(self, what: str, position: str = "") -> None:
        super().__init__(f"lab PowerShell host: unsupported construct: {what}", "LabUnsupportedSyntax",
                         "NotImplemented", reason="LabUnsupportedSyntax", position=position)


# ---- tokenizer -----------------------------------------------------------------------------------
@dataclass
class Tok:
    kind: str   # word str num var param op nl eof
    text: str
    value: Any = None
    pos: int = 0
    end: int = 0
    quoted: bool = False


_OPS = ("@(", "$(", "(", ")", "|", ";", ",", "=", "{", "}", "[", "]")
_WORD_END = set(" \t\r\n|;,(){}")


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t":
            i += 1
            continue
        if c == "`" and i + 1 < n and src[i + 1] in "\r\n":  # line continuation
            i += 2 if src[i + 1: i + 3] != "\r\n" else 3
            continue
        if c in "\r\n":
            toks.append(Tok("nl", "\n", pos=i, end=i + 1))
            i += 1
            continue
        if src.startswith("<#", i):
            j = src.find("#>", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == "#":
            while i < n and src[i] not in "\r\n":
                i += 1
            continue
        if c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise LabUnsupportedSyntax("unterminated string")
                if src[j] == "'":
                    if j + 1 < n and src[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(src[j])
                j += 1
            toks.append(Tok("str", src[i:j + 1], "".join(buf), i, j + 1, quoted=True))
            i = j + 1
            continue
        if c == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise LabUnsupportedSyntax("unterminated string")
                ch = src[j]
                if ch == "`" and j + 1 < n:
                    buf.append({"n": "\n", "r": "\r", "t": "\t", "0": "\0", "a": "\a", "b": "\b", "e": "\x1b",
                                "f": "\f", "v": "\v"}.get(src[j + 1], src[j + 1]))
                    j += 2
                    continue
                if ch == '"':
                    if j + 1 < n and src[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                if ch == "$" and j + 1 < n and (src[j + 1].isalnum() or src[j + 1] in "_({"):
                    raise LabUnsupportedSyntax("variable expansion inside a double-quoted string")
                buf.append(ch)
                j += 1
            toks.append(Tok("str", src[i:j + 1], "".join(buf), i, j + 1, quoted=True))
            i = j + 1
            continue
        if src.startswith("@(", i) or src.startswith("$(", i):
            toks.append(Tok("op", src[i:i + 2], pos=i, end=i + 2))
            i += 2
            continue
        if c == "$":
            m = re.compile(r"\$(?:env:)?[A-Za-z_][A-Za-z0-9_]*|\$\?|\$_").match(src, i)
            if not m:
                raise LabUnsupportedSyntax(f"variable syntax at offset {i}")
            toks.append(Tok("var", m.group(0), m.group(0)[1:], i, m.end()))
            i = m.end()
            continue
        if c in "(){}[]|;,=":
            toks.append(Tok("op", c, pos=i, end=i + 1))
            i += 1
            continue
        if c == "-" and i + 1 < n and (src[i + 1].isalpha() or src[i + 1] == "_"):
            m = re.compile(r"-([A-Za-z_][A-Za-z0-9_]*)(:?)").match(src, i)
            assert m
            toks.append(Tok("param", m.group(0), (m.group(1), bool(m.group(2))), i, m.end()))
            i = m.end()
            continue
        j = i
        while j < n and src[j] not in _WORD_END:
            j += 1
        word = src[i:j]
        num = _number(word)
        toks.append(Tok("num" if num is not None else "word", word, num if num is not None else word, i, j))
        i = j
    toks.append(Tok("eof", "", pos=n, end=n))
    return toks


def _number(word: str) -> int | float | None:
    m = re.fullmatch(r"(-?)(0x[0-9A-Fa-f]+|\d+(?:\.\d+)?)(kb|mb|gb)?", word, re.IGNORECASE)
    if not m:
        return None
    sign, body, unit = m.groups()
    value: int | float = int(body, 16) if body.lower().startswith("0x") else (float(body) if "." in body
                                                                              else int(body))
    value *= {"kb": 1024, "mb": 1024**2, "gb": 1024**3}.get((unit or "").lower(), 1)
    return -value if sign else value


# ---- AST -----------------------------------------------------------------------------------------
@dataclass
class Expr:
    kind: str          # lit var array sub member
    value: Any = None
    items: list[Expr] = field(default_factory=list)
    body: list[Any] = field(default_factory=list)   # statements for sub/array
    names: list[str] = field(default_factory=list)  # member chain


@dataclass
class Command:
    name: str
    args: list[tuple[str, Any]]   # ("named", (name, Expr|None, colon)) | ("pos", Expr)
    start: int
    end: int
    expr: Expr | None = None      # a pipeline that starts with an expression ($r | ...)


@dataclass
class Pipeline:
    commands: list[Command]
    assign: str | None = None
    start: int = 0
    end: int = 0
    exit_code: Expr | None = None


class Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def statements(self, closer: str | None = None) -> list[Pipeline]:
        out: list[Pipeline] = []
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                if closer:
                    raise LabUnsupportedSyntax(f"missing '{closer}'")
                return out
            if tok.kind == "op" and tok.text == closer:
                self.take()
                return out
            if tok.kind == "nl" or (tok.kind == "op" and tok.text == ";"):
                self.take()
                continue
            out.append(self.statement())

    def statement(self) -> Pipeline:
        tok = self.peek()
        start = tok.pos
        if tok.kind == "word" and tok.text.lower() in ("if", "foreach", "for", "while", "try", "function",
                                                       "switch", "do", "param", "trap", "return", "throw"):
            raise LabUnsupportedSyntax(f"'{tok.text}' statements")
        if tok.kind == "word" and tok.text.lower() == "exit":
            self.take()
            code = None
            if self.peek().kind not in ("nl", "eof") and not (self.peek().kind == "op" and self.peek().text in ";)"):
                code = self.primary()
            return Pipeline([], start=start, end=self.toks[self.i - 1].end, exit_code=code or Expr("lit", 0))
        assign = None
        if tok.kind == "var" and self.toks[self.i + 1].kind == "op" and self.toks[self.i + 1].text == "=":
            assign = tok.value
            self.take()
            self.take()
        commands = [self.command()]
        while self.peek().kind == "op" and self.peek().text == "|":
            self.take()
            while self.peek().kind == "nl":
                self.take()
            commands.append(self.command())
        return Pipeline(commands, assign, start, self.toks[self.i - 1].end)

    def command(self) -> Command:
        tok = self.peek()
        if tok.kind == "word" and not tok.quoted:
            self.take()
            cmd = Command(tok.text, [], tok.pos, tok.end)
            while True:
                nxt = self.peek()
                if nxt.kind in ("nl", "eof") or (nxt.kind == "op" and nxt.text in ("|", ";", ")", "}")):
                    break
                if nxt.kind == "param":
                    self.take()
                    name, colon = nxt.value
                    value = self.expression() if colon else None
                    cmd.args.append(("named", (name, value, colon)))
                else:
                    cmd.args.append(("pos", self.expression()))
                cmd.end = self.toks[self.i - 1].end
            return cmd
        expr = self.expression()
        return Command("", [], tok.pos, self.toks[self.i - 1].end, expr=expr)

    def expression(self) -> Expr:
        items = [self.primary()]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.take()
            items.append(self.primary())
        return items[0] if len(items) == 1 else Expr("array", items=items)

    def primary(self) -> Expr:
        tok = self.take()
        if tok.kind in ("str", "num"):
            return Expr("lit", tok.value)
        if tok.kind == "word":
            if tok.text.startswith("[") or tok.text.startswith("{"):
                raise LabUnsupportedSyntax(f"'{tok.text}'")
            return Expr("lit", tok.value)
        if tok.kind == "var":
            names: list[str] = []
            while self.peek().kind == "word" and self.peek().text.startswith(".") and self.peek().pos == tok.end:
                member = self.take()
                names += [p for p in member.text.split(".") if p]
            return Expr("var", tok.value, names=names)
        if tok.kind == "op" and tok.text in ("(", "$(", "@("):
            body = self.statements(")")
            return Expr("array" if tok.text == "@(" else "sub", body=body)
        raise LabUnsupportedSyntax(f"'{tok.text or tok.kind}'")


# ---- the host ------------------------------------------------------------------------------------
_BUILTINS = ("convertto-json", "new-timespan", "select-object", "write-output", "out-null", "out-string",
             "echo", "select")
_PREFERENCES = {"stop", "continue", "silentlycontinue", "ignore", "inquire"}


class _Stop(Exception):
    def __init__(self, error: ScriptError) -> None:
        super().__init__(error.message)
        self.error = error


class _StatementError(Exception):
    """A statement-terminating error (binding, unknown command): the script goes on unless
    ``$ErrorActionPreference`` is Stop."""

    def __init__(self, error: ScriptError) -> None:
        super().__init__(error.message)
        self.error = error


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class _Run:
    script: str
    stdout: list[str] = field(default_factory=list)
    errors: list[ScriptError] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    last_ok: bool = True


class PsHost:
    """The lab's powershell.exe: implements host.PowerShellHost for wsman.WinRMServer."""

    def __init__(self, model: WindowsDnsModel, *, buffer_width: int = 120) -> None:
        self.model = model
        self.cmdlets = DnsServerCmdlets(model)
        self.buffer_width = buffer_width
        self.runs = 0
        self.programs_run: list[tuple[str, str]] = []
        from reconciler.lab.windows_dns import programs  # the provider's programs (late: programs imports us)

        programs.register()

    # ---- PowerShellHost ------------------------------------------------------------------------
    def reads_stdin(self, command_line: str, script: str | None) -> bool:
        marker = program_marker(script)
        if marker is None:
            return False
        program = registered_program(*marker)
        return bool(program and program.reads_stdin)

    def run(self, command_line: str, script: str | None, stdin: bytes, shell: ShellInfo) -> CommandResult:
        self.runs += 1
        if script is None:
            verb = command_line.strip().split(" ", 1)[0]
            message = (f"'{verb}' is not recognized as an internal or external command,\r\n"
                       "operable program or batch file.\r\n")
            return CommandResult("", console_encode(message, shell.codepage), 1)
        marker = program_marker(script)
        if marker is not None:
            program = registered_program(*marker)
            if program is not None:
                if program.sha256 is not None and text_sha256(script) != program.sha256:
                    err = ScriptError(f"lab: the text of program {marker[0]}/{marker[1]} differs from the one "
                                      "the lab emulates (SHA-256 mismatch); refusing to guess what it does",
                                      "LabProgramMismatch", "InvalidData", reason="LabProgramMismatch")
                    return self.error_result([err], shell)
                self.programs_run.append(marker)
                return program.handler(ProgramRun(script, stdin, shell, self, *marker))
        return self.interpret(script, shell)

    # ---- results -------------------------------------------------------------------------------
    def error_result(self, errors: list[ScriptError], shell: ShellInfo, stdout: str = "",
                     exit_code: int = 1) -> CommandResult:
        stderr = error_stderr([e.view() for e in errors], shell.codepage, buffer_width=self.buffer_width)
        return CommandResult(stdout, stderr, exit_code)

    # ---- the interpreter -------------------------------------------------------------------------
    def interpret(self, script: str, shell: ShellInfo) -> CommandResult:
        run = _Run(script)
        run.variables.update({"true": True, "false": False, "null": None, "ErrorActionPreference": "Continue",
                              "ProgressPreference": "Continue"})
        exit_code: int | None = None
        try:
            statements = Parser(script).statements()
            for stmt in statements:
                self._statement(run, stmt)
        except LabUnsupportedSyntax as err:
            run.errors.append(err)
            exit_code = 1
        except _Stop as stop:
            run.errors.append(stop.error)
            exit_code = 1
        except _Exit as ex:
            exit_code = ex.code
        if exit_code is None:
            exit_code = 0 if run.last_ok else 1
        stdout = "".join(run.stdout)
        if not run.errors:
            return CommandResult(stdout, b"", exit_code)
        return self.error_result(run.errors, shell, stdout, exit_code)

    def _position(self, run: _Run, start: int, end: int) -> str:
        line_no = run.script.count("\n", 0, start) + 1
        line_start = run.script.rfind("\n", 0, start) + 1
        line_end = run.script.find("\n", start)
        line = run.script[line_start: len(run.script) if line_end < 0 else line_end].rstrip("\r")
        return position_message(line, line_no, start - line_start + 1, max(end - start, 1))

    def _statement(self, run: _Run, stmt: Pipeline) -> None:
        if stmt.exit_code is not None:
            value = self._eval(run, stmt.exit_code)
            raise _Exit(int(value) if isinstance(value, int | float | str) and str(value).lstrip("-").isdigit()
                        else 0)
        try:
            output, ok = self._pipeline(run, stmt)
        except _StatementError as err:
            if str(run.variables.get("ErrorActionPreference", "")).lower() == "stop":
                raise _Stop(err.error) from None
            run.errors.append(err.error)
            run.last_ok = False
            return
        run.last_ok = ok
        if stmt.assign is not None:
            name = stmt.assign
            if name in ("ErrorActionPreference", "ProgressPreference") and str(
                    output[0] if output else "").lower() not in _PREFERENCES:
                raise LabUnsupportedSyntax(f"${name} value {output!r}")
            run.variables[name] = None if not output else output[0] if len(output) == 1 else list(output)
            return
        for item in output:
            run.stdout.append(self._format(item))

    def _pipeline(self, run: _Run, stmt: Pipeline) -> tuple[list[Any], bool]:
        items: list[Any] | None = None
        ok = True
        for cmd in stmt.commands:
            if cmd.expr is not None:
                value = self._eval(run, cmd.expr)
                items = _unroll(value)
                continue
            items, cmd_ok = self._command(run, cmd, items)
            ok = ok and cmd_ok
        return items or [], ok

    def _eval(self, run: _Run, expr: Expr) -> Any:
        if expr.kind == "lit":
            return expr.value
        if expr.kind == "array":
            if expr.body or not expr.items:
                out: list[Any] = []
                for stmt in expr.body:
                    values, ok = self._pipeline(run, stmt)
                    run.last_ok = ok
                    out.extend(values)
                return out
            return [self._eval(run, item) for item in expr.items]
        if expr.kind == "sub":
            out = []
            for stmt in expr.body:
                values, ok = self._pipeline(run, stmt)
                run.last_ok = ok
                out.extend(values)
            return None if not out else out[0] if len(out) == 1 else out
        if expr.kind == "var":
            name = expr.value
            if name.lower().startswith("env:"):
                value: Any = None
            elif name == "?":
                value = run.last_ok
            else:
                key = next((k for k in run.variables if k.lower() == name.lower()), None)
                value = run.variables.get(key) if key else None
            for member in expr.names:
                value = _member(value, member)
            return value
        raise LabUnsupportedSyntax(expr.kind)

    def _args(self, run: _Run, cmd: Command) -> tuple[list[tuple[str, Any]], list[Any]]:
        """``-Name value`` pairs unless ``-Name`` is a switch (which PowerShell knows from the cmdlet)."""
        is_switch = self._switch_predicate(cmd.name)
        named: list[tuple[str, Any]] = []
        positional: list[Any] = []
        k = 0
        while k < len(cmd.args):
            kind, payload = cmd.args[k]
            if kind == "named":
                name, value_expr, _colon = payload
                if value_expr is not None:
                    named.append((name, self._eval(run, value_expr)))
                elif is_switch(name) or k + 1 >= len(cmd.args) or cmd.args[k + 1][0] != "pos":
                    named.append((name, True))
                else:
                    named.append((name, self._eval(run, cmd.args[k + 1][1])))
                    k += 1
            else:
                positional.append(self._eval(run, payload))
            k += 1
        return named, positional

    def _switch_predicate(self, command: str) -> Callable[[str], bool]:
        spec = self.cmdlets.spec(command)
        if spec is not None:
            params = spec.all_params()

            def is_switch(name: str) -> bool:
                low = name.lower()
                exact = [p for p in params if p.name.lower() == low or low in (a.lower() for a in p.aliases)]
                cands = exact or [p for p in params if p.name.lower().startswith(low)]
                return len(cands) == 1 and cands[0].kind == "switch"

            return is_switch
        builtin_switches = {"convertto-json": ("compress",), "select-object": ("unique",), "select": ("unique",),
                            "write-output": ("noenumerate",), "echo": ("noenumerate",)}.get(command.lower(), ())
        return lambda name: any(s.startswith(name.lower()) for s in builtin_switches) or name.lower() in (
            "verbose", "debug")

    def _command(self, run: _Run, cmd: Command, piped: list[Any] | None) -> tuple[list[Any], bool]:
        named, positional = self._args(run, cmd)
        lname = cmd.name.lower()
        if lname in ("dnscmd", "dnscmd.exe"):
            return self._native_dnscmd(run, cmd, named, positional)
        action = self._error_action(run, named)
        try:
            if lname in _BUILTINS:
                return self._builtin(run, lname, named, positional, piped, cmd), True
            spec = self.cmdlets.spec(cmd.name)
            if spec is None:
                raise ScriptError(
                    f"The term '{cmd.name}' is not recognized as the name of a cmdlet, function, script file, "
                    "or operable program. Check the spelling of the name, or if a path was included, verify "
                    "that the path is correct and try again.", "CommandNotFoundException", "ObjectNotFound",
                    target=cmd.name, target_type="String", reason="CommandNotFoundException",
                    activity=cmd.name, position=self._position(run, cmd.start, cmd.end))
            inv = self.cmdlets.invoke(spec.name, named, positional, piped)
        except BindingError as err:
            raise _StatementError(ScriptError(err.message, err.fqid, err.category, activity=cmd.name,
                                              reason=err.exception_type, target=err.target or "",
                                              position=self._position(run, cmd.start, cmd.end))) from None
        except LabUnsupported as err:
            raise _Stop(LabUnsupportedSyntax(str(err), self._position(run, cmd.start, cmd.end))) from None
        except ScriptError as err:
            raise _StatementError(err) from None
        ok = not inv.errors
        for cerr in inv.errors:
            self._report(run, cmd, cerr, action)
        return inv.output, ok

    def _error_action(self, run: _Run, named: list[tuple[str, Any]]) -> str:
        for n, v in named:
            if n.lower() == "ea" or (len(n) >= 2 and "erroraction".startswith(n.lower())):
                return str(v).lower()
        return str(run.variables.get("ErrorActionPreference", "Continue")).lower()

    def _report(self, run: _Run, cmd: Command, err: CmdletError, action: str) -> None:
        record = ScriptError(err.message, err.fqid, err.category, activity=cmd.name, reason=err.exception_type,
                             target=err.target or "", target_type=err.target_type or "",
                             position=self._position(run, cmd.start, cmd.end))
        if action == "stop":
            raise _Stop(record)
        if action in ("silentlycontinue", "ignore"):
            return
        run.errors.append(record)

    def _native_dnscmd(self, run: _Run, cmd: Command, named: list[tuple[str, Any]],
                       positional: list[Any]) -> tuple[list[Any], bool]:
        """A native program: PowerShell 5.1 builds its command line, the program re-splits it (dnscmd.py)."""
        if named:
            raise _Stop(LabUnsupportedSyntax("'-name' arguments to a native program",
                                             self._position(run, cmd.start, cmd.end)))
        args = [psjson.ps_to_string(v) for p in positional for v in _unroll(p)]
        argv = dnscmd.crt_split(dnscmd.ps51_command_line("dnscmd", args))[1:]
        result = dnscmd.run(self.model, argv)
        run.variables["LASTEXITCODE"] = result.exit_code
        if not result.installed:
            raise _StatementError(ScriptError(
                f"The term '{cmd.name}' is not recognized as the name of a cmdlet, function, script file, or "
                "operable program. Check the spelling of the name, or if a path was included, verify that the "
                "path is correct and try again.", "CommandNotFoundException", "ObjectNotFound", target=cmd.name,
                target_type="String", reason="CommandNotFoundException", activity=cmd.name,
                position=self._position(run, cmd.start, cmd.end)))
        lines = result.stdout.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines, result.exit_code == 0

    # ---- built-in cmdlets ----------------------------------------------------------------------
    def _builtin(self, run: _Run, name: str, named: list[tuple[str, Any]], positional: list[Any],
                 piped: list[Any] | None, cmd: Command) -> list[Any]:
        opts = {n.lower(): v for n, v in named}
        if name == "convertto-json":
            depth = 2
            compress = False
            for key, value in opts.items():
                if "depth".startswith(key):
                    depth = int(value)
                elif "compress".startswith(key):
                    compress = bool(value)
                elif "inputobject".startswith(key):
                    positional = [value, *positional]
                elif key not in ("erroraction", "ea"):
                    raise _StatementError(ScriptError(
                        f"A parameter cannot be found that matches parameter name '{key}'.",
                        "NamedParameterNotFound,Microsoft.PowerShell.Commands.ConvertToJsonCommand",
                        "InvalidArgument", activity="ConvertTo-Json", reason="ParameterBindingException",
                        position=self._position(run, cmd.start, cmd.end)))
            try:
                if positional:
                    text = psjson.convert_to_json(cim.to_ps(positional[0]), depth=depth, compress=compress)
                else:
                    text = psjson.pipeline_to_json([cim.to_ps(x) for x in piped or []], depth=depth,
                                                   compress=compress)
            except psjson.ConvertToJsonError as exc:
                raise _StatementError(ScriptError(str(exc), exc.fully_qualified_error_id, exc.category,
                                        activity="ConvertTo-Json", reason="InvalidOperationException",
                                        position=self._position(run, cmd.start, cmd.end))) from None
            return [] if text is None else [text]
        if name == "new-timespan":
            parts = {"days": 0, "hours": 0, "minutes": 0, "seconds": 0}
            for key, value in opts.items():
                full = next((p for p in parts if p.startswith(key)), None)
                if full is None:
                    raise LabUnsupportedSyntax(f"New-TimeSpan -{key}")
                parts[full] = int(value)
            return [timedelta(**parts)]
        if name in ("write-output", "echo"):
            return [v for p in positional for v in _unroll(p)] + list(piped or [])
        if name == "out-null":
            return []
        if name == "out-string":
            return ["".join(self._format(x) for x in piped or [])]
        if name in ("select-object", "select"):
            return self._select(opts, positional, piped or [])
        raise LabUnsupportedSyntax(name)  # pragma: no cover

    def _select(self, opts: dict[str, Any], positional: list[Any], piped: list[Any]) -> list[Any]:
        known = ("property", "excludeproperty", "expandproperty", "first")
        resolved: dict[str, Any] = {}
        for key, value in opts.items():
            match = [k for k in known if k.startswith(key)]
            if len(match) != 1:
                raise LabUnsupportedSyntax(f"Select-Object -{key}")
            resolved[match[0]] = value
        props = resolved.get("property", positional[0] if positional else None)
        exclude = resolved.get("excludeproperty")
        first = resolved.get("first")
        items = piped[: int(first)] if first is not None else piped
        expand = resolved.get("expandproperty")
        if expand is not None:
            return [v for item in items for v in _unroll(_member(item, str(expand)))]
        if props is None and exclude is None:
            return items
        patterns = _unroll(props) if props is not None else ["*"]
        excludes = _unroll(exclude) if exclude is not None else []
        out = []
        for item in items:
            all_props = _ps_properties(item)
            picked: dict[str, Any] = {}
            for pat in patterns:
                for key, value in all_props.items():
                    if _wild(str(pat), key) and not any(_wild(str(x), key) for x in excludes):
                        picked.setdefault(key, value)
            out.append(psjson.PSObject(None, extended=picked))
        return out

    # ---- default output formatting -----------------------------------------------------------------
    def _format(self, item: Any) -> str:
        """Out-Default for what reaches the end of a pipeline (approximate table views)."""
        if item is None:
            return ""
        if isinstance(item, str):
            return item + "\r\n"
        if isinstance(item, DnsRecordObject):
            stamp = item.Timestamp.strftime("%-m/%-d/%Y %-I:%M:%S %p") if item.Timestamp else "0"
            return (f"{item.HostName:<26}{item.RecordType:<11}{item.Type:<11}{stamp:<22}"
                    f"{format_timespan(item.TimeToLive):<16}{_record_data_text(item)}\r\n")
        if isinstance(item, DnsZoneObject):
            return (f"{item.ZoneName:<30}{item.ZoneType:<11}{item.IsAutoCreated!s:<15}"
                    f"{item.IsDsIntegrated!s:<16}{item.IsReverseLookupZone!s:<21}{item.IsSigned!s}\r\n")
        if isinstance(item, timedelta):
            return format_timespan(item) + "\r\n"
        if isinstance(item, bool):
            return ("True" if item else "False") + "\r\n"
        if isinstance(item, datetime):
            return item.strftime("%A, %B %d, %Y %I:%M:%S %p") + "\r\n"
        return psjson.ps_to_string(cim.to_ps(item)) + "\r\n"


def _record_data_text(item: DnsRecordObject) -> str:
    props = item.RecordData.properties
    if len(props) == 1:
        return str(next(iter(props.values())))
    return item.RecordData.display()


def _unroll(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _member(value: Any, name: str) -> Any:
    if value is None:
        return None
    if name.lower() == "count" and isinstance(value, list):
        return len(value)
    if name.lower() in ("count", "length") and not isinstance(value, list | str):
        return 1
    if isinstance(value, list):
        return [_member(v, name) for v in value]  # member enumeration
    if isinstance(value, timedelta) and name.lower() == "totalseconds":
        return value.total_seconds()
    for attr in dir(value):
        if attr.lower() == name.lower() and not attr.startswith("_"):
            return getattr(value, attr)
    try:
        return getattr(value, name)
    except AttributeError:
        return None


def _ps_properties(item: Any) -> dict[str, Any]:
    """PSObject.Properties order of a CIM object: CIM properties, PSComputerName, then Cim*."""
    ps = cim.to_ps(item)
    if isinstance(ps, psjson.PSObject):
        props = {**ps.adapted, **ps.extended}
        if isinstance(ps.base, psjson.NetObject):
            props.update(ps.base.properties)
        return props
    if isinstance(ps, psjson.NetObject):
        return dict(ps.properties)
    return {}


def _wild(pattern: str, name: str) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, name, re.IGNORECASE) is not None

