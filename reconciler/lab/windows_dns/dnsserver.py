"""The emulated Windows Server DNS: servers, zones and records, behind every lab access path.

One ``WindowsDnsModel`` holds several DNS servers keyed by computer name (the cmdlets pick one with
``-ComputerName``, windows-dns.md §2.1 / community.windows#432), each with zones carrying the
``DnsServerPrimaryZone`` fields of windows-dns.md §7 and records carrying the ``DnsServerResourceRecord``
fields of §2.2. The cmdlets (cmdlets.py), dnscmd (dnscmd.py), the WMI provider (wmi.py) and the
port-53 server (dns53.py) all read and write this one model, so a write through any path is seen
by every read path.

Every unverified fact (windows-dns.md marks) is a field of ``Behaviour`` so tests can flip it.
All access goes through one re-entrant lock: the WinRM endpoint and the DNS server run threads.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

# RR type mnemonics as the cmdlets print them in RecordType (upper case in real dumps, DC-AD;
# windows-dns.md §2.2) and their numbers.
TYPE_CODES: dict[str, int] = {
    "A": 1, "NS": 2, "MD": 3, "MF": 4, "CNAME": 5, "SOA": 6, "MB": 7, "MG": 8, "MR": 9, "WKS": 11,
    "PTR": 12, "HINFO": 13, "MINFO": 14, "MX": 15, "TXT": 16, "RP": 17, "AFSDB": 18, "X25": 19,
    "ISDN": 20, "RT": 21, "AAAA": 28, "LOC": 29, "SRV": 33, "ATMA": 34, "NAPTR": 35, "DNAME": 39,
    "DS": 43, "RRSIG": 46, "NSEC": 47, "DNSKEY": 48, "DHCID": 49, "NSEC3": 50, "NSEC3PARAM": 51,
    "TLSA": 52,
}
CODE_TYPES: dict[int, str] = {code: name for name, code in TYPE_CODES.items()}

# CIM class of RecordData per type (MOF class names; DnsServerResourceRecordCName seen in the ESAM
# fixture, windows-dns.md §2.4).
CIM_CLASSES: dict[str, str] = {
    "A": "DnsServerResourceRecordA", "AAAA": "DnsServerResourceRecordAAAA",
    "CNAME": "DnsServerResourceRecordCName", "MX": "DnsServerResourceRecordMX",
    "TXT": "DnsServerResourceRecordTxt", "SRV": "DnsServerResourceRecordSrv",
    "PTR": "DnsServerResourceRecordPtr", "NS": "DnsServerResourceRecordNS",
    "SOA": "DnsServerResourceRecordSoa", "DNAME": "DnsServerResourceRecordDName",
}
UNKNOWN_CIM_CLASS = "DnsServerResourceRecordUnknown"
CIM_NAMESPACE = "root/Microsoft/Windows/DNS"

# Fields of RecordData per type, in the order the CIM instance lists them (windows-dns.md §2.3).
DATA_FIELDS: dict[str, tuple[str, ...]] = {
    "A": ("IPv4Address",), "AAAA": ("IPv6Address",), "CNAME": ("HostNameAlias",),
    "MX": ("MailExchange", "Preference"), "TXT": ("DescriptiveText",),
    "SRV": ("DomainName", "Port", "Priority", "Weight"), "PTR": ("PtrDomainName",),
    "NS": ("NameServer",), "DNAME": ("DomainNameAlias",),
    "SOA": ("ExpireLimit", "MinimumTimeToLive", "PrimaryServer", "RefreshInterval",
            "ResponsiblePerson", "RetryDelay", "SerialNumber"),
}
NAME_FIELDS = {"HostNameAlias", "MailExchange", "DomainName", "PtrDomainName", "NameServer",
               "DomainNameAlias", "PrimaryServer", "ResponsiblePerson"}
SOA_INTERVALS = ("ExpireLimit", "MinimumTimeToLive", "RefreshInterval", "RetryDelay")

# Win32 codes (windows-dns.md §5, [W32]).
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_DATA = 13
RPC_S_SERVER_UNAVAILABLE = 1722
DNS_ERROR_ZONE_DOES_NOT_EXIST = 9601
DNS_ERROR_RECORD_DOES_NOT_EXIST = 9701
DNS_ERROR_NODE_IS_CNAME = 9708
DNS_ERROR_CNAME_COLLISION = 9709
DNS_ERROR_RECORD_ALREADY_EXISTS = 9711
DNS_ERROR_NAME_DOES_NOT_EXIST = 9714
WIN32_NAMES = {
    5: "ERROR_ACCESS_DENIED", 13: "ERROR_INVALID_DATA", 1722: "RPC_S_SERVER_UNAVAILABLE",
    9601: "DNS_ERROR_ZONE_DOES_NOT_EXIST", 9701: "DNS_ERROR_RECORD_DOES_NOT_EXIST",
    9708: "DNS_ERROR_NODE_IS_CNAME", 9709: "DNS_ERROR_CNAME_COLLISION",
    9711: "DNS_ERROR_RECORD_ALREADY_EXISTS", 9714: "DNS_ERROR_NAME_DOES_NOT_EXIST",
}

TXT_STRING_OCTETS = 255  # RFC 1035 §3.3: one length octet per character-string


class Win32Error(Exception):
    """A server-side failure carrying its Win32 code; each access path words it its own way."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(f"{WIN32_NAMES.get(code, 'WIN32')} {code}" + (f": {detail}" if detail else ""))
        self.code = code
        self.detail = detail


