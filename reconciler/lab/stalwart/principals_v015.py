"""v0.15 `/api/principal` semantics: create, get, list, patch, delete over the :class:`Directory`.

Every rule cites stalwart-api.md (§4 object, §5 endpoints, §7 order) and, where the sheet is thin,
``crates/directory/src/backend/internal/manage.rs`` at v0.15.5 (``create_principal``,
``list_principals``, ``validate_email``). Callers hold ``directory.lock``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import permissions as perms
from .identity import Identity
from .problems import (
    MgmtError,
    Problem,
    already_exists,
    field_missing,
    forbidden,
    invalid_parameters,
    invalid_value,
    not_found_item,
    other,
    rust_debug,
    unsupported,
)
from .store import BUILTIN_ROLES, TYPES, Directory, Principal, words

STR_FIELDS = ("description", "tenant", "picture", "locale")
LIST_FIELDS = ("secrets", "emails", "memberOf", "members", "roles", "lists", "enabledPermissions",
               "disabledPermissions", "urls", "externalMembers")
KNOWN_FIELDS = frozenset(("name", "type", "quota", "usedQuota", "id", *STR_FIELDS, *LIST_FIELDS))
LDAP_UNSUPPORTED = ("LDAP directory cannot be managed. Only internal directories support inserts and "
                    "update operations.")
MAX_ITEM = 512


@dataclass
class Options:
    """Server configuration the principal API depends on."""

    ldap_default_directory: bool = True  # storage.directory = "ldap" (the organisation's setup)
    # stalwart-api.md §13: remove-then-re-add of one address in one PATCH fails (code-derived, unverified).
    readd_in_same_patch_fails: bool = True


def _is_otp(secret: str) -> bool:
    return secret.startswith("otpauth://")


def _is_app(secret: str) -> bool:
    return secret.startswith("$app$")


def _sort_secrets(principal: Principal, secrets: list[str]) -> None:
    """Stalwart keeps each secret by kind: OTP, app password, and only the first plain password."""
    for secret in secrets:
        if _is_otp(secret):
            principal.otp = secret
        elif _is_app(secret):
            principal.app_passwords.append(secret)
        elif principal.password is None:
            principal.password = secret


def _str_list(value: Any) -> list[str]:
    """A string (= one element) or array; non-strings and > 512-byte elements silently dropped (§4)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise invalid_parameters()
    return [v for v in value if isinstance(v, str) and len(v.encode()) <= MAX_ITEM]


# --------------------------------------------------------------------------------------- parse
def parse_create(raw: bytes) -> dict[str, Any]:
    """Decode a POST body; unknown fields and wrong types are 400 (§1, §3, §4)."""
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid_parameters() from exc
    if not isinstance(body, dict):
        raise invalid_parameters()
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in KNOWN_FIELDS:
            raise invalid_parameters()  # serde: "invalid principal field: <key>"
        if key in ("id", "usedQuota"):
            continue  # accepted and ignored
        if key == "type":
            if value == "superuser":
                value = "individual"  # legacy alias
            if value not in TYPES:
                raise invalid_parameters()
            out["type"] = value
        elif key == "name":
            if value is None:
                continue
            if not isinstance(value, str):
                raise invalid_parameters()
            if len(value.encode()) <= MAX_ITEM:
                out["name"] = value
        elif key in STR_FIELDS:
            if value is None:
                continue  # null = omitted
            if not isinstance(value, str):
                raise invalid_parameters()
            if len(value.encode()) <= MAX_ITEM:
                out[key] = value
        elif key == "quota":
            out["quota"] = _parse_quota(value)
        else:
            items = _str_list(value)
            if items:  # empty array ignored
                out[key] = items
    out.setdefault("type", "individual")
    if len(json.dumps(body, ensure_ascii=False).encode()) > 100_000:
        raise other("Invalid parameter", "Principal object size exceeds 100kb safety limit.")
    return out


