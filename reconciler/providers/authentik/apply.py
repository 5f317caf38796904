"""Carry out a plan's Authentik changes: one request per change where the API allows it, sent with
bounded concurrency, in dependency order (parent groups → groups → users → group deletions).

A change that fails is reported with a message that names what Authentik said; one that cannot be
attempted (its group was not created, or Authentik stopped answering) is reported as not applied.
Nothing here raises for a single change: the engine gets one ChangeResult per change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...plan import Change
from ..base import ChangeResult, Progress
from . import guards as G
from . import live as L
from ._sdk import ak
from .client import AuthentikError, Connection, api_error
from .enrollment import enroll, record
from .handover import HandoverError, LinkHandover

# What a 400 naming a permission means depends on the field Authentik refused (authentik-api.md §2.5):
# - "is_superuser": GroupSerializer.validate_is_superuser, a group's superuser flag needs
#   enable_group_superuser (to true) / disable_group_superuser (to false); since 2025.2
#   (goauthentik/authentik#12900), so on 2025.10 too: not tied to the CVE releases;
# - "groups": the CVE-2026-40172 fix, only from 2025.12.5 and 2026.2.3: a user may join a superuser group
#   only with enable_group_superuser;
# - "roles": the same fix, role assignment needs authentik_rbac.change_role.
PERMISSION_HINTS = {
    "is_superuser": ("the token has no permission to change a group's superuser flag (Authentik needs "
                     "authentik_core.enable_group_superuser / disable_group_superuser for that); reconciler "
                     "never changes superuser groups: remove the group from git and change it by hand"),
    "groups": ("the token has no permission to add members to superuser groups (Authentik 2025.12.5, 2026.2.3 "
               "and later need authentik_core.enable_group_superuser); change that membership by hand"),
    "roles": ("the token has no permission to assign roles (Authentik 2025.12.5, 2026.2.3 and later need "
              "authentik_rbac.change_role)"),
}

USER_FIELDS = ("name", "email", "is_active", "type", "path")


class _Skip(Exception):
    """Not attempted; the message says why."""


def permission_hint(exc: AuthentikError) -> str | None:
    """The hint for a 400 in which Authentik refused a field for lack of a permission, or None."""
    body = exc.body if isinstance(exc.body, dict) and exc.status == 400 else {}
    for key, hint in PERMISSION_HINTS.items():
        texts = body.get(key) or []
        if any("permission" in str(t) for t in (texts if isinstance(texts, list) else [texts])):
            return hint
    return None


class Applier:
    def __init__(self, conn: Connection, snap: L.Snapshot, *, concurrency: int, email_stage: str | None,
                 token_duration: str | None, links: LinkHandover) -> None:
        self.conn = conn
        self.snap = snap
        self.concurrency = concurrency
        self.email_stage = email_stage
        self.token_duration = token_duration
        self.links = links
        self.lock = threading.Lock()
        self.group_uuid = {name: g.uuid for name, g in snap.groups.items()}
        self.failed_groups: set[str] = set()
        self.down: str | None = None  # set when Authentik stopped answering: the rest is not attempted
        self.results: dict[str, ChangeResult] = {}
        self.refused: dict[str, str] = {}
        self.done = 0

    # ---- orchestration -------------------------------------------------------------------------

    def run(self, changes: list[Change], progress: Progress) -> list[ChangeResult]:
        total = len(changes)
        # check() refused these at plan time and the engine applies nothing then; asked again here so
        # that no caller can send them (guards.py): they are answered without contacting Authentik.
        self.refused = G.refusals(self.snap, changes)
        group_creates = [c for c in changes if c.kind == "authentik.group" and c.op == "create"]
        phases: list[list[Change]] = []
        for depth_batch in self._by_depth(group_creates):
            phases.append(depth_batch)
        phases.append([c for c in changes if c.kind == "authentik.group" and c.op == "update"])
        phases.append([c for c in changes if c.kind == "authentik.user"])
        phases.append([c for c in changes if c.kind == "authentik.group" and c.op == "delete"])
        for phase in phases:
            if not phase:
                continue
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(phase))) as pool:
                for change, result in zip(phase, pool.map(self._one, phase), strict=True):
                    self.results[change.id] = result
                    with self.lock:
                        self.done += 1
                        progress(f"{change.op} {change.ident}", self.done, total)
        return [self.results[c.id] for c in changes]

    def _by_depth(self, creates: list[Change]) -> list[list[Change]]:
        """Group creations ordered so a parent exists before its children."""
        pending = {c.key[0]: c for c in creates}
        batches: list[list[Change]] = []
        while pending:
            ready = [c for name, c in pending.items()
                     if not (c.after and c.after.data.get("parent") in pending
                             and c.after.data.get("parent") != name)]
            if not ready:  # a loop (validate refuses it): let Authentik answer
                ready = list(pending.values())
            batches.append(ready)
            for c in ready:
                pending.pop(c.key[0])
        return batches

    def _one(self, change: Change) -> ChangeResult:
        if change.id in self.refused:
            if change.kind == "authentik.group" and change.op == "create":
                with self.lock:
                    self.failed_groups.add(change.key[0])
            return ChangeResult(change.id, False, error=f"refused: {self.refused[change.id]}", skipped=True)
        if self.down:
            return ChangeResult(change.id, False, error=f"not attempted: {self.down}", skipped=True)
        try:
            detail = self._dispatch(change)
            return ChangeResult(change.id, True, detail=detail)
        except _Skip as exc:
            if change.kind == "authentik.group" and change.op == "create":
                with self.lock:
                    self.failed_groups.add(change.key[0])
            return ChangeResult(change.id, False, error=f"not attempted: {exc}", skipped=True)
        except AuthentikError as exc:
            if change.kind == "authentik.group" and change.op == "create":
                with self.lock:
                    self.failed_groups.add(change.key[0])
            if exc.transport:
                with self.lock:
                    self.down = f"Authentik stopped answering ({exc})"
            message = str(exc)
            hint = permission_hint(exc)
            if hint:
                message = f"{message} — {hint}"
            return ChangeResult(change.id, False, error=f"{self.conn.target}: {message}")

    def _dispatch(self, change: Change) -> dict[str, Any]:
        if change.kind == "authentik.group":
            if change.op == "create":
                return self._create_group(change)
            if change.op == "update":
                return self._update_group(change)
            return self._delete_group(change)
        if change.op == "create":
            return self._create_user(change)
        if change.op == "update":
            return self._update_user(change)
        return self._delete_user(change)

    # ---- helpers -------------------------------------------------------------------------------

    def _uuids(self, names: Sequence[str]) -> list[str]:
        out = []
        for name in names:
            if name in self.failed_groups:
                raise _Skip(f"group {name} was not created")
            uuid = self.group_uuid.get(name)
            if uuid is None:
                raise _Skip(f"group {name} does not exist in Authentik")
            out.append(uuid)
        return out

    def _parent_fields(self, parent: Any) -> dict[str, Any]:
        names = [] if parent is None else [parent] if isinstance(parent, str) else list(parent)
        uuids = self._uuids(names)
        if self.snap.parents_many:  # 2025.12+: many parents (authentik-api.md §1.4)
            return {"parents": uuids}
        return {"parent": uuids[0] if uuids else None}

    def _call(self, what: str, fn: Callable[[], Any], *, safe: bool) -> Any:
        return self.conn.call(what, fn, safe=safe)

    # ---- groups --------------------------------------------------------------------------------

    def _create_group(self, change: Change) -> dict[str, Any]:
        data = change.after.data if change.after else {}
        name = change.key[0]
        body: dict[str, Any] = {"name": name, "is_superuser": bool(data.get("is_superuser", False)),
                                "attributes": {**(data.get("attributes") or {}), L.MARKER: True}}
        body.update(self._parent_fields(data.get("parent")))
        # A raw POST: the typed GroupRequest of the pinned client only knows `parents` (2025.12+).
        answer = self.conn.raw_post(f"create group {name}", "/core/groups/", body, [], safe=False)
        uuid = str(answer["pk"])
        with self.lock:
            self.group_uuid[name] = uuid
        return {"uuid": uuid, "requests": 1}

    def _update_group(self, change: Change) -> dict[str, Any]:
        name = change.key[0]
        live = self.snap.groups[name]
        after = change.after.data if change.after else {}
        body: dict[str, Any] = {}
        if "is_superuser" in change.fields:
            body["is_superuser"] = bool(after["is_superuser"])
        if "parent" in change.fields:
            body.update(self._parent_fields(after.get("parent")))
        if "attributes" in change.fields:
            body["attributes"] = {**live.attributes, **(after.get("attributes") or {})}
        request = ak().PatchedGroupRequest.from_dict({k: v for k, v in body.items() if k != "parent"})
        if "parent" in body:  # 2025.10 shape: the typed model cannot send it
            self._patch_raw(f"update group {name}", f"/core/groups/{live.uuid}/", body)
        else:
            self._call(f"update group {name}", lambda: self.conn.core.core_groups_partial_update(
                live.uuid, request, _request_timeout=self.conn.timeout), safe=True)
        return {"uuid": live.uuid, "requests": 1}

    def _patch_raw(self, what: str, path: str, body: dict[str, Any]) -> Any:
        client = self.conn.client

        def fn() -> Any:
            params = client.param_serialize(method="PATCH", resource_path=path, body=body,
                                            header_params={"Accept": "application/json",
                                                           "Content-Type": "application/json"},
                                            auth_settings=["authentik"])
            response = client.call_api(*params, _request_timeout=self.conn.timeout)
            response.read()
            if int(response.status) >= 400:
                raise api_error(int(response.status), response.reason,
                                response.data.decode("utf-8") if response.data else "")
            return None
        return self._call(what, fn, safe=True)

    def _delete_group(self, change: Change) -> dict[str, Any]:
        name = change.key[0]
        live = self.snap.groups[name]
        if not live.attributes.get(L.MARKER):
            raise _Skip(f"group {name} has no ownership marker; reconciler never deletes it")
        self._delete(f"delete group {name}", lambda: self.conn.core.core_groups_destroy(
            live.uuid, _request_timeout=self.conn.timeout))
        return {"uuid": live.uuid, "requests": 1}

    def _delete(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            self._call(what, fn, safe=True)
        except AuthentikError as exc:
            if exc.status != 404:  # already gone (a retried DELETE that had worked): done
                raise

    # ---- users ---------------------------------------------------------------------------------

    def _create_user(self, change: Change) -> dict[str, Any]:
        data = change.after.data if change.after else {}
        username = change.key[0]
        method = data.get("enrollment")
        if method == "recovery_link":
            try:  # the link's folder first: a user nobody can hand a link to is not worth creating yet
                self.links.prepare()
            except HandoverError as exc:
                raise AuthentikError(f"user {username}: {exc}; the user was not created") from None
        request = ak().UserRequest(
            username=username, name=data.get("name", ""), email=data.get("email", ""),
            is_active=bool(data.get("is_active", True)), path=data.get("path", "users"),
            type=ak().UserTypeEnum(data.get("type", "internal")), groups=self._uuids(data.get("groups", [])),
            attributes={**(data.get("attributes") or {}), L.MARKER: True})
        created = self._call(f"create user {username}", lambda: self.conn.core.core_users_create(
            request, _request_timeout=self.conn.timeout), safe=False)
        detail: dict[str, Any] = {"pk": created.pk, "requests": 1}
        if method:
            meta = change.after.meta if change.after else {}
            detail["enrollment"] = enroll(self.conn, pk=created.pk, username=username, email=created.email or "",
                                          method=method, meta=meta, email_stage=self.email_stage,
                                          token_duration=self.token_duration, links=self.links)
            attrs = {**(created.attributes or {}), L.ENROLLMENT: record(method)}
            self._call(f"user {username}: record enrollment", lambda: self.conn.core.core_users_partial_update(
                created.pk, ak().PatchedUserRequest(attributes=attrs), _request_timeout=self.conn.timeout),
                safe=True)
            detail["requests"] = 3
        return detail

    def _update_user(self, change: Change) -> dict[str, Any]:
        username = change.key[0]
        live = self.snap.users[username]
        after = change.after.data if change.after else {}
        body: dict[str, Any] = {f: after[f] for f in USER_FIELDS if f in change.fields}
        if "groups" in change.fields:
            # Only declared groups are compared; keep every other direct membership as it is.
            compared = set((change.before.data if change.before else {}).get("groups", []))
            kept = [g for g in live.raw.get("groups") or []
                    if str(g) in self.snap.groups_by_uuid
                    and self.snap.groups_by_uuid[str(g)].name not in compared]
            body["groups"] = [str(g) for g in kept] + self._uuids(after.get("groups", []))
        attrs: dict[str, Any] | None = None
        if "attributes" in change.fields:
            attrs = {**live.attributes, **(after.get("attributes") or {})}  # PATCH replaces the whole dict
        if "email" in change.fields and not live.attributes.get(L.MARKER):
            # An account reconciler did not create: remember which address reconciler wrote, so no recovery
            # email ever goes to it (guards.recovery_refusal); same PATCH, no extra request.
            attrs = {**(attrs if attrs is not None else live.attributes),
                     G.EMAIL_SET: G.email_record(str(after["email"]))}
        detail: dict[str, Any] = {"pk": live.pk}
        requests = 0
        method = after.get("enrollment") if "enrollment" in change.fields else None
        if method:
            meta = change.after.meta if change.after else {}
            detail["enrollment"] = enroll(self.conn, pk=live.pk, username=username,
                                          email=str(after.get("email") or live.raw.get("email") or ""),
                                          method=method, meta=meta, email_stage=self.email_stage,
                                          token_duration=self.token_duration, links=self.links)
            requests += 1
            attrs = {**(attrs if attrs is not None else live.attributes), L.ENROLLMENT: record(method)}
        if attrs is not None:
            body["attributes"] = attrs
        if body:
            if "type" in body:
                body["type"] = ak().UserTypeEnum(body["type"])
            request = ak().PatchedUserRequest(**body)
            self._call(f"update user {username}", lambda: self.conn.core.core_users_partial_update(
                live.pk, request, _request_timeout=self.conn.timeout), safe=True)
            requests += 1
        detail["requests"] = requests
        return detail

    def _delete_user(self, change: Change) -> dict[str, Any]:
        username = change.key[0]
        live = self.snap.users[username]
        if not live.attributes.get(L.MARKER):
            raise _Skip(f"user {username} has no ownership marker; reconciler never deletes it")
        self._delete(f"delete user {username}", lambda: self.conn.core.core_users_destroy(
            live.pk, _request_timeout=self.conn.timeout))
        return {"pk": live.pk, "requests": 1}
