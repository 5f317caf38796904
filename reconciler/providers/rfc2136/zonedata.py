"""A zone as read from the server: every RRset with the exact rdata the server holds.

Exact rdata matters beyond comparison: RFC 2136 §2.4.2 prerequisites ("this RRset exists with
exactly these records") are compared by the server on the wire form, including how a TXT value was
split into character-strings, so they must repeat what was read, not a re-encoding of it.

The first read of a zone is one AXFR; later reads by the same provider (the verification after an
apply) ask for IXFR from the serial held, so a run transfers the whole zone once (issue 6 part 5).
A server that answers IXFR with a full transfer (RFC 1995 §4) is handled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.name
import dns.rdata

from ...dnswire import NS, SOA, Record, relative_to, soa_serial, to_rdata
from ...model.resource import Resource


@dataclass
class RRset:
    ttl: int
    rdtype: int
    wires: list[bytes]  # uncompressed rdata as the server sent it
    _rdatas: list[dns.rdata.Rdata] | None = field(default=None, repr=False, compare=False)
    resource: Resource | None = field(default=None, repr=False, compare=False)  # what the provider made of it

    def changed(self) -> None:
        self._rdatas = self.resource = None

    @property
    def rdatas(self) -> list[dns.rdata.Rdata]:
        """dnspython objects, made only for the record sets an UPDATE or a message needs."""
        if self._rdatas is None:
            self._rdatas = [to_rdata(self.rdtype, w) for w in self.wires]
        return self._rdatas


@dataclass
class ZoneData:
    zone: str  # canonical zone name, no trailing dot
    origin: dns.name.Name
    serial: int = 0
    soa_wire: bytes | None = None
    rrsets: dict[tuple[str, int], RRset] = field(default_factory=dict)  # (relative name, rdtype)
    _ns: dict[str, str] | None = field(default=None, repr=False, compare=False)
    _suffix: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        self._suffix = "." + self.origin.to_text().lower()

    @property
    def soa(self) -> dns.rdata.Rdata | None:
        return to_rdata(SOA, self.soa_wire) if self.soa_wire is not None else None

    def relative(self, owner: str) -> str:
        """Lower-case absolute owner text (dnswire) → the name relative to the zone, "@" for the apex."""
        relative = relative_to(owner, self._suffix[1:])
        if relative is None:
            raise TransferFormatError(f"the record {owner} is outside the zone")
        return relative

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
    def add(self, owner: str, rdtype: int, ttl: int, wire: bytes) -> None:
        if rdtype == SOA:
            self.soa_wire = wire
            self.serial = soa_serial(wire)
            return
        if rdtype == NS:
            self._ns = None
        key = (self.relative(owner), rdtype)
        rrset = self.rrsets.get(key)
        if rrset is None:
            self.rrsets[key] = RRset(ttl, rdtype, [wire])
        else:
            rrset.ttl = ttl  # RFC 2181 §5.2: one TTL per RRset; the newest wins
            if wire not in rrset.wires:
                rrset.wires.append(wire)
            rrset.changed()

    def remove(self, owner: str, rdtype: int, wire: bytes) -> None:
        if rdtype == SOA:
            return
        if rdtype == NS:
            self._ns = None
        key = (self.relative(owner), rdtype)
        rrset = self.rrsets.get(key)
        if rrset is None:
            raise TransferFormatError(f"the IXFR deletes a record {owner} does not hold")
        if wire in rrset.wires:
            rrset.wires.remove(wire)
        else:  # the same record written with other letter case in a name: compare as DNS does
            gone = to_rdata(rdtype, wire)
            kept = [w for w in rrset.wires if to_rdata(rdtype, w) != gone]
            if len(kept) == len(rrset.wires):
                raise TransferFormatError(f"the IXFR deletes a record {owner} does not hold")
            rrset.wires = kept
        rrset.changed()
        if not rrset.wires:
            del self.rrsets[key]


class TransferFormatError(Exception):
    pass


def apply_transfer(current: ZoneData | None, zone: str, origin: dns.name.Name,
                   records: list[Record], count: int = 1) -> tuple[ZoneData, str, int]:
    """Build or update a ZoneData from the records of an AXFR or IXFR answer (``count`` messages).
    Returns (data, "axfr"|"ixfr"|"current", count)."""
    if not records or records[0][1] != SOA:
        raise TransferFormatError("the transfer does not start with the zone's SOA record")
    new_serial = soa_serial(records[0][4])
    if len(records) == 1:
        # IXFR answer "you are current" (RFC 1995 §4: only the SOA).
        if current is None or current.serial != new_serial:
            raise TransferFormatError("the server sent only an SOA record where a zone was expected")
        return current, "current", count
    if records[1][1] != SOA or current is None:
        return _full(zone, origin, records), "axfr", count
    return _incremental(current, records, new_serial), "ixfr", count


def _full(zone: str, origin: dns.name.Name, records: list[Record]) -> ZoneData:
    if records[-1][1] != SOA:
        raise TransferFormatError("the zone transfer ended without the closing SOA record")
    data = ZoneData(zone=zone, origin=origin)
    add = data.add
    for owner, rdtype, _, ttl, wire in records[:-1]:
        add(owner, rdtype, ttl, wire)
    return data


def _incremental(current: ZoneData, records: list[Record], new_serial: int) -> ZoneData:
    """RFC 1995 §4: SOA(new), then per version [SOA(old), deleted…, SOA(next), added…], SOA(new)."""
    first = soa_serial(records[1][4])
    if first != current.serial:
        raise TransferFormatError(f"IXFR starts at serial {first}, not at the serial held ({current.serial})")
    body = records[1:-1]
    if records[-1][1] != SOA or soa_serial(records[-1][4]) != new_serial:
        raise TransferFormatError("the IXFR answer ended without the closing SOA record")
    adding = True  # the first SOA of the body opens a deletion section
    for owner, rdtype, _, ttl, wire in body:
        if rdtype == SOA:
            adding = not adding
            if adding:
                current.add(owner, rdtype, ttl, wire)  # the version this difference leads to
            elif soa_serial(wire) != current.serial:
                raise TransferFormatError(f"an IXFR difference starts at serial {soa_serial(wire)}, not at "
                                          f"the version reached ({current.serial})")
            continue
        if adding:
            current.add(owner, rdtype, ttl, wire)
        else:
            current.remove(owner, rdtype, wire)
    if current.serial != new_serial:
        raise TransferFormatError(f"IXFR left the zone at serial {current.serial}, expected {new_serial}")
    return current
