"""A planned RRset change → the record operations the apply program performs, in a safe order.

- Values are sets: an update adds the new values, re-times the kept ones, removes the old ones.
  Several records per name are allowed for most types, so new values go in before old ones come out
  (no gap, windows-dns.md §4.3, inferred); a CNAME is a singleton: remove, then add.
- TTL-only changes use Set-DnsServerResourceRecord (§4.3), never remove + add.
- TXT: one string of at most 254 characters (254 UTF-16 units, at most 255 UTF-8 octets, no CR/LF)
  goes through the cmdlets; anything else is a *long* TXT published as several 255-octet strings
  (model.dns.txt_chunks) through dnscmd or the WMI provider (§3.1), in the configured order, each
  only when it can carry the value exactly:
  * dnscmd receives its arguments through Windows PowerShell 5.1's native command line, which does
    not escape embedded quotes and lets a backslash before the added closing quote escape it
    (reconciler/lab/windows_dns/dnscmd.py); whether dnscmd decodes non-ASCII arguments as UTF-8 is
    unknown. So dnscmd is used only for printable ASCII without ``"`` and ``\\``.
  * WMI takes a master-file line (RFC 1035 §5.1): ``"`` and ``\\`` are escaped, control characters
    written as ``\\DDD``.
  A long TXT whose value no configured path can carry is refused by ``check`` before any write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.CAA import CAA

from ...model import dns as m
from ...plan import Change

CMDLET_TXT_LIMIT = 254  # MSD-Add: "limited to 254 characters per line"
RRTYPE_PARAM = {"A": "A", "AAAA": "AAAA", "CNAME": "CName", "MX": "Mx", "TXT": "Txt", "SRV": "Srv",
                "PTR": "Ptr", "NS": "Ns"}


class OpError(ValueError):
    """A change that cannot be carried out exactly by any configured path (refused before writing)."""


def short_txt(value: str) -> bool:
    return (0 < len(value.encode("utf-16-le")) // 2 <= CMDLET_TXT_LIMIT
            and len(value.encode("utf-8")) <= 255 and "\r" not in value and "\n" not in value)


def dnscmd_safe(strings: list[str]) -> bool:
    return all(s and all(0x20 <= ord(ch) <= 0x7E and ch not in '"\\' for ch in s) for s in strings)


def master_file_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03d}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def txt_strings(value: str) -> list[str]:
    return [chunk.decode("utf-8") for chunk in m.txt_chunks(value)]


def caa_hex(value: str) -> str:
    """RDATA of a canonical CAA value as upper-case hex (Add -Type 257 -RecordData, windows-dns.md §6)."""
    flags, tag, rest = value.split(" ", 2)
    text = rest[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    rdata = CAA(dns.rdataclass.IN, dns.rdatatype.CAA, int(flags), tag.encode(), text.encode("utf-8"))
    return rdata.to_wire().hex().upper()


def _fields(rtype: str, value: str) -> list[str]:
    """The value as the apply program's ``v`` list (what Same/AddRec compare and send)."""
    if rtype == "MX":
        pref, exch = value.split(" ", 1)
        return [pref, exch]
    if rtype == "SRV":
        return value.split(" ", 3)
    if rtype == "CAA":
        return [caa_hex(value)]
    return [value]