def _parse_quota(value: Any) -> int | list[int]:
    if isinstance(value, bool):
        raise invalid_parameters()
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise invalid_parameters()


# ---------------------------------------------------------------------------------- permissions
def _require(caller: Identity, permission: str) -> None:
    if not caller.has(permission):
        raise forbidden()


def _role_permissions(directory: Directory, role: str) -> frozenset[str]:
    if role == "admin":
        return perms.ALL_SET
    if role == "user":
        return perms.USER
    if role == "tenant-admin":
        return perms.ALL_SET  # can only be granted by an admin in practice
    found = directory.get(role)
    if found is None or found.type != "role":
        return frozenset()
    return frozenset(found.enabled_permissions) - frozenset(found.disabled_permissions)


def identity_permissions(directory: Directory, principal: Principal) -> frozenset[str]:
    """Effective permissions of a stored principal: roles, then its own enabled/disabled lists."""
    granted: set[str] = set()
    for role in principal.roles:
        granted |= _role_permissions(directory, role)
    for pid in principal.member_of:
        member = directory.principals.get(pid)
        if member is not None and member.type == "role":
            granted |= _role_permissions(directory, member.name)
    granted |= set(principal.enabled_permissions)
    granted -= set(principal.disabled_permissions)
    return frozenset(granted)


# --------------------------------------------------------------------------------------- create
def create(directory: Directory, caller: Identity, raw: bytes, options: Options, deploy: bool = False) -> int:
    """`POST /api/principal[/deploy]`; checks in the server's order (§5.3)."""
    body = parse_create(raw)
    ptype = body["type"]
    _require(caller, perms.needed(ptype, "create"))  # 1. permission by type
    if ptype == "tenant" or body.get("tenant") is not None:  # 2. enterprise only
        raise unsupported("Enterprise feature")
    if ptype == "individual" and options.ldap_default_directory and not deploy:  # 3.
        raise unsupported(LDAP_UNSUPPORTED)
    for role in body.get("roles", []):  # 4. roles the caller can grant
        if not _role_permissions(directory, role) <= caller.permissions:
            raise other("Invalid role", None)
    name = body.get("name", "").lower()  # 5. name
    if not name:
        raise field_missing("name")
    if name in directory.by_name:
        raise already_exists("name", name)

    principal = Principal(id=-1, name=name, type=ptype)
    _sort_secrets(principal, body.get("secrets", []))  # 6. first plain secret wins (#2826)
    principal.description = body.get("description")  # 7.
    principal.picture = body.get("picture")
    principal.locale = body.get("locale")
    principal.urls = list(body.get("urls", []))
    principal.external_members = list(body.get("externalMembers", []))
    quota = body.get("quota")
    if isinstance(quota, int) and quota != 0:
        principal.quota = quota
    elif isinstance(quota, list) and quota and quota[0] != 0:
        principal.quota = quota[0]

    members: list[Principal] = []  # 8. memberships must exist with the right type
    for field_name, expected in (("members", None), ("memberOf", "group"), ("lists", "list"), ("roles", "role")):
        for ref in body.get(field_name, []):
            if field_name == "roles" and ref in BUILTIN_ROLES:
                if ref not in principal.roles:
                    principal.roles.append(ref)
                continue
            target = directory.get(ref)
            if target is None or (expected is not None and target.type != expected):
                raise not_found_item(ref)
            if field_name == "members":
                members.append(target)
            elif target.id not in principal.member_of:
                principal.member_of.append(target.id)

    for field_name in ("enabledPermissions", "disabledPermissions"):  # 9.
        for permission in body.get(field_name, []):
            if permission not in perms.ALL_SET:
                raise other(f"Invalid {field_name} value", f"Permission {json.dumps(permission)} is invalid")
            if field_name == "enabledPermissions" and not caller.has(permission):
                raise other("Invalid permission", f"Your account cannot grant the {json.dumps(permission)} permission")
            target_list = (principal.enabled_permissions if field_name == "enabledPermissions"
                           else principal.disabled_permissions)
            if permission not in principal.enabled_permissions + principal.disabled_permissions:
                target_list.append(permission)

    if ptype != "oauthClient":  # 10. e-mails: unique across all types, domain must exist
        for email in body.get("emails", []):
            email = email.lower()
            if email in directory.by_email:
                raise already_exists("emails", email)
            if "@" in email:
                domain = email.rsplit("@", 1)[1]
                found = directory.get(domain)
                if found is None or found.type != "domain":
                    raise not_found_item(domain)
            principal.emails.append(email)

    principal.id = directory.next_id()  # 11. write
    directory.insert(principal)
    for member in members:
        if principal.id not in member.member_of:
            member.member_of.append(principal.id)
    if ptype == "domain" and "report.domain" not in directory.settings:
        directory.settings["report.domain"] = name
    return principal.id


