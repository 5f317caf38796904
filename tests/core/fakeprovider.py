"""An in-memory provider for engine and CLI tests (a test double: the engine around it is real).

Each configured target names a `FakeServer` by its `address`; tests put servers in `SERVERS` and
register this module in `reconciler.providers.base.REGISTRY` ("tests.core.fakeprovider:create").
The server can fail a read, fail one change (and skip the rest, as a batch would), claim success
without changing anything, leak its password into exception text (to prove the engine scrubs it),
and make reads meet at a barrier (to prove the engine reads targets in parallel).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.config import Target
from reconciler.model.resource import Ref, Resource
from reconciler.plan import Change
from reconciler.providers.base import (
    BaseProvider,
    ChangeResult,
    LiveState,
    Progress,
    ProviderError,
    Scope,
    no_progress,
)
from reconciler.secrets import secret

Key = tuple[str, tuple[str, ...]]


@dataclass
class FakeServer:
    resources: dict[Key, Resource] = field(default_factory=dict)
    password: str | None = None  # the value the provider must present (from its secret reference)
    fail_read: str | None = None  # a ProviderError message for every read
    crash_read: bool = False  # read raises an unexpected exception
    leak: bool = False  # errors quote the password, as a careless client library might
    fail_on: set[Key] = field(default_factory=set)  # changes to these keys fail
    lie: bool = False  # apply reports success and changes nothing
    crash_apply: int | None = None  # apply raises after this many changes went in
    barrier: threading.Barrier | None = None
    dkim: dict[str, str] = field(default_factory=dict)  # Ref id → TXT value, for resolve()
    reads: int = 0
    applied: list[str] = field(default_factory=list)
    read_threads: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, *resources: Resource) -> None:
        for res in resources:
            self.resources[(res.kind, res.key)] = res


SERVERS: dict[str, FakeServer] = {}


class FakeProvider(BaseProvider):
    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.server = SERVERS[str(target.options["address"])]
        self.kinds = tuple(target.options.get("kinds", ["dns.rrset"]))
        self.zones = set(target.options.get("zones", []))
        ref = target.options.get("password")
        self.password = secret(ref, f"{target.origin}: password") if ref is not None else None

    def serves(self, resource: Resource) -> bool:
        if resource.kind not in self.kinds:
            return False
        return resource.kind != "dns.rrset" or resource.key[0] in self.zones

    def _login(self) -> str | None:
        if self.password is None:
            return None
        value = self.password.reveal()
        if self.server.password is not None and value != self.server.password:
            raise ProviderError(self.name, "authentication failed (HTTP 401)")
        return value

    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState:
        server = self.server
        value = self._login()
        with server.lock:
            server.reads += 1
            server.read_threads.add(threading.get_ident())
        if server.barrier is not None:
            server.barrier.wait(timeout=20)  # every parallel reader must arrive, or this breaks
        if server.crash_read:
            detail = f" for https://admin:{value}@{self.target.address}" if server.leak else ""
            raise RuntimeError(f"connection reset{detail}")
        if server.fail_read:
            raise ProviderError(self.name, server.fail_read)
        live = LiveState(self.name, facts={"fake": True})
        with server.lock:
            for res in server.resources.values():
                if res.kind in self.kinds and (res.kind != "dns.rrset" or res.key[0] in self.zones):
                    live.add(res)
        return live

    def resolve(self, ref: Ref) -> str:
        try:
            return self.server.dkim[ref.id]
        except KeyError:
            raise ProviderError(self.name, f"no DKIM signature {ref.id!r}") from None

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        server = self.server
        value = self._login()
        results: list[ChangeResult] = []
        failed = False
        for done, change in enumerate(changes, start=1):
            if server.crash_apply is not None and done > server.crash_apply:
                raise ConnectionResetError("connection reset by peer")
            key = (change.kind, change.key)
            if failed:
                results.append(ChangeResult(change.id, False, error="not attempted: an earlier change failed",
                                            skipped=True))
                continue
            if key in server.fail_on:
                leak = f" (session admin:{value})" if server.leak else ""
                results.append(ChangeResult(change.id, False, error=f"WIN32 9711: record already exists{leak}",
                                            detail={"win32": 9711}))
                failed = True
                continue
            if not server.lie:
                with server.lock:
                    if change.op == "delete":
                        server.resources.pop(key, None)
                    else:
                        assert change.after is not None
                        current = server.resources.get(key)
                        data: dict[str, Any] = {**(current.data if current else {}), **change.after.data}
                        server.resources[key] = Resource(change.kind, change.key, data)
                    server.applied.append(f"{change.op} {change.ident}")
            results.append(ChangeResult(change.id, True))
            progress(change.ident, done, len(changes))
        return results


def create(target: Target) -> FakeProvider:
    return FakeProvider(target)
