"""The DNS exchanges of the RFC 2136 provider: AXFR/IXFR, UPDATE over one TCP connection, queries.

Counts every message it sends and receives (``stats``) so tests and the benchmark can check "one
AXFR per zone per run" and the number of UPDATE messages.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.xfr

from ...dnswire import WireError
from . import errors, transfer
from .settings import Settings
from .updates import sign
from .zonedata import TransferFormatError, ZoneData, apply_transfer


@dataclass
class Stats:
    axfr: int = 0  # AXFR requests (the first read of a zone)
    ixfr: int = 0  # IXFR requests (later reads by the same provider)
    ixfr_full: int = 0  # IXFR answered with the whole zone (RFC 1995 §4; BIND: max-ixfr-ratio)
    xfr_messages: int = 0
    update_messages: int = 0
    update_octets: int = 0
    largest_update: int = 0
    queries: int = 0
    by_zone_axfr: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Client:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keyring = settings.tsig.keyring() if settings.tsig else None
        self.key_name = settings.tsig.name if settings.tsig else None
        self.algorithm = settings.tsig.algorithm if settings.tsig else None
        self.stats = Stats()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def key_text(self) -> str | None:
        return self.key_name.to_text() if self.key_name else None

    def failure(self, exc: BaseException) -> errors.Failure:
        return errors.describe(exc, self.key_text, self.settings.timeout)

    # ------------------------------------------------------------------------------ transfers
    def transfer(self, zone: str, current: ZoneData | None) -> ZoneData:
        """AXFR (no data held) or IXFR from the held serial; raises errors.Failure."""
        origin = dns.name.from_text(zone)
        incremental = current is not None
        rdtype = dns.rdatatype.IXFR if incremental else dns.rdatatype.AXFR
        try:
            found, count = transfer.transfer(
                self.settings.server, self.settings.port, origin, rdtype, serial=current.serial if current else 0,
                timeout=self.settings.timeout, lifetime=max(60.0, self.settings.timeout * 6),
                keyring=self.keyring, key_name=self.key_name,
                algorithm=self.algorithm or dns.tsig.default_algorithm)
        except dns.xfr.TransferError as exc:
            if incremental and exc.rcode in (dns.rcode.NOTIMP, dns.rcode.FORMERR):
                return self.transfer(zone, None)  # a server without IXFR: fall back to AXFR
            raise self.failure(exc) from None
        except WireError as exc:
            if incremental:
                return self.transfer(zone, None)
            raise errors.Failure(f"unusable zone transfer: {exc}", "zone") from None
        except Exception as exc:
            raise self.failure(exc) from None
        try:
            data, kind, count = apply_transfer(current, zone, origin, found, count)
        except TransferFormatError as exc:
            if incremental:
                return self.transfer(zone, None)
            raise errors.Failure(f"unusable zone transfer: {exc}", "zone") from None
        self.stats.xfr_messages += count
        if not incremental:
            self.stats.axfr += 1
            self.stats.by_zone_axfr[zone] = self.stats.by_zone_axfr.get(zone, 0) + 1
        else:
            self.stats.ixfr += 1
            self.stats.ixfr_full += kind == "axfr"
        return data

    # -------------------------------------------------------------------------------- updates
    def send_update(self, unsigned: bytes) -> int:
        """Sign (TSIG) and send one rendered UPDATE over the shared TCP connection; the answer's rcode
        (its TSIG verified by dnspython).

        Raises errors.Failure. A failure while sending on a reused connection (the server closed it
        while idle) is retried once on a fresh one: the server never saw that message. A failure after
        the message was sent has an unknown outcome and is reported as such.
        """
        qid = int.from_bytes(unsigned[:2], "big")
        wire, mac = sign(unsigned, self.keyring, self.key_name)
        if len(wire) > 65535:
            raise errors.Failure(f"an UPDATE of {len(wire)} octets is over the 65,535 a DNS message can hold",
                                 "message")
        self.stats.update_messages += 1
        self.stats.update_octets += len(wire)
        self.stats.largest_update = max(self.stats.largest_update, len(wire))
        with self._lock:
            for attempt in (1, 2):
                fresh = self._sock is None
                try:
                    sock = self._connect()
                except Exception as exc:
                    raise self._not_sent(exc) from None
                expiration = time.monotonic() + self.settings.timeout
                try:
                    dns.query.send_tcp(sock, wire, expiration)
                except OSError as exc:
                    self._close()
                    if attempt == 1 and not fresh:
                        continue
                    raise self._not_sent(exc) from None
                try:
                    answer, _ = dns.query.receive_tcp(sock, expiration, keyring=self.keyring, request_mac=mac)
                except Exception as exc:
                    self._close()
                    failure = self.failure(exc)
                    if failure.scope != "server" or isinstance(exc, dns.tsig.PeerError):
                        raise failure from None
                    raise errors.Failure(f"{failure}; the update was sent, so whether the server applied it "
                                         "is unknown", "server", unknown=True) from None
                if (answer.id != qid or not answer.flags & dns.flags.QR
                        or answer.opcode() != dns.opcode.UPDATE):
                    self._close()
                    raise errors.Failure("the server's answer does not match the update sent", "server",
                                         unknown=True)
                return answer.rcode()
        raise AssertionError("unreachable")

    def _not_sent(self, exc: BaseException) -> errors.Failure:
        failure = self.failure(exc)
        failure.unknown = False  # the server never received the whole message
        return failure

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.settings.server, self.settings.port),
                                            timeout=self.settings.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # -------------------------------------------------------------------------------- queries
    def query_rrset(self, owner: dns.name.Name, rdtype: int) -> list[dns.rdata.Rdata] | None:
        """The RRset the server holds now (TCP, signed), or None when it does not exist."""
        query = dns.message.make_query(owner, rdtype)
        query.flags &= ~dns.flags.RD
        if self.keyring is not None:
            query.use_tsig(self.keyring, self.key_name, algorithm=self.algorithm or dns.tsig.default_algorithm)
        self.stats.queries += 1
        try:
            answer = dns.query.tcp(query, self.settings.server, timeout=self.settings.timeout,
                                   port=self.settings.port)
        except Exception as exc:
            raise self.failure(exc) from None
        if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise errors.Failure(f"query for {owner} failed ({dns.rcode.to_text(answer.rcode())})", "message")
        for rrset in answer.answer:
            if rrset.name == owner and rrset.rdtype == rdtype:
                return list(rrset)
        return None

    def close(self) -> None:
        with self._lock:
            self._close()
