"""Verify record sets by asking DNS: after an apply (changed names) or for `reconciler verify` (all).

Used by every DNS provider's ``verify_published(changes)`` and by the verify command, so both speak
the same comparison (compare.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..model import dns as m
from ..model.resource import Ref, Resource
from .compare import Expected, compare
from .query import Server, ask_many

if TYPE_CHECKING:
    from ..plan import Change

__all__ = ["Expected", "Server", "expected_from_change", "expected_from_resource", "verify", "verify_changes"]


def expected_from_resource(resource: Resource) -> Expected:
    zone, name, rtype = resource.key
    raw = resource.data.get("values") or []
    values = tuple(v for v in raw if isinstance(v, str))
    unresolved = any(isinstance(v, Ref) for v in raw)
    ttl = resource.data.get("ttl")
    return Expected(zone, name, rtype, int(ttl) if ttl is not None else None, values,
                    dkim_unresolved=unresolved)


def expected_from_change(change: Change) -> Expected | None:
    if change.kind != m.KIND:
        return None
    if change.op == "delete":
        zone, name, rtype = change.key
        return Expected(zone, name, rtype, None, None)
    assert change.after is not None
    return expected_from_resource(change.after)


def verify(server: Server, expected: Sequence[Expected], *, timeout: float = 3.0,
           workers: int = 32) -> list[str]:
    """Failure messages for every expected RRset the server does not answer exactly."""
    questions = [(e.owner(), e.rdtype) for e in expected]
    answers = ask_many(server, questions, timeout=timeout, workers=workers)
    failures: list[str] = []
    for item, question in zip(expected, questions, strict=True):
        failures.extend(compare(item, answers[question], server))
    return failures


def verify_changes(server: Server, changes: Sequence[Change], *, timeout: float = 3.0) -> list[str]:
    expected = [e for e in (expected_from_change(c) for c in changes) if e is not None]
    return verify(server, expected, timeout=timeout)