# --------------------------------------------------------------------------------------- render
def render(directory: Directory, p: Principal, fields: frozenset[str] | None = None) -> dict[str, Any]:
    """`map_principal`: id and type always, other fields only when present (§4 Output)."""
    out: dict[str, Any] = {"id": p.id, "type": p.type}

    def want(name: str) -> bool:
        return fields is None or name in fields

    if want("name"):
        out["name"] = p.name
    if want("quota") and p.quota is not None:
        out["quota"] = p.quota
    if want("usedQuota") and p.used_quota > 0:
        out["usedQuota"] = p.used_quota
    if want("description") and p.description is not None:
        out["description"] = p.description
    if want("secrets") and p.secrets():
        out["secrets"] = p.secrets()
    if want("emails") and p.emails:
        out["emails"] = [p.emails[0], *sorted(p.emails[1:])]
    member_of = [directory.principals[i] for i in p.member_of if i in directory.principals]
    groups = [m.name for m in member_of if m.type == "group"]
    lists = [m.name for m in member_of if m.type == "list"]
    roles = list(p.roles) + [m.name for m in member_of if m.type == "role"]
    if want("memberOf") and groups:
        out["memberOf"] = groups
    if want("members"):
        if p.type == "domain":
            out["members"] = directory.domain_address_count(p.name)
        elif p.type in ("group", "list", "role"):
            names = [m.name for m in directory.members_of(p.id)]
            if names:
                out["members"] = names
    if want("roles") and roles:
        out["roles"] = roles
    if want("lists") and lists:
        out["lists"] = lists
    if want("enabledPermissions") and p.enabled_permissions:
        out["enabledPermissions"] = list(p.enabled_permissions)
    if want("disabledPermissions") and p.disabled_permissions:
        out["disabledPermissions"] = list(p.disabled_permissions)
    if want("picture") and p.picture is not None:
        out["picture"] = p.picture
    if want("urls") and p.urls:
        out["urls"] = list(p.urls)
    if want("externalMembers") and p.external_members:
        out["externalMembers"] = list(p.external_members)
    if want("locale") and p.locale is not None:
        out["locale"] = p.locale
    return out


def get(directory: Directory, caller: Identity, name: str) -> dict[str, Any]:
    """`GET /api/principal/{name}`: exact lookup (no lower-casing: §5.2)."""
    found = directory.get(name)
    if found is None:
        raise not_found_item(name)
    _require(caller, perms.needed(found.type, "get"))
    return render(directory, found)


