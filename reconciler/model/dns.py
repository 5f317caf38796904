"""Canonical form of DNS records: the single definition every DNS comparison goes through.

Rules (README "DNS normal form" documents them for users):

- Zone names: lower-case, IDNA (punycode), no trailing dot: ``namgun.or.kr``.
- Record names are kept relative to the zone, lower-case IDNA; the apex is ``@``. ``@``, ``''``,
  ``namgun.or.kr`` and ``namgun.or.kr.`` all mean the apex. A name that repeats the zone suffix
  (``mail.namgun.or.kr``) means ``mail``, never ``mail.namgun.or.kr.namgun.or.kr``.
- Targets (CNAME, NS, PTR, MX exchange, SRV target) are absolute, lower-case IDNA, with exactly one
  trailing dot. Written without a trailing dot: a bare label (``mail``) is relative to the zone, a
  name with a dot (``mail.example.com``) is taken as already absolute, ``@`` is the zone apex.
- TXT: one logical string. The user never escapes ``;`` or quotes; how a server split the value into
  255-octet character-strings is not part of the value (octoDNS and DNSControl compare the same
  way, dns-as-code-anchors.md §1.5, §2.3). Compared on its UTF-8 octets.
- An RRset's values are a set: they are stored sorted and de-duplicated, so order never diffs.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import dns.name

KIND = "dns.rrset"
TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS", "CAA")
TARGET_TYPES = {"CNAME", "NS", "PTR"}
# Octets per TXT character-string (RFC 1035 §3.3: a length octet, so at most 255).
TXT_CHUNK = 255
# AD-managed names (windows-dns.md §8 guard rule (c)): equal to or under these labels.
AD_LABELS = ("_msdcs", "_sites", "_tcp", "_udp", "domaindnszones", "forestdnszones")


class DnsValueError(ValueError):
    """A value that has no canonical form (bad address, bad name …); the message is for users."""


def zone_name(text: str) -> str:
    text = text.strip().rstrip(".")
    if not text:
        raise DnsValueError("empty zone name")
    return _idna(text)


# Plain ASCII host names (the vast majority): dnspython would return them unchanged but lower-cased,
# so skip it. Labels of letters, digits, '-', '_' (SRV/DKIM names) or a lone '*', 1-63 octets each.
_ASCII_NAME = re.compile(r"(?:(?:[A-Za-z0-9_-]{1,63}|\*)\.)*(?:[A-Za-z0-9_-]{1,63}|\*)\.?")


def _idna(text: str) -> str:
    if len(text) <= 253 and _ASCII_NAME.fullmatch(text):
        return text.rstrip(".").lower()
    # A host name never holds whitespace or control characters; without this check "mail extra"
    # would silently become the label "mail\032extra" (dnspython escapes, it does not refuse).
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise DnsValueError(f"invalid DNS name {text!r}: whitespace or control character")
    try:
        name = dns.name.from_unicode(text.rstrip(".") + ".")
    except (dns.name.LabelTooLong, dns.name.NameTooLong, dns.name.EmptyLabel) as exc:
        raise DnsValueError(f"invalid DNS name {text!r}: {exc}") from exc
    except (UnicodeError, dns.exception.DNSException) as exc:
        raise DnsValueError(f"invalid DNS name {text!r}: {exc}") from exc
    return name.to_text().rstrip(".").lower()


def relative_name(name: str | None, zone: str) -> str:
    """Canonical zone-relative owner name (``@`` for the apex)."""
    text = (name or "").strip()
    if text in ("", "@", "."):
        return "@"
    absolute = text.endswith(".")
    canon = _idna(text)
    if canon == zone:
        return "@"
    if canon.endswith("." + zone):
        return canon[: -len(zone) - 1]
    if absolute:
        raise DnsValueError(f"name {text!r} is outside zone {zone}")
    return canon


def absolute_name(relative: str, zone: str) -> str:
    return f"{zone}." if relative == "@" else f"{relative}.{zone}."


def target(text: str, zone: str) -> str:
    """Canonical absolute target with one trailing dot (rule in the module docstring)."""
    text = text.strip()
    if text == "@":
        return f"{zone}."
    if not text or text == ".":
        raise DnsValueError("empty target name")
    if text.endswith("."):
        return _idna(text) + "."
    if "." not in text:
        return f"{_idna(text)}.{zone}."
    return _idna(text) + "."


def is_guarded_name(relative: str) -> bool:
    labels = relative.lower().split(".")
    return any(label in AD_LABELS for label in labels)


# The ownership guard shared by every DNS provider (windows-dns.md §8; dns-as-code-anchors.md §1.3, §6).
SOA_REASON = "SOA is maintained by the server; the reconciler never changes it"
APEX_NS_REASON = "apex NS: kept unless git declares it; changes need --force"
AD_REASON = ("Active Directory name (_msdcs, _sites, _tcp, _udp, DomainDnsZones, ForestDnsZones): "
             "changed only if git declares it, never deleted")


def guard_reason(name: str, rtype: str, *, ad_names: bool = True) -> str | None:
    """Why a live RRset must not be deleted (and changed only when git declares it), or None."""
    if rtype == "SOA":
        return SOA_REASON
    if name == "@" and rtype == "NS":
        return APEX_NS_REASON
    if ad_names and is_guarded_name(name):
        return AD_REASON
    return None


@dataclass(frozen=True)
class Mx:
    preference: int
    exchange: str


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z")


def canonical_value(rtype: str, value: object, zone: str) -> str:
    """One record value in canonical text form (TXT: the raw logical string, unquoted)."""
    if rtype == "A":
        if isinstance(value, str) and _IPV4.match(value):
            return value  # already what str(IPv4Address(value)) gives; most zones are mostly A records
        return str(_address(value, ipaddress.IPv4Address))
    if rtype == "AAAA":
        return str(_address(value, ipaddress.IPv6Address))
    if rtype in TARGET_TYPES:
        return target(str(value), zone)
    if rtype == "TXT":
        if not isinstance(value, str):
            raise DnsValueError(f"TXT value must be a string, not {type(value).__name__}")
        return value
    if rtype == "MX":
        pref, exch = _fields(value, ("preference", "exchange"), 2)
        return f"{_u16(pref, 'preference')} {target(str(exch), zone)}"
    if rtype == "SRV":
        pri, wei, port, tgt = _fields(value, ("priority", "weight", "port", "target"), 4)
        return f"{_u16(pri, 'priority')} {_u16(wei, 'weight')} {_u16(port, 'port')} {target(str(tgt), zone)}"
    if rtype == "CAA":
        flags, tag, val = _fields(value, ("flags", "tag", "value"), 3)
        flags_i = _int(flags, "CAA flags")
        if not 0 <= flags_i <= 255:
            raise DnsValueError(f"CAA flags must be 0..255, got {flags}")
        tag_s = str(tag).lower()
        if not re.fullmatch(r"[a-z0-9]{1,15}", tag_s):
            raise DnsValueError(f"CAA tag {tag!r} must be 1-15 letters or digits")
        escaped = str(val).replace("\\", "\\\\").replace('"', '\\"')
        return f'{flags_i} {tag_s} "{escaped}"'
    raise DnsValueError(f"unsupported record type {rtype}")


def _address(value: object, cls: type) -> object:
    try:
        return cls(str(value).strip())
    except ValueError as exc:
        raise DnsValueError(f"{value!r} is not a valid {'IPv4' if cls is ipaddress.IPv4Address else 'IPv6'} "
                            "address") from exc


def _fields(value: object, names: tuple[str, ...], count: int) -> tuple[object, ...]:
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            raise DnsValueError(f"missing field(s) {', '.join(missing)}")
        return tuple(value[n] for n in names)
    is_caa = names[-1] == "value"
    # Only the CAA value (quoted) may hold spaces; MX/SRV with a field too many are an error, not a
    # target name with a space in it.
    parts = str(value).split(None, count - 1) if is_caa else str(value).split()
    if len(parts) != count:
        raise DnsValueError(f"expected {count} fields ({' '.join(names)}), got {value!r}")
    if is_caa:  # CAA text form: strip the quotes of the last field
        last = parts[-1].strip()
        if len(last) >= 2 and last[0] == last[-1] == '"':  # presentation form: undo its escapes
            last = re.sub(r'\\(.)', r"\1", last[1:-1])
        parts[-1] = last
    return tuple(parts)


def _int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise DnsValueError(f"{what} must be an integer, got {value!r}")
    try:
        return int(str(value))
    except ValueError as exc:
        raise DnsValueError(f"{what} must be an integer, got {value!r}") from exc


def _u16(value: object, what: str) -> int:
    number = _int(value, what)
    if not 0 <= number <= 65535:
        raise DnsValueError(f"{what} must be 0..65535, got {number}")
    return number


def txt_chunks(value: str) -> list[bytes]:
    """Split a logical TXT value into character-strings of at most 255 octets (RFC 1035 §3.3.14).

    Splits on octets of the UTF-8 encoding without cutting a multi-byte character in two, so each
    string stays valid UTF-8 when a server or tool displays it on its own.
    """
    raw = value.encode("utf-8")
    if not raw:
        return [b""]
    chunks: list[bytes] = []
    start = 0
    while start < len(raw):
        end = min(start + TXT_CHUNK, len(raw))
        while end < len(raw) and end > start and (raw[end] & 0xC0) == 0x80:
            end -= 1  # do not split inside a UTF-8 sequence
        chunks.append(raw[start:end])
        start = end
    return chunks


def txt_join(strings: list[bytes] | tuple[bytes, ...]) -> str:
    """The logical value of a TXT record read from the wire: the character-strings concatenated."""
    return b"".join(strings).decode("utf-8", errors="backslashreplace")


def rrset_data(ttl: int, values: list[Any]) -> dict[str, Any]:
    """RRset data: TTL and the values as a sorted set (references, if any, sort after strings)."""
    return {"ttl": int(ttl), "values": sorted(set(values), key=lambda v: (not isinstance(v, str), str(v)))}