@dataclass
class Behaviour:
    """Switches for every behaviour the reference sheets mark unverified or conflicting.

    Defaults pick the documented or harder variant; each field names its source.
    """

    # windows-dns.md §3 / MSD-Add: "-DescriptiveText is limited to 254 characters per line";
    # MSD#3745 reports 255. Characters are UTF-16 code units.
    txt_line_limit: int = 254
    # Code of the over-limit rejection (unverified, §3.1 "code and text unverified").
    txt_too_long_code: int = ERROR_INVALID_DATA
    # CRLF inside -DescriptiveText: "split" makes one string per line (intent of MSD-Add Example 8),
    # "literal" keeps CR LF inside one string. Unverified.
    txt_cmdlet_crlf: str = "split"
    # Cmdlet read-back of a multi-string TXT: "first" (DSC) or "crlf" (inverse of Example 8).
    txt_readback: str = "first"
    # CNAME beside other data: 9708 or 9709 (§5, unverified which).
    cname_conflict_code: int = DNS_ERROR_CNAME_COLLISION
    # Remove with -RecordData matching nothing: 9714 or 9701 (§10).
    remove_nomatch_code: int = DNS_ERROR_NAME_DOES_NOT_EXIST
    # Get -Name x -RRType T when x exists but holds no T: "error" (WIN32 9714) or "empty". Unverified.
    get_type_filter_empty: str = "error"
    # -Name given as an FQDN: "relative" (taken as a relative name, so it is not found;
    # community.windows#564) or "strip" (zone suffix removed). Unverified (§2.1).
    fqdn_name: str = "relative"
    # A target without trailing dot (-HostNameAlias "www"): "append_zone" or "absolute". Unverified.
    relative_target: str = "append_zone"
    # Set-DnsServerResourceRecord changing data other than TTL / SRV numbers: windows-dns.md §4.3 and
    # §9 say TTL (and SRV numbers) only; blog posts show IPv4Address changes. False = reject.
    set_changes_data: bool = False
    # Remove-... without -Force inside a WinRM shell (§4.2, unverified): "error" (the prompt cannot
    # be shown: a PromptingFailure-style error) or "proceed".
    remove_without_force: str = "error"
    # RecordType text for types the cmdlets do not name (CAA = 257), §6 unverified.
    unknown_type_text: str = "Unknown"
    # Raw CIM serialisation mode: "ws2022" or "ws2025hex" (nrkno#85: A value read back as hex).
    cim_mode: str = "ws2022"
    # Cim* .NET properties at the root of a serialised record (windows-dns.md §2.4, DC-MSDNS comment)
    # and of a zone (absent in the GOW Get-DnsServerZone fixture).
    record_root_cim_keys: bool = True
    zone_root_cim_keys: bool = False
    # Long-TXT write paths of windows-dns.md §3.1, each unverified on a live server:
    # "multi" publishes every string, "first_only" silently keeps the first string, "off" fails.
    dnscmd_txt: str = "multi"
    wmi_txt: str = "multi"
    # RFC 2136 UPDATE accepted at all (the zone's DynamicUpdate policy still applies).
    rfc2136: bool = True
    # Records created by a dynamic update get an hour-aligned Timestamp (aging). Unverified for zones
    # without aging; on by default because it is the case a provider must survive.
    update_sets_timestamp: bool = True

    def replace(self, **changes: Any) -> Behaviour:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return Behaviour(**data)


