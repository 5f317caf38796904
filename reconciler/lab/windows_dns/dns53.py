"""A loopback authoritative DNS server (UDP + TCP) answering from the Windows DNS lab model.

What a port-53 read of a Windows DNS server shows: every TXT character-string (windows-dns.md §3.1:
``Resolve-DnsName``/dnspython see all strings where the cmdlet may show only the first), delegations
as referrals, NXDOMAIN/NODATA with the SOA, AXFR only when the zone's SecureSecondaries allows
transfers to any server (AD zones default to ``NoTransfer``, GOW fixture), and RFC 2136 UPDATE
applied when the zone's ``DynamicUpdate`` is ``NonsecureAndSecure`` (``Secure`` zones need
GSS-TSIG, which the lab does not speak, so they answer REFUSED like an unsigned update to a real
secure zone).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections import Counter
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import dns.update

from reconciler.lab.common import LOOPBACK
from reconciler.lab.windows_dns import dnsserver as ds
from reconciler.lab.windows_dns.dnsserver import Record, WindowsDnsModel, Zone

IN = dns.rdataclass.IN
EDNS_MAX = 4000  # Windows DNS default EDNS UDP payload (unverified; larger than 512 is what matters)


class Dns53Server:
    """UDP and TCP on one loopback port, answering for one emulated server of the model."""

    def __init__(self, model: WindowsDnsModel, server_name: str | None = None, port: int = 0) -> None:
        self.model = model
        self.server_name = server_name or model.local
        self.counter: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._udp: socketserver.ThreadingUDPServer | None = None
        self._tcp: socketserver.ThreadingTCPServer | None = None
        self._threads: list[threading.Thread] = []
        self._requested_port = port

    @property
    def port(self) -> int:
        assert self._udp is not None
        return int(self._udp.server_address[1])

    @property
    def address(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    def count(self, what: str) -> None:
        with self._lock:
            self.counter[what] += 1

    def start(self) -> Dns53Server:
        owner = self
        for _ in range(20):  # UDP and TCP must share the port number
            udp = _UDPServer((LOOPBACK, self._requested_port), _UDPHandler)
            try:
                tcp = _TCPServer((LOOPBACK, udp.server_address[1]), _TCPHandler)
            except OSError:
                udp.server_close()
                if self._requested_port:
                    raise
                continue
            break
        else:  # pragma: no cover - port exhaustion
            raise OSError("no free port for UDP and TCP")
        udp.owner = tcp.owner = owner
        self._udp, self._tcp = udp, tcp
        for srv in (udp, tcp):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                 name=f"dns53-{self.port}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for srv in (self._udp, self._tcp):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> Dns53Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- request handling ------------------------------------------------------------------------
    def handle_wire(self, wire: bytes, *, tcp: bool) -> list[bytes]:
        """Answer one DNS message; returns the response messages (AXFR may need several)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return self._formerr(wire)
        if query.opcode() == dns.opcode.UPDATE:
            self.count("update")
            assert isinstance(query, dns.update.UpdateMessage)
            return [self._update(query).to_wire()]
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            resp = dns.message.make_response(query)
            resp.set_rcode(dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR)
            return [resp.to_wire()]
        question = query.question[0]
        self.count("query")
        if question.rdtype == dns.rdatatype.AXFR:
            return self._axfr(query, tcp=tcp)
        resp = self._answer(query)
        limit = 65535 if tcp else (min(query.payload, EDNS_MAX) if query.edns >= 0 else 512)
        try:
            return [resp.to_wire(max_size=limit)]
        except dns.exception.TooBig:
            resp.answer.clear()
            resp.authority.clear()
            resp.additional.clear()
            resp.flags |= dns.flags.TC
            return [resp.to_wire()]

    def _formerr(self, wire: bytes) -> list[bytes]:
        if len(wire) < 12:
            return []
        qid = struct.unpack("!H", wire[:2])[0]
        return [struct.pack("!HHHHHH", qid, 0x8000 | dns.rcode.FORMERR, 0, 0, 0, 0)]

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        q = query.question[0]
        resp = dns.message.make_response(query)
        resp.flags &= ~dns.flags.RA
        if q.rdclass not in (IN, dns.rdataclass.ANY):
            resp.set_rcode(dns.rcode.REFUSED)
            return resp
        with self.model.lock:
            try:
                server = self.model.server(self.server_name)
            except ds.Win32Error:
                resp.set_rcode(dns.rcode.SERVFAIL)
                return resp
            zone = server.zone_for(q.name.to_text())
            if zone is None:
                resp.set_rcode(dns.rcode.REFUSED)
                return resp
            self._resolve(zone, q.name, q.rdtype, resp, depth=0)
        return resp

    def _resolve(self, zone: Zone, qname: dns.name.Name, rdtype: int, resp: dns.message.Message,
                 depth: int) -> None:
        origin = _zone_origin(zone)
        rel = _relative(qname, origin)
        # a delegation on the way down hands out a referral (no AA)
        cut = _delegation(zone, rel)
        if cut is not None:
            resp.flags &= ~dns.flags.AA
            cut_name, ns_records = cut
            resp.authority.append(_rrset(dns.name.from_text(cut_name, origin) if cut_name != "@" else origin,
                                         ns_records))
            return
        resp.flags |= dns.flags.AA
        at_node = [r for r in zone.records if (r.name.lower() if r.name != "@" else "@") == rel]
        cname = [r for r in at_node if r.rrtype == "CNAME"]
        if cname and rdtype not in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
            resp.answer.append(_rrset(qname, cname))
            target = dns.name.from_text(cname[0].data["HostNameAlias"])
            if target.is_subdomain(origin) and depth < 8:
                self._resolve(zone, target, rdtype, resp, depth + 1)
            return
        matching = [r for r in at_node if rdtype == dns.rdatatype.ANY or r.type_code == rdtype]
        if matching:
            by_type: dict[int, list[Record]] = {}
            for rec in matching:
                by_type.setdefault(rec.type_code, []).append(rec)
            for recs in by_type.values():
                resp.answer.append(_rrset(qname, recs))
            return
        soa = zone.soa()
        exists = bool(at_node) or any(r.name.lower().endswith("." + rel) for r in zone.records if r.name != "@") \
            or rel == "@"
        if not exists and not resp.answer:
            resp.set_rcode(dns.rcode.NXDOMAIN)
        if soa is not None:
            negative = min(soa.ttl, int(soa.data["MinimumTimeToLive"]))
            rrset = _rrset(origin, [soa])
            rrset.ttl = negative
            resp.authority.append(rrset)

    def _axfr(self, query: dns.message.Message, *, tcp: bool) -> list[bytes]:
        q = query.question[0]
        resp = dns.message.make_response(query)
        with self.model.lock:
            server = self.model.server(self.server_name)
            zone = server.zones.get(q.name.to_text().rstrip(".").lower())
            if not tcp or zone is None or zone.secure_secondaries != "TransferAnyServer" or zone.soa() is None:
                resp.set_rcode(dns.rcode.REFUSED if zone is not None else dns.rcode.NOTAUTH)
                return [resp.to_wire()]
            origin = _zone_origin(zone)
            soa = zone.soa()
            assert soa is not None
            resp.flags |= dns.flags.AA
            resp.answer.append(_rrset(origin, [soa]))
            groups: dict[tuple[str, int], list[Record]] = {}
            for rec in zone.sorted_records():
                if rec.rrtype != "SOA":
                    groups.setdefault((rec.name.lower(), rec.type_code), []).append(rec)
            for (name, _), recs in groups.items():
                owner = origin if name == "@" else dns.name.from_text(recs[0].name, origin)
                resp.answer.append(_rrset(owner, recs))
            resp.answer.append(_rrset(origin, [soa]))
        self.count("axfr")
        return [resp.to_wire()]

    # ---- RFC 2136 UPDATE ---------------------------------------------------------------------------
    def _update(self, msg: dns.update.UpdateMessage) -> dns.message.Message:
        resp = dns.message.make_response(msg)
        if len(msg.zone) != 1 or msg.zone[0].rdtype != dns.rdatatype.SOA:
            resp.set_rcode(dns.rcode.FORMERR)
            return resp
        zname = msg.zone[0].name
        with self.model.lock:
            server = self.model.server(self.server_name)
            zone = server.zones.get(zname.to_text().rstrip(".").lower())
            if zone is None:
                resp.set_rcode(dns.rcode.NOTAUTH)
                return resp
            # Windows: dynamic updates only where the zone allows them; "Secure" needs GSS-TSIG
            if not self.model.behaviour.rfc2136 or zone.dynamic_update != "NonsecureAndSecure" \
                    or msg.had_tsig:
                resp.set_rcode(dns.rcode.REFUSED)
                return resp
            origin = _zone_origin(zone)
            rcode = _check_prerequisites(zone, origin, msg)
            if rcode != dns.rcode.NOERROR:
                resp.set_rcode(rcode)
                return resp
            for rrset in msg.update:
                if not rrset.name.is_subdomain(origin):
                    resp.set_rcode(dns.rcode.NOTZONE)
                    return resp
            self._apply_update(server, zone, origin, msg)
        return resp

    def _apply_update(self, server: ds.DnsServer, zone: Zone, origin: dns.name.Name,
                      msg: dns.update.UpdateMessage) -> None:
        beh = self.model.behaviour
        for rrset in msg.update:
            rel = _relative(rrset.name, origin)
            owner = "@" if rel == "@" else rrset.name.relativize(origin).to_text()
            at_node = [r for r in zone.records if (r.name.lower() if r.name != "@" else "@") == rel]
            if rrset.deleting is None:  # add to an RRset (RFC 2136 §3.4.2.2)
                for rd in rrset:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        continue  # SOA replacement by update is not emulated; ignored
                    rec = record_from_rdata(owner, rrset.ttl, rd)
                    if beh.update_sets_timestamp:
                        rec.timestamp = ds.hour_aligned(ds.now_utc())
                    try:
                        self.model.add(server, zone, rec, via="rfc2136")
                    except ds.Win32Error:
                        continue  # duplicates and CNAME conflicts are silently ignored (§3.4.2.2)
                continue
            victims: list[Record]
            if rrset.deleting == dns.rdataclass.ANY:
                victims = [r for r in at_node if rrset.rdtype == dns.rdatatype.ANY or r.type_code == rrset.rdtype]
            else:
                keys = {record_from_rdata(owner, 0, rd).key() for rd in rrset}
                victims = [r for r in at_node if r.key() in keys]
            for rec in victims:
                if rel == "@" and rec.rrtype in ("SOA", "NS"):
                    continue  # apex SOA and NS are not deleted by an update (§3.4.2.3/4)
                self.model.remove(server, zone, rec, via="rfc2136")


