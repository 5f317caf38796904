"""Python emulations of the Windows DNS provider's fixed PowerShell programs, for the lab's host.

The lab cannot run PowerShell, so each program the provider ships (reconciler/providers/windows_dns/
ps/*.ps1) has an emulation here that performs the same cmdlet, dnscmd, WMI and Resolve-DnsName calls
against the lab model, with the same error handling and the same output text. ``EMULATED`` pins the
SHA-256 of the exact program text each emulation was written from: a program whose text differs is
refused (LabProgramMismatch) instead of being emulated from a stale reading, and
tests/windows_dns/test_lab_programs.py fails until both are updated together.

Where PowerShell semantics matter they are followed: ``-ErrorAction Stop`` turns a cmdlet's first
error into the caught ``$_`` (its FullyQualifiedErrorId, category and message); ``throw 'text'``
gives the id ``text`` and category OperationStopped; a missing native program is
CommandNotFoundException; native arguments pass through PowerShell 5.1's command line (dnscmd.py).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from reconciler.lab.windows_dns import dnscmd, pshost
from reconciler.lab.windows_dns.binder import BindingError
from reconciler.lab.windows_dns.clixml import error_stderr
from reconciler.lab.windows_dns.cmdlets import CmdletError, DnsRecordObject, DnsServerCmdlets
from reconciler.lab.windows_dns.dnsserver import Win32Error, WindowsDnsModel
from reconciler.lab.windows_dns.host import CommandResult, ShellInfo, console_decode
from reconciler.lab.windows_dns.wmi import MicrosoftDnsWmi, WmiError

PROVIDER_PS = Path(__file__).resolve().parents[2] / "providers" / "windows_dns" / "ps"
BOOTSTRAP = ("windows-dns-bootstrap", "1")
READ = ("windows-dns-read", "1")
APPLY = ("windows-dns-apply", "1")
# SHA-256 of the program texts these emulations follow (update together with the .ps1 files).
EMULATED: dict[tuple[str, str], str] = {
    BOOTSTRAP: "d2720fc29ba5fb27625fe4ffd10e387e6b6bdbf3bfd22b2bb681850dd537a431",
    READ: "e2cbe4b81e802a7c40a3afcf3fc0e67566db9ea02b3680e5c15755c6e0353c38",
    APPLY: "d8740b8df372bd692f1f20b914d4f9ccf6f41880f7f418617f1372c2e71ec4e7",
}
_LOCAL_RESOLVERS = ("", "127.0.0.1", "::1", "localhost", ".")


class PsError(Exception):
    """``$_`` inside a PowerShell catch block."""

    def __init__(self, fqid: str, category: str, message: str) -> None:
        super().__init__(message)
        self.fqid = fqid
        self.category = category
        self.message = message


def _throw(text: str) -> PsError:
    return PsError(text, "OperationStopped", text)


def J(value: Any) -> str:
    """read.ps1/apply.ps1 ``J``: JSON string with everything outside printable ASCII (and ``"``, ``\\``)
    as ``\\uxxxx`` per UTF-16 code unit."""
    if value is None:
        return "null"
    text = _ps_string(value)
    out = ['"']
    units = text.encode("utf-16-le", errors="surrogatepass")
    for i in range(0, len(units), 2):
        unit = units[i] | (units[i + 1] << 8)
        if 0x20 <= unit <= 0x7E and unit not in (0x22, 0x5C):
            out.append(chr(unit))
        else:
            out.append(f"\\u{unit:04x}")
    out.append('"')
    return "".join(out)


def _ps_string(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _result_line(body: str) -> str:
    return "#RESULT " + body + "\r\n"


# ---- bootstrap ----------------------------------------------------------------------------------
def bootstrap(run: pshost.ProgramRun) -> CommandResult:
    text = console_decode(run.stdin, run.shell.codepage)
    cut = text.find("\0")
    if cut < 0:
        return CommandResult(_result_line('{"ok":false,"error":{"id":"BootstrapNoProgram","category":'
                                          '"InvalidData","message":"no program on stdin"}}'), b"", 2)
    program = text[:cut]
    try:
        payload = base64.b64decode(text[cut + 1:].strip(), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        err = pshost.ScriptError('Exception calling "FromBase64String" with "1" argument(s): "The input is not a '
                                 'valid Base-64 string as it contains a non-base 64 character, more than two '
                                 'padding characters, or an illegal character among the padding characters. "',
                                 "FormatException", "NotSpecified", reason="MethodInvocationException")
        return run.host.error_result([err], run.shell)
    marker = pshost.program_marker(program)
    handler = _INNER.get(marker) if marker else None
    if marker is None or handler is None or pshost.text_sha256(program) != EMULATED.get(marker):
        name = f"{marker[0]}/{marker[1]}" if marker else "(no reconciler-program marker)"
        err = pshost.ScriptError(f"lab: the lab does not emulate program {name} with this text (SHA-256 "
                                 f"{pshost.text_sha256(program)[:12]}…); refusing to guess what it does",
                                 "LabProgramMismatch", "InvalidData", reason="LabProgramMismatch")
        return run.host.error_result([err], run.shell)
    run.host.programs_run.append(marker)
    return handler(run.host.model, run.host.cmdlets, payload, run.shell)


# ---- shared cmdlet plumbing ------------------------------------------------------------------------
class _Ctx:
    def __init__(self, model: WindowsDnsModel, cmdlets: DnsServerCmdlets, p: dict[str, Any]) -> None:
        self.model = model
        self.cmdlets = cmdlets
        self.computer = str(p["computer"]) if p.get("computer") else None
        self.server = self.computer or "."
        self.resolver = "" if p.get("resolver") is None else str(p.get("resolver"))
        self.wmi = MicrosoftDnsWmi(model)

    def c(self) -> list[tuple[str, Any]]:
        return [("ComputerName", self.computer)] if self.computer else []

    def call(self, cmdlet: str, named: list[tuple[str, Any]], pipeline: list[Any] | None = None) -> list[Any]:
        """A cmdlet call with ``-ErrorAction Stop``: the first error is raised as ``$_``."""
        try:
            inv = self.cmdlets.invoke(cmdlet, [*named, *self.c(), ("ErrorAction", "Stop")], (), pipeline)
        except BindingError as exc:
            raise PsError(exc.fqid, exc.category, exc.message) from None
        if inv.errors:
            err: CmdletError = inv.errors[0]
            raise PsError(err.fqid, err.category, err.message)
        return inv.output


def _parse_payload(payload: str) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise PsError("System.ArgumentException,Microsoft.PowerShell.Commands.ConvertFromJsonCommand",
                      "NotSpecified", f"Invalid JSON primitive: {exc.msg}.") from None
    if not isinstance(doc, dict):
        raise PsError("LabPayload", "InvalidData", "payload is not a JSON object")
    return doc


def _uncaught(e: PsError, shell: ShellInfo) -> CommandResult:
    err = pshost.ScriptError(e.message, e.fqid, e.category, activity="ConvertFrom-Json", reason="ArgumentException")
    return CommandResult("", error_stderr([err.view()], shell.codepage), 1)


def _err_json(e: PsError) -> str:
    return '{"id":' + J(e.fqid) + ',"category":' + J(e.category) + ',"message":' + J(e.message) + "}"


# ---- read.ps1 -------------------------------------------------------------------------------------------
def read_program(model: WindowsDnsModel, cmdlets: DnsServerCmdlets, payload: str, shell: ShellInfo) -> CommandResult:
    try:
        p = _parse_payload(payload)
    except PsError as e:  # outside the try in read.ps1: an uncaught error
        return _uncaught(e, shell)
    ctx = _Ctx(model, cmdlets, p)
    zone_name = _ps_string(p.get("zone") if p.get("zone") is not None else "")
    try:
        zones = ctx.call("Get-DnsServerZone", [("Name", zone_name)])
        recs = ctx.call("Get-DnsServerResourceRecord", [("ZoneName", zone_name)])
    except PsError as e:
        return CommandResult(_result_line('{"ok":false,"error":' + _err_json(e) + "}"), b"", 1)
    z = zones[0]
    parts = ['{"ok":true,"zone":{"name":' + J(z.ZoneName) + ',"type":' + J(z.ZoneType) + ',"auto":'
             + ("true" if z.IsAutoCreated else "false") + ',"ds":' + ("true" if z.IsDsIntegrated else "false")
             + ',"dynamic_update":' + J(z.DynamicUpdate) + '},"records":[']
    items = []
    for r in recs:
        d = r.RecordData.properties
        t = r.RecordType.upper()
        fields = _READ_FIELDS.get(t)
        v: list[Any] = [d[f] for f in fields] if fields else ([d["Data"]] if "Data" in d else [])
        ts = "null" if r.Timestamp is None else J(r.Timestamp.strftime("%Y-%m-%dT%H:%M:%S"))
        items.append('{"n":' + J(r.HostName) + ',"t":' + J(r.RecordType) + ',"c":' + str(int(r.Type))
                     + ',"ttl":' + str(round(r.TimeToLive.total_seconds())) + ',"ts":' + ts + ',"d":['
                     + ",".join(J(x) for x in v) + "]}")
    parts.append(",".join(items))
    parts.append("]}")
    return CommandResult(_result_line("".join(parts)), b"", 0)


# read.ps1's `switch ([string]$r.RecordType)`: the typed properties it projects, in order.
_READ_FIELDS: dict[str, tuple[str, ...]] = {
    "A": ("IPv4Address",), "AAAA": ("IPv6Address",), "CNAME": ("HostNameAlias",), "NS": ("NameServer",),
    "PTR": ("PtrDomainName",), "DNAME": ("DomainNameAlias",), "MX": ("Preference", "MailExchange"),
    "SRV": ("Priority", "Weight", "Port", "DomainName"), "TXT": ("DescriptiveText",),
    "SOA": ("PrimaryServer", "ResponsiblePerson", "SerialNumber"),
}


# ---- apply.ps1 ------------------------------------------------------------------------------------------
def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    s = _ps_string(value)
    if re.fullmatch(r"[0-9A-Fa-f]{8}", s):
        s = str(ipaddress.IPv4Address(bytes.fromhex(s)))
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        raise PsError("FormatException", "NotSpecified", 'Exception calling "Parse" with "1" argument(s): "An '
                      'invalid IP address was specified."') from None


def _nm(value: Any) -> str:
    return _ps_string(value).rstrip(".").lower()


def _same(r: DnsRecordObject, op: dict[str, Any]) -> bool:
    d = r.RecordData.properties
    v = list(op.get("v") or [])
    t = str(op.get("type", "")).upper()
    if t == "A":
        return _ip(d["IPv4Address"]) == _ip(v[0])
    if t == "AAAA":
        return _ip(d["IPv6Address"]) == _ip(v[0])
    if t == "CNAME":
        return _nm(d["HostNameAlias"]) == _nm(v[0])
    if t == "NS":
        return _nm(d["NameServer"]) == _nm(v[0])
    if t == "PTR":
        return _nm(d["PtrDomainName"]) == _nm(v[0])
    if t == "MX":
        return int(d["Preference"]) == int(v[0]) and _nm(d["MailExchange"]) == _nm(v[1])
    if t == "SRV":
        return (int(d["Priority"]), int(d["Weight"]), int(d["Port"])) == (int(v[0]), int(v[1]), int(v[2])) \
            and _nm(d["DomainName"]) == _nm(v[3])
    if t == "TXT":
        return _ps_string(d["DescriptiveText"]) == _ps_string(v[0])
    if t == "CAA":
        return _ps_string(d.get("Data", "")).lower() == _ps_string(v[0]).lower()
    return False


def _live(ctx: _Ctx, z: str, op: dict[str, Any]) -> list[DnsRecordObject]:
    try:
        if str(op.get("type", "")).upper() == "CAA":
            return ctx.call("Get-DnsServerResourceRecord", [("ZoneName", z), ("Name", _ps_string(op["name"])),
                                                            ("Type", 257), ("Node", True)])
        return ctx.call("Get-DnsServerResourceRecord", [("ZoneName", z), ("Name", _ps_string(op["name"])),
                                                        ("RRType", _ps_string(op["rrtype"])), ("Node", True)])
    except PsError as e:
        if e.fqid.startswith("WIN32 9714,"):
            return []
        raise


def _add_rec(ctx: _Ctx, z: str, op: dict[str, Any]) -> None:
    a: list[tuple[str, Any]] = [("ZoneName", z), ("Name", _ps_string(op["name"])),
                                ("TimeToLive", timedelta(seconds=float(op["ttl"])))]
    v = list(op.get("v") or [])
    t = str(op.get("type", "")).upper()
    typed = {"A": [("A", True), ("IPv4Address", v[0] if v else None)],
             "AAAA": [("AAAA", True), ("IPv6Address", v[0] if v else None)],
             "CNAME": [("CName", True), ("HostNameAlias", v[0] if v else None)],
             "NS": [("NS", True), ("NameServer", v[0] if v else None)],
             "PTR": [("Ptr", True), ("PtrDomainName", v[0] if v else None)],
             "TXT": [("Txt", True), ("DescriptiveText", v[0] if v else None)],
             "CAA": [("Type", 257), ("RecordData", v[0] if v else None)]}
    if t == "MX":
        a += [("MX", True), ("Preference", int(v[0])), ("MailExchange", _ps_string(v[1]))]
    elif t == "SRV":
        a += [("Srv", True), ("Priority", int(v[0])), ("Weight", int(v[1])), ("Port", int(v[2])),
              ("DomainName", _ps_string(v[3]))]
    else:
        a += [(k, x if isinstance(x, bool | int) or x is None else _ps_string(x)) for k, x in typed.get(t, [])]
    ctx.call("Add-DnsServerResourceRecord", a)


def _remove_rec(ctx: _Ctx, z: str, op: dict[str, Any]) -> str | None:
    hits = [r for r in _live(ctx, z, op) if _same(r, op)]
    if not hits:
        return "already absent"
    ctx.call("Remove-DnsServerResourceRecord", [("ZoneName", z), ("Force", True)], [hits[0]])
    return None


def _set_ttl(ctx: _Ctx, z: str, op: dict[str, Any]) -> None:
    hits = [r for r in _live(ctx, z, op) if _same(r, op)]
    if not hits:
        raise _throw("reconciler: the record whose TTL was to change is no longer there")
    for old in hits:
        new = old.clone()
        new.TimeToLive = timedelta(seconds=float(op["ttl"]))
        ctx.call("Set-DnsServerResourceRecord", [("ZoneName", z), ("OldInputObject", old), ("NewInputObject", new)])


def _dns(ctx: _Ctx, op: dict[str, Any]) -> list[str]:
    """Resolve-DnsName -Type TXT against the resolver: every record's strings joined."""
    fqdn = _ps_string(op.get("fqdn", "")).rstrip(".").lower()
    try:
        server = ctx.model.server(None if ctx.resolver.lower() in _LOCAL_RESOLVERS else ctx.resolver)
    except Win32Error:
        raise PsError("ERROR_TIMEOUT,Microsoft.DnsClient.Commands.ResolveDnsName", "OperationTimeout",
                      f"{fqdn} : This operation returned because the timeout period expired") from None
    with ctx.model.lock:
        zone = server.zone_for(fqdn)
        if zone is None:
            raise PsError("DNS_ERROR_RCODE_REFUSED,Microsoft.DnsClient.Commands.ResolveDnsName",
                          "ResourceUnavailable", f"{fqdn} : DNS server failure")
        rel = "@" if fqdn == zone.name.lower() else fqdn[: -len(zone.name) - 1]
        under = ctx.model.find(zone, rel, subtree=True)
        if not under and rel != "@":
            raise PsError("DNS_ERROR_RCODE_NAME_ERROR,Microsoft.DnsClient.Commands.ResolveDnsName",
                          "ResourceUnavailable", f"{fqdn} : DNS name does not exist")
        return ["".join(r.data["strings"]) for r in under if r.rrtype == "TXT"
                and (r.name.lower() if r.name != "@" else "@") == rel]


def _resolve(ctx: _Ctx, op: dict[str, Any]) -> list[str]:
    try:
        return _dns(ctx, op)
    except PsError as e:
        if e.fqid.startswith("DNS_ERROR_RCODE_NAME_ERROR,"):
            return []
        raise


def _published(ctx: _Ctx, op: dict[str, Any]) -> bool:
    return _ps_string(op.get("value", "")) in _resolve(ctx, op)


def _dnscmd(ctx: _Ctx, argv: list[str]) -> None:
    line = dnscmd.ps51_command_line("dnscmd.exe", argv)
    result = dnscmd.run(ctx.model, dnscmd.crt_split(line)[1:])
    if not result.installed:
        raise PsError("CommandNotFoundException", "ObjectNotFound",
                      "The term 'dnscmd.exe' is not recognized as the name of a cmdlet, function, script file, or "
                      "operable program. Check the spelling of the name, or if a path was included, verify that "
                      "the path is correct and try again.")
    if result.exit_code != 0:
        raise _throw(f"dnscmd exit {result.exit_code}: {result.stdout.strip()}")


def _undo(ctx: _Ctx, z: str, op: dict[str, Any], method: str) -> None:
    if not op.get("undo"):
        return
    s0 = _ps_string((op.get("strings") or [""])[0])
    try:
        if method == "dnscmd":
            _dnscmd(ctx, [ctx.server, "/RecordDelete", z, _ps_string(op["node"]), "TXT", s0, "/f"])
        else:
            ctx.call("Remove-DnsServerResourceRecord", [("ZoneName", z), ("Name", _ps_string(op["name"])),
                                                        ("RRType", "Txt"), ("RecordData", s0), ("Force", True)])
    except PsError:
        pass


def _cim_error(exc: WmiError, cmdlet: str) -> PsError:
    return PsError(f"HRESULT 0x{exc.hresult:08x},Microsoft.Management.Infrastructure.CimCmdlets.{cmdlet}",
                   "NotSpecified", exc.message)


def _add_long(ctx: _Ctx, z: str, op: dict[str, Any]) -> str:
    tried: list[str] = []
    for m in list(op.get("methods") or []):
        try:
            if m == "dnscmd":
                _dnscmd(ctx, [ctx.server, "/RecordAdd", z, _ps_string(op["node"]), _ps_string(op["ttl"]), "TXT",
                              *[_ps_string(s) for s in op.get("strings") or []]])
            elif m == "wmi":
                try:
                    ctx.wmi.create_from_text(ctx.server, z, _ps_string(op["wmi"]))
                except WmiError as exc:
                    raise _cim_error(exc, "InvokeCimMethodCommand") from None
            else:
                continue
        except PsError as e:
            tried.append(f"{m}: {e.message}")
            continue
        if _published(ctx, op):
            return f"published with {m}"
        tried.append(f"{m}: reported success but DNS does not answer the whole value")
        _undo(ctx, z, op, m)
    raise _throw("reconciler: long TXT not published exactly; tried " + "; ".join(tried))


def _remove_long(ctx: _Ctx, z: str, op: dict[str, Any]) -> str:
    if not _published(ctx, op):
        return "already absent"
    tried: list[str] = []
    for m in list(op.get("methods") or []):
        try:
            if m == "cmdlet":
                hits = [r for r in _live(ctx, z, op)
                        if _ps_string(r.RecordData.properties.get("DescriptiveText", "")) == _ps_string(op["crlf"])]
                for h in hits:
                    ctx.call("Remove-DnsServerResourceRecord", [("ZoneName", z), ("Force", True)], [h])
            elif m == "dnscmd":
                _dnscmd(ctx, [ctx.server, "/RecordDelete", z, _ps_string(op["node"]), "TXT",
                              *[_ps_string(s) for s in op.get("strings") or []], "/f"])
            elif m == "wmi":
                try:
                    found = [i for i in ctx.wmi.query("MicrosoftDNS_TXTType", dns_server_name=ctx.computer)
                             if i.ContainerName.lower() == z.lower()
                             and i.OwnerName.lower() == _ps_string(op["owner"]).lower()
                             and i.RecordData == _ps_string(op["wmidata"])]
                    for inst in found:
                        ctx.wmi.delete(inst)
                except WmiError as exc:
                    raise _cim_error(exc, "RemoveCimInstanceCommand") from None
            else:
                continue
        except PsError as e:
            tried.append(f"{m}: {e.message}")
            continue
        if not _published(ctx, op):
            return f"removed with {m}"
        tried.append(f"{m}: the value is still published")
    raise _throw("reconciler: long TXT not removed; tried " + "; ".join(tried))


def apply_program(model: WindowsDnsModel, cmdlets: DnsServerCmdlets, payload: str,
                  shell: ShellInfo) -> CommandResult:
    try:
        p = _parse_payload(payload)
    except PsError as e:  # outside any try in apply.ps1: an uncaught error
        return _uncaught(e, shell)
    ctx = _Ctx(model, cmdlets, p)
    results = []
    for ch in list(p.get("changes") or []):
        z = _ps_string(ch.get("zone", ""))
        done = 0
        notes: list[str] = []
        err = "null"
        for op in list(ch.get("ops") or []):
            try:
                note: str | None = None
                kind = _ps_string(op.get("op", ""))
                if kind == "add":
                    try:
                        _add_rec(ctx, z, op)
                    except PsError as e:
                        if e.fqid.startswith("WIN32 9711,"):
                            note = "already present"
                        else:
                            raise
                elif kind == "remove":
                    note = _remove_rec(ctx, z, op)
                elif kind == "ttl":
                    _set_ttl(ctx, z, op)
                elif kind == "add_long":
                    note = _add_long(ctx, z, op)
                elif kind == "remove_long":
                    note = _remove_long(ctx, z, op)
                if note:
                    notes.append(f"{_ps_string(op.get('op', ''))} {_ps_string(op.get('name', ''))} "
                                 f"{_ps_string(op.get('type', ''))}: {note}")
                done += 1
            except PsError as e:
                err = _err_json(e)
                break
        results.append('{"id":' + J(ch.get("id")) + ',"ok":' + ("true" if err == "null" else "false")
                       + ',"done":' + str(done) + ',"notes":[' + ",".join(J(n) for n in notes) + '],"error":'
                       + err + "}")
    return CommandResult(_result_line('{"ok":true,"results":[' + ",".join(results) + "]}"), b"", 0)


_INNER = {READ: read_program, APPLY: apply_program}


def _direct(run: pshost.ProgramRun) -> CommandResult:
    """read.ps1/apply.ps1 run directly (not through the bootstrap): ``$PayloadJson`` is empty."""
    err = pshost.ScriptError("Cannot bind argument to parameter 'InputObject' because it is an empty string.",
                             "ParameterArgumentValidationErrorEmptyStringNotAllowed,Microsoft.PowerShell.Commands."
                             "ConvertFromJsonCommand", "InvalidData", activity="ConvertFrom-Json",
                             reason="ParameterBindingValidationException")
    return run.host.error_result([err], run.shell)


def register() -> None:
    """Register the emulations with the lab's PowerShell host (idempotent)."""
    pshost.register_program(*BOOTSTRAP, bootstrap, sha256=EMULATED[BOOTSTRAP], reads_stdin=True)
    pshost.register_program(*READ, _direct, sha256=EMULATED[READ])
    pshost.register_program(*APPLY, _direct, sha256=EMULATED[APPLY])


def shipped_hashes() -> dict[tuple[str, str], str]:
    """SHA-256 of the provider's shipped program files (what EMULATED must equal)."""
    files = {BOOTSTRAP: "bootstrap.ps1", READ: "read.ps1", APPLY: "apply.ps1"}
    return {key: pshost.text_sha256((PROVIDER_PS / name).read_bytes().decode("utf-8"))
            for key, name in files.items()}
