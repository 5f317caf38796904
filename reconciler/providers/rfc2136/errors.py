"""Turn dnspython exceptions and response codes into messages that name the server and the zone.

Every message says what happened and what to look at; none carries a secret (TSIG errors name the
key, never its value).
"""

from __future__ import annotations

import socket

import dns.exception
import dns.rcode
import dns.tsig
import dns.xfr

from ...dnswire import WireError

# Response codes of a failed RFC 2136 §2.4 prerequisite (§3.2).
PREREQ_RCODES = {dns.rcode.YXDOMAIN, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.NXRRSET}


class Failure(Exception):
    """One failed exchange. ``scope``: "server" (nothing else will work: stop the run), "zone" (stop
    this zone) or "message" (only this message failed). ``unknown``: the server may have applied it."""

    def __init__(self, message: str, scope: str, *, unknown: bool = False, rcode: int | None = None) -> None:
        super().__init__(message)
        self.scope = scope
        self.unknown = unknown
        self.rcode = rcode


def describe(exc: BaseException, key_name: str | None, timeout: float) -> Failure:
    """A Failure for an exception raised by a query, an AXFR or an UPDATE."""
    key = f"TSIG key {key_name!r}" if key_name else "no TSIG key"
    if isinstance(exc, dns.tsig.PeerBadKey):
        return Failure(f"the server does not know the {key} (BADKEY); check tsig.name and the key "
                       "in the server's configuration", "server")
    if isinstance(exc, dns.tsig.PeerBadSignature):
        return Failure(f"the server rejected the signature made with the {key} (BADSIG): the secret does "
                       "not match the server's key", "server")
    if isinstance(exc, dns.tsig.PeerBadTime):
        return Failure("the server rejected the TSIG time (BADTIME): this host's clock and the server's "
                       "differ by more than the allowed fudge", "server")
    if isinstance(exc, dns.tsig.PeerError):
        return Failure(f"the server rejected the TSIG signature ({type(exc).__name__})", "server")
    if isinstance(exc, dns.tsig.BadSignature | dns.tsig.BadTime | dns.tsig.BadKey | dns.tsig.BadAlgorithm
                  | dns.message.UnknownTSIGKey):
        return Failure("the server's answer failed TSIG verification (wrong key or tampered answer)", "server")
    if isinstance(exc, dns.xfr.TransferError):
        return transfer_rcode(exc.rcode)
    if isinstance(exc, ConnectionRefusedError):
        return Failure("connection refused: the DNS server is down or not listening on this port", "server")
    if isinstance(exc, dns.exception.Timeout | socket.timeout | TimeoutError):
        return Failure(f"no answer within {timeout:g}s (server down, filtered, or overloaded)", "server",
                       unknown=True)
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
        return Failure("the server closed the connection before answering", "server", unknown=True)
    if isinstance(exc, OSError):
        return Failure(f"network error: {exc.strerror or type(exc).__name__}", "server", unknown=True)
    if isinstance(exc, WireError):
        return Failure(f"malformed answer from the server: {exc}", "message", unknown=True)
    if isinstance(exc, dns.message.Truncated | dns.exception.FormError):
        return Failure(f"malformed answer from the server ({type(exc).__name__})", "message", unknown=True)
    return Failure(f"{type(exc).__name__}: {exc}", "message", unknown=True)


def transfer_rcode(rcode: int) -> Failure:
    text = dns.rcode.to_text(rcode)
    if rcode == dns.rcode.REFUSED:
        return Failure("AXFR refused (REFUSED): the server does not allow zone transfers to this TSIG key "
                       "(BIND: allow-transfer { key …; })", "zone", rcode=rcode)
    if rcode == dns.rcode.NOTAUTH:
        return Failure("AXFR refused (NOTAUTH): the server is not authoritative for the zone or does not "
                       "accept the TSIG key", "zone", rcode=rcode)
    return Failure(f"zone transfer failed ({text})", "zone", rcode=rcode)


def update_rcode(rcode: int) -> Failure:
    text = dns.rcode.to_text(rcode)
    if rcode in PREREQ_RCODES:
        return Failure(f"prerequisite failed ({text}): a record set was changed on the server since it was "
                       "read; nothing in this message was applied", "message", rcode=rcode)
    if rcode == dns.rcode.REFUSED:
        return Failure("update refused (REFUSED): the server does not allow updates to this zone with this "
                       "TSIG key (BIND: allow-update / update-policy), or the update failed one of its checks "
                       "(see the server's log)", "zone", rcode=rcode)
    if rcode == dns.rcode.NOTAUTH:
        return Failure("update refused (NOTAUTH): the server is not authoritative for the zone (or not its "
                       "primary) or does not accept the TSIG key", "zone", rcode=rcode)
    if rcode == dns.rcode.NOTZONE:
        return Failure("update refused (NOTZONE): a name in the update is outside the zone", "message",
                       rcode=rcode)
    if rcode == dns.rcode.SERVFAIL:
        return Failure("the server failed to apply the update (SERVFAIL); see the server's log", "zone",
                       rcode=rcode)
    if rcode == dns.rcode.NOTIMP:
        return Failure("the server does not implement dynamic update (NOTIMP)", "server", rcode=rcode)
    return Failure(f"update failed ({text})", "message", rcode=rcode)
