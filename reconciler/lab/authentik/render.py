"""JSON shapes of users and groups, per version, key order as observed (authentik-observed.md §0, §10)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from reconciler.lab.authentik.store import AuthentikStore, Group, User


def ts(value: datetime | None) -> str | None:
    """UTC with ``Z``; microseconds only when non-zero (authentik-observed.md §0)."""
    if value is None:
        return None
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def uid(store: AuthentikStore, user: User) -> str:
    # authentik-api.md §1.6: SHA-256 hex of "<pk>-<install_id>".
    return hashlib.sha256(f"{user.pk}-{store.install_id}".encode()).hexdigest()


def avatar(user: User) -> str:
    """An initials SVG as a data URI, like the default ``initials`` avatar (authentik-observed.md)."""
    words = (user.name or user.username).split()
    initials = "".join(w[0] for w in words[:2]).upper() or "?"
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="100px" height="100px">'
           '<rect fill="#8aa8c9" width="100px" height="100px"/>'
           f'<text x="50%" y="50%" font-size="40" text-anchor="middle" dy=".3em">{initials}</text></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()


def partial_group(store: AuthentikStore, group: Group) -> dict[str, Any]:
    """An item of ``groups_obj`` (2025.10 ``UserGroupSerializer``; 2025.12+ ``PartialGroup``)."""
    data: dict[str, Any] = {"pk": str(group.pk), "num_pk": group.num_pk, "name": group.name,
                            "is_superuser": group.is_superuser}
    if not store.version.group_parents_many:
        parent = store.groups.get(group.parents[0]) if group.parents else None
        data["parent"] = str(parent.pk) if parent else None
        data["parent_name"] = parent.name if parent else None
    data["attributes"] = group.attributes
    return data


def role_obj(store: AuthentikStore, role_pk: Any) -> dict[str, Any]:
    role = store.roles[role_pk]
    return {"pk": str(role.pk), "name": role.name}


def user(store: AuthentikStore, u: User, *, include_groups: bool = True,
         include_roles: bool = True) -> dict[str, Any]:
    """The ``User`` object; ``roles``/``roles_obj`` only from 2025.12 (authentik-api.md §1.4)."""
    data: dict[str, Any] = {
        "pk": u.pk, "username": u.username, "name": u.name, "is_active": u.is_active,
        "last_login": ts(u.last_login), "date_joined": ts(u.date_joined),
        "is_superuser": store.is_superuser(u),
        "groups": [str(g) for g in u.groups],
        "groups_obj": ([partial_group(store, store.groups[g]) for g in u.groups]
                       if include_groups else None),
    }
    if store.version.has_roles:
        data["roles"] = [str(r) for r in u.roles]
        data["roles_obj"] = [role_obj(store, r) for r in u.roles] if include_roles else None
    data.update({
        "email": u.email, "avatar": avatar(u), "attributes": u.attributes, "uid": uid(store, u),
        "path": u.path, "type": u.type, "uuid": str(u.uuid),
        "password_change_date": ts(u.password_change_date), "last_updated": ts(u.last_updated),
    })
    return data


def partial_user(store: AuthentikStore, u: User) -> dict[str, Any]:
    """An item of a group's ``users_obj`` (authentik-observed.md §10)."""
    return {"pk": u.pk, "username": u.username, "name": u.name, "is_active": u.is_active,
            "last_login": ts(u.last_login), "email": u.email, "attributes": u.attributes,
            "uid": uid(store, u)}


def related_group(group: Group) -> dict[str, Any]:
    return {"pk": str(group.pk), "name": group.name, "is_superuser": group.is_superuser,
            "attributes": group.attributes, "group_uuid": str(group.pk)}


def group(store: AuthentikStore, g: Group, *, include_users: bool = True, include_children: bool = False,
          include_parents: bool = False, include_inherited_roles: bool = False) -> dict[str, Any]:
    """The ``Group`` object: 2025.10 single ``parent`` + ``parent_name``; 2025.12+ ``parents``."""
    data: dict[str, Any] = {"pk": str(g.pk), "num_pk": g.num_pk, "name": g.name,
                            "is_superuser": g.is_superuser}
    if store.version.group_parents_many:
        data["parents"] = [str(p) for p in g.parents]
        data["parents_obj"] = ([related_group(store.groups[p]) for p in g.parents]
                               if include_parents else None)
    else:
        parent = store.groups.get(g.parents[0]) if g.parents else None
        data["parent"] = str(parent.pk) if parent else None
        data["parent_name"] = parent.name if parent else None
    data["users"] = list(g.users)
    data["users_obj"] = [partial_user(store, store.users[pk]) for pk in g.users] if include_users else None
    data["attributes"] = g.attributes
    data["roles"] = [str(r) for r in g.roles]
    data["roles_obj"] = [role_obj(store, r) for r in g.roles]
    if store.version.group_parents_many:
        inherited: list[dict[str, Any]] = []
        if include_inherited_roles:
            for ancestor in store.ancestors(g.parents):
                inherited.extend(role_obj(store, r) for r in ancestor.roles)
        data["inherited_roles_obj"] = inherited if include_inherited_roles else None
    children = store.children(g)
    data["children"] = [str(c.pk) for c in children]
    data["children_obj"] = [related_group(c) for c in children] if include_children else None
    return data


def user_self(store: AuthentikStore, u: User) -> dict[str, Any]:
    """``GET /core/users/me/`` (SessionUserSerializer/UserSelfSerializer, SRV users.py)."""
    groups = sorted(store.ancestors(u.groups), key=lambda g: g.name)
    return {"user": {"pk": u.pk, "username": u.username, "name": u.name, "is_active": u.is_active,
                     "is_superuser": store.is_superuser(u),
                     "groups": [{"name": g.name, "pk": str(g.pk)} for g in groups],
                     "email": u.email, "avatar": avatar(u), "uid": uid(store, u), "settings": {},
                     "type": u.type}}


USER_AUTOCOMPLETE: dict[str, Any] = {  # authentik-observed.md §1
    "current_model": "authentik_core.user",
    "models": {"authentik_core.user": {
        "username": {"type": "str", "nullable": False, "options": None},
        "name": {"type": "str", "nullable": False, "options": None},
        "email": {"type": "str", "nullable": False, "options": None},
        "path": {"type": "str", "nullable": False, "options": None},
        "is_active": {"type": "bool", "nullable": True, "options": None},
        "type": {"type": "str", "nullable": False,
                 "options": ["internal", "external", "service_account", "internal_service_account"]},
        "attributes": {"type": "relation", "nullable": False, "options": None,
                       "relation": "authentik_core.user_attributes"},
    }},
}

GROUP_AUTOCOMPLETE: dict[str, Any] = {  # authentik-observed.md §10
    "current_model": "authentik_core.group",
    "models": {"authentik_core.group": {
        "name": {"type": "str", "nullable": False, "options": None},
        "is_superuser": {"type": "bool", "nullable": True, "options": None},
        "attributes": {"type": "relation", "nullable": False, "options": None,
                       "relation": "authentik_core.group_attributes"},
    }},
}