@dataclass
class Planner:
    """Builds operations for one target."""

    long_paths: tuple[str, ...]
    computer: str | None = None
    notes: list[str] = field(default_factory=list)

    def methods(self, strings: list[str]) -> list[str]:
        out = []
        for path in self.long_paths:
            if path == "dnscmd" and dnscmd_safe(strings):
                out.append("dnscmd")
            elif path == "wmi":
                out.append("wmi")
        return out

    def _base(self, zone: str, name: str, rtype: str, op: str, ttl: int | None) -> dict[str, Any]:
        return {"op": op, "name": name, "type": rtype, "rrtype": RRTYPE_PARAM.get(rtype, rtype),
                "ttl": ttl if ttl is not None else 3600}

    def _long(self, zone: str, name: str, op: str, value: str, ttl: int | None, strings: list[str],
              live_values: set[str]) -> dict[str, Any]:
        fqdn = m.absolute_name(name, zone)
        rendered = " ".join(master_file_string(s) for s in strings)
        methods = self.methods(strings)
        if op == "add_long" and not methods:
            raise OpError(self._why_not(value, strings))
        base = self._base(zone, name, "TXT", op, ttl)
        base.update({
            "node": name, "fqdn": fqdn, "owner": fqdn.rstrip("."), "strings": strings, "value": value,
            "crlf": "\r\n".join(strings), "wmi": f"{fqdn} {base['ttl']} IN TXT {rendered}", "wmidata": rendered,
            "methods": methods if op == "add_long" else ["cmdlet", *methods],
            "undo": strings[0] not in live_values,
        })
        return base

    def _why_not(self, value: str, strings: list[str]) -> str:
        size = len(value.encode("utf-8"))
        tried = ", ".join(self.long_paths) or "none"
        reason = ("dnscmd cannot receive it unaltered (it contains a quote, a backslash, a control or a "
                  "non-ASCII character; Windows PowerShell 5.1 does not escape native arguments)"
                  if "dnscmd" in self.long_paths else "no long-TXT path is configured")
        return (f"this TXT value ({size} octets, {len(strings)} strings of at most 255) is longer than one "
                f"Add-DnsServerResourceRecord line (254 characters, windows-dns.md §3) and {reason}; "
                f"long_txt paths tried: {tried}; add 'wmi' to long_txt to publish it")

    def ops(self, change: Change) -> list[dict[str, Any]]:
        zone, name, rtype = change.key
        before = change.before.data if change.before else {"ttl": None, "values": []}
        after = change.after.data if change.after else {"ttl": None, "values": []}
        live_meta = change.before.meta if change.before else {}
        old = [v for v in before.get("values") or [] if isinstance(v, str)]
        new = [v for v in after.get("values") or [] if isinstance(v, str)]
        ttl_new = after.get("ttl")
        removed = [v for v in old if v not in new]
        added = [v for v in new if v not in old]
        kept = [v for v in new if v in old]
        retime = change.op == "update" and "ttl" in change.fields
        stored = live_meta.get("txt_strings") or {}
        live_values = set(old)

        # every TXT string list that will sit at the node during the change (live and newly added)
        present = {**{v: txt_strings(v) for v in new}, **stored} if rtype == "TXT" else {}

        def remove(value: str) -> dict[str, Any]:
            if rtype == "TXT":
                strings = stored.get(value) or [value]
                visible = {s[0] for v, s in present.items() if v != value} | {
                    "\r\n".join(s) for v, s in present.items() if v != value}
                ambiguous = strings[0] in visible or "\r\n".join(strings) in visible
                if len(strings) > 1 or ambiguous or "\r" in value or "\n" in value:
                    op = self._long(zone, name, "remove_long", value, before.get("ttl"), strings, live_values)
                    if ambiguous:  # another record shows the same text: never pick by the cmdlet's view
                        op["methods"] = [x for x in op["methods"] if x != "cmdlet"]
                    return op
            out = self._base(zone, name, rtype, "remove", before.get("ttl"))
            out["v"] = _fields(rtype, value)
            return out

        def add(value: str) -> dict[str, Any]:
            if rtype == "TXT" and not short_txt(value):
                return self._long(zone, name, "add_long", value, ttl_new, txt_strings(value), live_values)
            out = self._base(zone, name, rtype, "add", ttl_new)
            out["v"] = _fields(rtype, value)
            return out

        adds = [add(v) for v in added]
        removes = [remove(v) for v in removed]
        retimes: list[dict[str, Any]] = []
        if retime:
            for v in kept:
                strings = stored.get(v) or [v]
                if rtype == "TXT" and (len(strings) > 1 or not short_txt(v)):
                    # a long TXT cannot be re-timed through the cmdlet's view of it: publish again
                    removes.append(remove(v))
                    adds.append(add(v))
                    continue
                op = self._base(zone, name, rtype, "ttl", ttl_new)
                op["v"] = _fields(rtype, v)
                retimes.append(op)
        if rtype == "CNAME":
            return removes + adds + retimes
        if rtype == "TXT" and any(o["op"] == "remove_long" and o["value"] in new for o in removes):
            return removes + adds + retimes  # re-publishing the same value: take the old one out first
        return adds + retimes + removes
