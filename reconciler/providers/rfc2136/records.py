"""Wire rdata ↔ the canonical values of model/dns.py, for the RFC 2136 provider and DNS verification.

Reading never goes through presentation text for TXT: the character-strings are joined as octets
(dnspython's text form would escape quotes, backslashes and non-ASCII). Writing builds TXT rdata
from octet chunks (model.dns.txt_chunks), because dnspython neither splits strings longer than 255
octets nor should it parse a value as master-file text, where `;` starts a comment
(dns-as-code-anchors.md §1.5, octodns-bind#20).
"""

from __future__ import annotations

import ipaddress
import re

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.CAA import CAA
from dns.rdtypes.ANY.TXT import TXT

from ...model import dns as m

MODELLED = {dns.rdatatype.from_text(t): t for t in m.TYPES}
IN = dns.rdataclass.IN
_CAA = re.compile(r'(\d+) ([a-z0-9]+) "(.*)"\Z', re.S)


def canonical(rdata: dns.rdata.Rdata) -> str:
    """The canonical value text of one wire rdata of a modelled type (names absolute, lower-case)."""
    rtype = rdata.rdtype
    if rtype == dns.rdatatype.TXT:
        return m.txt_join(rdata.strings)  # type: ignore[attr-defined]
    if rtype == dns.rdatatype.A:
        return str(ipaddress.IPv4Address(rdata.address))  # type: ignore[attr-defined]
    if rtype == dns.rdatatype.AAAA:
        return str(ipaddress.IPv6Address(rdata.address))  # type: ignore[attr-defined]
    if rtype in (dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.PTR):
        return _name(rdata.target)  # type: ignore[attr-defined]
    if rtype == dns.rdatatype.MX:
        return f"{rdata.preference} {_name(rdata.exchange)}"  # type: ignore[attr-defined]
    if rtype == dns.rdatatype.SRV:
        r = rdata
        return f"{r.priority} {r.weight} {r.port} {_name(r.target)}"  # type: ignore[attr-defined]
    if rtype == dns.rdatatype.CAA:
        value = rdata.value.decode("utf-8", errors="backslashreplace")  # type: ignore[attr-defined]
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{rdata.flags} {rdata.tag.decode("ascii", "replace").lower()} "{escaped}"'  # type: ignore[attr-defined]
    raise ValueError(f"type {dns.rdatatype.to_text(rtype)} is not modelled")


def _name(name: dns.name.Name) -> str:
    return name.to_text().lower()


def to_rdata(rtype: str, value: str) -> dns.rdata.Rdata:
    """The wire rdata for one canonical value (TXT and CAA built from octets, never parsed as text)."""
    if rtype == "TXT":
        return TXT(IN, dns.rdatatype.TXT, m.txt_chunks(value))
    if rtype == "CAA":
        match = _CAA.match(value)
        if match is None:
            raise ValueError(f"CAA value {value!r} is not in canonical form")
        raw = re.sub(r"\\(.)", r"\1", match.group(3), flags=re.S)
        return CAA(IN, dns.rdatatype.CAA, int(match.group(1)), match.group(2).encode(), raw.encode("utf-8"))
    return dns.rdata.from_text(IN, rtype, value)


def rdata_text(rdata: dns.rdata.Rdata) -> str:
    """Presentation text for values of types that are not modelled (shown, never compared)."""
    return rdata.to_text()


def wire_length(rdata: dns.rdata.Rdata) -> int:
    """Octets of the rdata on the wire without name compression (an upper bound for batching)."""
    return len(rdata.to_digestable())
