"""Changes → RFC 2136 UPDATE messages: prerequisites, update records and size-aware batching.

Each change becomes one *step*: its prerequisites (RFC 2136 §2.4) and its update records (§2.5):

- create: "RRset does not exist" (§2.4.3), then add every value;
- update: "RRset exists, value dependent" (§2.4.2) with the exact rdata read, then delete the
  RRset (§2.5.2) and add the desired values — except the apex NS RRset, which BIND refuses to delete
  whole ("attempt to delete all SOA or NS records ignored", octodns-bind#70): there the new values are
  added first and the old ones removed one by one (§2.5.4);
- delete: "RRset exists, value dependent", then delete the RRset.

A prerequisite that no longer holds makes the server reject the whole message (§3.2) instead of
overwriting what somebody changed since the read; octodns-bind, external-dns and DNSControl send
none (dns-as-code-anchors.md §1.7, §2.5, §6).

Batching: every step of one owner name goes into the same message, in the order deletes, updates,
creates (so a CNAME replacing an A at a name lands in one atomic message). Messages are packed up to
a size bound computed from uncompressed lengths, so the rendered message is never larger; never one
message per record, never over 64 KB (octoDNS failed outright with an UPDATE over 64 KB, issue 6).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
from dns.rdtypes.ANY.TSIG import TSIG

from ... import dnswire
from ...plan import Change
from . import records
from .zonedata import ZoneData

_ORDER = {"delete": 0, "update": 1, "create": 2}
IN, NONE, ANY = dns.rdataclass.IN, dns.rdataclass.NONE, dns.rdataclass.ANY
_RR = struct.Struct("!HHIH")
RR_FIXED = 10  # type, class, TTL, rdlength (RFC 1035 §4.1.3)


@dataclass
class Step:
    """One change as RFC 2136 records; every rdata as uncompressed wire octets (dnswire's form)."""

    change: Change
    owner: dns.name.Name
    rdtype: int
    present: list[bytes] | None = None  # value-dependent "RRset exists", exactly as read
    absent: bool = False  # "RRset does not exist"
    delete_rrset: bool = False
    add_ttl: int = 0
    add: list[bytes] = field(default_factory=list)
    remove: list[bytes] = field(default_factory=list)  # single records deleted (apex NS)
    size: int = 0


class StepError(ValueError):
    """A change that cannot be expressed as an update (the message is for users)."""


def make_step(change: Change, data: ZoneData) -> Step:
    _zone, relative, rtype = change.key
    rdtype = dns.rdatatype.from_text(rtype)
    if rdtype == dns.rdatatype.SOA:
        raise StepError("the SOA record is never changed by the reconciler (the server maintains it)")
    owner = data.owner(relative)
    step = Step(change, owner, rdtype)
    apex_ns = relative == "@" and rdtype == dns.rdatatype.NS
    if change.op in ("update", "delete"):
        step.present = _as_read(change, data, relative, rdtype)
    if change.op == "create":
        step.absent = True
    if change.op == "delete":
        if apex_ns:
            raise StepError("deleting the zone's apex NS record set is refused (servers ignore it: BIND "
                            "'attempt to delete all SOA or NS records ignored')")
        step.delete_rrset = True
    if change.after is not None:
        values = change.after.data["values"]
        if any(not isinstance(v, str) for v in values):
            raise StepError("a value was never resolved (a reference to another system)")
        try:
            step.add = [records.to_rdata(rtype, v).to_wire() for v in values]
        except (ValueError, dns.exception.DNSException) as exc:
            raise StepError(f"value cannot be encoded: {exc}") from None
        step.add_ttl = int(change.after.data["ttl"])
        if change.op == "update":
            if apex_ns:  # compared as DNS compares names (letter case aside), or the delete takes the add
                keep = {dnswire.canonical(rdtype, w) for w in step.add}
                step.remove = [w for w in (step.present or []) if dnswire.canonical(rdtype, w) not in keep]
            else:
                step.delete_rrset = True
    step.size = _size(step)
    return step


def _as_read(change: Change, data: ZoneData, relative: str, rdtype: int) -> list[bytes]:
    """The RRset exactly as the server holds it, if it is still what the plan saw; else the plan's view."""
    assert change.before is not None
    before = [v for v in change.before.data["values"] if isinstance(v, str)]
    held = data.get(relative, rdtype)
    if held is not None and sorted(dnswire.canonical(rdtype, w) for w in held.wires) == sorted(before):
        return list(held.wires)
    return [records.to_rdata(change.key[2], v).to_wire() for v in before]


def _size(step: Step) -> int:
    """The step's octets in a message: names are written out (render() does not compress)."""
    name = len(step.owner.to_wire())
    total = 0
    if step.present is not None:
        total += sum(name + RR_FIXED + len(w) for w in step.present)
    if step.absent or step.delete_rrset:
        total += (name + RR_FIXED) * (int(step.absent) + int(step.delete_rrset))
    total += sum(name + RR_FIXED + len(w) for w in [*step.add, *step.remove])
    return total


def overhead(zone: dns.name.Name, key_name: dns.name.Name | None, algorithm: dns.name.Name | None) -> int:
    """Octets outside the steps: header, zone section and a TSIG record with the longest MAC (SHA-512)."""
    size = 12 + len(zone.to_wire()) + 4
    if key_name is not None and algorithm is not None:
        size += len(key_name.to_wire()) + RR_FIXED + len(algorithm.to_wire()) + 6 + 2 + 2 + 64 + 2 + 2 + 2 + 6
    return size + 16  # slack for an OPT record a library might add


def sort_steps(steps: Sequence[Step]) -> list[Step]:
    return sorted(steps, key=lambda s: (s.owner.to_text(), _ORDER[s.change.op], s.rdtype))


def pack(steps: Sequence[Step], limit: int, fixed: int) -> list[list[Step]]:
    """Batches of whole owner-name groups, each under ``limit`` octets. A group larger than one
    message is split by step (it then loses cross-type atomicity, never correctness)."""
    groups: list[list[Step]] = []
    for step in sort_steps(steps):
        if groups and groups[-1][0].owner == step.owner:
            groups[-1].append(step)
        else:
            groups.append([step])
    batches: list[list[Step]] = []
    current: list[Step] = []
    used = fixed
    for group in groups:
        size = sum(s.size for s in group)
        if fixed + size > limit:
            if current:
                batches.append(current)
                current, used = [], fixed
            for step in group:  # each step alone fits: check() refused larger ones
                if current and used + step.size > limit:
                    batches.append(current)
                    current, used = [], fixed
                current.append(step)
                used += step.size
            continue
        if current and used + size > limit:
            batches.append(current)
            current, used = [], fixed
        current.extend(group)
        used += size
    if current:
        batches.append(current)
    return batches


def render(zone: dns.name.Name, steps: Sequence[Step], qid: int) -> bytes:
    """The UPDATE message (RFC 2136 §2), unsigned: zone, prerequisites, then updates, in step order.

    Written directly from the wire octets the steps hold, without name compression (the batch sizes
    are computed without it): dnspython's UpdateMessage rebuilt every record as objects and took
    about a third of a 1,000-change apply to do it."""
    prerequisites: list[bytes] = []
    changes: list[bytes] = []
    for step in steps:
        owner = step.owner.to_wire()
        if step.present is not None:  # §2.4.2: RRset exists (value dependent), TTL 0
            prerequisites.extend(owner + _RR.pack(step.rdtype, IN, 0, len(w)) + w for w in step.present)
        if step.absent:  # §2.4.3: RRset does not exist
            prerequisites.append(owner + _RR.pack(step.rdtype, NONE, 0, 0))
    for step in steps:
        owner = step.owner.to_wire()
        if step.delete_rrset:  # §2.5.2: delete an RRset
            changes.append(owner + _RR.pack(step.rdtype, ANY, 0, 0))
        changes.extend(owner + _RR.pack(step.rdtype, IN, step.add_ttl, len(w)) + w for w in step.add)  # §2.5.1
        changes.extend(owner + _RR.pack(step.rdtype, NONE, 0, len(w)) + w for w in step.remove)  # §2.5.4
    header = struct.pack("!HHHHHH", qid, dns.opcode.UPDATE << 11, 1, len(prerequisites), len(changes), 0)
    question = zone.to_wire() + struct.pack("!HH", dns.rdatatype.SOA, IN)
    return header + question + b"".join(prerequisites) + b"".join(changes)


def sign(unsigned: bytes, keyring: dict[dns.name.Name, dns.tsig.Key] | None,
         key_name: dns.name.Name | None) -> tuple[bytes, bytes]:
    """(the message with its TSIG record appended, the request MAC), as dnspython's renderer signs
    (RFC 8945 §4.3): the MAC covers the message as it was before the record; then ARCOUNT grows."""
    if keyring is None or key_name is None:
        return unsigned, b""
    key = keyring[key_name]
    qid = int.from_bytes(unsigned[:2], "big")
    template = TSIG(ANY, dns.rdatatype.TSIG, key.algorithm, 0, 300, b"", qid, 0, b"")
    signed, _ = dns.tsig.sign(unsigned, key, template, int(time.time()))
    rdata = signed.to_wire()
    record = key_name.to_wire() + _RR.pack(dns.rdatatype.TSIG, ANY, 0, len(rdata)) + rdata
    additional = int.from_bytes(unsigned[10:12], "big") + 1
    return unsigned[:10] + additional.to_bytes(2, "big") + unsigned[12:] + record, signed.mac


def describe_values(rdtype: int, wires: Sequence[bytes] | None) -> str:
    if not wires:
        return "absent"
    shown = [_short(dnswire.canonical(rdtype, w)) if rdtype in records.MODELLED
             else dnswire.to_rdata(rdtype, w).to_text() for w in wires]
    return ", ".join(sorted(shown))


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def relative_key(change: Change) -> str:
    return f"{change.key[1]} {change.key[2]}" if change.key[1] != "@" else f"@ {change.key[2]}"

