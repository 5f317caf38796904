"""``dnscmd.exe`` emulation: the multi-string TXT write path of windows-dns.md §3.1, and the argument
passing that stands between a PowerShell 5.1 script and a native program.

``dnscmd [<server>] /recordadd <zone> <node> [/Aging] [<ttl>] <type> <data…>`` takes TXT data as one
or more strings (the Server 2003 "Dnscmd examples" page); ``/recorddelete <zone> <node> <type> <data…>
/f`` deletes (DNSControl used both for NAPTR). Whether current Windows Server still publishes every
string is **unverified**, so ``Behaviour.dnscmd_txt`` selects: ``multi`` (every string), ``first_only``
(silently keeps the first string: the failure a provider must detect by reading DNS) or ``off``
(dnscmd is not installed: the shell's "not recognized" error).

Output text and exit codes follow dnscmd's console format as commonly reproduced
(``Command completed successfully.`` / ``Command failed:  DNS_ERROR_…     9711    0x25EF``); the exact
text and the exit code (the Win32 code) are unverified.

Native arguments: Windows PowerShell 5.1 builds the command line itself — an argument with
whitespace outside double quotes is wrapped in ``"…"``, embedded quotes are **not** escaped, an empty
string argument disappears — and the program splits it again with the MSVC runtime rules. So a
value containing ``"`` reaches dnscmd altered; :func:`ps51_command_line` and :func:`crt_split`
reproduce both halves (PowerShell ``NativeCommandParameterBinder`` 5.1; MS C runtime "Parsing C
command-line arguments").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from reconciler.lab.windows_dns import dnsserver as ds
from reconciler.lab.windows_dns.dnsserver import Record, Win32Error, WindowsDnsModel

NOT_INSTALLED = ("'dnscmd' is not recognized as an internal or external command,\r\n"
                 "operable program or batch file.\r\n")


@dataclass
class DnscmdResult:
    stdout: str
    exit_code: int
    installed: bool = True


# ---- PowerShell 5.1 → native command line → argv ------------------------------------------------
def _needs_quotes(arg: str) -> bool:
    # 5.1 NeedQuotes: whitespace outside a (backslash-unescaped) double-quoted section
    quotes = 0
    for i, ch in enumerate(arg):
        if ch == '"' and (i == 0 or arg[i - 1] != "\\"):
            quotes += 1
        elif ch.isspace() and quotes % 2 == 0:
            return True
    return False


def ps51_command_line(program: str, args: list[str]) -> str:
    """The command line Windows PowerShell 5.1 hands to CreateProcess for ``& program @args``."""
    parts = [program]
    for arg in args:
        if arg == "":
            continue  # 5.1 drops empty-string arguments
        parts.append(f'"{arg}"' if _needs_quotes(arg) else arg)
    return " ".join(parts)


def crt_split(command_line: str) -> list[str]:
    """argv as the MSVC runtime parses a command line (the program name included)."""
    args: list[str] = []
    i, n = 0, len(command_line)
    while i < n:
        while i < n and command_line[i] in " \t":
            i += 1
        if i >= n:
            break
        buf: list[str] = []
        quoted = False
        while i < n and (quoted or command_line[i] not in " \t"):
            ch = command_line[i]
            if ch == "\\":
                j = i
                while j < n and command_line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and command_line[j] == '"':
                    buf.append("\\" * (count // 2))
                    if count % 2:
                        buf.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                buf.append("\\" * count)
                i = j
                continue
            if ch == '"':
                if quoted and i + 1 < n and command_line[i + 1] == '"':
                    buf.append('"')  # "" inside quotes: a literal quote (msvcrt 2008+)
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            buf.append(ch)
            i += 1
        args.append("".join(buf))
    return args


# ---- dnscmd ----------------------------------------------------------------------------------------
def run(model: WindowsDnsModel, argv: list[str]) -> DnscmdResult:
    """Run ``dnscmd`` with argv (without the program name)."""
    if model.behaviour.dnscmd_txt == "off":
        return DnscmdResult(NOT_INSTALLED, 1, installed=False)
    args = list(argv)
    server_name = None
    if args and not args[0].startswith("/"):
        server_name = args.pop(0)
    if not args:
        return DnscmdResult("Usage: DnsCmd <ServerName> <Command> [<Command Parameters>]\r\n", 1)
    command = args.pop(0).lower()
    try:
        server = model.server(None if server_name in (None, ".") else server_name)
        if command == "/recordadd":
            return _record_add(model, server, args)
        if command == "/recorddelete":
            return _record_delete(model, server, args)
    except Win32Error as exc:
        return _failed(exc.code)
    return DnscmdResult(f"Unknown Command \"{command}\" Specified -- type DnsCmd -?.\r\n", 1)


def _failed(code: int) -> DnscmdResult:
    name = ds.WIN32_NAMES.get(code, "ERROR")
    return DnscmdResult(f"Command failed:  {name}     {code}    0x{code:X}\r\n", code)


def _owner(zone: ds.Zone, node: str) -> str:
    """dnscmd node names: ``@`` the root, ``x.`` absolute (must be in the zone), else relative."""
    if node == "@":
        return "@"
    if node.endswith("."):
        bare = node[:-1]
        if bare.lower() == zone.name.lower():
            return "@"
        if not bare.lower().endswith("." + zone.name.lower()):
            raise Win32Error(ds.DNS_ERROR_NAME_DOES_NOT_EXIST, node)
        return bare[: -len(zone.name) - 1]
    return node


def _parse(zone: ds.Zone, owner: str, rrtype: str, data: list[str], ttl: int, mode: str) -> Record:
    def name(value: str) -> str:
        return value if value.endswith(".") else f"{value}.{zone.name}."

    try:
        if rrtype == "A" and len(data) == 1:
            return Record(owner, "A", ttl, {"IPv4Address": str(ipaddress.IPv4Address(data[0]))})
        if rrtype == "AAAA" and len(data) == 1:
            return Record(owner, "AAAA", ttl, {"IPv6Address": str(ipaddress.IPv6Address(data[0]))})
        if rrtype in ("CNAME", "NS", "PTR") and len(data) == 1:
            prop = {"CNAME": "HostNameAlias", "NS": "NameServer", "PTR": "PtrDomainName"}[rrtype]
            return Record(owner, rrtype, ttl, {prop: name(data[0])})
        if rrtype == "MX" and len(data) == 2:
            return Record(owner, "MX", ttl, {"MailExchange": name(data[1]), "Preference": int(data[0])})
        if rrtype == "SRV" and len(data) == 4:
            return Record(owner, "SRV", ttl, {"DomainName": name(data[3]), "Port": int(data[2]),
                                              "Priority": int(data[0]), "Weight": int(data[1])})
        if rrtype == "TXT" and data:
            strings = data[:1] if mode == "first_only" else list(data)
            return Record(owner, "TXT", ttl, {"strings": strings})
    except ValueError:
        pass
    raise Win32Error(ds.ERROR_INVALID_DATA, rrtype)


def _record_add(model: WindowsDnsModel, server: ds.DnsServer, args: list[str]) -> DnscmdResult:
    if len(args) < 3:
        return DnscmdResult("Usage: DnsCmd <ServerName> /RecordAdd <Zone> <NodeName> [/Aging] [/OpenAcl] "
                            "[/CreatePTR] [<Ttl>] <RRType> <RRData>\r\n", 1)
    zone = server.zone(args[0])
    owner = _owner(zone, args[1])
    rest = args[2:]
    aging = False
    while rest and rest[0].startswith("/"):
        aging = aging or rest[0].lower() == "/aging"
        rest.pop(0)
    ttl = 3600
    if rest and rest[0].isdigit():
        ttl = int(rest.pop(0))
    if not rest:
        raise Win32Error(ds.ERROR_INVALID_DATA, "no record type")
    rrtype = rest.pop(0).upper()
    record = _parse(zone, owner, rrtype, rest, ttl, model.behaviour.dnscmd_txt)
    if aging:
        record.timestamp = ds.hour_aligned(ds.now_utc())
    model.add(server, zone, record, via="dnscmd")
    fqdn = zone.name if owner == "@" else f"{owner}.{zone.name}"
    return DnscmdResult(f"Add {rrtype} Record for {fqdn} at {zone.name}\r\nCommand completed successfully.\r\n", 0)


def _record_delete(model: WindowsDnsModel, server: ds.DnsServer, args: list[str]) -> DnscmdResult:
    force = any(a.lower() == "/f" for a in args)
    args = [a for a in args if a.lower() != "/f"]
    if len(args) < 3:
        return DnscmdResult("Usage: DnsCmd <ServerName> /RecordDelete <Zone> <NodeName> <RRType> <RRData> "
                            "[/f]\r\n", 1)
    if not force:
        # the confirmation prompt reads stdin; inside a WinRM command nothing answers it (unverified)
        return DnscmdResult("Are you sure you want to delete record? (y/n) ", 1)
    zone = server.zone(args[0])
    owner = _owner(zone, args[1])
    rrtype = args[2].upper()
    data = args[3:]
    with model.lock:
        at_node = [r for r in model.find(zone, owner, subtree=False) if r.rrtype == rrtype]
        if data:
            want = _parse(zone, owner, rrtype, data, 0, "multi").key()
            at_node = [r for r in at_node if r.key() == want]
        if not at_node:
            raise Win32Error(ds.DNS_ERROR_RECORD_DOES_NOT_EXIST, owner)
        for rec in at_node:
            model.remove(server, zone, rec, via="dnscmd")
    return DnscmdResult(f"Deleted {rrtype} record(s) at {zone.name}\r\nCommand completed successfully.\r\n", 0)
