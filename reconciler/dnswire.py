"""DNS messages read straight from the wire into plain values, without a dnspython object per record.

A zone transfer of 10,000 record sets made dnspython build ~10,000 Name, Rdata and RRset objects
only for the reconciler to turn them into text again; that was most of a plan's time (issue 6).
Here a record is a tuple ``(owner, rdtype, rdclass, ttl, rdata)``: the owner as lower-case absolute
text, exactly as ``dns.name.Name.to_text().lower()`` writes it, and the rdata as uncompressed wire
octets with the case the server sent (RFC 2136 prerequisites compare on them, so they must be
repeated as read). ``canonical`` turns the rdata of a modelled type into the model's value text,
the same text as built from dnspython's rdata (tests/rfc2136/test_dnswire.py holds them equal).
Anything unusual goes through dnspython, which stays the reference parser.

Malformed input raises ``WireError`` (a ``dns.exception.FormError``): names are bounded to 255
octets, compression pointers must point strictly backwards (RFC 1035 §4.1.4; no loops), every
length is checked against the message.
"""

from __future__ import annotations

import ipaddress
import re
import struct

import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype

from .model import dns as m


class WireError(dns.exception.FormError):
    pass


A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, TSIG, CAA = (1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 250, 257)
_NAME_ONLY = frozenset({NS, CNAME, PTR, 3, 4, 7, 8, 9})  # RFC 1035 types whose rdata is one name (MD, MF, MB, MG, MR)
_PLAIN_TYPES = frozenset({A, AAAA, TXT})  # rdata without names: kept as sent after a shape check
MAX_POINTERS = 16  # dnspython's MAX_COMPRESSION_POINTER_CHAIN: a longer chain is an attack, not a name
_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*-]+\Z")  # labels dnspython writes without escapes
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")

Record = tuple[str, int, int, int, bytes]  # owner, rdtype, rdclass, ttl, rdata
NameCache = dict[int, tuple[str, bytes]]  # offset in the message → (text, uncompressed wire) from there


def _label_text(label: bytes) -> str:
    if _PLAIN_LABEL.match(label):
        return label.decode("ascii").lower()
    return dns.name._escapify(label).lower()  # the same escapes as Name.to_text()


def read_name(wire: bytes, start: int, cache: NameCache) -> tuple[str, bytes, int]:
    """(lower-case absolute text, uncompressed wire with the sender's case, offset after the name)."""
    labels: list[tuple[int, str, bytes]] = []
    pos, end, limit = start, -1, start  # limit: a pointer must go below every earlier one
    hops = 0
    suffix_text, suffix_wire = "", b"\x00"
    while True:
        hit = cache.get(pos) if end >= 0 else None  # after a pointer: a suffix read before
        if hit is not None:
            suffix_text, suffix_wire = hit
            break
        try:
            size = wire[pos]
        except IndexError:
            raise WireError("a name runs past the end of the message") from None
        if size == 0:
            if end < 0:
                end = pos + 1
            break
        if size >= 0xC0:
            if pos + 1 >= len(wire):
                raise WireError("a compression pointer runs past the end of the message")
            target = ((size & 0x3F) << 8) | wire[pos + 1]
            if end < 0:
                end = pos + 2
            if target >= limit:
                raise WireError("a compression pointer does not point backwards")
            hops += 1
            if hops > MAX_POINTERS:
                raise WireError("a chain of more than 16 compression pointers")
            pos = limit = target
            continue
        if size > 63:
            raise WireError("unknown label type")
        label = wire[pos + 1:pos + 1 + size]
        if len(label) != size:
            raise WireError("a label runs past the end of the message")
        labels.append((pos, _label_text(label), wire[pos:pos + 1 + size]))
        pos += 1 + size
    text, name_wire = suffix_text, suffix_wire
    for offset, label_text, label_wire in reversed(labels):
        text = f"{label_text}.{text}"
        name_wire = label_wire + name_wire
        if len(name_wire) > 255:
            raise WireError("a name is longer than 255 octets")
        cache[offset] = (text, name_wire)
    return text or ".", name_wire, end


