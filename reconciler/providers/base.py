"""What every provider implements, and what the engine gives it. Providers never import each other.

A provider serves one configured target (a Windows DNS server, a BIND server, an Authentik, a
Stalwart). The engine calls, in this order and the same for every provider:

1. ``read(scope)`` → ``LiveState``: the live objects in canonical Resource form. Objects the provider
   can see but must never manage go to ``unmanaged`` with a reason; objects it may change only when
   git declares them carry ``meta["guard"] = reason`` (see model/resource.GUARD).
2. ``resolve(ref)`` (optional): the value of a Ref that another target's desired state points at.
3. ``absent(live, policies)``: what to do with a live object git does not declare (delete, an
   update such as deactivation, or None = report it as unmanaged); optional
   ``absent_reason(live, policies) -> str | None`` says why such an object is kept.
4. ``check(changes)``: refusals the provider knows before touching anything (e.g. a value this
   server cannot publish exactly). Returns messages per change id.
5. ``apply(changes, progress)`` → one ``ChangeResult`` per change, in the order given. A provider
   never raises for a single failed change: it reports it and says whether it went on.
6. ``close()``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..model.resource import Ref, Resource

if TYPE_CHECKING:
    from ..config import Target
    from ..plan import Change

Progress = Callable[[str, int, int], None]  # (what, done, total)


def no_progress(what: str, done: int, total: int) -> None:
    return None


class ProviderError(Exception):
    """A failure of a whole target (unreachable, bad credentials, missing zone): message names the target."""

    def __init__(self, target: str, message: str, *, retryable: bool = False) -> None:
        self.target = target
        self.retryable = retryable
        super().__init__(f"{target}: {message}")


@dataclass
class Unmanaged:
    resource: Resource
    reason: str


@dataclass
class LiveState:
    target: str
    resources: dict[tuple[str, tuple[str, ...]], Resource] = field(default_factory=dict)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "fell back to raw JSON for user 12"
    facts: dict[str, Any] = field(default_factory=dict)  # provider facts for the plan (e.g. API version)

    def add(self, resource: Resource) -> None:
        self.resources[(resource.kind, resource.key)] = resource


@dataclass
class ChangeResult:
    change_id: str
    ok: bool
    error: str | None = None  # message safe to print (no secrets)
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. WIN32 code, printed recovery link id
    skipped: bool = False  # not attempted (an earlier failure stopped the batch)


@dataclass
class Scope:
    """What the engine wants read: the desired resources this target serves (kinds and keys)."""

    desired: list[Resource]
    zones: set[str] = field(default_factory=set)


class Provider(Protocol):
    name: str

    def serves(self, resource: Resource) -> bool: ...

    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState: ...

    def absent(self, live: Resource, policies: dict[str, Any]) -> Change | None: ...

    def check(self, changes: Sequence[Change]) -> dict[str, str]: ...

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]: ...

    def close(self) -> None: ...


class BaseProvider:
    """Defaults that fit most providers; subclasses override what differs."""

    kinds: tuple[str, ...] = ()

    def __init__(self, target: Target) -> None:
        self.target = target
        self.name = target.name

    def serves(self, resource: Resource) -> bool:
        return resource.kind in self.kinds

    def resolve(self, ref: Ref) -> str:
        raise ProviderError(self.name, f"cannot resolve {ref}")

    def absent(self, live: Resource, policies: dict[str, Any]) -> Change | None:
        from ..plan import Change

        if policies.get("purge"):
            return Change.delete(self.name, live)
        return None

    def check(self, changes: Sequence[Change]) -> dict[str, str]:
        return {}

    def close(self) -> None:
        return None


# kind → "module:factory". Imported lazily so a missing optional dependency of one provider never
# breaks another, and so providers stay independent of each other.
REGISTRY: dict[str, str] = {
    "windows_dns": "reconciler.providers.windows_dns:create",
    "rfc2136": "reconciler.providers.rfc2136:create",
    "authentik": "reconciler.providers.authentik:create",
    "stalwart": "reconciler.providers.stalwart:create",
}


def create(target: Target) -> Provider:
    spec = REGISTRY.get(target.kind)
    if spec is None:
        raise ProviderError(target.name, f"unknown target kind {target.kind!r} (known: {', '.join(REGISTRY)})")
    module_name, factory = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ProviderError(target.name, f"provider {target.kind} is not available ({exc.name})") from None
    return getattr(module, factory)(target)
