"""The DnsServer module's cmdlets, emulated against the lab model (windows-dns.md §2, §4, §5, §7).

``DnsServerCmdlets`` offers each cmdlet twice: as a Python method with keyword arguments
(``get_resource_record(zone_name=..., name=..., node=True)``) and through ``invoke(cmdlet, named,
positional, pipeline)`` which binds PowerShell arguments with the real parameter sets (binder.py)
and is what the lab's PowerShell host calls. Errors are ``CmdletError``s carrying the
FullyQualifiedErrorId ``WIN32 <code>,<cmdlet>``, category and message of §5; like the real cmdlets
they are non-terminating (``invoke`` reports them per input object and carries on).

Objects returned are snapshots (``DnsRecordObject``, ``DnsZoneObject``) with the CIM property names
of the MOF classes; cim.py turns them into the raw serialised shapes of §2.4.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.lab.windows_dns import dnsserver as ds
from reconciler.lab.windows_dns.binder import ALL, BindingError, Bound, CmdletSpec, Param, bind
from reconciler.lab.windows_dns.dnsserver import Record, Win32Error, WindowsDnsModel, Zone

DEFAULT_TTL = 3600  # no -TimeToLive -> 01:00:00 (MSD-Add example 2; windows-dns.md §4.1)

# -RRType ValidateSet of Get-/Remove-DnsServerResourceRecord (MSD-Get; windows-dns.md §2.1).
RRTYPE_SET = ("HInfo", "Afsdb", "Atma", "Isdn", "Key", "Mb", "Md", "Mf", "Mg", "MInfo", "Mr", "Mx",
              "NsNxt", "Rp", "Rt", "Wks", "X25", "A", "AAAA", "CName", "Ptr", "Srv", "Txt", "Wins",
              "WinsR", "Ns", "Soa", "NasP", "NasPtr", "DName", "Gpos", "Loc", "DhcId", "Naptr", "RRSig",
              "DnsKey", "DS", "NSec", "NSec3", "NSec3Param", "Tlsa")
_RRTYPE_CODE = {"CNAME": 5, "NS": 2, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "SRV": 33, "A": 1,
                "AAAA": 28, "DNAME": 39, "HINFO": 13, "AFSDB": 18, "ATMA": 34, "ISDN": 20, "KEY": 25,
                "MB": 7, "MD": 3, "MF": 4, "MG": 8, "MINFO": 14, "MR": 9, "NSNXT": 30, "RP": 17, "RT": 21,
                "WKS": 11, "X25": 19, "WINS": 0xFF01, "WINSR": 0xFF02, "NASP": 22, "NASPTR": 23,
                "GPOS": 27, "LOC": 29, "DHCID": 49, "NAPTR": 35, "RRSIG": 46, "DNSKEY": 48, "DS": 43,
                "NSEC": 47, "NSEC3": 50, "NSEC3PARAM": 51, "TLSA": 52}

# Per-type switch parameter of Add-DnsServerResourceRecord → (RR type, data parameters).
ADD_SETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "A": ("A", ("IPv4Address",)), "AAAA": ("AAAA", ("IPv6Address",)),
    "CName": ("CNAME", ("HostNameAlias",)), "MX": ("MX", ("MailExchange", "Preference")),
    "Txt": ("TXT", ("DescriptiveText",)), "Srv": ("SRV", ("DomainName", "Priority", "Weight", "Port")),
    "Ptr": ("PTR", ("PtrDomainName",)), "NS": ("NS", ("NameServer",)),
    "DName": ("DNAME", ("DomainNameAlias",)),
}
# Sets of Add that exist but the lab does not model (a clear error rather than a silent success).
ADD_UNMODELLED = ("HInfo", "Afsdb", "Atma", "Isdn", "RP", "RT", "Wks", "X25", "Wins", "WinsR", "DhcId",
                  "TLSA", "MB", "MG", "MInfo", "MR", "NasP", "NasPtr", "Gpos", "Loc")

CIM_EXCEPTION = "CimException"


class CmdletError(Exception):
    """One error record of a cmdlet (windows-dns.md §5)."""

    def __init__(self, message: str, fqid: str, category: str, target: str | None = None,
                 target_type: str | None = None, exception_type: str = CIM_EXCEPTION,
                 win32: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fqid = fqid
        self.category = category
        self.target = target
        self.target_type = target_type
        self.exception_type = exception_type
        self.win32 = win32


class LabUnsupported(Exception):
    """A cmdlet form the lab does not emulate; never answered with a made-up success."""


# --- objects the cmdlets return -----------------------------------------------------------------
@dataclass
class RecordDataObject:
    """The embedded CIM instance ``RecordData`` (class DnsServerResourceRecord<Type>)."""

    cim_class: str
    rrtype: str
    properties: dict[str, Any]  # CIM property order; names as in the MOF
    server_name: str = ""
    cim_mode: str = "ws2022"

    def display(self) -> str:
        """``RecordData.ToString()``: ``[0][100][88][host.]`` for SRV (MSD#1149), fields in wire order."""
        order = {"SRV": ("Priority", "Weight", "Port", "DomainName"), "MX": ("Preference", "MailExchange")}
        names = order.get(self.rrtype, tuple(self.properties))
        return "".join(f"[{_plain(self.properties.get(n))}]" for n in names)

    def __getattr__(self, name: str) -> Any:  # .RecordData.IPv4Address style access
        props = self.__dict__.get("properties", {})
        for key, value in props.items():
            if key.lower() == name.lower():
                return value
        raise AttributeError(name)


def _plain(value: Any) -> str:
    if isinstance(value, timedelta):
        from reconciler.lab.windows_dns.binder import format_timespan

        return format_timespan(value)
    return "" if value is None else str(value)


@dataclass
class DnsRecordObject:
    """``CimInstance#DnsServerResourceRecord`` as Get-/Add-…-PassThru return it (windows-dns.md §2.2)."""

    DistinguishedName: str | None
    HostName: str
    RecordClass: str
    RecordData: RecordDataObject
    RecordType: str
    Timestamp: datetime | None
    TimeToLive: timedelta
    Type: int
    PSComputerName: str | None = None
    # where it came from (not CIM properties): the answering server and zone
    server_name: str = ""
    zone_name: str = ""
    cim_mode: str = "ws2022"
    root_cim_keys: bool = True

    PROPERTY_ORDER = ("DistinguishedName", "HostName", "RecordClass", "RecordData", "RecordType",
                      "Timestamp", "TimeToLive", "Type")

    def clone(self) -> DnsRecordObject:
        """``$r.Clone()`` / ``[ciminstance]::new($r)``: an independent copy (windows-dns.md §4.3)."""
        return copy.deepcopy(self)


@dataclass
class DnsZoneObject:
    """``DnsServerPrimaryZone`` (and siblings), properties in the order of the GOW fixture."""

    properties: dict[str, Any]
    cim_class: str
    server_name: str
    root_cim_keys: bool = False

    def __getattr__(self, name: str) -> Any:
        props = self.__dict__.get("properties", {})
        for key, value in props.items():
            if key.lower() == name.lower():
                return value
        raise AttributeError(name)


# --- parameter specifications (MSD-Get/-Add/-Remove/-Set/-Zone) ---------------------------------
_COMMON_RR = (
    Param("ComputerName", aliases=("Cn", "ForwardLookupPrimaryServer")),
    Param("ZoneScope"), Param("VirtualizationInstance"), Param("CimSession", "object[]", aliases=("Session",)),
    Param("ThrottleLimit", "int"), Param("AsJob", "switch"),
)
GET_RR = CmdletSpec(
    "Get-DnsServerResourceRecord",
    (Param("ZoneName", mandatory=(ALL,), position=0, aliases=("ForwardLookupZone",)),
     Param("Name", position=1), Param("Node", "switch"),
     Param("RRType", "enum", sets=("Name",), choices=RRTYPE_SET),
     Param("Type", "uint16", sets=("Unknown",), mandatory=(ALL,)), *_COMMON_RR),
    default_set="Name", sets=("Name", "Unknown"))

_ADD_SETNAMES = (*ADD_SETS, "Unknown", "InputObject", *ADD_UNMODELLED)
ADD_RR = CmdletSpec(
    "Add-DnsServerResourceRecord",
    (Param("ZoneName", mandatory=(ALL,), position=0, aliases=("ForwardLookupZone",)),
     Param("Name", position=1, sets=tuple(s for s in _ADD_SETNAMES if s != "InputObject"),
           mandatory=tuple(s for s in _ADD_SETNAMES if s not in ("InputObject", "TLSA")), aliases=("RecordName",)),
     Param("A", "switch", sets=("A",), mandatory=(ALL,)),
     Param("IPv4Address", "ip[]", sets=("A",), mandatory=(ALL,)),
     Param("CreatePtr", "switch", sets=("A", "AAAA")),
     Param("AAAA", "switch", sets=("AAAA",), mandatory=(ALL,)),
     Param("IPv6Address", "ip[]", sets=("AAAA",), mandatory=(ALL,)),
     Param("CName", "switch", sets=("CName",), mandatory=(ALL,)),
     Param("HostNameAlias", sets=("CName",), mandatory=(ALL,)),
     Param("MX", "switch", sets=("MX",), mandatory=(ALL,)),
     Param("MailExchange", sets=("MX",), mandatory=(ALL,)),
     Param("Preference", "uint16", sets=("MX", "RT"), mandatory=(ALL,)),
     Param("Txt", "switch", sets=("Txt",), mandatory=(ALL,)),
     Param("DescriptiveText", sets=("Txt",), mandatory=(ALL,)),
     Param("Srv", "switch", sets=("Srv",), mandatory=(ALL,)),
     Param("DomainName", sets=("Srv",), mandatory=(ALL,)),
     Param("Priority", "uint16", sets=("Srv",), mandatory=(ALL,)),
     Param("Weight", "uint16", sets=("Srv",), mandatory=(ALL,)),
     Param("Port", "uint16", sets=("Srv",), mandatory=(ALL,)),
     Param("Ptr", "switch", sets=("Ptr",), mandatory=(ALL,)),
     Param("PtrDomainName", sets=("Ptr",), mandatory=(ALL,)),
     Param("NS", "switch", sets=("NS",), mandatory=(ALL,)),
     Param("NameServer", sets=("NS",), mandatory=(ALL,)),
     Param("DName", "switch", sets=("DName",), mandatory=(ALL,)),
     Param("DomainNameAlias", sets=("DName",), mandatory=(ALL,)),
     Param("Type", "uint16", sets=("Unknown",), mandatory=(ALL,)),
     Param("RecordData", sets=("Unknown",), mandatory=(ALL,)),
     Param("InputObject", "object", sets=("InputObject",), mandatory=(ALL,), pipeline=True),
     *(Param(s, "switch", sets=(s,), mandatory=(ALL,)) for s in ADD_UNMODELLED),
     Param("TimeToLive", "timespan"), Param("AgeRecord", "switch"), Param("AllowUpdateAny", "switch"),
     Param("PassThru", "switch"), *_COMMON_RR),
    default_set="InputObject", sets=_ADD_SETNAMES, should_process=True)

REMOVE_RR = CmdletSpec(
    "Remove-DnsServerResourceRecord",
    (Param("ZoneName", mandatory=(ALL,), position=0, aliases=("ForwardLookupZone",)),
     Param("InputObject", "object", sets=("InputObject",), mandatory=(ALL,), pipeline=True),
     Param("Name", position=1, sets=("Name", "Unknown"), mandatory=("Name",), aliases=("RecordName",)),
     Param("RRType", "enum", sets=("Name",), mandatory=(ALL,), position=2, choices=RRTYPE_SET),
     Param("RecordData", "string[]", sets=("Name", "Unknown"), position=3),
     Param("Type", "uint16", sets=("Unknown",), mandatory=(ALL,)),
     Param("Force", "switch"), Param("PassThru", "switch"), *_COMMON_RR),
    default_set="InputObject", sets=("InputObject", "Name", "Unknown"), should_process=True)

SET_RR = CmdletSpec(
    "Set-DnsServerResourceRecord",
    (Param("NewInputObject", "object", mandatory=(ALL,), position=0),
     Param("OldInputObject", "object", mandatory=(ALL,), position=1, pipeline=True),
     Param("ZoneName", mandatory=(ALL,), position=2, aliases=("ForwardLookupZone",)),
     Param("PassThru", "switch"), *_COMMON_RR),
    default_set="Set0", sets=("Set0",), should_process=True)

GET_ZONE = CmdletSpec(
    "Get-DnsServerZone",
    (Param("Name", "string[]", position=0, aliases=("ZoneName",)),
     Param("ComputerName", aliases=("Cn",)), Param("VirtualizationInstance"),
     Param("CimSession", "object[]", aliases=("Session",)), Param("ThrottleLimit", "int"),
     Param("AsJob", "switch")),
    default_set="Set0", sets=("Set0",))


def _typed_add(rrswitch: str, data_params: tuple[str, ...], kinds: dict[str, str]) -> CmdletSpec:
    """Add-DnsServerResourceRecordA/AAAA/CName/MX/Ptr (GOW uses them): the type is implied."""
    params = [Param("Name", position=0, mandatory=(ALL,), aliases=("RecordName",))]
    for i, dp in enumerate(data_params):
        params.append(Param(dp, kinds.get(dp, "string"), mandatory=(ALL,), position=1 + i))
    params.append(Param("ZoneName", mandatory=(ALL,), position=1 + len(data_params),
                        aliases=("ForwardLookupZone",)))
    if rrswitch in ("A", "AAAA"):
        params.append(Param("CreatePtr", "switch"))
    params += [Param("TimeToLive", "timespan"), Param("AgeRecord", "switch"), Param("AllowUpdateAny", "switch"),
               Param("PassThru", "switch"), *_COMMON_RR]
    return CmdletSpec(f"Add-DnsServerResourceRecord{rrswitch}", tuple(params), default_set="Set0",
                      sets=("Set0",), should_process=True)


TYPED_ADD = {
    spec.name.lower(): (switch, spec) for switch, spec in (
        ("A", _typed_add("A", ("IPv4Address",), {"IPv4Address": "ip[]"})),
        ("AAAA", _typed_add("AAAA", ("IPv6Address",), {"IPv6Address": "ip[]"})),
        ("CName", _typed_add("CName", ("HostNameAlias",), {})),
        ("MX", _typed_add("MX", ("MailExchange", "Preference"), {"Preference": "uint16"})),
        ("Ptr", _typed_add("Ptr", ("PtrDomainName",), {})),
    )
}

SPECS: dict[str, CmdletSpec] = {s.name.lower(): s for s in (GET_RR, ADD_RR, REMOVE_RR, SET_RR, GET_ZONE)}
SPECS.update({name: spec for name, (_, spec) in TYPED_ADD.items()})
CMDLET_NAMES = tuple(s.name for s in SPECS.values())


# --- the cmdlets ---------------------------------------------------------------------------------
@dataclass
class Invocation:
    """What ``invoke`` produced: output objects and non-terminating errors, in order."""

    output: list[Any] = field(default_factory=list)
    errors: list[CmdletError] = field(default_factory=list)


class DnsServerCmdlets:
    """The emulated DnsServer module bound to one lab model (the WinRM host's view of it)."""

    def __init__(self, model: WindowsDnsModel) -> None:
        self.model = model

    @property
    def behaviour(self) -> ds.Behaviour:
        return self.model.behaviour

    # ---- PowerShell entry point ----------------------------------------------------------------
    def spec(self, cmdlet: str) -> CmdletSpec | None:
        return SPECS.get(cmdlet.lower())

    def invoke(self, cmdlet: str, named: Sequence[tuple[str, Any]] = (), positional: Sequence[Any] = (),
               pipeline: Sequence[Any] | None = None) -> Invocation:
        """Run a cmdlet as PowerShell would: bind (BindingError propagates), then process each
        pipeline object; CmdletErrors are collected as non-terminating errors."""
        spec = SPECS[cmdlet.lower()]
        result = Invocation()
        inputs: list[Any] = list(pipeline) if pipeline is not None else [None]
        for item in inputs:
            piped = pipeline is not None
            bound = bind(spec, named, positional, pipeline_input=piped)
            if piped:
                target = next((p.name for p in spec.params if p.pipeline), None)
                if target is None:
                    raise BindingError("The input object cannot be bound to any parameters for the command "
                                       "either because the command does not take pipeline input or the input "
                                       "and its properties do not match any of the parameters that take "
                                       "pipeline input.", f"InputObjectNotBound,{spec.name}")
                bound.values[target] = item
                if bound.set_name != "InputObject" and "InputObject" in spec.sets and target == "InputObject":
                    bound.set_name = "InputObject"
            self._run(spec, bound, result)
        return result

    def _run(self, spec: CmdletSpec, bound: Bound, result: Invocation) -> None:
        def sink(err: CmdletError) -> None:
            result.errors.append(err)

        name = spec.name.lower()
        try:
            if name == "get-dnsserverresourcerecord":
                result.output += self._get(bound)
            elif name == "get-dnsserverzone":
                result.output += self._get_zone(bound, sink)
            elif name == "remove-dnsserverresourcerecord":
                result.output += self._remove(bound)
            elif name == "set-dnsserverresourcerecord":
                result.output += self._set(bound)
            elif name in TYPED_ADD:
                result.output += self._add(bound, TYPED_ADD[name][0], sink)
            else:
                result.output += self._add(bound, None, sink)
        except CmdletError as err:
            result.errors.append(err)

    # ---- Python entry points (raise the first error) -------------------------------------------
    def _call(self, cmdlet: str, named: dict[str, Any], pipeline: Sequence[Any] | None = None) -> list[Any]:
        pairs = [(k, v) for k, v in named.items() if v is not None and v is not False]
        inv = self.invoke(cmdlet, pairs, (), pipeline)
        if inv.errors:
            raise inv.errors[0]
        return inv.output

    def get_resource_record(self, zone_name: str, name: str | None = None, *, rrtype: str | None = None,
                            type_code: int | None = None, node: bool = False,
                            computer_name: str | None = None) -> list[DnsRecordObject]:
        return self._call("Get-DnsServerResourceRecord", {
            "ZoneName": zone_name, "Name": name, "RRType": rrtype, "Type": type_code, "Node": node,
            "ComputerName": computer_name})

    def get_zone(self, name: str | list[str] | None = None, *, computer_name: str | None = None,
                 ) -> list[DnsZoneObject]:
        return self._call("Get-DnsServerZone", {"Name": name, "ComputerName": computer_name})

    def add_resource_record(self, zone_name: str, name: str, rrswitch: str, *,
                            time_to_live: timedelta | str | None = None, age_record: bool = False,
                            pass_thru: bool = False, computer_name: str | None = None,
                            **data: Any) -> list[DnsRecordObject]:
        """``Add-DnsServerResourceRecord -<rrswitch> …``; ``data`` uses the cmdlet's parameter names
        (``IPv4Address=``, ``DescriptiveText=`` …)."""
        named = {"ZoneName": zone_name, "Name": name, rrswitch: True, "TimeToLive": time_to_live,
                 "AgeRecord": age_record, "PassThru": pass_thru, "ComputerName": computer_name, **data}
        return self._call("Add-DnsServerResourceRecord", named)

    def remove_resource_record(self, zone_name: str, name: str | None = None, rrtype: str | None = None, *,
                               record_data: list[str] | str | None = None, force: bool = True,
                               input_object: DnsRecordObject | None = None,
                               computer_name: str | None = None) -> list[DnsRecordObject]:
        named = {"ZoneName": zone_name, "Name": name, "RRType": rrtype, "RecordData": record_data,
                 "Force": force, "ComputerName": computer_name}
        return self._call("Remove-DnsServerResourceRecord", named,
                          [input_object] if input_object is not None else None)

    def set_resource_record(self, zone_name: str, old: DnsRecordObject, new: DnsRecordObject, *,
                            pass_thru: bool = False, computer_name: str | None = None) -> list[DnsRecordObject]:
        return self._call("Set-DnsServerResourceRecord", {
            "ZoneName": zone_name, "OldInputObject": old, "NewInputObject": new, "PassThru": pass_thru,
            "ComputerName": computer_name})

    # ---- shared helpers ------------------------------------------------------------------------
    def _server_zone(self, bound: Bound, cmdlet: str) -> tuple[ds.DnsServer, Zone, str]:
        zone_name = bound.get("ZoneName")
        computer = bound.get("ComputerName")
        server_label = computer or self.model.local
        try:
            server = self.model.server(computer)
        except Win32Error as exc:
            raise self._err(cmdlet, exc.code, zone=zone_name, server=server_label) from None
        try:
            zone = server.zone(zone_name)
        except Win32Error as exc:
            raise self._err(cmdlet, exc.code, zone=zone_name, server=server_label) from None
        scope = bound.get("ZoneScope")
        if scope is not None and scope.lower() != zone.name.lower():
            raise CmdletError(f"Failed to get the zone scope {scope} of zone {zone.name} on server "
                              f"{server_label}.", f"WIN32 9952,{cmdlet}", "ObjectNotFound", scope,
                              "root/Microsoft/Windows/DNS/DnsServerZoneScope", win32=9952)
        return server, zone, server_label

    def _err(self, cmdlet: str, code: int, *, zone: str | None = None, server: str = "", name: str = "",
             rrtype: str = "", verb: str = "add") -> CmdletError:
        """Error records of windows-dns.md §5 (English wording of 9711/9714 unverified, §10)."""
        rr_class = f"root/Microsoft/Windows/DNS/{ds.CIM_CLASSES.get(rrtype, 'DnsServerResourceRecord')}"
        if code in (ds.DNS_ERROR_ZONE_DOES_NOT_EXIST, ds.RPC_S_SERVER_UNAVAILABLE):
            if cmdlet == "Get-DnsServerZone" and code == ds.RPC_S_SERVER_UNAVAILABLE:
                msg = f"Failed to enumerate zones from the server {server}."
            else:
                msg = f"Failed to get the zone information for {zone} on server {server}."
            cat = "ObjectNotFound" if code == ds.DNS_ERROR_ZONE_DOES_NOT_EXIST else "ResourceUnavailable"
            return CmdletError(msg, f"WIN32 {code},{cmdlet}", cat, zone,
                               "root/Microsoft/Windows/DNS/DnsServerZone", win32=code)
        if code == ds.DNS_ERROR_RECORD_ALREADY_EXISTS or code in (ds.DNS_ERROR_CNAME_COLLISION,
                                                                 ds.DNS_ERROR_NODE_IS_CNAME):
            return CmdletError(f"Failed to create resource record {name} in zone {zone} on server {server}.",
                               f"WIN32 {code},{cmdlet}", "ResourceExists", name, rr_class, win32=code)
        if code in (ds.DNS_ERROR_NAME_DOES_NOT_EXIST, ds.DNS_ERROR_RECORD_DOES_NOT_EXIST):
            if verb == "remove":
                msg = f"Failed to remove resource record set by name {name} from zone {zone} on server {server}."
            elif verb == "update":
                msg = f"Failed to update the resource record {name} in zone {zone} on server {server}."
            else:
                msg = f"Failed to get {name} record in {zone} zone on {server} server."
            return CmdletError(msg, f"WIN32 {code},{cmdlet}", "ObjectNotFound", name, rr_class, win32=code)
        # invalid input: FuseCP PR #67 / MSD#1149 wording
        return CmdletError(f"InputObject for resource record has an invalid value. Failed to {verb} the "
                           f"resource record on {server} server. Please check extended error for additional "
                           "details.", f"WIN32 {code},{cmdlet}", "InvalidArgument", name, rr_class, win32=code)

    def _relative(self, zone: Zone, name: str | None) -> str:
        """Zone-relative owner for -Name; ``@``/``.``/empty = apex; FQDN per Behaviour.fqdn_name."""
        if name is None or name.strip() in ("", "@", "."):
            return "@"
        text = name.strip()
        if self.behaviour.fqdn_name == "strip":
            bare = text.rstrip(".")
            if bare.lower() == zone.name.lower():
                return "@"
            if bare.lower().endswith("." + zone.name.lower()):
                return bare[: -len(zone.name) - 1]
        return text

    def _target(self, zone: Zone, value: str) -> str:
        value = value.strip()
        if value.endswith("."):
            return value
        if self.behaviour.relative_target == "append_zone":
            return f"{value}.{zone.name}."
        return value + "."

    def _visible_txt(self, strings: list[str]) -> str:
        """DescriptiveText of a stored TXT (windows-dns.md §3: first string only, or CRLF-joined)."""
        if self.behaviour.txt_readback == "crlf":
            return "\r\n".join(strings)
        return strings[0] if strings else ""

    def to_object(self, server: ds.DnsServer, zone: Zone, rec: Record) -> DnsRecordObject:
        cls = ds.CIM_CLASSES.get(rec.rrtype, ds.UNKNOWN_CIM_CLASS)
        if rec.rrtype == "TXT":
            props: dict[str, Any] = {"DescriptiveText": self._visible_txt(rec.data["strings"])}
        elif rec.rrtype == "SOA":
            props = {k: (timedelta(seconds=rec.data[k]) if k in ds.SOA_INTERVALS else rec.data[k])
                     for k in ds.DATA_FIELDS["SOA"]}
        elif rec.rrtype in ds.DATA_FIELDS:
            props = {k: rec.data[k] for k in ds.DATA_FIELDS[rec.rrtype]}
            if rec.rrtype == "A" and self.behaviour.cim_mode == "ws2025hex":
                # nrkno/terraform-provider-windns#85: the CIM value itself is hex, so the adapted
                # property ($r.RecordData.IPv4Address) and CimInstanceProperties[0].Value agree
                props["IPv4Address"] = ipaddress.IPv4Address(rec.data["IPv4Address"]).packed.hex().upper()
        else:
            props = {"Data": rec.data.get("Data", "")}
        rtype = rec.rrtype if rec.rrtype in ds.CIM_CLASSES else self.behaviour.unknown_type_text
        return DnsRecordObject(
            DistinguishedName=zone.record_dn(rec.name), HostName=rec.name, RecordClass=rec.record_class,
            RecordData=RecordDataObject(cls, rec.rrtype, props, server.name, self.behaviour.cim_mode),
            RecordType=rtype, Timestamp=rec.timestamp,
            TimeToLive=timedelta(seconds=rec.ttl), Type=rec.type_code, PSComputerName=None,
            server_name=server.name, zone_name=zone.name, cim_mode=self.behaviour.cim_mode,
            root_cim_keys=self.behaviour.record_root_cim_keys)

    # ---- Get-DnsServerResourceRecord (windows-dns.md §2.1) -------------------------------------
    def _get(self, bound: Bound) -> list[DnsRecordObject]:
        cmdlet = "Get-DnsServerResourceRecord"
        server, zone, label = self._server_zone(bound, cmdlet)
        name_given = bound.get("Name")
        owner = self._relative(zone, name_given)
        type_code: int | None = None
        if bound.set_name == "Unknown":
            type_code = bound.get("Type")
        elif bound.has("RRType"):
            type_code = _RRTYPE_CODE[bound.get("RRType").upper()]
        subtree = not bound.switch("Node")
        with self.model.lock:
            everything = self.model.find(zone, owner, subtree=subtree)
            if name_given is not None and owner != "@" and not everything:
                raise self._err(cmdlet, ds.DNS_ERROR_NAME_DOES_NOT_EXIST, zone=zone.name, server=label,
                                name=owner, verb="get")
            found = [r for r in everything if type_code is None or r.type_code == type_code]
            if (not found and everything and type_code is not None
                    and self.behaviour.get_type_filter_empty == "error"):
                raise self._err(cmdlet, ds.DNS_ERROR_NAME_DOES_NOT_EXIST, zone=zone.name, server=label,
                                name=owner, verb="get")
            return [self.to_object(server, zone, r) for r in found]

    # ---- Get-DnsServerZone (windows-dns.md §7) -------------------------------------------------
    def _get_zone(self, bound: Bound, sink: Callable[[CmdletError], None]) -> list[DnsZoneObject]:
        cmdlet = "Get-DnsServerZone"
        label = bound.get("ComputerName") or self.model.local
        try:
            server = self.model.server(bound.get("ComputerName"))
        except Win32Error as exc:
            raise self._err(cmdlet, exc.code, server=label) from None
        with self.model.lock:
            names = bound.get("Name")
            if names is None:
                zones = sorted(server.zones.values(), key=lambda z: z.name.lower())
            else:
                zones = []
                for zname in names:
                    zone = server.zones.get(zname.lower().rstrip("."))
                    if zone is None:
                        sink(self._err(cmdlet, ds.DNS_ERROR_ZONE_DOES_NOT_EXIST, zone=zname, server=label))
                    else:
                        zones.append(zone)
            return [self.zone_object(server, z) for z in zones]

    def zone_object(self, server: ds.DnsServer, z: Zone) -> DnsZoneObject:
        props: dict[str, Any] = {
            "NotifyServers": z.notify_servers, "SecondaryServers": z.secondary_servers,
            "AllowedDcForNsRecordsAutoCreation": z.allowed_dc_for_ns_records_auto_creation,
            "DistinguishedName": z.distinguished_name, "IsAutoCreated": z.is_auto_created,
            "IsDsIntegrated": z.is_ds_integrated, "IsPaused": z.is_paused, "IsReadOnly": z.is_read_only,
            "IsReverseLookupZone": z.is_reverse_lookup_zone, "IsShutdown": z.is_shutdown,
            "ZoneName": z.name, "ZoneType": z.zone_type,
            "DirectoryPartitionName": z.directory_partition_name, "DynamicUpdate": z.dynamic_update,
            "IgnorePolicies": z.ignore_policies, "IsSigned": z.is_signed, "IsWinsEnabled": z.is_wins_enabled,
            "Notify": z.notify, "ReplicationScope": z.replication_scope or "None",
            "SecureSecondaries": z.secure_secondaries, "ZoneFile": z.zone_file,
        }
        cls = {"Primary": "DnsServerPrimaryZone", "Secondary": "DnsServerSecondaryZone",
               "Stub": "DnsServerStubZone", "Forwarder": "DnsServerConditionalForwarderZone"}.get(
                   z.zone_type, "DnsServerZone")
        return DnsZoneObject(props, cls, server.name, self.behaviour.zone_root_cim_keys)

    # ---- Add-DnsServerResourceRecord (windows-dns.md §4.1) -------------------------------------
    def _add(self, bound: Bound, typed: str | None, sink: Callable[[CmdletError], None]) -> list[DnsRecordObject]:
        cmdlet = bound.cmdlet
        set_name = typed or bound.set_name
        if set_name in ADD_UNMODELLED:
            raise LabUnsupported(f"lab: Add-DnsServerResourceRecord -{set_name} is not emulated")
        server, zone, label = self._server_zone(bound, cmdlet)
        if bound.switch("WhatIf"):
            return []
        if set_name == "InputObject":
            src = bound.get("InputObject")
            if not isinstance(src, DnsRecordObject):
                raise self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, name="", verb="add")
            records = [self._record_from_object(zone, src, label, cmdlet)]
            owner = src.HostName
        else:
            owner = self._relative(zone, bound.get("Name"))
            self._check_name(owner, zone, label, cmdlet)
            records = self._records_from_params(zone, set_name, bound, owner, label, cmdlet)
        ttl_value = bound.get("TimeToLive")
        ttl = DEFAULT_TTL if ttl_value is None else _ttl(ttl_value)
        if ttl < 0 or ttl > 2**31 - 1:
            raise self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, name=owner, verb="add")
        stamp = ds.hour_aligned(ds.now_utc()) if bound.switch("AgeRecord") else None
        out: list[DnsRecordObject] = []
        for rec in records:
            if set_name != "InputObject" or ttl_value is not None:
                rec.ttl = ttl
            if stamp is not None:
                rec.timestamp = stamp
            try:
                stored = self.model.add(server, zone, rec, via=f"cmdlet:{cmdlet}")
            except Win32Error as exc:
                sink(self._err(cmdlet, exc.code, zone=zone.name, server=label, name=rec.name,
                               rrtype=rec.rrtype, verb="add"))
                continue
            if bound.switch("PassThru"):
                out.append(self.to_object(server, zone, stored))
        return out

    def _check_name(self, owner: str, zone: Zone, label: str, cmdlet: str) -> None:
        if owner == "@":
            return
        full = f"{owner}.{zone.name}"
        labels = owner.split(".")
        if any(not lab for lab in labels) or any(len(lab.encode("utf-8")) > 63 for lab in labels) \
                or len(full.encode("utf-8")) > 253:
            raise self._err(cmdlet, 123, server=label, name=owner, verb="add")  # ERROR_INVALID_NAME

    def _records_from_params(self, zone: Zone, set_name: str, bound: Bound, owner: str, label: str,
                             cmdlet: str) -> list[Record]:
        rrtype = ADD_SETS[set_name][0] if set_name in ADD_SETS else None

        def bad() -> CmdletError:
            return self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, name=owner, rrtype=rrtype or "",
                             verb="add")

        if set_name in ("A", "AAAA"):
            v4 = set_name == "A"
            addresses = bound.get("IPv4Address" if v4 else "IPv6Address")
            if any(isinstance(ip, ipaddress.IPv4Address) != v4 for ip in addresses):
                raise bad()
            prop = "IPv4Address" if v4 else "IPv6Address"
            return [Record(owner, set_name, DEFAULT_TTL, {prop: str(ip)}) for ip in addresses]
        if set_name in ("CName", "Ptr", "NS", "DName"):
            param = ADD_SETS[set_name][1][0]
            prop = {"CName": "HostNameAlias", "Ptr": "PtrDomainName", "NS": "NameServer",
                    "DName": "DomainNameAlias"}[set_name]
            target = str(bound.get(param))
            if not _valid_target(target):
                raise bad()
            return [Record(owner, ADD_SETS[set_name][0], DEFAULT_TTL, {prop: self._target(zone, target)})]
        if set_name == "MX":
            target = str(bound.get("MailExchange"))
            if not _valid_target(target):
                raise bad()
            return [Record(owner, "MX", DEFAULT_TTL, {"MailExchange": self._target(zone, target),
                                                      "Preference": bound.get("Preference")})]
        if set_name == "Srv":
            target = str(bound.get("DomainName"))
            if not _valid_target(target):
                raise bad()
            return [Record(owner, "SRV", DEFAULT_TTL, {
                "DomainName": self._target(zone, target), "Port": bound.get("Port"),
                "Priority": bound.get("Priority"), "Weight": bound.get("Weight")})]
        if set_name == "Txt":
            return [Record(owner, "TXT", DEFAULT_TTL, {"strings": self._txt_strings(bound.get("DescriptiveText"),
                                                                                   owner, label, cmdlet)})]
        if set_name == "Unknown":
            code = bound.get("Type")
            hexdata = str(bound.get("RecordData")).strip()
            if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", hexdata):
                raise bad()
            return [Record(owner, ds.CODE_TYPES.get(code, f"TYPE{code}"), DEFAULT_TTL,
                           {"Data": hexdata.upper()}, type_code=code)]
        raise LabUnsupported(f"lab: Add-DnsServerResourceRecord parameter set {set_name} is not emulated")

    def _txt_strings(self, text: str, owner: str, label: str, cmdlet: str) -> list[str]:
        """-DescriptiveText rules of windows-dns.md §3: ≤ 254 (switch: 255) characters per line and in
        total (MSD#3745, DSC); empty rejected (DSC validator); CRLF splits lines (switch)."""
        limit = self.behaviour.txt_line_limit

        def too_long() -> CmdletError:
            return self._err(cmdlet, self.behaviour.txt_too_long_code, server=label, name=owner, rrtype="TXT",
                             verb="add")

        if not text or _utf16_len(text) > limit:
            raise too_long()
        lines = text.split("\r\n") if self.behaviour.txt_cmdlet_crlf == "split" else [text]
        for line in lines:
            if _utf16_len(line) > limit or len(line.encode("utf-8")) > ds.TXT_STRING_OCTETS:
                raise too_long()
        return lines

    def _record_from_object(self, zone: Zone, obj: DnsRecordObject, label: str, cmdlet: str) -> Record:
        """The record an input object denotes, from its visible data (what the cmdlet would send)."""
        rrtype = obj.RecordData.rrtype
        props = obj.RecordData.properties
        if rrtype == "TXT":
            text = props.get("DescriptiveText") or ""
            strings = text.split("\r\n") if self.behaviour.txt_readback == "crlf" else [text]
            data: dict[str, Any] = {"strings": strings}
        elif rrtype == "SOA":
            data = {k: (int(v.total_seconds()) if isinstance(v, timedelta) else v) for k, v in props.items()}
        else:
            data = dict(props)
            for key, value in data.items():
                if key == "IPv4Address" and re.fullmatch(r"[0-9A-Fa-f]{8}", str(value)):
                    data[key] = str(ipaddress.IPv4Address(bytes.fromhex(str(value))))
                elif key in ("IPv4Address", "IPv6Address"):
                    data[key] = str(value)
        return Record(obj.HostName, rrtype, _ttl(obj.TimeToLive), data, timestamp=obj.Timestamp,
                      type_code=obj.Type)

    # ---- Remove-DnsServerResourceRecord (windows-dns.md §4.2) ----------------------------------
    def _remove(self, bound: Bound) -> list[DnsRecordObject]:
        cmdlet = "Remove-DnsServerResourceRecord"
        server, zone, label = self._server_zone(bound, cmdlet)
        if not bound.switch("Force") and not (bound.has("Confirm") and not bound.get("Confirm")):
            if self.behaviour.remove_without_force == "error":
                # the confirmation prompt cannot be answered inside a WinRM shell (unverified, §10)
                raise CmdletError("Windows PowerShell is in NonInteractive mode. Read and Prompt functionality "
                                  "is not available.", f"HostException,{cmdlet}", "NotSpecified",
                                  exception_type="HostException")
        if bound.switch("WhatIf"):
            return []
        with self.model.lock:
            if bound.set_name == "InputObject":
                obj = bound.get("InputObject")
                if not isinstance(obj, DnsRecordObject):
                    raise self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, verb="remove")
                wanted = self._record_from_object(zone, obj, label, cmdlet)
                victims = [r for r in self.model.find(zone, wanted.name, subtree=False)
                           if r.key() == wanted.key()]
                if not victims:
                    raise self._err(cmdlet, self.behaviour.remove_nomatch_code, zone=zone.name, server=label,
                                    name=obj.HostName, rrtype=wanted.rrtype, verb="remove")
                victims = victims[:1]
                owner, rrtype = obj.HostName, wanted.rrtype
            else:
                owner = self._relative(zone, bound.get("Name"))
                if bound.set_name == "Unknown":
                    code = bound.get("Type")
                    rrtype = ds.CODE_TYPES.get(code, f"TYPE{code}")
                else:
                    rrtype = bound.get("RRType").upper()
                    code = _RRTYPE_CODE[rrtype]
                candidates = self.model.find(zone, owner, subtree=False, type_code=code)
                if not candidates:
                    raise self._err(cmdlet, ds.DNS_ERROR_NAME_DOES_NOT_EXIST, zone=zone.name, server=label,
                                    name=owner, rrtype=rrtype, verb="remove")
                data = bound.get("RecordData")
                if data is None:
                    victims = candidates
                else:
                    match = self._record_data_matcher(rrtype, data, zone, label, owner, cmdlet)
                    victims = [r for r in candidates if match(r)]
                    if not victims:
                        raise self._err(cmdlet, self.behaviour.remove_nomatch_code, zone=zone.name,
                                        server=label, name=owner, rrtype=rrtype, verb="remove")
            out = []
            for rec in victims:
                self.model.remove(server, zone, rec, via=f"cmdlet:{cmdlet}")
                if bound.switch("PassThru"):
                    out.append(self.to_object(server, zone, rec))
            return out

    def _record_data_matcher(self, rrtype: str, data: list[str], zone: Zone, label: str, owner: str,
                             cmdlet: str) -> Callable[[Record], bool]:
        """-RecordData forms that work (windows-dns.md §4.2): A "1.2.3.4"; MX pref, exchange.;
        SRV priority, weight, port, target.; TXT the full text. Others: "invalid value" (MSD#1149)."""
        def invalid() -> CmdletError:
            return self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, name=owner, rrtype=rrtype,
                             verb="remove")

        def name_eq(a: str, b: str) -> bool:
            return a.lower().rstrip(".") == self._target(zone, b).lower().rstrip(".")

        try:
            if rrtype in ("A", "AAAA"):
                if len(data) != 1:
                    raise invalid()
                want_ip = ipaddress.ip_address(data[0].strip())
                key = "IPv4Address" if rrtype == "A" else "IPv6Address"
                return lambda r: ipaddress.ip_address(r.data[key]) == want_ip
            if rrtype in ("CNAME", "PTR", "NS", "DNAME"):
                prop = {"CNAME": "HostNameAlias", "PTR": "PtrDomainName", "NS": "NameServer",
                        "DNAME": "DomainNameAlias"}[rrtype]
                if len(data) != 1 or not _valid_target(data[0]):
                    raise invalid()
                return lambda r: name_eq(r.data[prop], data[0])
            if rrtype == "MX":
                if len(data) != 2 or not _valid_target(data[1]):
                    raise invalid()
                pref = int(data[0])
                return lambda r: r.data["Preference"] == pref and name_eq(r.data["MailExchange"], data[1])
            if rrtype == "SRV":
                if len(data) != 4 or not _valid_target(data[3]):
                    raise invalid()
                pri, wei, port = (int(x) for x in data[:3])
                return lambda r: (r.data["Priority"], r.data["Weight"], r.data["Port"]) == (pri, wei, port) \
                    and name_eq(r.data["DomainName"], data[3])
            if rrtype == "TXT":
                if len(data) != 1:
                    raise invalid()
                text = data[0]
                return lambda r: "\r\n".join(r.data["strings"]) == text
            if rrtype not in ds.DATA_FIELDS:
                hexdata = "".join(data).strip().upper()
                return lambda r: str(r.data.get("Data", "")).upper() == hexdata
        except ValueError:
            raise invalid() from None
        raise invalid()

    # ---- Set-DnsServerResourceRecord (windows-dns.md §4.3) -------------------------------------
    def _set(self, bound: Bound) -> list[DnsRecordObject]:
        cmdlet = "Set-DnsServerResourceRecord"
        server, zone, label = self._server_zone(bound, cmdlet)
        old, new = bound.get("OldInputObject"), bound.get("NewInputObject")
        if not isinstance(old, DnsRecordObject) or not isinstance(new, DnsRecordObject):
            raise self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, verb="update")
        if bound.switch("WhatIf"):
            return []
        with self.model.lock:
            want = self._record_from_object(zone, old, label, cmdlet)
            stored = next((r for r in self.model.find(zone, want.name, subtree=False) if r.key() == want.key()),
                          None)
            if stored is None:
                raise self._err(cmdlet, ds.DNS_ERROR_NAME_DOES_NOT_EXIST, zone=zone.name, server=label,
                                name=old.HostName, rrtype=want.rrtype, verb="update")
            # "This cmdlet cannot change the Name or Type." (MSD-Set)
            if new.HostName.lower() != old.HostName.lower() or new.RecordData.rrtype != old.RecordData.rrtype:
                raise self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, name=old.HostName,
                                rrtype=want.rrtype, verb="update")
            new_rec = self._record_from_object(zone, new, label, cmdlet)
            data = None
            if new_rec.key() != want.key():
                changeable = {"SRV": {"Port", "Priority", "Weight"}}.get(want.rrtype, set())
                differing = {k for k in new_rec.data if new_rec.data.get(k) != want.data.get(k)}
                if not self.behaviour.set_changes_data and (want.rrtype == "TXT" or not differing <= changeable):
                    raise self._err(cmdlet, ds.ERROR_INVALID_DATA, server=label, name=old.HostName,
                                    rrtype=want.rrtype, verb="update")
                data = {**stored.data, **{k: new_rec.data[k] for k in differing}}
            updated = self.model.replace(server, zone, stored, ttl=_ttl(new.TimeToLive), data=data,
                                         via=f"cmdlet:{cmdlet}")
            return [self.to_object(server, zone, updated)] if bound.switch("PassThru") else []


def _ttl(value: timedelta | int) -> int:
    return ds.ttl_seconds(value)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _valid_target(text: str) -> bool:
    body = text.strip()
    if body in ("", "."):
        return False
    body = body[:-1] if body.endswith(".") else body
    return all(lab and len(lab.encode("utf-8")) <= 63 and not any(c.isspace() for c in lab)
               for lab in body.split("."))