def _uncompressed(wire: bytes, start: int, end: int, rdtype: int, rdclass: int, cache: NameCache) -> bytes:
    """The rdata with every compressed name written out (dnspython for types not handled here)."""
    if rdclass != 1:  # rdata formats below are class IN's (CH's A, for one, is a name and an address)
        return _by_dnspython(wire, start, end, rdtype, rdclass)
    if rdtype in _PLAIN_TYPES:
        rdata = wire[start:end]
        _check_shape(rdtype, rdata)
        return rdata
    if rdtype in _NAME_ONLY:
        _, name_wire, after = read_name(wire, start, cache)
        if after != end:
            raise WireError("rdata length does not match its name")
        return name_wire
    if rdtype == MX or rdtype == SRV:
        fixed = 2 if rdtype == MX else 6
        if end - start < fixed + 1:
            raise WireError("rdata too short")
        _, name_wire, after = read_name(wire, start + fixed, cache)
        if after != end:
            raise WireError("rdata length does not match its name")
        return wire[start:start + fixed] + name_wire
    if rdtype == SOA:
        _, mname, after = read_name(wire, start, cache)
        _, rname, after = read_name(wire, after, cache)
        if end - after != 20:
            raise WireError("SOA rdata has the wrong length")
        return mname + rname + wire[after:end]
    return _by_dnspython(wire, start, end, rdtype, rdclass)


def _by_dnspython(wire: bytes, start: int, end: int, rdtype: int, rdclass: int) -> bytes:
    try:
        return dns.rdata.from_wire(rdclass, rdtype, wire, start, end - start).to_wire()
    except dns.exception.DNSException as exc:
        raise WireError(f"malformed {dns.rdatatype.to_text(rdtype)} rdata: {exc}") from None


def _check_shape(rdtype: int, rdata: bytes) -> None:
    if (rdtype == A and len(rdata) != 4) or (rdtype == AAAA and len(rdata) != 16):
        raise WireError("address rdata has the wrong length")
    if rdtype == TXT:
        txt_strings(rdata)


def txt_strings(rdata: bytes) -> list[bytes]:
    """The character-strings of a TXT rdata (RFC 1035 §3.3.14: one or more)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(rdata):
        size = rdata[pos]
        chunk = rdata[pos + 1:pos + 1 + size]
        if len(chunk) != size:
            raise WireError("a TXT character-string runs past its rdata")
        out.append(chunk)
        pos += 1 + size
    if not out:
        raise WireError("a TXT record without character-strings")
    return out


class Message:
    """One message's header and records (question skipped after it was checked)."""

    __slots__ = ("additional", "answer", "authority", "flags", "id", "question", "tsig_start")

    def __init__(self, wire: bytes) -> None:
        if len(wire) < 12:
            raise WireError("a message shorter than its header")
        self.id, self.flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
        cache: NameCache = {}
        pos = 12
        self.question: list[tuple[str, int, int]] = []
        for _ in range(qdcount):
            name, _, pos = read_name(wire, pos, cache)
            if pos + 4 > len(wire):
                raise WireError("a question runs past the end of the message")
            qtype, qclass = struct.unpack_from("!HH", wire, pos)
            self.question.append((name, qtype, qclass))
            pos += 4
        self.tsig_start = -1
        self.answer, pos = _section(wire, pos, ancount, cache, None)
        self.authority, pos = _section(wire, pos, nscount, cache, None)
        self.additional, pos = _section(wire, pos, arcount, cache, self)
        if pos != len(wire):
            raise WireError("octets after the last record")
        opts = [r for r in self.additional if r[1] == OPT]
        if len(opts) > 1 or any(r[0] != "." for r in opts):  # RFC 6891 §6.1.1: one, owned by the root
            raise WireError("a malformed OPT record")

    @property
    def rcode(self) -> int:
        """The response code with EDNS's upper bits (RFC 6891 §6.1.3), e.g. BADVERS."""
        for _, rdtype, _, ttl, _ in self.additional:
            if rdtype == OPT:
                return ((ttl >> 24) & 0xFF) << 4 | (self.flags & 0x000F)
        return self.flags & 0x000F


