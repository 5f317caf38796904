"""Compare what a DNS server answers with the desired RRset, and say precisely what is wrong.

The organisation's DKIM record was once cut at 255 characters and nothing but an outside checker
noticed (issue 6): a truncated TXT, a value split so that its strings no longer join to the desired
text, a missing record, a stale value or TTL are each a failure with its own message.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdatatype

from .. import dnswire
from ..desired import mailchecks
from ..model import dns as m
from .query import Answer, Server


@dataclass(frozen=True)
class Expected:
    zone: str
    name: str  # relative to the zone, "@" for the apex
    rtype: str
    ttl: int | None
    values: tuple[str, ...] | None  # None: the RRset must not exist (it was deleted)
    dkim_unresolved: bool = False  # a DKIM value another system supplies that could not be read

    @property
    def label(self) -> str:
        return f"{self.zone}/{self.name}/{self.rtype}"

    def owner(self) -> dns.name.Name:
        return dns.name.from_text(m.absolute_name(self.name, self.zone))

    @property
    def rdtype(self) -> int:
        return dns.rdatatype.from_text(self.rtype)


def compare(expected: Expected, answer: Answer, server: Server) -> list[str]:
    """Failure messages (empty when the server publishes exactly the desired RRset)."""
    where = f"{expected.label} at {server}"
    if answer.error:
        return [f"{where}: {answer.error}"]
    if answer.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        hint = " (is the server authoritative for the zone?)" if answer.rcode == dns.rcode.REFUSED else ""
        return [f"{where}: query failed ({dns.rcode.to_text(answer.rcode or 0)}){hint}"]
    if not server.recursive and not answer.authoritative:
        return [f"{where}: the answer is not authoritative (AA not set): the server does not serve this zone"]
    # An answer through a CNAME holds the target's records, not an RRset at this name.
    direct = answer.exists and answer.cname is None
    if expected.values is None:
        if direct:
            return [f"{where}: still published after its deletion: {_show(_published(answer))}"]
        return []
    if not direct:
        if answer.cname is not None:
            return [f"{where}: missing: the name is a CNAME to {answer.cname} (desired {_show(expected.values)})"]
        missing = "NXDOMAIN" if answer.rcode == dns.rcode.NXDOMAIN else "no such record"
        return [f"{where}: missing ({missing}); desired {_show(expected.values)}"]
    published = _published(answer)
    out: list[str] = []
    if expected.dkim_unresolved:
        for value in published:
            try:
                mailchecks.dkim_key_bits(value)
            except ValueError as exc:
                out.append(f"{where}: the published DKIM key does not parse: {exc}")
    else:
        out.extend(_value_failures(where, expected, answer, published))
    if expected.ttl is not None and answer.ttl is not None:
        if server.recursive and answer.ttl > expected.ttl:
            out.append(f"{where}: TTL {answer.ttl} is above the desired {expected.ttl} (stale cache or old TTL)")
        elif not server.recursive and answer.ttl != expected.ttl:
            out.append(f"{where}: TTL {answer.ttl}, desired {expected.ttl}")
    return out


def _published(answer: Answer) -> list[str]:
    return sorted(answer.values())


def _value_failures(where: str, expected: Expected, answer: Answer, published: list[str]) -> list[str]:
    desired = sorted(set(expected.values or ()))
    if published == desired:
        return []
    out: list[str] = []
    missing = [v for v in desired if v not in published]
    extra = [p for p in published if p not in desired]
    if expected.rtype == "TXT":
        for value in list(missing):
            explained = _txt_damage(value, answer)
            if explained is not None:
                message, shown = explained
                out.append(f"{where}: {message}")
                missing.remove(value)
                if shown in extra:
                    extra.remove(shown)
    if missing and extra:
        out.append(f"{where}: stale value: the server publishes {_show(extra)}, desired {_show(missing)}")
    elif missing:
        out.append(f"{where}: value {_show(missing)} is not published (the server publishes {_show(published)})")
    elif extra:
        out.append(f"{where}: stale value(s) published that git does not declare: {_show(extra)}")
    return out


def _txt_damage(value: str, answer: Answer) -> tuple[str, str] | None:
    """A published TXT that is the desired value cut short or split wrongly: (message, its value)."""
    want = value.encode("utf-8")
    for wire in answer.wires:
        strings = dnswire.txt_strings(wire)
        got = b"".join(strings)
        if got == want:
            continue
        shown = dnswire.canonical(dnswire.TXT, wire)
        if got and want.startswith(got):
            return (f"TXT value truncated: the server publishes {len(got)} of {len(want)} octets "
                    f"({len(strings)} character-string(s)); desired {_short(value)}", shown)
        if b" ".join(strings) == want or got.replace(b" ", b"") == want.replace(b" ", b""):
            return (f"TXT value mis-split: the server's {len(strings)} character-strings "
                    f"({', '.join(str(len(s)) for s in strings)} octets) do not join to the desired value "
                    f"(spaces lost or added at string boundaries); desired {_short(value)}", shown)
    return None


def _short(text: str) -> str:
    return repr(text) if len(text) <= 70 else repr(text[:60] + "…") + f" ({len(text.encode())} octets)"


def _show(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_short(v) for v in values) or "nothing"
