"""Diff desired against live into a Plan, check it against the safety policies, render and save it.

The plan knows nothing about any particular system: it compares canonical Resources (see
model/resource.py). Only the fields the desired side declares are compared, so live fields nobody
manages never cause a change; dict fields compare on the desired keys only (Authentik attributes
that reconciler does not manage survive).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .model.resource import Resource, canonical_json
from .providers.base import LiveState, Provider, Unmanaged

Op = Literal["create", "update", "delete"]
PLAN_FORMAT = 1


@dataclass
class Change:
    op: Op
    target: str
    kind: str
    key: tuple[str, ...]
    before: Resource | None
    after: Resource | None
    fields: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    force_reason: str | None = None  # set when this change needs --force on its own

    @property
    def id(self) -> str:
        # Asked many times per change (plan, check, apply, audit): hashed once per before/after pair.
        cached = self.__dict__.get("_id")
        if cached is not None and cached[0] is self.before and cached[1] is self.after:
            return cached[2]
        body = canonical_json([self.op, self.target, self.kind, list(self.key),
                               self.before.data if self.before else None,
                               self.after.data if self.after else None])
        value = hashlib.sha256(body.encode()).hexdigest()[:12]
        self.__dict__["_id"] = (self.before, self.after, value)
        return value

    @property
    def ident(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"

    @classmethod
    def create(cls, target: str, desired: Resource) -> Change:
        return cls("create", target, desired.kind, desired.key, None, desired)

    @classmethod
    def delete(cls, target: str, live: Resource, warnings: list[str] | None = None) -> Change:
        return cls("delete", target, live.kind, live.key, live, None, warnings=list(warnings or []))

    @classmethod
    def update(cls, target: str, live: Resource, desired: Resource, fields: list[str]) -> Change:
        return cls("update", target, live.kind, live.key, live, desired, fields=fields)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "target": self.target, "kind": self.kind, "key": list(self.key),
                "before": self.before.to_json() if self.before else None,
                "after": self.after.to_json() if self.after else None,
                "fields": self.fields, "warnings": self.warnings, "force_reason": self.force_reason}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Change:
        if obj.get("op") not in ("create", "update", "delete"):
            raise ValueError(f"unknown change op {obj.get('op')!r}")
        return cls(op=obj["op"], target=obj["target"], kind=obj["kind"], key=tuple(obj["key"]),
                   before=Resource.from_json(obj["before"]) if obj.get("before") else None,
                   after=Resource.from_json(obj["after"]) if obj.get("after") else None,
                   fields=list(obj.get("fields", [])), warnings=list(obj.get("warnings", [])),
                   force_reason=obj.get("force_reason"))


@dataclass
class Refusal:
    target: str
    message: str
    change_ids: list[str] = field(default_factory=list)
    forceable: bool = True  # --force overrides safety limits, never a provider's "cannot"

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "message": self.message, "change_ids": self.change_ids,
                "forceable": self.forceable}


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unmanaged: list[tuple[str, Unmanaged]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # targets that could not be read (diff/drift only)
    created: float = field(default_factory=time.time)
    source: dict[str, Any] = field(default_factory=dict)  # desired digest, git commit

    @property
    def empty(self) -> bool:
        return not self.changes

    def blocking(self, force: bool) -> list[Refusal]:
        return [r for r in self.refusals if not (force and r.forceable)]

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            counts[change.op] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        body = {
            "format": PLAN_FORMAT,
            "created": self.created,
            "source": self.source,
            "fingerprints": self.fingerprints,
            "facts": self.facts,
            "changes": [c.to_json() for c in self.changes],
            "refusals": [r.to_json() for r in self.refusals],
            "unmanaged": [{"target": t, "resource": u.resource.to_json(), "reason": u.reason}
                          for t, u in self.unmanaged],
            "notes": self.notes,
            "errors": self.errors,
            "summary": self.summary(),
        }
        body["checksum"] = _checksum(body)
        return body

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Plan:
        if not isinstance(obj, dict):
            raise ValueError("not a plan (expected a JSON object saved by `reconciler diff --out`)")
        if obj.get("format") != PLAN_FORMAT:
            raise ValueError(f"unsupported plan format {obj.get('format')!r}")
        expected = obj.get("checksum")
        if expected != _checksum({k: v for k, v in obj.items() if k != "checksum"}):
            raise ValueError("plan file was modified after it was saved (checksum mismatch)")
        try:
            return cls._from_checked(obj)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a well-formed checksum, a bad body
            raise ValueError(f"plan file is malformed ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _from_checked(cls, obj: dict[str, Any]) -> Plan:
        return cls(changes=[Change.from_json(c) for c in obj["changes"]],
                   refusals=[Refusal(**r) for r in obj.get("refusals", [])],
                   unmanaged=[(u["target"], Unmanaged(Resource.from_json(u["resource"]), u["reason"]))
                              for u in obj.get("unmanaged", [])],
                   fingerprints=dict(obj["fingerprints"]), facts=dict(obj.get("facts", {})),
                   notes=list(obj.get("notes", [])), errors=dict(obj.get("errors", {})), created=float(obj["created"]),
                   source=dict(obj.get("source", {})))


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------- diff

def differs(desired: Any, live: Any) -> bool:
    """Compare a desired field with the live one; dicts compare on the desired keys only."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return any(k not in live or differs(v, live[k]) for k, v in desired.items())
    return desired != live


