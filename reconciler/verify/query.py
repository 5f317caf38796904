"""Many DNS questions to one server at once: what the world is told, not what a provider says.

Queries go over UDP (EDNS, 1232-octet payload) and are repeated over TCP when the answer is
truncated, so long TXT values are always seen whole. Concurrency is a thread pool: a thousand names
on loopback take well under a second (issue 6 target: under 5 s).
"""

from __future__ import annotations

import ipaddress
import secrets
import selectors
import socket
import struct
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from .. import dnswire

EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation
DEFAULT_WORKERS = 32


class ServerError(ValueError):
    pass


@dataclass(frozen=True)
class Server:
    host: str
    port: int = 53
    recursive: bool = False  # a resolver (RD set, no AA expected) instead of an authoritative server

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_server(text: str, *, default_port: int = 53, recursive: bool = False) -> Server:
    """``ADDR``, ``ADDR:PORT``, ``[V6]:PORT`` or a bare IPv6 address."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ServerError(f"{text!r}: expected [ADDRESS]:PORT")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, raw = text.partition(":")
        port = _port(raw, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0]
        except (OSError, IndexError):
            raise ServerError(f"{text!r}: not an IP address and the name does not resolve") from None
    return Server(host, port, recursive)


def _port(raw: str, text: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ServerError(f"{text!r}: port must be 1..65535")
    return int(raw)


@dataclass
class Answer:
    name: dns.name.Name
    rdtype: int
    rcode: int | None = None  # None: no answer at all (see error)
    authoritative: bool = False
    ttl: int | None = None
    wires: list[bytes] = field(default_factory=list)  # the answer's rdata, uncompressed (dnswire)
    cname: dns.name.Name | None = None  # the name answered with a CNAME instead
    error: str | None = None
    tcp: bool = False

    @property
    def exists(self) -> bool:
        return bool(self.wires)

    def values(self) -> list[str]:
        """The canonical value text of each record (a modelled type)."""
        return [dnswire.canonical(self.rdtype, w) for w in self.wires]

    @property
    def status(self) -> str:
        if self.error:
            return self.error
        if self.rcode == dns.rcode.NXDOMAIN:
            return "NXDOMAIN"
        if self.rcode != dns.rcode.NOERROR:
            return dns.rcode.to_text(self.rcode or 0)
        return "found" if self.wires else "no such record (NOERROR, no data)"


def make_query(server: Server, name: dns.name.Name, rdtype: int) -> dns.message.QueryMessage:
    query = dns.message.make_query(name, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
    if not server.recursive:
        query.flags &= ~dns.flags.RD
    return query


def ask(server: Server, name: dns.name.Name, rdtype: int, timeout: float = 3.0) -> Answer:
    """One question: UDP, then TCP when the answer is truncated."""
    query = make_query(server, name, rdtype)
    out = Answer(name, rdtype)
    try:
        response, out.tcp = dns.query.udp_with_fallback(query, server.host, timeout=timeout, port=server.port)
    except dns.exception.Timeout:
        out.error = f"no answer from {server} within {timeout:g}s"
        return out
    except ConnectionRefusedError:
        out.error = f"{server} refused the connection (server down?)"
        return out
    except (OSError, dns.exception.DNSException) as exc:
        out.error = f"{server}: {type(exc).__name__}: {exc}"
        return out
    try:  # dnspython kept the octets it read: one reading of answers, the same as the pipelined one
        message = dnswire.Message(response.wire)
    except dnswire.WireError as exc:
        out.error = f"{server}: malformed answer: {exc}"
        return out
    return _answer(out, message)


def ask_many(server: Server, questions: Iterable[tuple[dns.name.Name, int]], *, timeout: float = 3.0,
             workers: int = DEFAULT_WORKERS) -> dict[tuple[dns.name.Name, int], Answer]:
    """Answers to many questions: pipelined over one UDP socket, then one by one (threads, TCP
    fallback) for whatever came back truncated, lost or refused."""
    unique = list(dict.fromkeys(questions))
    if not unique:
        return {}
    answers = _pipelined(server, unique, timeout)
    rest = [q for q in unique if q not in answers]
    if rest:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(rest)))) as pool:
            answers.update(zip(rest, pool.map(lambda q: ask(server, q[0], q[1], timeout), rest), strict=True))
    return {q: answers[q] for q in unique}


WINDOW = 128  # questions in flight on the pipelined socket


def _pipelined(server: Server, questions: list[tuple[dns.name.Name, int]],
               timeout: float) -> dict[tuple[dns.name.Name, int], Answer]:
    """Send up to WINDOW questions at a time on one connected UDP socket and match answers by id.
    Truncated answers and questions without an answer are left out (the caller retries them)."""
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    answers: dict[tuple[dns.name.Name, int], Answer] = {}
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.connect((server.host, server.port))
    except OSError:
        return answers
    pending: dict[int, tuple[tuple[dns.name.Name, int], float]] = {}
    todo = list(reversed(questions))
    flags = 0x0100 if server.recursive else 0  # RD only when asking a resolver
    with sock, selectors.DefaultSelector() as selector:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        while todo or pending:
            while todo and len(pending) < WINDOW:
                question = todo.pop()
                qid = secrets.randbelow(65536)  # unpredictable ids: an off-path forger must guess them
                while qid in pending:
                    qid = secrets.randbelow(65536)
                try:
                    sock.send(_query_wire(qid, flags, *question))
                except BlockingIOError:
                    todo.append(question)
                    break
                except OSError:
                    return answers  # e.g. ICMP port unreachable: the server is down
                pending[qid] = (question, time.monotonic() + timeout)
            selector.select(timeout=0.05)
            # Read what arrived, at most a window's worth, then expire: a server that keeps sending
            # (answers to nothing, floods) cannot keep unanswered questions waiting forever.
            for _ in range(WINDOW):
                try:
                    wire = sock.recv(65535)
                except BlockingIOError:
                    break
                except OSError:
                    return answers
                if len(wire) < 12:
                    continue
                entry = pending.pop(int.from_bytes(wire[:2], "big"), None)
                if entry is None:
                    continue
                answer = _read_wire(entry[0], wire)
                if answer is not None:  # else retried one by one (truncated, malformed, mismatched)
                    answers[entry[0]] = answer
            now = time.monotonic()
            for qid in [i for i, (_, deadline) in pending.items() if deadline < now]:
                del pending[qid]  # no answer: retried one by one
    return answers


_OPT = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, EDNS_PAYLOAD, 0, 0)  # EDNS(0), no options


def _query_wire(qid: int, flags: int, name: dns.name.Name, rdtype: int) -> bytes:
    """The same question make_query() builds, written directly: header, question, OPT."""
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 1) + name.to_wire() + struct.pack("!HH", rdtype, 1) + _OPT


def _read_wire(question: tuple[dns.name.Name, int], wire: bytes) -> Answer | None:
    """The answer to ``question`` in one UDP response, or None to retry it (truncated, malformed,
    not a response to it)."""
    try:
        message = dnswire.Message(wire)
    except dnswire.WireError:
        return None
    name, rdtype = question
    asked = name.to_text().lower()
    if (not message.flags & dns.flags.QR or message.flags & dns.flags.TC or (message.flags >> 11) & 0xF
            or message.question != [(asked, rdtype, dns.rdataclass.IN)]):
        return None
    return _answer(Answer(name, rdtype), message)


def _answer(out: Answer, message: dnswire.Message) -> Answer:
    """The records at the asked name, following a CNAME chain inside the answer (a resolver returns
    it whole): an RRset's TTL is the lowest of its records, as dnspython reads it."""
    out.rcode, out.authoritative = message.rcode, bool(message.flags & dns.flags.AA)
    rdtype = out.rdtype
    target = out.name.to_text().lower()
    for _ in range(8):
        found = [(ttl, rdata) for owner, rt, rc, ttl, rdata in message.answer
                 if owner == target and rt == rdtype and rc == dns.rdataclass.IN]
        if found:
            out.wires, out.ttl = [rdata for _, rdata in found], min(ttl for ttl, _ in found)
            break
        alias = [rdata for owner, rt, rc, _, rdata in message.answer
                 if owner == target and rt == dns.rdatatype.CNAME and rc == dns.rdataclass.IN]
        if not alias or rdtype == dns.rdatatype.CNAME:
            break
        target = dnswire.canonical(dns.rdatatype.CNAME, alias[0])
        out.cname = out.cname or dns.name.from_text(target)
    return out
