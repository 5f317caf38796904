"""desired/dns/<zone>.yaml → canonical `dns.rrset` Resources, with per-type and mail checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model import dns as m
from ..model.resource import Origin, Ref, Resource
from . import mailchecks
from .diagnostics import Diagnostics
from .yamlsource import Pos, YList, YMap

DEFAULT_TTL = 3600
# A whole TXT RRset must fit in one DNS message over TCP (RFC 1035 §4.2.2: 65,535 octets), with room
# for the header, the question and the owner name of every record.
MAX_RRSET_WIRE = 60_000  # the Windows DNS default too (windows-dns.md §4.1)


def load_zone(doc: Any, path: Path, file: str, diags: Diagnostics) -> list[Resource]:
    """Turn one validated zone document into RRsets. Adds diagnostics; skips what cannot be read."""
    zone_text = doc.get("zone") or path.name.removesuffix(".yaml").removesuffix(".yml")
    try:
        zone = m.zone_name(str(zone_text))
    except m.DnsValueError as exc:
        pos = doc.where("zone") if "zone" in doc else doc.pos
        diags.error(file, pos.line, pos.col, str(exc))
        return []
    default_ttl = int((doc.get("defaults") or {}).get("ttl", DEFAULT_TTL))
    records: YMap = doc["records"] or YMap()

    seen: dict[tuple[str, str], Pos] = {}
    owners: dict[str, list[tuple[str, Pos]]] = {}
    out: list[Resource] = []
    for raw_name, entry in records.items():
        key_pos = records.key_pos[raw_name]
        try:
            name = m.relative_name("" if raw_name is None else str(raw_name), zone)
        except m.DnsValueError as exc:
            diags.error(file, key_pos.line, key_pos.col, str(exc))
            continue
        fqdn = m.absolute_name(name, zone)
        if len(fqdn) > 254:  # RFC 1035 §2.3.4: 255 octets on the wire, 253 characters plus the dot
            diags.error(file, key_pos.line, key_pos.col,
                        f"name {fqdn} is {len(fqdn) - 1} characters; a DNS name holds at most 253")
            continue
        items = list(entry) if isinstance(entry, list) else [entry]
        item_pos = entry.item_pos if isinstance(entry, YList) else [records.where(raw_name)]
        for rec, pos in zip(items, item_pos, strict=True):
            rtype = rec["type"]
            if (name, rtype) in seen:
                first = seen[(name, rtype)]
                diags.error(file, pos.line, pos.col,
                            f"{rtype} at {name!r} is declared twice (first at line {first.line}); "
                            "put every value of one name and type in one record's `values:`")
                continue
            seen[(name, rtype)] = pos
            owners.setdefault(name, []).append((rtype, pos))
            resource = _record(zone, name, rtype, rec, default_ttl, file, pos, diags)
            if resource is not None:
                out.append(resource)
    _check_cname_coexistence(zone, owners, file, diags)
    _check_spf_unique(out, file, diags)
    return out


def _record(zone: str, name: str, rtype: str, rec: YMap, default_ttl: int, file: str, pos: Pos,
            diags: Diagnostics) -> Resource | None:
    raw_values = list(rec["values"]) if "values" in rec else [rec["value"]]
    value_pos = rec["values"].item_pos if isinstance(rec.get("values"), YList) \
        else [rec.where("value")] * len(raw_values)
    values: list[str | Ref] = []
    ok = True
    for raw, vpos in zip(raw_values, value_pos, strict=True):
        if isinstance(raw, dict) and "from" in raw:
            if rtype != "TXT":
                diags.error(file, vpos.line, vpos.col, f"a {raw['from']} reference is only valid in a TXT record")
                ok = False
                continue
            values.append(Ref(source=str(raw["from"]), what="dkim", id=str(raw["dkim"])))
            continue
        try:
            value = m.canonical_value(rtype, raw, zone)
        except m.DnsValueError as exc:
            diags.error(file, vpos.line, vpos.col, f"{rtype} {name}: {exc}")
            ok = False
            continue
        if value in values:
            diags.error(file, vpos.line, vpos.col, f"{rtype} {name}: duplicate value {_short(value)}")
            ok = False
            continue
        values.append(value)
        if rtype == "TXT":
            for severity, message in mailchecks.check_txt(name, value):
                getattr(diags, severity)(file, vpos.line, vpos.col, f"TXT {name}: {message}")
    if not ok:
        return None
    if rtype == "TXT":
        wire = sum(len(chunk) + 1 for v in values if isinstance(v, str) for chunk in m.txt_chunks(v))
        if wire > MAX_RRSET_WIRE:
            diags.error(file, pos.line, pos.col,
                        f"TXT {name}: {wire} octets on the wire; a DNS response holds at most 65,535 octets, so "
                        f"no server could publish or answer it (keep the record set under {MAX_RRSET_WIRE})")
            return None
    if rtype == "CNAME" and len(values) > 1:
        diags.error(file, pos.line, pos.col, f"CNAME {name} has {len(values)} values; a CNAME has exactly one")
        return None
    if rtype == "CNAME" and name == "@":
        diags.error(file, pos.line, pos.col, "a CNAME cannot sit at the zone apex (RFC 1912 §2.4)")
        return None
    ttl = int(rec.get("ttl", default_ttl))
    meta: dict[str, Any] = {}
    if rec.get("verify_only"):
        meta["verify_only"] = True
    return Resource(kind=m.KIND, key=(zone, name, rtype), data=m.rrset_data(ttl, values), meta=meta,
                    origin=Origin(file, pos.line, pos.col))


def _check_cname_coexistence(zone: str, owners: dict[str, list[tuple[str, Pos]]], file: str,
                             diags: Diagnostics) -> None:
    for name, entries in owners.items():
        types = [t for t, _ in entries]
        if "CNAME" in types and len(types) > 1:
            pos = next(p for t, p in entries if t == "CNAME")
            others = ", ".join(t for t in types if t != "CNAME")
            diags.error(file, pos.line, pos.col,
                        f"CNAME at {name!r} beside other data ({others}); RFC 1034 §3.6.2 forbids it")


def _check_spf_unique(resources: list[Resource], file: str, diags: Diagnostics) -> None:
    for res in resources:
        if res.key[2] != "TXT":
            continue
        spf = [v for v in res.data["values"] if isinstance(v, str) and v.lower().startswith("v=spf1")]
        if len(spf) > 1 and res.origin:
            diags.error(file, res.origin.line, res.origin.col,
                        f"TXT {res.key[1]}: {len(spf)} SPF records at one name is a permanent error "
                        "(RFC 7208 §4.5)")


def _short(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")
