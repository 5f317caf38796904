"""Canonical values of model/dns.py → wire rdata, for the RFC 2136 provider (reading: dnswire).

TXT rdata is built from octet chunks (model.dns.txt_chunks), because dnspython neither splits strings
longer than 255 octets nor should it parse a value as master-file text, where `;` starts a comment
(dns-as-code-anchors.md §1.5, octodns-bind#20).
"""

from __future__ import annotations

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