# ----------------------------------------------------------------------------------------- list
def list_principals(directory: Directory, caller: Identity, params: dict[str, str]) -> dict[str, Any]:
    """`GET /api/principal` (§5.1)."""
    raw_types = params.get("types", params.get("type", ""))
    types = [t for t in (s.strip() for s in raw_types.split(",")) if t in TYPES]
    if "tenant" in types:
        raise unsupported("Enterprise feature")
    for ptype in types or [t for t in TYPES if t != "tenant"]:
        _require(caller, perms.needed(ptype, "list"))
    page = _int_param(params.get("page")) or 1
    limit = _int_param(params.get("limit"))
    text = params.get("filter", "")
    matches: set[int] | None = None
    if text.strip():
        tokens = words(text)
        matches = {p.id for p in directory.principals.values() if tokens and tokens <= p.index_words()}
        if not matches:
            return {"items": [], "total": 0}
    selected = [
        p for name, pid in sorted(directory.by_name.items(), key=lambda kv: kv[0].encode())
        if (p := directory.principals[pid]) and (not types or p.type in types)
        and (matches is None or pid in matches)
    ]
    total = len(selected)
    if params.get("count", "").lower() == "true":
        return {"items": [], "total": total}
    offset = (page - 1) * limit
    window = selected[offset:offset + limit] if limit else selected[offset:]
    fields = frozenset(f for f in params.get("fields", "").split(",") if f) or None
    return {"items": [render(directory, p, fields) for p in window], "total": total}