def diff_target(provider: Provider, desired: list[Resource], live: LiveState,
                policies: dict[str, Any]) -> tuple[list[Change], list[Unmanaged]]:
    changes: list[Change] = []
    unmanaged = list(live.unmanaged)
    declared: set[tuple[str, tuple[str, ...]]] = set()
    for res in desired:
        declared.add((res.kind, res.key))
        if res.meta.get("verify_only"):
            continue
        current = live.resources.get((res.kind, res.key))
        if current is None:
            changes.append(Change.create(provider.name, res))
            continue
        fields = [f for f, v in res.data.items() if differs(v, current.data.get(f))]
        if fields:
            changes.append(Change.update(provider.name, current, res, fields))
    for key, current in live.resources.items():
        if key in declared:
            continue
        if current.guard:
            unmanaged.append(Unmanaged(current, current.guard))
            continue
        change = provider.absent(current, policies)
        if change is None:
            why = getattr(provider, "absent_reason", None)  # optional: the provider says why it keeps it
            reason = (why(current, policies) if callable(why) else None) or (
                "not declared in git; reported, not deleted (purge is off)" if not policies.get("purge")
                else "not declared in git; kept by this target's removal policy")
            unmanaged.append(Unmanaged(current, reason))
        else:
            changes.append(change)
    for change in changes:
        _mark_force(change, policies)
    return changes, unmanaged


def _mark_force(change: Change, policies: dict[str, Any]) -> None:
    # octoDNS RootNsChange: any apex NS change needs --force (dns-as-code-anchors.md §1.3).
    if change.kind == "dns.rrset" and change.key[1:] == ("@", "NS") and not policies.get("allow_root_ns"):
        change.force_reason = "changes the zone's apex NS records"


# -------------------------------------------------------------------------------------------- safety

def _safety_group(resource: Resource) -> str:
    return f"zone {resource.key[0]}" if resource.kind == "dns.rrset" else resource.kind


def check_safety(target: str, changes: list[Change], live: LiveState, policies: dict[str, Any]) -> list[Refusal]:
    """Refuse plans that touch too much of what exists (octoDNS-style thresholds, also for small zones)."""
    refusals: list[Refusal] = []
    share = float(policies.get("max_change_share", 0.3))
    managed: dict[str, int] = {}
    for res in live.resources.values():
        if not res.guard:
            managed[_safety_group(res)] = managed.get(_safety_group(res), 0) + 1
    touched: dict[str, list[Change]] = {}
    deleted: dict[str, int] = {}
    for change in changes:
        if change.op == "create" or change.before is None:
            continue
        group = _safety_group(change.before)
        touched.setdefault(group, []).append(change)
        if change.op == "delete":
            deleted[group] = deleted.get(group, 0) + 1
    for group, group_changes in sorted(touched.items()):
        total = managed.get(group, 0)
        if total and deleted.get(group, 0) == total:
            refusals.append(Refusal(target, f"{group}: the plan deletes every managed object ({total}); "
                                            "refused whatever the size (use --force if this is intended)",
                                    [c.id for c in group_changes]))
            continue
        # Below 4 managed objects a single change is already over any share; octoDNS skips zones under
        # 10 records entirely, which left small zones unprotected (dns-as-code-anchors.md §1.3).
        if total >= 4 and len(group_changes) / total > share:
            refusals.append(Refusal(
                target, f"{group}: the plan updates or deletes {len(group_changes)} of {total} managed objects "
                        f"({len(group_changes) / total:.0%}), over the limit of {share:.0%} (max_change_share); "
                        "use --force if this is intended", [c.id for c in group_changes]))
    for change in changes:
        if change.force_reason:
            refusals.append(Refusal(target, f"{change.ident}: {change.force_reason}; --force required",
                                    [change.id]))
    return refusals