_rid_counter = itertools.count(1)


def hour_aligned(moment: datetime) -> datetime:
    """Dynamic-record timestamps are kept in hours (windows-dns.md §2.2: hours since 1601)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Record:
    """One resource record as the server stores it.

    ``name`` is zone-relative with its case preserved (DC-AD dumps), ``@`` for the apex.
    ``data`` holds the CIM property values of RecordData; TXT keeps its character-strings in
    ``data["strings"]`` (a list) because DescriptiveText is only a view of them (§3).
    Unknown types keep ``data["Data"]`` as upper-case hex of the RDATA (§2.3).
    """

    name: str
    rrtype: str
    ttl: int
    data: dict[str, Any]
    timestamp: datetime | None = None
    type_code: int = 0
    record_class: str = "IN"
    rid: int = field(default_factory=lambda: next(_rid_counter))

    def __post_init__(self) -> None:
        self.rrtype = self.rrtype.upper()
        if not self.type_code:
            self.type_code = TYPE_CODES.get(self.rrtype, 0)
        if self.timestamp is not None:
            self.timestamp = hour_aligned(self.timestamp)

    @property
    def dynamic(self) -> bool:
        return self.timestamp is not None

    def key(self) -> tuple[Any, ...]:
        """Identity of the record's data (9711 duplicates, removal by value)."""
        return (self.type_code, data_key(self.rrtype, self.data))


def data_key(rrtype: str, data: dict[str, Any]) -> tuple[Any, ...]:
    if rrtype == "TXT":
        return tuple(data["strings"])
    if rrtype == "A":
        return (ipaddress.IPv4Address(data["IPv4Address"]),)
    if rrtype == "AAAA":
        return (ipaddress.IPv6Address(data["IPv6Address"]),)
    if rrtype in DATA_FIELDS:
        out = []
        for name in DATA_FIELDS[rrtype]:
            value = data[name]
            out.append(value.lower().rstrip(".") if name in NAME_FIELDS else value)
        return tuple(out)
    return (str(data.get("Data", "")).upper(),)


def name_sort_key(name: str) -> tuple[str, ...]:
    """Zone enumeration order: tree order, parent before child, labels compared case-insensitively.

    Matches the order of the real dumps (DC-AD: ``@``, ``_msdcs``, ``_gc._tcp.…._sites``,
    ``adminsync``, ``dev.adminsync``, ``adtools`` …).
    """
    if name == "@":
        return ()
    return tuple(reversed(name.lower().split(".")))


