"""The DNS server's WMI provider (``root\\MicrosoftDNS``), the second long-TXT path of windows-dns.md §3.1.

``MicrosoftDNS_ResourceRecord.CreateInstanceFromTextRepresentation(DnsServerName, ContainerName,
TextRepresentation)`` takes a master-file line such as ``<fqdn> IN TXT "<s1>" "<s2>"``; an instance's
``Delete`` (``Remove-CimInstance``) removes it. Documented classes; multi-string TXT through them is
**unverified**, so ``Behaviour.wmi_txt`` selects ``multi`` | ``first_only`` (silently keeps the first
string) | ``off`` (the method fails with WBEM_E_FAILED "Generic failure").

The text is parsed with master-file rules (RFC 1035 §5.1: quoted character-strings, ``\\"``, ``\\\\``
and ``\\DDD`` escapes) by dnspython, so a value travels exactly when the caller escapes it that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT

from reconciler.lab.windows_dns import dnsserver as ds
from reconciler.lab.windows_dns.dns53 import record_from_rdata, to_rdata
from reconciler.lab.windows_dns.dnsserver import Win32Error, WindowsDnsModel

WBEM_E_FAILED = 0x80041001
WBEM_E_NOT_FOUND = 0x80041002
WBEM_E_INVALID_PARAMETER = 0x80041008
_MESSAGES = {WBEM_E_FAILED: "Generic failure ", WBEM_E_NOT_FOUND: "Not found ",
             WBEM_E_INVALID_PARAMETER: "Invalid parameter "}


class WmiError(Exception):
    """A CimException from the WMI provider (``HResult``, message as PowerShell shows it)."""

    def __init__(self, hresult: int, win32: int | None = None) -> None:
        super().__init__(_MESSAGES.get(hresult, "Generic failure "))
        self.hresult = hresult
        self.win32 = win32
        self.message = _MESSAGES.get(hresult, "Generic failure ")


@dataclass
class WmiRecord:
    """An instance of MicrosoftDNS_<Type>Type (the properties a script reads)."""

    DnsServerName: str
    ContainerName: str
    DomainName: str
    OwnerName: str
    RecordClass: int
    RecordData: str
    TextRepresentation: str
    TTL: int
    Timestamp: int  # hours since 1601-01-01 GMT, 0 for static (windows-dns.md §2.2)
    class_name: str
    rid: int

    def properties(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("ContainerName", "DnsServerName", "DomainName", "OwnerName",
                                               "RecordClass", "RecordData", "TextRepresentation", "Timestamp",
                                               "TTL")}


_EPOCH_1601_HOURS = 3_234_576  # hours from 1601-01-01 to 1970-01-01


class MicrosoftDnsWmi:
    """``root\\MicrosoftDNS`` against one lab model."""

    def __init__(self, model: WindowsDnsModel) -> None:
        self.model = model

    def create_from_text(self, dns_server_name: str, container_name: str, text: str) -> WmiRecord:
        beh = self.model.behaviour
        try:
            server = self.model.server(None if dns_server_name in ("", ".", "localhost") else dns_server_name)
            zone = server.zone(container_name)
        except Win32Error as exc:
            raise WmiError(WBEM_E_NOT_FOUND if exc.code == ds.DNS_ERROR_ZONE_DOES_NOT_EXIST else WBEM_E_FAILED,
                           exc.code) from None
        owner, ttl, rdata = _parse_line(text, zone.name)
        if rdata.rdtype == dns.rdatatype.TXT:
            if beh.wmi_txt == "off":
                raise WmiError(WBEM_E_FAILED)
            strings = list(rdata.strings)  # type: ignore[attr-defined]
            if beh.wmi_txt == "first_only" and len(strings) > 1:
                rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings[:1])
        record = record_from_rdata(owner, ttl if ttl is not None else 3600, rdata)
        try:
            stored = self.model.add(server, zone, record, via="wmi")
        except Win32Error as exc:
            raise WmiError(WBEM_E_FAILED, exc.code) from None
        return self._instance(server, zone, stored)

    def query(self, class_name: str = "MicrosoftDNS_ResourceRecord", *, dns_server_name: str | None = None,
              container_name: str | None = None, owner_name: str | None = None) -> list[WmiRecord]:
        """``Get-CimInstance -Namespace root/MicrosoftDNS -ClassName <class> -Filter …`` (equality only)."""
        want_type = None
        if class_name.lower() != "microsoftdns_resourcerecord":
            mnemonic = class_name.lower().removeprefix("microsoftdns_").removesuffix("type").upper()
            want_type = mnemonic
        out: list[WmiRecord] = []
        with self.model.lock:
            server = self.model.server(dns_server_name)
            for zone in server.zones.values():
                if container_name and zone.name.lower() != container_name.lower().rstrip("."):
                    continue
                for rec in zone.sorted_records():
                    inst = self._instance(server, zone, rec)
                    if want_type and rec.rrtype != want_type:
                        continue
                    if owner_name and inst.OwnerName.lower().rstrip(".") != owner_name.lower().rstrip("."):
                        continue
                    out.append(inst)
        return out

    def delete(self, instance: WmiRecord) -> None:
        with self.model.lock:
            server = self.model.server(instance.DnsServerName)
            zone = server.zone(instance.ContainerName)
            stored = self.model.lookup(server, zone, instance.rid)
            if stored is None:
                raise WmiError(WBEM_E_NOT_FOUND)
            self.model.remove(server, zone, stored, via="wmi")

    def _instance(self, server: ds.DnsServer, zone: ds.Zone, rec: ds.Record) -> WmiRecord:
        owner = zone.name if rec.name == "@" else f"{rec.name}.{zone.name}"
        rdata_text = render_txt(rec.data["strings"]) if rec.rrtype == "TXT" else to_rdata(rec).to_text()
        stamp = 0
        if rec.timestamp is not None:
            stamp = int(rec.timestamp.timestamp() // 3600) + _EPOCH_1601_HOURS
        return WmiRecord(server.name, zone.name, zone.name, owner, 1, rdata_text,
                         f"{owner} IN {rec.rrtype} {rdata_text}", rec.ttl, stamp,
                         f"MicrosoftDNS_{rec.rrtype.capitalize()}Type", rec.rid)


def render_txt(strings: list[str]) -> str:
    """How the provider shows a TXT in RecordData / TextRepresentation: each string quoted, ``"`` and
    ``\\`` escaped, control characters as ``\\DDD``, other characters as they are (UTF-16 text on
    Windows). The exact rendering of the real provider is **unverified**."""
    out = []
    for text in strings:
        body = []
        for ch in text:
            if ch in '"\\':
                body.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                body.append(f"\\{ord(ch):03d}")
            else:
                body.append(ch)
        out.append('"' + "".join(body) + '"')
    return " ".join(out)


def _parse_line(text: str, zone_name: str) -> tuple[str, int | None, dns.rdata.Rdata]:
    """``<owner> [<ttl>] [IN] <TYPE> <rdata…>`` → (zone-relative owner, ttl, rdata)."""
    parts = text.strip().split(None, 1)
    if len(parts) != 2:
        raise WmiError(WBEM_E_INVALID_PARAMETER)
    owner_text, rest = parts
    ttl: int | None = None
    tokens = rest.split(None, 1)
    if tokens and tokens[0].isdigit():
        ttl = int(tokens[0])
        rest = tokens[1] if len(tokens) > 1 else ""
        tokens = rest.split(None, 1)
    if tokens and tokens[0].upper() == "IN":
        rest = tokens[1] if len(tokens) > 1 else ""
        tokens = rest.split(None, 1)
    if len(tokens) != 2:
        raise WmiError(WBEM_E_INVALID_PARAMETER)
    try:
        rdtype = dns.rdatatype.from_text(tokens[0])
        origin = dns.name.from_text(zone_name)
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, tokens[1], origin=origin)
        owner = dns.name.from_text(owner_text, origin=origin)
    except (dns.exception.DNSException, ValueError):
        raise WmiError(WBEM_E_INVALID_PARAMETER) from None
    if not owner.is_subdomain(origin):
        raise WmiError(WBEM_E_INVALID_PARAMETER)
    relative = "@" if owner == origin else owner.relativize(origin).to_text()
    return relative, ttl, rdata
