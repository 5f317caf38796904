"""The read program's projected records → canonical Resources (model/dns.py), with the guard rules.

windows-dns.md §8 guard rule: never delete (a) records with a Timestamp (dynamic: client/DHCP
registrations, aging), (b) SOA and apex NS, (c) names equal to or under the AD labels, (d) types not
modelled. (a)–(c) stay in the live state with ``meta["guard"]`` (git may still declare them); SOA and
unmodelled types are reported as unmanaged.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ...model import dns as m
from ...model.resource import GUARD, Resource

SOA_REASON = m.SOA_REASON
DYNAMIC_REASON = ("dynamic record (Timestamp set: registered by a client or DHCP, subject to aging); "
                  "never deleted")


@dataclass
class ZoneRead:
    zone: str
    resources: list[Resource] = field(default_factory=list)
    unmanaged: list[tuple[Resource, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    txt_names: list[str] = field(default_factory=list)  # managed TXT owners to re-read over DNS


def _value(zone: str, rtype: str, code: int, d: list[str]) -> str:
    if rtype == "A":
        text = d[0]
        if re.fullmatch(r"[0-9A-Fa-f]{8}", text):  # WS2025 reports the address in hex (nrkno#85)
            text = str(ipaddress.IPv4Address(bytes.fromhex(text)))
        return m.canonical_value("A", text, zone)
    if rtype in ("AAAA", "CNAME", "NS", "PTR", "TXT"):
        return m.canonical_value(rtype, d[0], zone)
    if rtype == "MX":
        return m.canonical_value("MX", {"preference": d[0], "exchange": d[1]}, zone)
    if rtype == "SRV":
        return m.canonical_value("SRV", {"priority": d[0], "weight": d[1], "port": d[2], "target": d[3]}, zone)
    if rtype == "CAA":
        raw = bytes.fromhex(d[0])
        tag_len = raw[1]
        return m.canonical_value("CAA", {"flags": raw[0], "tag": raw[2:2 + tag_len].decode("ascii"),
                                         "value": raw[2 + tag_len:].decode("utf-8", errors="backslashreplace")},
                                 zone)
    raise m.DnsValueError(f"type {rtype} is not modelled")


def zone_read(zone: str, records: list[dict[str, Any]]) -> ZoneRead:
    out = ZoneRead(zone)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        rtype = str(rec.get("t", "")).upper()
        code = int(rec.get("c") or 0)
        if code == 257:
            rtype = "CAA"  # RFC 3597 unknown-record support; RecordType text unverified (§6)
        try:
            name = m.relative_name(str(rec.get("n", "@")), zone)
        except m.DnsValueError:
            name = str(rec.get("n"))
        groups[(name, rtype if rtype in m.TYPES or rtype == "SOA" else f"{rtype}#{code}")].append(rec)
    for (name, rtype), recs in groups.items():
        ttls = {int(r.get("ttl") or 0) for r in recs}
        dynamic = any(r.get("ts") is not None for r in recs)
        if rtype not in m.TYPES:
            label = "SOA" if rtype == "SOA" else rtype.split("#")[0] or f"TYPE{rtype.split('#')[-1]}"
            values = sorted(" ".join(str(x) for x in r.get("d") or []) for r in recs)
            reason = SOA_REASON if rtype == "SOA" else f"type {label} is not modelled; left as it is"
            res = Resource(m.KIND, (zone, name, label), {"ttl": min(ttls), "values": values}, {GUARD: reason})
            out.unmanaged.append((res, reason))
            continue
        try:
            values = [_value(zone, rtype, int(r.get("c") or 0), [str(x) for x in r.get("d") or []]) for r in recs]
        except (m.DnsValueError, ValueError, IndexError) as exc:
            res = Resource(m.KIND, (zone, name, rtype), {"ttl": min(ttls), "values": []},
                           {GUARD: f"unreadable value ({exc})"})
            out.unmanaged.append((res, f"value could not be read ({exc}); left as it is"))
            continue
        meta: dict[str, Any] = {}
        if dynamic:
            meta[GUARD] = DYNAMIC_REASON
            meta["dynamic"] = True
        elif (reason := m.guard_reason(name, rtype)) is not None:
            meta[GUARD] = reason
        if rtype == "TXT":
            meta["txt_strings"] = {v: [v] for v in values}  # replaced by the DNS read-back
            if GUARD not in meta:
                out.txt_names.append(name)
        ttl: int | None = ttls.pop() if len(ttls) == 1 else None
        if ttl is None:
            out.notes.append(f"{zone}/{name}/{rtype}: records carry different TTLs {sorted(ttls)}; "
                             "the declared TTL will be set on all of them")
        data = {"ttl": ttl, "values": sorted(set(values))}
        out.resources.append(Resource(m.KIND, (zone, name, rtype), data, meta))
    return out


def with_dns_txt(res: Resource, strings_per_record: list[list[bytes]]) -> Resource:
    """Replace a TXT RRset's values with what DNS answers: every string of every record (§3.1)."""
    values = [m.txt_join(strings) for strings in strings_per_record]
    meta = dict(res.meta)
    meta["txt_strings"] = {m.txt_join(s): [b.decode("utf-8", errors="backslashreplace") for b in s]
                           for s in strings_per_record}
    data = {**res.data, "values": sorted(set(values))}
    return Resource(res.kind, res.key, data, meta, res.origin)