def _check_prerequisites(zone: Zone, origin: dns.name.Name, msg: dns.update.UpdateMessage) -> int:
    """RFC 2136 §3.2 prerequisite checks."""
    for rrset in msg.prerequisite:
        if not rrset.name.is_subdomain(origin):
            return dns.rcode.NOTZONE
        rel = _relative(rrset.name, origin)
        at_node = [r for r in zone.records if (r.name.lower() if r.name != "@" else "@") == rel]
        of_type = [r for r in at_node if r.type_code == rrset.rdtype]
        if rrset.deleting == dns.rdataclass.ANY:
            if rrset.rdtype == dns.rdatatype.ANY and not at_node:
                return dns.rcode.NXDOMAIN
            if rrset.rdtype != dns.rdatatype.ANY and not of_type:
                return dns.rcode.NXRRSET
        elif rrset.deleting == dns.rdataclass.NONE:
            if rrset.rdtype == dns.rdatatype.ANY and at_node:
                return dns.rcode.YXDOMAIN
            if rrset.rdtype != dns.rdatatype.ANY and of_type:
                return dns.rcode.YXRRSET
        else:
            want = {record_from_rdata("x", 0, rd).key() for rd in rrset}
            if want != {r.key() for r in of_type}:
                return dns.rcode.NXRRSET
    return dns.rcode.NOERROR


