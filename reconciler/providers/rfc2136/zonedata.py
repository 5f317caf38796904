"""A zone as read from the server: every RRset with the exact rdata the server holds.

Exact rdata matters beyond comparison: RFC 2136 §2.4.2 prerequisites ("this RRset exists with
exactly these records") are compared by the server on the wire form, including how a TXT value was
split into character-strings, so they must repeat what was read, not a re-encoding of it.

The first read of a zone is one AXFR; later reads by the same provider (the verification after an
apply) ask for IXFR from the serial held, so a run transfers the whole zone once (issue 6 part 5).
A server that answers IXFR with a full transfer (RFC 1995 §4) is handled the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS


@dataclass
class RRset:
    ttl: int
    rdatas: list[dns.rdata.Rdata]


@dataclass
class ZoneData:
    zone: str  # canonical zone name, no trailing dot
    origin: dns.name.Name
    serial: int = 0
    soa: dns.rdata.Rdata | None = None
    rrsets: dict[tuple[str, int], RRset] = field(default_factory=dict)  # (relative name, rdtype)
    _ns: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def relative(self, name: dns.name.Name) -> str:
        if name == self.origin:
            return "@"
        return name.relativize(self.origin).to_text().lower()

    def owner(self, relative: str) -> dns.name.Name:
        return self.origin if relative == "@" else dns.name.from_text(relative, self.origin)

    def get(self, relative: str, rdtype: int) -> RRset | None:
        return self.rrsets.get((relative, rdtype))

    def name_servers(self) -> dict[str, str]:
        """Absolute name-server host → the owner of the NS record naming it (apex or delegation)."""
        if self._ns is None:
            self._ns = {r.target.to_text().lower(): owner  # type: ignore[attr-defined]
                        for (owner, rdtype), rrset in self.rrsets.items() if rdtype == NS for r in rrset.rdatas}
        return self._ns

    # ---------------------------------------------------------------------------- building
    def add(self, name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        if rdata.rdtype == SOA:
            self.soa = rdata
            self.serial = rdata.serial  # type: ignore[attr-defined]
            return
        if rdata.rdtype == NS:
            self._ns = None
        key = (self.relative(name), rdata.rdtype)
        rrset = self.rrsets.get(key)
        if rrset is None:
            self.rrsets[key] = RRset(ttl, [rdata])
        else:
            rrset.ttl = ttl  # RFC 2181 §5.2: one TTL per RRset; the newest wins
            if rdata not in rrset.rdatas:
                rrset.rdatas.append(rdata)

    def remove(self, name: dns.name.Name, rdata: dns.rdata.Rdata) -> None:
        if rdata.rdtype == SOA:
            return
        if rdata.rdtype == NS:
            self._ns = None
        key = (self.relative(name), rdata.rdtype)
        rrset = self.rrsets.get(key)
        if rrset is None:
            return
        rrset.rdatas = [r for r in rrset.rdatas if r != rdata]
        if not rrset.rdatas:
            del self.rrsets[key]


class TransferFormatError(Exception):
    pass


def _records(messages: Iterable[dns.message.Message]) -> tuple[list[tuple[dns.name.Name, int, dns.rdata.Rdata]], int]:
    out: list[tuple[dns.name.Name, int, dns.rdata.Rdata]] = []
    count = 0
    for message in messages:
        count += 1
        for rrset in message.answer:
            ttl = rrset.ttl
            name = rrset.name
            out.extend((name, ttl, rdata) for rdata in rrset)
    return out, count


def apply_transfer(current: ZoneData | None, zone: str, origin: dns.name.Name,
                   messages: Iterable[dns.message.Message]) -> tuple[ZoneData, str, int]:
    """Build or update a ZoneData from AXFR or IXFR messages. Returns (data, "axfr"|"ixfr"|"current", messages)."""
    records, count = _records(messages)
    if not records or records[0][2].rdtype != SOA:
        raise TransferFormatError("the transfer does not start with the zone's SOA record")
    new_serial = records[0][2].serial  # type: ignore[attr-defined]
    if len(records) == 1:
        # IXFR answer "you are current" (RFC 1995 §4: only the SOA).
        if current is None or current.serial != new_serial:
            raise TransferFormatError("the server sent only an SOA record where a zone was expected")
        return current, "current", count
    if records[1][2].rdtype != SOA or current is None:
        return _full(zone, origin, records), "axfr", count
    return _incremental(current, records, new_serial), "ixfr", count


def _full(zone: str, origin: dns.name.Name, records: list[tuple[dns.name.Name, int, dns.rdata.Rdata]]) -> ZoneData:
    if records[-1][2].rdtype != SOA:
        raise TransferFormatError("the zone transfer ended without the closing SOA record")
    data = ZoneData(zone=zone, origin=origin)
    for name, ttl, rdata in records[:-1]:
        data.add(name, ttl, rdata)
    return data


def _incremental(current: ZoneData, records: list[tuple[dns.name.Name, int, dns.rdata.Rdata]],
                 new_serial: int) -> ZoneData:
    """RFC 1995 §4: SOA(new), then per version [SOA(old), deleted…, SOA(next), added…], SOA(new)."""
    if records[1][2].serial != current.serial:  # type: ignore[attr-defined]
        raise TransferFormatError(f"IXFR starts at serial {records[1][2].serial}, "  # type: ignore[attr-defined]
                                  f"not at the serial held ({current.serial})")
    body = records[1:-1]
    if records[-1][2].rdtype != SOA or records[-1][2].serial != new_serial:  # type: ignore[attr-defined]
        raise TransferFormatError("the IXFR answer ended without the closing SOA record")
    adding = True  # the first SOA of the body opens a deletion section
    for name, ttl, rdata in body:
        if rdata.rdtype == SOA:
            adding = not adding
            if adding:
                current.add(name, ttl, rdata)  # the version this difference leads to
            continue
        if adding:
            current.add(name, ttl, rdata)
        else:
            current.remove(name, rdata)
    if current.serial != new_serial:
        raise TransferFormatError(f"IXFR left the zone at serial {current.serial}, expected {new_serial}")
    return current
