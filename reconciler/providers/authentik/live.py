"""Raw Authentik JSON → canonical ``authentik.user`` / ``authentik.group`` Resources.

Each object is first checked with the client's own model (``User.from_dict``); if a newer server
sends something the pinned client does not know (a new ``type``, a null where a string was
required, authentik-api.md §1.7), the object is still read from its raw JSON and a note says so,
so one odd object never breaks the whole read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...model.resource import GUARD, Resource
from ._sdk import ak, validation_error

MARKER = "reconciler/managed"  # attribute on every object reconciler creates (issue 3 part 2)
ENROLLMENT = "reconciler/enrollment"  # attribute recording how a user was invited, and when
# authentik-observed.md §7: Authentik has no "has a password" flag, but password_change_date stays
# within a few ms of date_joined until a password is set. A second is a generous margin.
NEVER_SET_MARGIN = 1.0
SERVICE_PATH = "goauthentik.io/"
SERVICE_TYPES = {"service_account", "internal_service_account"}


def parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def password_never_set(raw: dict[str, Any]) -> bool | None:
    joined, changed = parse_ts(raw.get("date_joined")), parse_ts(raw.get("password_change_date"))
    if joined is None or changed is None:
        return None
    return abs((changed - joined).total_seconds()) < NEVER_SET_MARGIN


@dataclass
class LiveUser:
    raw: dict[str, Any]
    pk: int
    username: str

    @property
    def attributes(self) -> dict[str, Any]:
        attrs = self.raw.get("attributes")
        return attrs if isinstance(attrs, dict) else {}


@dataclass
class LiveGroup:
    raw: dict[str, Any]
    uuid: str
    name: str
    parents: list[str]  # parent uuids (2025.10: at most one)

    @property
    def attributes(self) -> dict[str, Any]:
        attrs = self.raw.get("attributes")
        return attrs if isinstance(attrs, dict) else {}


@dataclass
class Snapshot:
    """What one read saw: the objects by name, plus facts the provider needs to apply changes."""

    users: dict[str, LiveUser] = field(default_factory=dict)
    groups: dict[str, LiveGroup] = field(default_factory=dict)
    groups_by_uuid: dict[str, LiveGroup] = field(default_factory=dict)
    parents_many: bool = False  # 2025.12+: groups have ``parents`` (a list) instead of ``parent``
    token_owner: int | None = None  # pk of the API token's owner (``GET /core/users/me/``)
    notes: list[str] = field(default_factory=list)


def strict_check(model: type[Any], raw: dict[str, Any]) -> str | None:
    """None if the pinned client parses the object, else a one-line reason."""
    invalid = validation_error()
    try:
        model.from_dict(raw)
        return None
    except (invalid, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, invalid):
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            return f"{where}: {err.get('msg', 'invalid')}"
        return type(exc).__name__


def build_snapshot(raw_users: list[dict[str, Any]], raw_groups: list[dict[str, Any]],
                   token_owner: int | None = None) -> Snapshot:
    snap = Snapshot(token_owner=token_owner)
    for raw in raw_groups:
        reason = strict_check(ak().Group, raw)
        if "parents" in raw:
            snap.parents_many = True
        try:
            group_uuid, name = str(raw["pk"]), str(raw["name"])
        except KeyError:
            snap.notes.append("skipped a group without pk or name")
            continue
        if reason:
            snap.notes.append(f"group {name}: the client could not parse it ({reason}); read from raw JSON")
        if "parents" in raw:
            parents = [str(p) for p in raw.get("parents") or []]
        else:
            parents = [str(raw["parent"])] if raw.get("parent") else []
        group = LiveGroup(raw, group_uuid, name, parents)
        snap.groups[name] = group
        snap.groups_by_uuid[group_uuid] = group
    for raw in raw_users:
        reason = strict_check(ak().User, raw)
        try:
            pk, username = int(raw["pk"]), str(raw["username"])
        except (KeyError, TypeError, ValueError):
            snap.notes.append("skipped a user without pk or username")
            continue
        if reason:
            snap.notes.append(f"user {username}: the client could not parse it ({reason}); read from raw JSON")
        snap.users[username] = LiveUser(raw, pk, username)
    return snap


def user_resource(snap: Snapshot, user: LiveUser, declared_groups: set[str] | None,
                  desired_enrollment: str | None, never: str | None = None) -> Resource:
    """``declared_groups`` None = every non-superuser group (import); else only groups declared in git are compared,
    so membership in an undeclared group (the admins group) is never planned away. ``never``: why
    reconciler never manages this user (guards.py), or None."""
    raw = user.raw
    names = []
    for group_uuid in raw.get("groups") or []:
        group = snap.groups_by_uuid.get(str(group_uuid))
        if group is None:
            continue
        wanted = (not group.raw.get("is_superuser")) if declared_groups is None else group.name in declared_groups
        if wanted:
            names.append(group.name)
    data: dict[str, Any] = {
        "name": raw.get("name") if raw.get("name") is not None else "",
        "email": raw.get("email") or "",
        "is_active": bool(raw.get("is_active", True)),
        "type": raw.get("type") or "internal",
        "path": raw.get("path") or "users",
        "groups": sorted(names),
        "attributes": dict(user.attributes),
    }
    never_set = password_never_set(raw)
    record = user.attributes.get(ENROLLMENT)
    recorded = record.get("method") if isinstance(record, dict) else None
    if desired_enrollment is not None:
        # Satisfied once the person has a password, or once this method was carried out.
        data["enrollment"] = desired_enrollment if never_set is False else (recorded or "none")
    meta: dict[str, Any] = {"pk": user.pk, "uuid": raw.get("uuid"), "password_never_set": never_set,
                            "date_joined": raw.get("date_joined"),
                            "password_change_date": raw.get("password_change_date")}
    if recorded:
        meta["enrollment_record"] = record
    if never:
        meta[GUARD] = f"{never}: never managed by reconciler"
        meta["never_managed"] = never
        meta["importable"] = False  # declaring it in git could only ever be refused
    elif not user.attributes.get(MARKER):
        meta[GUARD] = "created outside reconciler (no ownership marker): never deactivated or deleted"
        meta["importable"] = True  # `reconciler import` may still write it to git (adoption)
    return Resource("authentik.user", (user.username,), data, meta)


def parent_name(snap: Snapshot, group: LiveGroup) -> str | list[str] | None:
    names = [snap.groups_by_uuid[p].name for p in group.parents if p in snap.groups_by_uuid]
    if not names:
        return None
    return names[0] if len(names) == 1 else sorted(names)


def group_resource(snap: Snapshot, group: LiveGroup, never: str | None = None) -> Resource:
    raw = group.raw
    data: dict[str, Any] = {"is_superuser": bool(raw.get("is_superuser", False)),
                            "parent": parent_name(snap, group), "attributes": dict(group.attributes)}
    meta: dict[str, Any] = {"uuid": group.uuid, "num_pk": raw.get("num_pk")}
    if never:
        meta[GUARD] = f"{never}: never managed by reconciler"
        meta["never_managed"] = never
        meta["importable"] = False  # superuser groups: whoever declared one would decide who is an admin
    elif not group.attributes.get(MARKER):
        meta[GUARD] = "created outside reconciler (no ownership marker): never deleted"
        meta["importable"] = True
    return Resource("authentik.group", (group.name,), data, meta)


def is_service_account(raw: dict[str, Any]) -> bool:
    """Outpost and API service accounts (authentik-api.md §2.4) belong to Authentik itself."""
    return raw.get("type") in SERVICE_TYPES or str(raw.get("path") or "").startswith(SERVICE_PATH)
