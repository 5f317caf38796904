"""A quick test that a DNS zone document is plainly valid, so the JSON Schema need not walk it.

jsonschema spends most of a 10,000-record zone's load time descending into every record. This check
answers only "certainly valid" (True) or "not sure" (False); on False the full JSON Schema runs
and reports every problem with its position, so messages never depend on this module. It must
never say True for a document the schema rejects: tests/core/test_fastcheck.py checks that against
the schema itself on generated documents. It accepts a subset of what the schema allows (for
example integral floats or unusual value shapes fall through to the schema).
"""

from __future__ import annotations

from typing import Any

_TYPES = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS", "CAA"}
_RECORD_KEYS = {"type", "ttl", "value", "values", "verify_only", "comment"}
_TTL_MAX = 2147483647
_SHAPES: tuple[tuple[frozenset[str], dict[str, type]], ...] = (
    (frozenset({"preference", "exchange"}), {"preference": int, "exchange": str}),
    (frozenset({"priority", "weight", "port", "target"}),
     {"priority": int, "weight": int, "port": int, "target": str}),
    (frozenset({"flags", "tag", "value"}), {"flags": int, "tag": str, "value": str}),
)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ttl(value: Any) -> bool:
    return _int(value) and 0 <= value <= _TTL_MAX


def _value(value: Any) -> bool:
    if isinstance(value, str) or _int(value):
        return True
    if not isinstance(value, dict):
        return False
    keys = frozenset(value)
    if keys == {"from", "dkim"}:
        source, dkim = value["from"], value["dkim"]
        return isinstance(source, str) and source == "stalwart" and isinstance(dkim, str) and len(dkim) >= 1
    for shape, types in _SHAPES:
        if keys == shape:
            return all(_int(value[k]) if t is int else isinstance(value[k], t) for k, t in types.items())
    return False


def _record(rec: Any) -> bool:
    if not isinstance(rec, dict) or not rec.keys() <= _RECORD_KEYS:
        return False
    rtype = rec.get("type")
    if not isinstance(rtype, str) or rtype not in _TYPES:  # `type: {}` is YAML too
        return False
    if ("value" in rec) == ("values" in rec):
        return False
    if "ttl" in rec and not _ttl(rec["ttl"]):
        return False
    if "verify_only" in rec and not isinstance(rec["verify_only"], bool):
        return False
    if "comment" in rec and not isinstance(rec["comment"], str):
        return False
    if "value" in rec:
        return _value(rec["value"])
    values = rec["values"]
    return isinstance(values, list) and len(values) >= 1 and all(_value(v) for v in values)


def dns_zone_is_plainly_valid(doc: Any) -> bool:
    if not isinstance(doc, dict) or not doc.keys() <= {"zone", "defaults", "records"} or "records" not in doc:
        return False
    if "zone" in doc and not isinstance(doc["zone"], str):
        return False
    if "defaults" in doc:
        defaults = doc["defaults"]
        if not isinstance(defaults, dict) or not defaults.keys() <= {"ttl"}:
            return False
        if "ttl" in defaults and not _ttl(defaults["ttl"]):
            return False
    records = doc["records"]
    if not isinstance(records, dict):
        return False
    for name, entry in records.items():
        if not isinstance(name, str):
            return False
        if isinstance(entry, list):
            if not entry or not all(_record(r) for r in entry):
                return False
        elif not _record(entry):
            return False
    return True


FAST_CHECKS = {"dns": dns_zone_is_plainly_valid}