@dataclass
class Zone:
    """A zone with the ``DnsServerPrimaryZone`` fields of windows-dns.md §7 (GOW fixture values)."""

    name: str
    zone_type: str = "Primary"
    is_ds_integrated: bool = True
    is_auto_created: bool = False
    is_reverse_lookup_zone: bool = False
    is_read_only: bool = False
    is_paused: bool = False
    is_shutdown: bool = False
    is_signed: bool = False
    is_wins_enabled: bool = False
    is_plugin_enabled: bool = False
    ignore_policies: bool = False
    dynamic_update: str = "Secure"
    replication_scope: str | None = "Domain"
    directory_partition_name: str | None = None
    zone_file: str | None = None
    notify: str = "NotifyServers"
    notify_servers: list[str] | None = None
    secure_secondaries: str = "NoTransfer"
    secondary_servers: list[str] | None = None
    allowed_dc_for_ns_records_auto_creation: list[str] | None = None
    distinguished_name: str | None = None
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.name.rstrip(".")
        if self.is_ds_integrated and self.directory_partition_name is None and self.replication_scope:
            domain = self.name.split(".", 1)[1] if self.name.startswith("_msdcs.") else self.name
            part = "ForestDnsZones" if self.replication_scope == "Forest" else "DomainDnsZones"
            self.directory_partition_name = f"{part}.{domain}"
        if self.is_ds_integrated and self.distinguished_name is None and self.directory_partition_name:
            self.distinguished_name = f"DC={self.name},cn=MicrosoftDNS,{_dn_of(self.directory_partition_name)}"
        if not self.is_ds_integrated and self.zone_file is None:
            self.zone_file = f"{self.name}.dns"

    def record_dn(self, host: str) -> str | None:
        """``DC=<host>,DC=<zone>,cn=MicrosoftDNS,…`` for AD zones (GOW fixture); file zones unverified."""
        if not self.distinguished_name:
            return None
        return f"DC={host},{self.distinguished_name}"

    def sorted_records(self) -> list[Record]:
        return sorted(self.records, key=lambda r: (name_sort_key(r.name), r.type_code, r.rid))

    def soa(self) -> Record | None:
        return next((r for r in self.records if r.rrtype == "SOA" and r.name == "@"), None)

    def bump_serial(self) -> None:
        """Windows increments the serial on every change to the zone."""
        soa = self.soa()
        if soa is not None:
            soa.data["SerialNumber"] = (int(soa.data["SerialNumber"]) + 1) % 2**32


def _dn_of(partition: str) -> str:
    return ",".join(f"DC={part}" for part in partition.split("."))


@dataclass
class DnsServer:
    """One Windows DNS server, addressed by its computer name."""

    name: str
    zones: dict[str, Zone] = field(default_factory=dict)

    def zone(self, zone_name: str) -> Zone:
        zone = self.zones.get(zone_name.lower().rstrip("."))
        if zone is None:
            raise Win32Error(DNS_ERROR_ZONE_DOES_NOT_EXIST, zone_name)
        return zone

    def add_zone(self, zone: Zone) -> Zone:
        self.zones[zone.name.lower()] = zone
        return zone

    def zone_for(self, fqdn: str) -> Zone | None:
        """The most specific zone holding an absolute name (for DNS queries)."""
        labels = fqdn.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            zone = self.zones.get(".".join(labels[i:]))
            if zone is not None:
                return zone
        return None


