"""Raw CIM shapes of the DnsServer cmdlets' output, as psjson objects (windows-dns.md §2.4).

A cmdlet's record is a CimInstance wrapped in a PSObject: ``ConvertTo-Json`` serialises its .NET
properties (``CimClass``, ``CimInstanceProperties``, ``CimSystemProperties``) and then the CIM
properties the adapter exposes (``HostName`` … ``Type``) and ``PSComputerName``. The embedded
``RecordData`` instance is not PSObject-wrapped, so only its three .NET properties appear — never an
``IPv4Address`` key. What each looks like at a given depth then follows from psjson's depth rules:

- ESAM fixture (record at level 0, default depth): ``RecordData.CimClass`` an object of strings,
  ``CimInstanceProperties`` a list of ``Name = "value"`` strings, ``CimSystemProperties`` an object.
- GOW fixture (record inside an array, level 1): ``CimClass`` the string
  ``root/Microsoft/Windows/DNS:DnsServerResourceRecordA``, ``CimInstanceProperties`` the
  ``IPv4Address = "2.2.2.2"`` string (a collection's ToString joins its items with spaces),
  ``CimSystemProperties`` its type name.
- DC-MSDNS (-Depth 4): ``CimInstanceProperties`` objects with ``Name``, ``Value`` (TimeSpan values
  as objects with ``TotalSeconds``); other keys (``CimType``, ``Flags``, ``IsValueModified``) are the
  public properties of ``Microsoft.Management.Infrastructure.CimProperty`` (unverified, §2.4).
- nrkno#85 (WS2025): ``CimInstanceProperties[0].Value`` of an A record in hex (``C0A800DD``), when
  ``Behaviour.cim_mode == "ws2025hex"``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reconciler.lab.windows_dns.cmdlets import DnsRecordObject, DnsZoneObject, RecordDataObject
from reconciler.lab.windows_dns.dnsserver import CIM_NAMESPACE
from reconciler.lab.windows_dns.psjson import NetObject, PSObject, ps_to_string

SYSTEM_PROPERTIES_TYPE = "Microsoft.Management.Infrastructure.CimSystemProperties"
# CimType enum values (Microsoft.Management.Infrastructure.CimType; Int32-based → numbers in JSON)
CIM_TYPE = {"Boolean": 1, "UInt16": 4, "UInt32": 6, "DateTime": 13, "String": 14, "Instance": 16,
            "StringArray": 14 + 0x2000}
# CimFlags is Int64-based: ConvertTo-Json writes its ToString() (winrm-protocol.md §6, enums).
PROPERTY_FLAGS = "Property, NotModified"
CLASS_QUALIFIERS = (("dynamic", "True"), ("provider", '"DnsServerPSProvider"'), ("ClassVersion", '"1.0.0"'),
                    ("locale", "1033"))


def _cim_type(value: Any) -> int:
    if isinstance(value, bool):
        return CIM_TYPE["Boolean"]
    if isinstance(value, int):
        return CIM_TYPE["UInt32"] if value > 65535 else CIM_TYPE["UInt16"]
    if isinstance(value, timedelta | datetime):
        return CIM_TYPE["DateTime"]
    if isinstance(value, NetObject):
        return CIM_TYPE["Instance"]
    if isinstance(value, list):
        return CIM_TYPE["StringArray"]
    return CIM_TYPE["String"]


def _property_text(name: str, value: Any) -> str:
    """``CimProperty.ToString()``: ``Name = "value"`` for strings (GOW/ESAM), bare otherwise."""
    if value is None:
        return f"{name}"
    if isinstance(value, str):
        return f'{name} = "{value}"'
    return f"{name} = {ps_to_string(value)}"


def cim_property(name: str, value: Any) -> NetObject:
    return NetObject({"Name": name, "Value": value, "CimType": _cim_type(value), "Flags": PROPERTY_FLAGS,
                      "IsValueModified": False}, _property_text(name, value))


def _qualifier(name: str, text: str) -> NetObject:
    value: Any = text.strip('"') if text.startswith('"') else (text == "True" if text in ("True", "False")
                                                               else int(text))
    return NetObject({"Name": name, "Value": value, "CimType": _cim_type(value), "Flags": "DisableOverride, "
                      "ToSubclass"}, f"{name} = {text}")


def _system_properties(server: str, class_name: str, path: str | None = None) -> NetObject:
    return NetObject({"Namespace": CIM_NAMESPACE, "ServerName": server, "ClassName": class_name, "Path": path},
                     SYSTEM_PROPERTIES_TYPE)


def cim_class(class_name: str, server: str, property_names: list[str], superclass: str | None) -> NetObject:
    """A ``CimClass``: ToString is ``root/Microsoft/Windows/DNS:<class>`` (GOW fixture)."""
    declarations = [NetObject({"Name": n, "CimType": CIM_TYPE["String"], "Flags": PROPERTY_FLAGS, "Qualifiers": [],
                               "ReferenceClassName": None}, n) for n in property_names]
    qualifiers = [_qualifier(n, t) for n, t in CLASS_QUALIFIERS]
    parent = (cim_class(superclass, server, [], None) if superclass else None)
    return NetObject({
        "CimSuperClassName": superclass,
        # the ESAM capture prints the superclass path with an upper-case ROOT
        "CimSuperClass": (NetObject(parent.properties, f"ROOT/Microsoft/Windows/DNS:{superclass}")
                          if parent else None),
        "CimClassProperties": declarations,
        "CimClassQualifiers": qualifiers,
        "CimClassMethods": [],
        "CimSystemProperties": _system_properties(server, class_name),
    }, f"{CIM_NAMESPACE}:{class_name}")


def record_data(data: RecordDataObject) -> NetObject:
    """The embedded RecordData instance: only its .NET properties (never ``IPv4Address`` as a key)."""
    server = data.server_name
    # in "ws2025hex" mode the A value is already hex (cmdlets.to_object; nrkno#85)
    props = [cim_property(name, value) for name, value in data.properties.items()]
    return NetObject({
        "CimClass": cim_class(data.cim_class, server, list(data.properties), "DnsServerResourceRecordData"),
        "CimInstanceProperties": props,
        "CimSystemProperties": _system_properties(server, data.cim_class),
    }, data.display())


def record(obj: DnsRecordObject) -> PSObject:
    """A record as the pipeline carries it: PSObject(CimInstance) with adapted CIM properties."""
    data = record_data(obj.RecordData)
    adapted = {"DistinguishedName": obj.DistinguishedName, "HostName": obj.HostName,
               "RecordClass": obj.RecordClass, "RecordData": data, "RecordType": obj.RecordType,
               "Timestamp": obj.Timestamp, "TimeToLive": obj.TimeToLive, "Type": obj.Type}
    base_props: dict[str, Any] = {}
    if obj.root_cim_keys:
        base_props = {
            "CimClass": cim_class("DnsServerResourceRecord", obj.server_name, list(adapted), None),
            "CimInstanceProperties": [cim_property(k, v) for k, v in adapted.items()],
            "CimSystemProperties": _system_properties(obj.server_name, "DnsServerResourceRecord"),
        }
    return PSObject(NetObject(base_props, "DnsServerResourceRecord"), extended={"PSComputerName": obj.PSComputerName},
                    adapted=adapted)


def zone(obj: DnsZoneObject) -> PSObject:
    """A zone: GOW's real ``Get-DnsServerZone | ConvertTo-Json`` shows no Cim* keys (switchable)."""
    base_props: dict[str, Any] = {}
    if obj.root_cim_keys:
        base_props = {
            "CimClass": cim_class(obj.cim_class, obj.server_name, list(obj.properties), "DnsServerZone"),
            "CimInstanceProperties": [cim_property(k, v) for k, v in obj.properties.items()],
            "CimSystemProperties": _system_properties(obj.server_name, obj.cim_class),
        }
    return PSObject(NetObject(base_props, obj.cim_class), extended={"PSComputerName": None},
                    adapted=dict(obj.properties))


def to_ps(value: Any) -> Any:
    """Map the cmdlets' Python objects to psjson's .NET stand-ins (other values pass through)."""
    if isinstance(value, DnsRecordObject):
        return record(value)
    if isinstance(value, DnsZoneObject):
        return zone(value)
    if isinstance(value, RecordDataObject):
        return record_data(value)
    if isinstance(value, list):
        return [to_ps(v) for v in value]
    if isinstance(value, dict):
        return {k: to_ps(v) for k, v in value.items()}
    if isinstance(value, PSObject):
        return PSObject(to_ps(value.base), {k: to_ps(v) for k, v in value.extended.items()},
                        {k: to_ps(v) for k, v in value.adapted.items()})
    return value