# ---- conversions between the model and dnspython --------------------------------------------------
def _zone_origin(zone: Zone) -> dns.name.Name:
    return dns.name.from_text(zone.name)


def _relative(qname: dns.name.Name, origin: dns.name.Name) -> str:
    if qname == origin:
        return "@"
    return qname.relativize(origin).to_text().lower()


def _delegation(zone: Zone, rel: str) -> tuple[str, list[Record]] | None:
    """The highest non-apex node holding NS records at or above ``rel`` (a zone cut)."""
    if rel == "@":
        return None
    labels = rel.split(".")
    for i in range(len(labels) - 1, -1, -1):
        node = ".".join(labels[i:])
        ns = [r for r in zone.records if r.rrtype == "NS" and r.name.lower() == node]
        if ns:
            return ns[0].name, ns
    return None


def to_rdata(rec: Record) -> dns.rdata.Rdata:
    """The wire form of a stored record."""
    d = rec.data
    t = rec.rrtype
    if t == "TXT":
        return dns.rdtypes.ANY.TXT.TXT(IN, dns.rdatatype.TXT,
                                       [s.encode("utf-8", errors="surrogateescape") for s in d["strings"]])
    text = {
        "A": lambda: d["IPv4Address"], "AAAA": lambda: d["IPv6Address"],
        "CNAME": lambda: _abs(d["HostNameAlias"]), "NS": lambda: _abs(d["NameServer"]),
        "PTR": lambda: _abs(d["PtrDomainName"]), "DNAME": lambda: _abs(d["DomainNameAlias"]),
        "MX": lambda: f"{d['Preference']} {_abs(d['MailExchange'])}",
        "SRV": lambda: f"{d['Priority']} {d['Weight']} {d['Port']} {_abs(d['DomainName'])}",
        "SOA": lambda: (f"{_abs(d['PrimaryServer'])} {_abs(d['ResponsiblePerson'])} {d['SerialNumber']} "
                        f"{d['RefreshInterval']} {d['RetryDelay']} {d['ExpireLimit']} {d['MinimumTimeToLive']}"),
    }.get(t)
    if text is not None:
        return dns.rdata.from_text(IN, rec.type_code, text())
    raw = bytes.fromhex(str(d.get("Data", "")))
    return dns.rdata.from_text(IN, rec.type_code, f"\\# {len(raw)} {raw.hex()}" if raw else "\\# 0")


