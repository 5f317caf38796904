"""List filters, search and ordering for ``/core/users/`` and ``/core/groups/``.

Sources: authentik-observed.md §2 and §10 (what 2025.10 answered), authentik-api.md §2.4 (SRV
``UsersFilter``, django-filter and DRF defaults). Filterset errors are collected for every bad
parameter at once, like a django-filter form; the ``attributes`` filter raises its own list body.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from reconciler.lab.authentik import errors
from reconciler.lab.authentik.store import USER_TYPES, AuthentikStore, Group, User

Query = dict[str, list[str]]

_TRUE = {"true", "True"}  # django-filter BooleanFilter; "0"/"garbage" are ignored (observed §2)
_FALSE = {"false", "False"}


class InternalError(Exception):
    """An unhandled server error (e.g. a bad regex lookup): GET → 500 text/html (observed §0)."""


def _one(query: Query, key: str) -> str | None:
    values = query.get(key)
    if not values or values[-1] == "":
        return None  # empty value: filter ignored (observed §2)
    return values[-1]


def _bool(query: Query, key: str) -> bool | None:
    value = _one(query, key)
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def flag(query: Query, key: str, default: bool) -> bool:
    """``include_*`` switches (DRF BooleanField parsing of a query parameter)."""
    value = _one(query, key)
    if value is None:
        return default
    return value.lower() in {"true", "1", "yes", "on", "t", "y"}


def _parse_dt(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        from datetime import UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# ---- attributes (JSON lookups) -----------------------------------------------------------------

_LOOKUPS = {"exact", "iexact", "contains", "icontains", "in", "gt", "gte", "lt", "lte", "isnull",
            "startswith", "istartswith", "endswith", "iendswith", "regex", "iregex", "has_key",
            "has_keys", "has_any_keys", "contained_by"}
_MISSING = object()


def _json_eq(a: Any, b: Any) -> bool:
    """JSON equality: 1 != "1" and 1 != true (observed §2: ``{"n":"1"}`` misses ``n: 1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_eq(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _contains(haystack: Any, needle: Any) -> bool:
    """PostgreSQL ``@>`` containment."""
    if isinstance(haystack, dict) and isinstance(needle, dict):
        return all(k in haystack and _contains(haystack[k], v) for k, v in needle.items())
    if isinstance(haystack, list):
        items = needle if isinstance(needle, list) else [needle]
        return all(any(_contains(h, n) for h in haystack) for n in items)
    return _json_eq(haystack, needle)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _walk(data: Any, path: list[str]) -> Any:
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return _MISSING
    return data


def _lookup(value: Any, lookup: str, operand: Any) -> bool:
    if lookup == "isnull":
        if not isinstance(operand, bool):
            raise ValueError("isnull needs a boolean")
        return (value is _MISSING) == operand
    if value is _MISSING:
        return False
    if lookup == "exact":
        return _json_eq(value, operand)
    if lookup == "iexact":
        return _text(value).lower() == _text(operand).lower()
    if lookup == "contains":
        return _contains(value, operand)
    if lookup == "contained_by":
        return _contains(operand, value)
    if lookup == "icontains":
        return _text(operand).lower() in _text(value).lower()
    if lookup in {"startswith", "istartswith", "endswith", "iendswith"}:
        left, right = _text(value), _text(operand)
        if lookup.startswith("i"):
            left, right = left.lower(), right.lower()
        return left.startswith(right) if "starts" in lookup else left.endswith(right)
    if lookup in {"regex", "iregex"}:
        try:
            pattern = re.compile(_text(operand), re.IGNORECASE if lookup == "iregex" else 0)
        except re.error as exc:
            raise InternalError("invalid regular expression") from exc  # observed §2: 500
        return pattern.search(_text(value)) is not None
    if lookup == "in":
        if not isinstance(operand, list):
            raise ValueError("in needs a list")
        return any(_json_eq(value, item) for item in operand)
    if lookup in {"gt", "gte", "lt", "lte"}:
        comparable = (isinstance(value, (int, float)) and isinstance(operand, (int, float))
                      and not isinstance(value, bool)) or (isinstance(value, str) and isinstance(operand, str))
        if not comparable:
            return False
        return {"gt": value > operand, "gte": value >= operand,
                "lt": value < operand, "lte": value <= operand}[lookup]
    if lookup == "has_key":
        return isinstance(value, dict) and operand in value
    if lookup in {"has_keys", "has_any_keys"}:
        if not isinstance(value, dict) or not isinstance(operand, list):
            return False
        hits = [k in value for k in operand]
        return all(hits) if lookup == "has_keys" else any(hits)
    return False


def attributes_predicate(raw: str) -> Callable[[dict[str, Any]], bool] | None:
    """``attributes=<json>``: each key a Django lookup ``attributes__<key>`` (observed §2).

    Invalid JSON or a non-object → 400 with a bare JSON list; ``{}`` → no filter; a lookup that
    raises ValueError → the whole filter is silently skipped (unfiltered results, SRV UsersFilter).
    """
    try:
        spec = json.loads(raw)
    except ValueError:
        raise errors.ApiError(400, ["filter: failed to parse JSON"]) from None
    if not isinstance(spec, dict):
        raise errors.ApiError(400, ["filter: value must be key:value mapping"])
    if not spec:
        return None
    clauses: list[tuple[list[str], str, Any]] = []
    for key, operand in spec.items():
        parts = key.split("__")
        lookup = "exact"
        if len(parts) > 1 and parts[-1] in _LOOKUPS:
            lookup = parts.pop()
        if lookup in {"regex", "iregex"}:
            try:  # PostgreSQL rejects a bad pattern whether or not any row has the key
                re.compile(_text(operand))
            except re.error as exc:
                raise InternalError("invalid regular expression") from exc  # observed §2: 500
        clauses.append((parts, lookup, operand))

    def predicate(attributes: dict[str, Any]) -> bool:
        return all(_lookup(_walk(attributes, path), lookup, operand) for path, lookup, operand in clauses)

    return predicate


def _apply_attributes(items: list[Any], raw: str | None) -> list[Any]:
    if raw is None:
        return items
    predicate = attributes_predicate(raw)
    if predicate is None:
        return items
    try:
        return [item for item in items if predicate(item.attributes)]
    except ValueError:
        return items


# ---- search and ordering -----------------------------------------------------------------------

def _search(items: list[Any], term_text: str | None, fields: Callable[[Any], list[str]]) -> list[Any]:
    """DRF SearchFilter: every whitespace/comma separated term must be contained (case-insensitive)
    in one of the fields (observed §2: username, name, email, uuid)."""
    if not term_text:
        return items
    terms = [t.lower() for t in term_text.replace(",", " ").split() if t]
    return [i for i in items if all(any(t in f.lower() for f in fields(i)) for t in terms)]


def _order(items: list[Any], raw: str | None, allowed: frozenset[str], default: str,
           key_of: Callable[[Any, str], Any]) -> list[Any]:
    terms = []
    for term in (raw or "").split(","):
        term = term.strip()
        if term and term.lstrip("-") in allowed:
            terms.append(term)  # unknown terms are dropped (observed §2: ordering=bogus ignored)
    if not terms:
        terms = [default]
    result = list(items)
    for term in reversed(terms):  # stable sorts, last key first
        name = term.lstrip("-")
        result.sort(key=lambda i, n=name: _sort_key(key_of(i, n)), reverse=term.startswith("-"))
    return result


def _sort_key(value: Any) -> tuple[int, Any]:
    # authentik-api.md §2.4: NULLs first ascending. Strings compare by code point (byte order).
    if value is None:
        return (0, "")
    return (1, value)


# ---- users -------------------------------------------------------------------------------------

def _user_field(user: User, name: str) -> Any:
    return str(user.uuid) if name == "uuid" else getattr(user, name)


def filter_users(store: AuthentikStore, query: Query) -> list[User]:
    version = store.version
    users = list(store.users.values())
    errs: dict[str, list[str]] = {}

    for key in ("username", "email", "name", "path"):  # exact, case-sensitive (observed §2)
        value = _one(query, key)
        if value is not None:
            users = [u for u in users if getattr(u, key) == value]
    prefix = _one(query, "path_startswith")
    if prefix is not None:
        users = [u for u in users if u.path.startswith(prefix)]
    active = _bool(query, "is_active")
    if active is not None:
        users = [u for u in users if u.is_active == active]
    superuser = _bool(query, "is_superuser")
    if superuser is not None:
        users = [u for u in users if store.is_superuser(u) == superuser]

    raw_uuid = _one(query, "uuid")
    if raw_uuid is not None:
        try:
            wanted_uuid = uuid.UUID(raw_uuid)
            users = [u for u in users if u.uuid == wanted_uuid]
        except ValueError:
            errs["uuid"] = ["Enter a valid UUID."]

    date_filters = ["date_joined", "last_updated"] + (["last_login"] if version.last_login_filters else [])
    for name in date_filters:
        for suffix, op in (("", "eq"), ("__gt", "gt"), ("__lt", "lt")):
            raw = _one(query, name + suffix)
            if raw is None:
                continue
            moment = _parse_dt(raw)
            if moment is None:
                errs[name + suffix] = ["Enter a valid date/time."]
                continue
            users = [u for u in users if _cmp_dt(getattr(u, name), op, moment)]
    if version.last_login_filters:
        isnull = _bool(query, "last_login__isnull")
        if isnull is not None:
            users = [u for u in users if (u.last_login is None) == isnull]

    types = [t for t in query.get("type", []) if t != ""]
    if types:
        bad = [t for t in types if t not in USER_TYPES]
        if bad:
            errs["type"] = [errors.filter_bad_choice(bad[0])]
        else:
            users = [u for u in users if u.type in types]

    group_pks = _model_choices(store, query, "groups_by_name", "groups_by_pk", errs)
    if group_pks is not None:
        users = [u for u in users if any(g in group_pks for g in u.groups)]  # direct members, OR
    if version.has_roles:
        role_pks = _role_choices(store, query, errs)
        if role_pks is not None:
            users = [u for u in users if any(r in role_pks for r in u.roles)]

    if errs:
        raise errors.ApiError.fields(errs)
    users = _apply_attributes(users, query.get("attributes", [None])[-1] or None)
    users = _search(users, _one(query, "search"),
                    lambda u: [u.username, u.name, u.email, str(u.uuid)])
    return _order(users, _one(query, "ordering"), version.user_ordering_fields, "username", _user_field)


def _cmp_dt(value: datetime | None, op: str, moment: datetime) -> bool:
    if value is None:
        return False
    return {"eq": value == moment, "gt": value > moment, "lt": value < moment}[op]


def _model_choices(store: AuthentikStore, query: Query, by_name: str, by_pk: str,
                   errs: dict[str, list[str]]) -> set[uuid.UUID] | None:
    """ModelMultipleChoiceFilter: an unknown value invalidates the filterset (observed §2)."""
    chosen: set[uuid.UUID] | None = None
    names = [n for n in query.get(by_name, []) if n != ""]
    if names:
        found = set()
        for name in names:
            group = store.group_by_name(name)
            if group is None:
                errs[by_name] = [errors.filter_bad_choice(name)]
                break
            found.add(group.pk)
        else:
            chosen = found
    pks = [p for p in query.get(by_pk, []) if p != ""]
    if pks:
        found = set()
        for raw in pks:
            try:
                pk = uuid.UUID(raw)
            except ValueError:
                errs[by_pk] = [errors.not_a_uuid(raw)]
                break
            if pk not in store.groups:
                errs[by_pk] = [errors.filter_bad_choice(raw)]
                break
            found.add(pk)
        else:
            chosen = found if chosen is None else chosen | found
    return chosen


def _role_choices(store: AuthentikStore, query: Query, errs: dict[str, list[str]]) -> set[uuid.UUID] | None:
    chosen: set[uuid.UUID] | None = None
    for name in [n for n in query.get("roles_by_name", []) if n]:
        role = next((r for r in store.roles.values() if r.name == name), None)
        if role is None:
            errs["roles_by_name"] = [errors.filter_bad_choice(name)]
            return None
        chosen = (chosen or set()) | {role.pk}
    for raw in [p for p in query.get("roles_by_pk", []) if p]:
        try:
            pk = uuid.UUID(raw)
        except ValueError:
            errs["roles_by_pk"] = [errors.not_a_uuid(raw)]
            return None
        if pk not in store.roles:
            errs["roles_by_pk"] = [errors.filter_bad_choice(raw)]
            return None
        chosen = (chosen or set()) | {pk}
    return chosen


# ---- groups ------------------------------------------------------------------------------------

def filter_groups(store: AuthentikStore, query: Query) -> list[Group]:
    groups = list(store.groups.values())
    errs: dict[str, list[str]] = {}
    name = _one(query, "name")
    if name is not None:
        groups = [g for g in groups if g.name == name]
    superuser = _bool(query, "is_superuser")
    if superuser is not None:
        groups = [g for g in groups if g.is_superuser == superuser]
    members: set[int] | None = None
    for raw in [v for v in query.get("members_by_pk", []) if v]:
        try:
            pk = int(raw)
        except ValueError:
            pk = -1
        if pk not in store.users:
            errs["members_by_pk"] = [errors.filter_bad_choice(raw)]
            break
        members = (members or set()) | {pk}
    for raw in [v for v in query.get("members_by_username", []) if v]:
        user = store.user_by_username(raw)
        if user is None:
            errs["members_by_username"] = [errors.filter_bad_choice(raw)]
            break
        members = (members or set()) | {user.pk}
    if errs:
        raise errors.ApiError.fields(errs)
    if members is not None:
        groups = [g for g in groups if any(pk in members for pk in g.users)]
    groups = _apply_attributes(groups, query.get("attributes", [None])[-1] or None)
    groups = _search(groups, _one(query, "search"), lambda g: [g.name])
    return _order(groups, _one(query, "ordering"), frozenset({"name", "is_superuser"}), "name",
                  lambda g, n: getattr(g, n))