class WindowsDnsModel:
    """Every emulated Windows DNS server of a lab, shared by all access paths. Thread-safe.

    ``local`` is the computer name of the WinRM host: cmdlets without ``-ComputerName`` act on it.
    ``journal`` records every write with the path that made it, so tests can see *how* a record got
    there (cmdlet, dnscmd, wmi, rfc2136, seed).
    """

    def __init__(self, local: str = "DC01", behaviour: Behaviour | None = None) -> None:
        self.lock = threading.RLock()
        self.local = local
        self.behaviour = behaviour or Behaviour()
        self.servers: dict[str, DnsServer] = {}
        self.journal: list[dict[str, Any]] = []
        self.add_server(local)

    # --- servers and zones --------------------------------------------------------------------
    def add_server(self, name: str) -> DnsServer:
        with self.lock:
            server = self.servers.get(name.lower())
            if server is None:
                server = self.servers[name.lower()] = DnsServer(name)
            return server

    def server(self, computer_name: str | None = None) -> DnsServer:
        """The server a cmdlet talks to; an unknown name fails as an RPC error would (WIN32 1722)."""
        name = computer_name or self.local
        with self.lock:
            server = self.servers.get(name.lower())
            if server is None and "." in name:  # an FQDN of a known server answers too
                server = self.servers.get(name.split(".", 1)[0].lower())
            if server is None:
                raise Win32Error(RPC_S_SERVER_UNAVAILABLE, name)
            return server

    # --- reads --------------------------------------------------------------------------------
    def find(self, zone: Zone, name: str | None, *, subtree: bool, type_code: int | None = None,
             ) -> list[Record]:
        """Records at ``name`` (``None``/``@`` = apex), and below it when ``subtree``; zone order."""
        with self.lock:
            wanted = "" if name in (None, "@", "") else name.lower()
            out = []
            for rec in zone.records:  # filter first, then order: a 10,000-record zone stays cheap
                rname = "" if rec.name == "@" else rec.name.lower()
                if rname == wanted or (subtree and (wanted == "" or rname.endswith("." + wanted))):
                    if type_code is None or rec.type_code == type_code:
                        out.append(rec)
            return sorted(out, key=lambda r: (name_sort_key(r.name), r.type_code, r.rid))

    def node_exists(self, zone: Zone, name: str) -> bool:
        return bool(self.find(zone, name, subtree=True))

    # --- writes -------------------------------------------------------------------------------
    def add(self, server: DnsServer, zone: Zone, record: Record, *, via: str) -> Record:
        """Add one record, enforcing what the server enforces for every path (9711, CNAME rules)."""
        with self.lock:
            if record.rrtype == "TXT":
                for text in record.data["strings"]:
                    if len(text.encode("utf-8")) > TXT_STRING_OCTETS:
                        raise Win32Error(ERROR_INVALID_DATA, "TXT character-string over 255 octets")
            at_node = self.find(zone, record.name, subtree=False)
            for other in at_node:
                if other.key() == record.key():
                    raise Win32Error(DNS_ERROR_RECORD_ALREADY_EXISTS, record.name)
            has_cname = any(r.rrtype == "CNAME" for r in at_node)
            if (record.rrtype == "CNAME" and at_node) or (record.rrtype != "CNAME" and has_cname):
                raise Win32Error(self.behaviour.cname_conflict_code, record.name)
            zone.records.append(record)
            if record.rrtype != "SOA":
                zone.bump_serial()
            self._log(via, "add", server, zone, record)
            return record

    def remove(self, server: DnsServer, zone: Zone, record: Record, *, via: str) -> None:
        with self.lock:
            for i, rec in enumerate(zone.records):
                if rec.rid == record.rid:
                    del zone.records[i]
                    zone.bump_serial()
                    self._log(via, "remove", server, zone, rec)
                    return
            raise Win32Error(DNS_ERROR_RECORD_DOES_NOT_EXIST, record.name)

    def replace(self, server: DnsServer, zone: Zone, record: Record, *, ttl: int,
                data: dict[str, Any] | None, via: str) -> Record:
        """Change TTL (and, for Set, SRV numbers) of a stored record in place."""
        with self.lock:
            for rec in zone.records:
                if rec.rid == record.rid:
                    rec.ttl = ttl
                    if data is not None:
                        rec.data = data
                    zone.bump_serial()
                    self._log(via, "update", server, zone, rec)
                    return rec
            raise Win32Error(DNS_ERROR_RECORD_DOES_NOT_EXIST, record.name)

    def lookup(self, server: DnsServer, zone: Zone, rid: int) -> Record | None:
        with self.lock:
            return next((r for r in zone.records if r.rid == rid), None)

    def _log(self, via: str, op: str, server: DnsServer, zone: Zone, rec: Record) -> None:
        self.journal.append({"via": via, "op": op, "server": server.name, "zone": zone.name,
                             "name": rec.name, "type": rec.rrtype, "ttl": rec.ttl,
                             "data": copy.deepcopy(rec.data)})

    # --- inspection ---------------------------------------------------------------------------
    def iter_zones(self) -> Iterator[tuple[DnsServer, Zone]]:
        with self.lock:
            for server in list(self.servers.values()):
                for zone in list(server.zones.values()):
                    yield server, zone

    def dump(self) -> dict[str, Any]:
        """The whole state in the snapshot format of seed.py (loadable again with seed.load)."""
        from reconciler.lab.windows_dns.seed import dump_model  # late: seed imports this module

        with self.lock:
            return dump_model(self)

    def zone_records(self, zone_name: str, computer_name: str | None = None) -> list[Record]:
        """A deep copy of a zone's records in enumeration order (for tests and dumps)."""
        with self.lock:
            zone = self.server(computer_name).zone(zone_name)
            return copy.deepcopy(zone.sorted_records())


def now_utc() -> datetime:
    return datetime.now(UTC)


def ttl_seconds(value: timedelta | int | float) -> int:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return int(value)
