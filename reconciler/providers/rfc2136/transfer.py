"""One AXFR or IXFR over TCP, read with ``dnswire`` and verified with dnspython's TSIG code.

Each message is checked as dnspython's ``dns.query.xfr`` checks it (id, QR, opcode, question,
rcode, TSIG), with one rule stricter: when the query was signed, the first and the last message must
carry a valid TSIG and no more than 99 messages in a row may go without one (RFC 8945 §5.3.1);
dnspython accepts an unsigned answer to a signed transfer.

The end of the transfer is found as RFC 5936 §2.2 (AXFR: the SOA again) and RFC 1995 §4 (IXFR:
the SOA of the new version closing the last difference) describe; the records are handed to
``zonedata.apply_transfer`` which checks the sequence itself.
"""

from __future__ import annotations

import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.serial
import dns.tsig
import dns.xfr

from ...dnswire import SOA, Message, Record, WireError, soa_serial

MAX_UNSIGNED = 99  # RFC 8945 §5.3.1: a TSIG at least every 100 messages


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self.sock, self.deadline, self.timeout = sock, deadline, timeout

    def exactly(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise dns.exception.Timeout
            self.sock.settimeout(min(self.timeout, left))
            chunk = self.sock.recv(min(size, 65536))
            if not chunk:
                raise EOFError("the server closed the connection during the transfer")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


class _End:
    """Where a transfer ends: the SOA that closes it. Every SOA must be the zone's own (at the apex)."""

    def __init__(self, zone: str, ixfr_query: bool, held_serial: int) -> None:
        self.zone, self.ixfr_query, self.held_serial = zone, ixfr_query, held_serial
        self.first_serial: int | None = None
        self.ixfr_style: bool | None = None
        self.soas = 0  # SOA records after the first one
        self.seen = 0

    def feed(self, records: list[Record]) -> bool:
        """True when the transfer is complete after these records (which must then be the last)."""
        done = False
        for owner, rdtype, rdclass, _, rdata in records:
            if done:
                raise WireError("records after the end of the zone transfer")
            if rdclass != dns.rdataclass.IN:
                raise WireError(f"a record of class {dns.rdataclass.to_text(rdclass)} in an IN zone transfer")
            if rdtype == SOA and owner != self.zone:
                raise WireError(f"an SOA record for {owner} inside the transfer of {self.zone}")
            self.seen += 1
            if self.first_serial is None:
                if rdtype != SOA:
                    raise WireError("the transfer does not start with the zone's SOA record")
                self.first_serial = soa_serial(rdata)
                # IXFR from a serial the server holds, or from one it never reached (its zone went back):
                # the SOA alone (RFC 1995 §4). The caller tells the two apart.
                done = self.ixfr_query and (
                    self.first_serial == self.held_serial
                    or dns.serial.Serial(self.first_serial) < dns.serial.Serial(self.held_serial))
                continue
            if self.seen == 2:
                self.ixfr_style = self.ixfr_query and rdtype == SOA
            if rdtype != SOA:
                continue
            self.soas += 1
            serial = soa_serial(rdata)
            if not self.ixfr_style:
                if serial != self.first_serial:  # RFC 5936 §2.2: the same SOA opens and closes it
                    raise WireError(f"the zone transfer opened at serial {self.first_serial} and closed at {serial}")
                done = True
            elif self.soas % 2 == 1 and serial == self.first_serial:
                done = True  # where the next difference would start stands the new version's SOA
        return done


def transfer(server: str, port: int, zone: dns.name.Name, rdtype: int, *, serial: int, timeout: float,
             lifetime: float, keyring: dict[dns.name.Name, dns.tsig.Key] | None,
             key_name: dns.name.Name | None, algorithm: dns.name.Name | str) -> tuple[list[Record], int]:
    """Every record of the answer (SOA first, SOA last) and the number of messages."""
    query = dns.message.make_query(zone, rdtype)
    if rdtype == dns.rdatatype.IXFR:
        soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, f". . {serial} 0 0 0 0")
        query.find_rrset(query.authority, zone, dns.rdataclass.IN, dns.rdatatype.SOA, create=True).add(soa, 0)
    if keyring is not None and key_name is not None:
        query.use_tsig(keyring, key_name, algorithm=algorithm)
    wire = query.to_wire()
    key = keyring.get(key_name) if keyring is not None and key_name is not None else None
    deadline = time.monotonic() + lifetime
    zone_text = zone.to_text().lower()
    end = _End(zone_text, rdtype == dns.rdatatype.IXFR, serial)
    records: list[Record] = []
    count = 0
    with socket.create_connection((server, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        reader = _Reader(sock, deadline, timeout)
        ctx = None
        unsigned = 0
        done = False
        while not done:
            (size,) = struct.unpack("!H", reader.exactly(2))
            raw = reader.exactly(size)
            message = Message(raw)
            count += 1
            _check_header(message, query, rdtype, zone_text, first=count == 1)
            if message.tsig_start >= 0:
                ctx = _verify(raw, message, key, query.mac, ctx)
                unsigned = 0
            elif key is not None:
                if ctx is None or unsigned >= MAX_UNSIGNED:
                    raise dns.tsig.BadSignature("the transfer answer is not signed with the TSIG key")
                ctx.update(raw)  # covered by the next signed message (RFC 8945 §5.3.1)
                unsigned += 1
            if message.rcode != dns.rcode.NOERROR:
                raise dns.xfr.TransferError(message.rcode)
            done = end.feed(message.answer)
            if done and key is not None and message.tsig_start < 0:
                raise dns.tsig.BadSignature("the last message of the transfer is not signed")
            records.extend(message.answer)
    return records, count


def _check_header(message: Message, query: dns.message.Message, rdtype: int, zone: str, *, first: bool) -> None:
    if message.id != query.id or not message.flags & dns.flags.QR or (message.flags >> 11) & 0xF != 0:
        raise dns.query.BadResponse("the answer does not match the transfer request")
    if first and message.rcode == dns.rcode.NOERROR and len(message.question) != 1:
        raise dns.query.BadResponse("the first message of the transfer does not repeat the question")
    for name, qtype, qclass in message.question:
        if name != zone or qtype != rdtype or qclass != dns.rdataclass.IN:
            raise dns.query.BadResponse("the answer is for another question")


def _verify(raw: bytes, message: Message, key: dns.tsig.Key | None, request_mac: bytes, ctx: object) -> object:
    """dnspython's TSIG validation of one message (raises dns.tsig errors, Peer* for the server's)."""
    owner, used = dns.name.from_wire(raw, message.tsig_start)
    after = message.tsig_start + used
    _, rdclass, _, rdlen = struct.unpack_from("!HHIH", raw, after)
    if rdclass != dns.rdataclass.ANY:
        raise WireError("a TSIG record whose class is not ANY")
    rdata = dns.rdata.from_wire(rdclass, dns.rdatatype.TSIG, raw, after + 10, rdlen)
    if key is None:
        raise dns.message.UnknownTSIGKey("got a signed answer to an unsigned transfer")
    return dns.tsig.validate(raw, key, owner, rdata, int(time.time()), request_mac, message.tsig_start,
                             ctx, True)