def _section(wire: bytes, pos: int, count: int, cache: NameCache, message: Message | None) -> tuple[list[Record], int]:
    out: list[Record] = []
    size = len(wire)
    for index in range(count):
        rr_start = pos
        owner, _, pos = read_name(wire, pos, cache)
        if pos + 10 > size:
            raise WireError("a record header runs past the end of the message")
        rdtype, rdclass, ttl, rdlen = _RR.unpack_from(wire, pos)
        pos += 10
        end = pos + rdlen
        if end > size:
            raise WireError("rdata runs past the end of the message")
        if rdtype == TSIG:
            if message is None or index != count - 1:
                raise WireError("a TSIG record that is not the last record of the message")
            message.tsig_start = rr_start
            pos = end
            continue
        if rdtype == OPT:
            if message is None:
                raise WireError("an OPT record outside the additional section")
            rdata = wire[pos:end]
        else:
            rdata = _uncompressed(wire, pos, end, rdtype, rdclass, cache)
        if rdtype != OPT and ttl > 0x7FFFFFFF:
            ttl = 0  # RFC 2181 §8, as dnspython reads it
        out.append((owner, rdtype, rdclass, ttl, rdata))
        pos = end
    return out, pos


# ------------------------------------------------------------------------------ canonical values

def canonical(rdtype: int, rdata: bytes) -> str:
    """The model's value text for one rdata of a modelled type (names absolute, lower-case)."""
    if rdtype == TXT:
        return m.txt_join(txt_strings(rdata))
    if rdtype == A:
        return f"{rdata[0]}.{rdata[1]}.{rdata[2]}.{rdata[3]}"
    if rdtype == AAAA:
        return str(ipaddress.IPv6Address(rdata))
    if rdtype in (CNAME, NS, PTR):
        return read_name(rdata, 0, {})[0]
    if rdtype == MX:
        return f"{int.from_bytes(rdata[:2], 'big')} {read_name(rdata, 2, {})[0]}"
    if rdtype == SRV:
        priority, weight, port = struct.unpack_from("!HHH", rdata)
        return f"{priority} {weight} {port} {read_name(rdata, 6, {})[0]}"
    if rdtype == CAA:
        flags, tag_len = rdata[0], rdata[1]
        tag = rdata[2:2 + tag_len].decode("ascii", "replace").lower()
        value = rdata[2 + tag_len:].decode("utf-8", errors="backslashreplace")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{flags} {tag} "{escaped}"'
    raise ValueError(f"type {dns.rdatatype.to_text(rdtype)} is not modelled")


def relative_to(owner: str, zone: str) -> str | None:
    """The owner (lower-case absolute text) relative to the zone ("@" for the apex), or None when it is
    outside. Label-aware: in ``www\\.namgun.or.kr.`` the first dot is part of a label, so that name
    is not inside ``or.kr.``."""
    if owner == zone:
        return "@"
    cut = len(owner) - len(zone) - 1
    if cut <= 0 or not owner.endswith(zone) or owner[cut] != ".":
        return None
    escapes = len(owner[:cut]) - len(owner[:cut].rstrip("\\"))
    return owner[:cut] if escapes % 2 == 0 else None


def soa_serial(rdata: bytes) -> int:
    _, _, after = read_name(rdata, 0, {})
    _, _, after = read_name(rdata, after, {})
    return int.from_bytes(rdata[after:after + 4], "big")


def to_rdata(rdtype: int, rdata: bytes) -> dns.rdata.Rdata:
    """The dnspython object for an rdata, built only where one is needed (UPDATE messages, display)."""
    return dns.rdata.from_wire(1, rdtype, rdata, 0, len(rdata))