def _int_param(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError as exc:
        raise invalid_parameters("Invalid parameter") from exc


# ---------------------------------------------------------------------------------------- patch
ActionFn = Callable[[Directory, Principal, Principal, Any, Options], None]


def patch(directory: Directory, caller: Identity, name: str, raw: bytes, options: Options) -> None:
    """`PATCH /api/principal/{name}`: actions applied in order to a copy, then written atomically."""
    try:
        actions = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid_parameters() from exc
    if not isinstance(actions, list) or not all(
        isinstance(a, dict) and a.get("action") in ("set", "addItem", "removeItem") and isinstance(a.get("field"), str)
        and set(a) <= {"action", "field", "value"} for a in actions
    ):
        raise invalid_parameters()
    found = directory.get(name)
    if found is None:
        raise not_found_item(name)
    _require(caller, perms.needed(found.type, "update"))
    new = copy.deepcopy(found)
    member_changes: dict[int, list[int]] = {}  # members-of-this writes to other principals
    for action in actions:
        _apply(directory, found, new, action["action"], action["field"], action.get("value"), options,
               member_changes)
    directory.replace(found, new)
    for pid, member_of in member_changes.items():
        directory.principals[pid].member_of = member_of


def _apply(directory: Directory, stored: Principal, new: Principal, verb: str, field_name: str, value: Any,
           options: Options, member_changes: dict[int, list[int]]) -> None:
    bad = invalid_value(field_name, rust_debug(value))
    if field_name == "name":
        if verb != "set" or not isinstance(value, str):
            raise bad
        lowered = value.lower()
        if lowered != stored.name and lowered in directory.by_name:
            raise already_exists("name", lowered)
        new.name = lowered
    elif field_name in ("description", "picture", "locale"):
        if verb != "set" or not isinstance(value, str):
            raise bad
        setattr(new, field_name, value or None)
    elif field_name == "secrets":
        _apply_secrets(new, verb, value, bad)
    elif field_name == "quota":
        if verb != "set" or stored.type not in ("individual", "group", "tenant"):
            raise bad
        if value == "":
            new.quota = None
        elif isinstance(value, int) and not isinstance(value, bool):
            new.quota = value
        else:
            raise bad
    elif field_name == "emails":
        _apply_emails(directory, stored, new, verb, value, options, bad)
    elif field_name in ("memberOf", "lists", "roles"):
        _apply_membership(directory, new, verb, field_name, value, bad)
    elif field_name == "members":
        _apply_members(directory, stored, verb, value, bad, member_changes)
    elif field_name in ("enabledPermissions", "disabledPermissions"):
        attr = "enabled_permissions" if field_name == "enabledPermissions" else "disabled_permissions"
        current: list[str] = getattr(new, attr)
        if verb == "set" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            for permission in value:
                if permission not in perms.ALL_SET:
                    raise other(f"Invalid {field_name} value", f"Permission {json.dumps(permission)} is invalid")
            setattr(new, attr, list(dict.fromkeys(value)))
        elif verb == "addItem" and isinstance(value, str):
            if value not in perms.ALL_SET:
                raise other(f"Invalid {field_name} value", f"Permission {json.dumps(value)} is invalid")
            if value not in current:
                current.append(value)
        elif verb == "removeItem" and isinstance(value, str):
            setattr(new, attr, [p for p in current if p != value])
        else:
            raise bad
    elif field_name in ("urls", "externalMembers"):
        attr = "urls" if field_name == "urls" else "external_members"
        items: list[str] = getattr(new, attr)
        if verb == "set" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            setattr(new, attr, list(value))
        elif verb == "addItem" and isinstance(value, str):
            if field_name == "externalMembers" and ("@" not in value or value.startswith("@") or value.endswith("@")):
                raise other("Invalid parameter", f"Invalid value {rust_debug(value)} for externalMembers")
            if value not in items:
                items.append(value.lower() if field_name == "externalMembers" else value)
        elif verb == "removeItem" and isinstance(value, str):
            setattr(new, attr, [v for v in items if v != value])
        else:
            raise bad
    elif field_name == "tenant":
        raise unsupported("Enterprise feature")
    else:  # type, usedQuota, id and anything unknown
        raise bad


def _apply_secrets(new: Principal, verb: str, value: Any, bad: MgmtError) -> None:
    if verb == "set":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise bad
        new.password, new.otp, new.app_passwords = None, None, []
        _sort_secrets(new, items)  # replaces all; first plain one kept
    elif verb == "addItem" and isinstance(value, str):
        if _is_otp(value):
            new.otp = value
        elif _is_app(value):
            new.app_passwords.append(value)
        else:
            new.password = value  # a plain secret replaces the password
    elif verb == "removeItem" and isinstance(value, str):
        if value == "":
            new.otp, new.app_passwords = None, []
        elif _is_app(value):
            new.app_passwords = [s for s in new.app_passwords if not s.startswith(value)]
        elif _is_otp(value):
            if new.otp and new.otp.startswith(value):
                new.otp = None
        elif new.password == value:
            new.password = None
    else:
        raise bad


def _check_new_email(directory: Directory, stored: Principal, email: str, options: Options, skip_owned: bool) -> None:
    owner = directory.by_email.get(email)
    if owner is not None:
        # `set` does not re-check addresses the principal already owns; `addItem` checks the
        # stored index even for its own addresses (§5.4, switch readd_in_same_patch_fails).
        if not (owner == stored.id and (skip_owned or not options.readd_in_same_patch_fails)):
            raise already_exists("emails", email)
    if "@" in email:
        domain = email.rsplit("@", 1)[1]
        found = directory.get(domain)
        if found is None or found.type != "domain":
            raise not_found_item(domain)


def _apply_emails(directory: Directory, stored: Principal, new: Principal, verb: str, value: Any,
                  options: Options, bad: MgmtError) -> None:
    if verb == "set":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad  # list only
        emails = list(dict.fromkeys(v.lower() for v in value))
        for email in emails:
            if email not in stored.emails:
                _check_new_email(directory, stored, email, options, skip_owned=True)
        new.emails = emails  # order sets the primary
    elif verb == "addItem" and isinstance(value, str):
        email = value.lower()
        _check_new_email(directory, stored, email, options, skip_owned=False)
        if email not in new.emails:
            new.emails.append(email)  # primary if none
    elif verb == "removeItem" and isinstance(value, str):
        email = value.lower()
        if email in new.emails:
            was_primary = new.emails[0] == email
            new.emails.remove(email)
            if was_primary and len(new.emails) > 1:
                aliases = sorted(new.emails)  # first remaining alias (aliases are kept sorted)
                new.emails = [aliases[0], *[e for e in new.emails if e != aliases[0]]]
    else:
        raise bad


def _apply_membership(directory: Directory, new: Principal, verb: str, field_name: str, value: Any,
                      bad: MgmtError) -> None:
    expected = {"memberOf": "group", "lists": "list", "roles": "role"}[field_name]

    def resolve(ref: str) -> Principal | str:
        if field_name == "roles" and ref in BUILTIN_ROLES:
            return ref
        target = directory.get(ref)
        if target is None:
            raise not_found_item(ref)
        if target.type != expected:
            raise other(f"Invalid {field_name} value", None)
        return target

    keep = [i for i in new.member_of if (p := directory.principals.get(i)) and p.type != expected]
    current = [i for i in new.member_of if i not in keep]
    if verb == "set":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        resolved = [resolve(v) for v in value]
        ids = [r.id for r in resolved if isinstance(r, Principal)]
        new.member_of = keep + list(dict.fromkeys(ids))
        if field_name == "roles":
            new.roles = [r for r in dict.fromkeys(resolved) if isinstance(r, str)]
    elif verb == "addItem" and isinstance(value, str):
        target = resolve(value)
        if isinstance(target, str):
            if target not in new.roles:
                new.roles.append(target)
        elif target.id not in current:
            new.member_of = [*keep, *current, target.id]
    elif verb == "removeItem" and isinstance(value, str):
        if field_name == "roles" and value in new.roles:
            new.roles.remove(value)
        target = directory.get(value)
        if target is not None:  # unknown ignored
            new.member_of = [i for i in new.member_of if i != target.id]
    else:
        raise bad


def _apply_members(directory: Directory, stored: Principal, verb: str, value: Any, bad: MgmtError,
                   member_changes: dict[int, list[int]]) -> None:
    allowed = ("role",) if stored.type == "role" else ("individual", "group")

    def member_list(p: Principal) -> list[int]:
        return member_changes.setdefault(p.id, list(p.member_of))

    def resolve(ref: str) -> Principal:
        target = directory.get(ref)
        if target is None:
            raise not_found_item(ref)
        if target.type not in allowed:
            raise other("Invalid members value", None)
        return target

    if verb == "set":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        wanted = {resolve(v).id for v in value}
        for p in directory.principals.values():
            lst = member_list(p) if (stored.id in p.member_of or p.id in wanted) else None
            if lst is None:
                continue
            if p.id in wanted and stored.id not in lst:
                lst.append(stored.id)
            elif p.id not in wanted and stored.id in lst:
                lst.remove(stored.id)
    elif verb == "addItem" and isinstance(value, str):
        lst = member_list(resolve(value))
        if stored.id not in lst:
            lst.append(stored.id)
    elif verb == "removeItem" and isinstance(value, str):
        target = directory.get(value)
        if target is not None:
            lst = member_list(target)
            if stored.id in lst:
                lst.remove(stored.id)
    else:
        raise bad


# --------------------------------------------------------------------------------------- delete
def delete(directory: Directory, caller: Identity, name: str) -> None:
    """`DELETE /api/principal/{name}`; for individuals and groups also all their mail (§5.5)."""
    found = directory.get(name)
    if found is None:
        raise not_found_item(name)
    _require(caller, perms.needed(found.type, "delete"))
    directory.remove(found)


def bulk_delete_targets(directory: Directory, caller: Identity, params: dict[str, str]) -> list[Principal]:
    """`DELETE /api/principal?type=<t>&confirm=true[&filter=…]` (deleted asynchronously by the caller)."""
    ptype = params.get("type", "")
    if ptype not in TYPES:
        raise Problem(400, "Invalid parameters", "Invalid type")
    if params.get("confirm") != "true":
        raise Problem(400, "Invalid parameters", "Missing confirmation parameter")
    _require(caller, perms.needed(ptype, "delete"))
    tokens = words(params.get("filter", ""))
    return [p for p in directory.principals.values()
            if p.type == ptype and (not tokens or tokens <= p.index_words())]
