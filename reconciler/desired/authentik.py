"""desired/authentik/*.yaml → ``authentik.user`` / ``authentik.group`` Resources, their offline checks,
and the reverse (``reconciler import`` writes this YAML from a live Authentik).

User data: ``name, email, is_active, type, path, groups`` (sorted group names), ``attributes`` (only
when declared; compared on the declared keys only) and ``enrollment`` (the method, when declared:
how a new user first gets in). The enrollment's password reference stays in ``meta``; passwords
never live in git. Group data: ``is_superuser, parent`` and ``attributes`` when declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model.resource import Origin, Resource
from .diagnostics import Diagnostics
from .writer import dump_yaml, register
from .yamlsource import YList, YMap

# Attribute keys reconciler writes itself (ownership marker, enrollment record) and Authentik's own
# namespace (authentik-api.md §6: never touch goauthentik.io/*): not declarable in git.
RESERVED_PREFIXES = ("reconciler/", "goauthentik.io/")
DEFAULTS = {"is_active": True, "type": "internal", "path": "users"}


def _items(doc: YMap, section: str) -> list[tuple[YMap, int, int]]:
    seq = doc.get(section) or YList()
    return [(item, pos.line, pos.col) for item, pos in zip(seq, getattr(seq, "item_pos", []), strict=False)]


def _attributes(item: YMap, what: str, file: str, diags: Diagnostics) -> dict[str, Any] | None:
    if "attributes" not in item:
        return None
    attrs = dict(item["attributes"])
    pos = item.where("attributes")
    for key in attrs:
        if str(key).startswith(RESERVED_PREFIXES):
            diags.error(file, pos.line, pos.col, f"{what}: attribute {key!r} is reserved (keys under "
                        f"{' and '.join(RESERVED_PREFIXES)} belong to reconciler and Authentik)")
    return attrs


def load_authentik(doc: YMap, path: Path, file: str, diags: Diagnostics) -> list[Resource]:
    out: list[Resource] = []
    for item, line, col in _items(doc, "users"):
        username = str(item["username"])
        data: dict[str, Any] = {
            "name": str(item["name"]),
            "email": str(item["email"]).strip().lower(),
            "is_active": bool(item.get("active", True)),
            "type": item.get("type", "internal"),
            "path": item.get("path", "users"),
            "groups": sorted(set(item.get("groups") or [])),
        }
        attrs = _attributes(item, f"user {username}", file, diags)
        if attrs is not None:
            data["attributes"] = attrs
        meta: dict[str, Any] = {}
        if "enrollment" in item:
            data["enrollment"] = str(item["enrollment"]["method"])
            meta["enrollment"] = dict(item["enrollment"])
        path_value = str(data["path"])
        if path_value[:1] == "/" or path_value[-1:] == "/" or "" in path_value.split("/"):
            pos = item.where("path")
            # authentik-observed.md §3: the server refuses these; say so before contacting it.
            diags.error(file, pos.line, pos.col, f"user {username}: path {path_value!r} must have no leading or "
                        "trailing slash and no empty segment")
        if data["type"] == "internal_service_account":
            pos = item.where("type")
            diags.error(file, pos.line, pos.col, f"user {username}: type internal_service_account is set by "
                        "Authentik for outposts only; the API refuses it")
        out.append(Resource("authentik.user", (username,), data, meta, Origin(file, line, col)))
    for item, line, col in _items(doc, "groups"):
        name = str(item["name"])
        data = {"is_superuser": bool(item.get("is_superuser", False)), "parent": item.get("parent")}
        attrs = _attributes(item, f"group {name}", file, diags)
        if attrs is not None:
            data["attributes"] = attrs
        out.append(Resource("authentik.group", (name,), data, {}, Origin(file, line, col)))
    return out


def check_authentik(resources: list[Resource], diags: Diagnostics) -> None:
    """Checks across files that the generic cross-checks do not make (loader._cross_checks makes the
    email-domain, unknown-group, case-collision and Stalwart-overlap checks)."""
    groups = {r.key[0]: r for r in resources if r.kind == "authentik.group"}
    for group in groups.values():
        parent = group.data.get("parent")
        if parent is not None and parent not in groups:
            _err(diags, group, f"group {group.key[0]}: unknown parent group {parent!r}")
        seen = {group.key[0]}
        while parent is not None and parent in groups:
            if parent in seen:
                _err(diags, group, f"group {group.key[0]}: parent chain loops back to {parent!r}")
                break
            seen.add(parent)
            parent = groups[parent].data.get("parent")
    by_email: dict[str, Resource] = {}
    for user in (r for r in resources if r.kind == "authentik.user"):
        other = by_email.get(user.data["email"])
        if other is not None:
            # authentik-api.md §6: the server accepts duplicate emails; mail clients log in by address.
            _err(diags, user, f"user {user.key[0]}: email {user.data['email']} is also the email of user "
                              f"{other.key[0]} ({other.origin}); an address belongs to one person")
        else:
            by_email[user.data["email"]] = user


def _err(diags: Diagnostics, res: Resource, message: str) -> None:
    o = res.origin or Origin("?", 1)
    diags.error(o.file, o.line, o.col, message)


# --------------------------------------------------------------------------------------- import

def _own_attributes(attrs: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attrs or {}).items() if not str(k).startswith(RESERVED_PREFIXES)}


@register("authentik")
def write_authentik(resources: list[Resource]) -> dict[str, str]:
    """YAML that loads back to the same Resources (reserved attribute keys left out)."""
    groups = sorted((r for r in resources if r.kind == "authentik.group"), key=lambda r: r.key)
    users = sorted((r for r in resources if r.kind == "authentik.user"), key=lambda r: r.key)
    doc: dict[str, Any] = {}
    if groups:
        doc["groups"] = []
        for group in groups:
            entry: dict[str, Any] = {"name": group.key[0]}
            if group.data.get("is_superuser"):
                entry["is_superuser"] = True
            if group.data.get("parent") is not None:
                entry["parent"] = group.data["parent"]
            attrs = _own_attributes(group.data.get("attributes"))
            if attrs:
                entry["attributes"] = attrs
            doc["groups"].append(entry)
    if users:
        doc["users"] = []
        for user in users:
            data = user.data
            entry = {"username": user.key[0], "name": data.get("name", ""), "email": data.get("email", "")}
            if data.get("is_active") is False:
                entry["active"] = False
            for field in ("type", "path"):
                if data.get(field) not in (None, DEFAULTS[field]):
                    entry[field] = data[field]
            attrs = _own_attributes(data.get("attributes"))
            if attrs:
                entry["attributes"] = attrs
            if data.get("groups"):
                entry["groups"] = list(data["groups"])
            doc["users"].append(entry)
    header = ("# Imported by `reconciler import` from a live Authentik. Passwords are not imported (they\n"
              "# never live in git); add `enrollment:` to users created from now on.\n")
    return {"authentik/users.yaml": header + dump_yaml(doc)}