def _abs(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _rrset(owner: dns.name.Name, records: list[Record]) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(owner, IN, records[0].type_code)
    for rec in records:
        rrset.add(to_rdata(rec), rec.ttl)
    rrset.ttl = min(r.ttl for r in records)
    return rrset


def record_from_rdata(owner: str, ttl: int, rd: dns.rdata.Rdata) -> Record:
    t = dns.rdatatype.to_text(rd.rdtype)
    r: Any = rd
    data: dict[str, Any]
    if t == "TXT":
        data = {"strings": [s.decode("utf-8", errors="surrogateescape") for s in r.strings]}
    elif t == "A":
        data = {"IPv4Address": r.address}
    elif t == "AAAA":
        data = {"IPv6Address": r.address}
    elif t in ("CNAME", "NS", "PTR", "DNAME"):
        prop = {"CNAME": "HostNameAlias", "NS": "NameServer", "PTR": "PtrDomainName", "DNAME": "DomainNameAlias"}[t]
        data = {prop: r.target.to_text()}
    elif t == "MX":
        data = {"MailExchange": r.exchange.to_text(), "Preference": r.preference}
    elif t == "SRV":
        data = {"DomainName": r.target.to_text(), "Port": r.port, "Priority": r.priority, "Weight": r.weight}
    else:
        data = {"Data": rd.to_wire().hex().upper()}
        t = ds.CODE_TYPES.get(rd.rdtype, f"TYPE{rd.rdtype}")
    return Record(owner, t, ttl, data, type_code=rd.rdtype)


# ---- socket plumbing ------------------------------------------------------------------------------
class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = False
    owner: Dns53Server


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = False
    owner: Dns53Server


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer

    def handle(self) -> None:
        data, sock = self.request
        for out in self.server.owner.handle_wire(data, tcp=False):
            with contextlib.suppress(OSError):
                sock.sendto(out, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(10)
        try:
            while True:
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                body = _recv_exact(conn, struct.unpack("!H", head)[0])
                if body is None:
                    return
                for out in self.server.owner.handle_wire(body, tcp=True):
                    conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf
