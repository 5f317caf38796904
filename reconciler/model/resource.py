"""The one shape every provider speaks: a Resource with a kind, a key and canonical data.

Desired state (from YAML) and live state (from a provider's read) are both turned into Resources in
canonical form, so the plan compares like with like and never needs to know which system it is.

- ``kind`` names the resource type, e.g. ``dns.rrset``, ``authentik.user``, ``stalwart.account``.
- ``key`` identifies it within its kind, e.g. ``("namgun.or.kr", "mail", "TXT")``.
- ``data`` holds only JSON-compatible values (str, int, bool, None, lists, dicts) already in normal
  form; the plan compares the fields the desired side declares, so a live field nobody manages
  never causes a change.
- ``meta`` carries facts that are not compared (server ids, timestamps, a guard reason).
- ``origin`` points back at the YAML file and line a desired resource came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Origin:
    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Ref:
    """A value that another provider supplies at plan time (e.g. a DKIM public key from Stalwart).

    ``source`` is the provider kind that resolves it, ``what`` the sort of value, ``id`` its name.
    """

    source: str
    what: str
    id: str

    def to_json(self) -> dict[str, str]:
        return {"$ref": f"{self.source}:{self.what}:{self.id}"}

    def __str__(self) -> str:
        return f"<{self.source} {self.what} {self.id}>"


# A guard reason on a live resource means: never delete it, change it only if git declares it.
GUARD = "guard"


@dataclass(frozen=True)
class Resource:
    kind: str
    key: tuple[str, ...]
    data: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    origin: Origin | None = field(default=None, compare=False, hash=False)

    @property
    def ident(self) -> str:
        """Human-readable identity, used in plans, errors and the audit log."""
        return f"{self.kind} {'/'.join(self.key)}"

    @property
    def guard(self) -> str | None:
        return self.meta.get(GUARD)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": list(self.key), "data": _jsonable(self.data)}
        if self.meta:
            out["meta"] = _jsonable(self.meta)
        if self.origin:
            out["origin"] = str(self.origin)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Resource:
        origin = None
        if obj.get("origin"):
            file, line, col = str(obj["origin"]).rsplit(":", 2)
            origin = Origin(file, int(line), int(col))
        return cls(kind=obj["kind"], key=tuple(obj["key"]), data=obj["data"], meta=obj.get("meta", {}),
                   origin=origin)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _encode_ref(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def canonical_json(value: Any) -> str:
    """Stable JSON text: the basis of fingerprints and plan checksums.

    json.dumps walks the value in C; only a Ref needs help (``default``). Data whose dict keys are
    not all strings takes the slower path that turns every key into text first.
    """
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_encode_ref)
    except TypeError:
        return json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def fingerprint(resources: list[Resource] | tuple[Resource, ...]) -> str:
    """A hash of a set of resources (order-independent), used to bind a saved plan to live state.

    One canonical_json call over the resources sorted by identity (unique within a set): json walks
    10,000 resources in C in a few milliseconds, where one call per resource cost a tenth of a plan."""
    ordered = sorted(resources, key=lambda r: (r.kind, repr(r.key)))
    body = canonical_json([[r.kind, list(r.key), r.data] for r in ordered])
    return hashlib.sha256(body.encode()).hexdigest()
