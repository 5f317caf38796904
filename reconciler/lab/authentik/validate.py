"""Request-body validation as Authentik's DRF serializers do it.

``user_body`` mirrors ``UserSerializer`` and ``group_body`` ``GroupSerializer``: every field error at
once, keys in serializer order (authentik-observed.md §0: ``username, name, is_active, last_login,
groups, email, attributes, path, type``), then the object-level checks. They return only what the
request sets (plus DRF defaults: on create, and ``groups``/``roles``/``users`` reset on PUT).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from reconciler.lab.authentik import errors
from reconciler.lab.authentik.store import USER_TYPES, AuthentikStore, Group, User

_TRUE = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1", 1}
_FALSE = {"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0", 0}

# Django's EmailValidator (django/core/validators.py), enough of it to agree on ordinary input.
_EMAIL_USER = re.compile(
    r"(^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*\Z"
    r'|^"([\001-\010\013\014\016-\037!#-\[\]-\177]|\\[\001-\011\013\014\016-\177])*"\Z)',
    re.IGNORECASE)
_EMAIL_DOMAIN = re.compile(
    r"((?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+)(?:[A-Z0-9-]{2,63}(?<!-))\Z", re.IGNORECASE)


class _Skip(Exception):
    """A field failed; its messages are already recorded."""


def _valid_email(value: str) -> bool:
    if "@" not in value or len(value) > 320:
        return False
    user_part, domain_part = value.rsplit("@", 1)
    if not _EMAIL_USER.match(user_part):
        return False
    try:
        domain_part = domain_part.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_EMAIL_DOMAIN.match(domain_part))


class _Fields:
    """Collects field → messages in the order fields are checked."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, *messages: str) -> _Skip:
        self.errors.setdefault(name, []).extend(messages)
        return _Skip()

    def char(self, data: dict[str, Any], name: str, *, allow_blank: bool, max_length: int | None = None
             ) -> str:
        value = data[name]
        if value is None:
            raise self.fail(name, errors.NULL)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(name, errors.NOT_A_STRING)
        text = str(value).strip()  # DRF trim_whitespace (observed §3: " probe-ws " → "probe-ws")
        if text == "":
            if not allow_blank:
                raise self.fail(name, errors.BLANK)
            return ""
        if max_length is not None and len(text) > max_length:
            raise self.fail(name, errors.max_length(max_length))
        return text

    def boolean(self, data: dict[str, Any], name: str) -> bool:
        value = data[name]
        if value is None:
            raise self.fail(name, errors.NULL)
        try:
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
        except TypeError:  # unhashable (list, dict)
            pass
        raise self.fail(name, errors.BAD_BOOL)

    def uuids(self, store_items: dict[uuid.UUID, Any], data: dict[str, Any], name: str) -> list[uuid.UUID]:
        value = data[name]
        if value is None:
            raise self.fail(name, errors.NULL)
        if isinstance(value, (str, dict)) or not isinstance(value, list):
            raise self.fail(name, errors.not_a_list(value))
        out: list[uuid.UUID] = []
        for item in value:
            try:
                pk = uuid.UUID(int=item) if isinstance(item, int) and not isinstance(item, bool) \
                    else uuid.UUID(str(item))
            except (ValueError, TypeError):
                raise self.fail(name, errors.not_a_uuid(item)) from None
            if pk not in store_items:
                raise self.fail(name, errors.invalid_pk(item))
            if pk not in out:  # observed §3: [g, g] stored once
                out.append(pk)
        return out

    def attributes(self, data: dict[str, Any]) -> dict[str, Any]:
        value = data["attributes"]
        if value is None:
            raise self.fail("attributes", errors.NULL)
        if not isinstance(value, dict):
            raise self.fail("attributes", errors.NOT_A_DICT)
        return value


def body_object(data: Any) -> dict[str, Any]:
    """Serializer-level shape check (observed §12): ``null`` and non-objects are refused."""
    if data is None:
        raise errors.ApiError.fields({"non_field_errors": [errors.NO_DATA]})
    if not isinstance(data, dict):
        raise errors.ApiError.fields({"non_field_errors": [errors.not_a_dict_body(data)]})
    return data


def user_body(store: AuthentikStore, data: Any, *, instance: User | None, partial: bool,
              actor: User) -> dict[str, Any]:
    data = body_object(data)
    f = _Fields()
    out: dict[str, Any] = {}
    required = () if partial else ("username", "name")
    order = ["username", "name", "is_active", "last_login", "groups"]
    if store.version.has_roles:
        order.append("roles")
    order += ["email", "attributes", "path", "type"]
    for name in order:
        if name not in data:
            if name in required:
                f.fail(name, errors.REQUIRED)
            continue
        try:
            out[name] = _user_field(store, f, data, name, instance)
        except _Skip:
            continue
    if f.errors:
        raise errors.ApiError.fields(f.errors)
    # Field-level permission checks (validate_groups / validate_roles after CVE-2026-40172).
    _superuser_groups_check(store, f, out, instance, actor)
    if f.errors:
        raise errors.ApiError.fields(f.errors)
    # UserSerializer.validate: internal service accounts are read-only (observed §5).
    if instance is not None and instance.type == "internal_service_account":
        raise errors.ApiError.fields({"non_field_errors": [errors.ISA_MODIFY]})
    if not partial:
        out.setdefault("groups", [])  # PUT/POST: default=list → groups reset when left out
        if store.version.has_roles:
            out.setdefault("roles", [])
    return out


def _user_field(store: AuthentikStore, f: _Fields, data: dict[str, Any], name: str,
                instance: User | None) -> Any:
    if name == "username":
        value = f.char(data, name, allow_blank=False, max_length=150)
        with store.lock:
            taken = any(u.username == value and u is not instance for u in store.users.values())
        if taken:  # case-sensitive uniqueness (observed §3: PROBE-MIN is accepted)
            raise f.fail(name, errors.UNIQUE)
        return value
    if name == "name":
        return f.char(data, name, allow_blank=True)
    if name == "is_active":
        return f.boolean(data, name)
    if name == "last_login":
        value = data[name]
        if value is None:
            return None
        moment = _datetime(value)
        if moment is None:
            raise f.fail(name, errors.BAD_DATETIME)
        return moment
    if name == "groups":
        return f.uuids(store.groups, data, name)
    if name == "roles":
        return f.uuids(store.roles, data, name)
    if name == "email":
        value = f.char(data, name, allow_blank=True)
        if value == "":
            return ""
        messages = []
        if len(value) > 254:
            messages.append(errors.max_length(254))
        if not _valid_email(value):
            messages.append(errors.BAD_EMAIL)
        if messages:
            raise f.fail(name, *messages)
        return value
    if name == "attributes":
        return f.attributes(data)
    if name == "path":
        value = f.char(data, name, allow_blank=False)
        if value[:1] == "/" or value[-1:] == "/":
            raise f.fail(name, errors.PATH_SLASHES)
        if any(segment == "" for segment in value.split("/")):
            raise f.fail(name, errors.PATH_EMPTY_SEGMENT)
        return value
    if name == "type":
        value = data[name]
        if value is None:
            raise f.fail(name, errors.NULL)
        if str(value) not in USER_TYPES:
            raise f.fail(name, errors.bad_choice(value))
        value = str(value)
        if instance is not None and instance.type == "internal_service_account" \
                and value != "internal_service_account":
            raise f.fail(name, errors.ISA_CHANGE_TYPE)
        if instance is None and value == "internal_service_account":
            raise f.fail(name, errors.ISA_CREATE)
        return value
    raise AssertionError(name)


def _superuser_groups_check(store: AuthentikStore, f: _Fields, out: dict[str, Any],
                            instance: User | None, actor: User) -> None:
    """CVE-2026-40172 (authentik-api.md §2.5): from 2025.12.5 / 2026.2.3 a user's groups may only
    gain a superuser group with ``enable_group_superuser``; roles need ``change_role``."""
    if not store.version.superuser_group_check:
        return
    if "groups" in out and not store.has_perm(actor, "enable_group_superuser"):
        current = set(instance.groups) if instance else set()
        for pk in out["groups"]:
            group = store.groups[pk]
            if group.is_superuser and (pk not in current or store.switches.superuser_check_all_listed):
                f.fail("groups", store.switches.superuser_group_refusal)
                break
    if out.get("roles") and not store.has_perm(actor, "change_role"):
        current_roles = set(instance.roles) if instance else set()
        if set(out["roles"]) - current_roles:
            f.fail("roles", "User does not have permission to assign roles.")  # text unverified


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def group_body(store: AuthentikStore, data: Any, *, instance: Group | None, partial: bool,
               actor: User) -> dict[str, Any]:
    data = body_object(data)
    f = _Fields()
    out: dict[str, Any] = {}
    many = store.version.group_parents_many
    order = ["name", "is_superuser", "parents" if many else "parent", "users", "attributes", "roles"]
    for name in order:
        if name not in data:
            if name == "name" and not partial:
                f.fail(name, errors.REQUIRED)
            continue
        try:
            out[name] = _group_field(store, f, data, name, instance, actor)
        except _Skip:
            continue
    if f.errors:
        raise errors.ApiError.fields(f.errors)
    if not partial:
        out.setdefault("users", [])  # observed §10: PUT without users clears members
        out.setdefault("roles", [])
        if many:
            out.setdefault("parents", [])
    if "parent" in out:
        out["parents"] = [out.pop("parent")] if out["parent"] is not None else []
    return out


def _group_field(store: AuthentikStore, f: _Fields, data: dict[str, Any], name: str,
                 instance: Group | None, actor: User) -> Any:
    if name == "name":
        value = f.char(data, name, allow_blank=False)
        with store.lock:
            taken = any(g.name == value and g is not instance for g in store.groups.values())
        if taken:
            raise f.fail(name, errors.UNIQUE)  # observed §10 (case-sensitive)
        return value
    if name == "is_superuser":
        value = f.boolean(data, name)
        # SRV groups.py validate_is_superuser (authentik-api.md §2.5); since 2025.2 (goauthentik/authentik
        # #12900), so every release the lab models has it; a create without the flag is free (#14510).
        if instance is not None and value == instance.is_superuser:
            return value
        perm = "enable_group_superuser" if value else "disable_group_superuser"
        if (instance is not None or value) and not store.has_perm(actor, perm):
            raise f.fail(name, errors.superuser_status_refused(value))
        return value
    if name == "parent":
        value = data[name]
        if value is None:
            return None
        pks = f.uuids(store.groups, {name: [value]}, name)
        if instance is not None and pks[0] == instance.pk:
            raise f.fail(name, errors.GROUP_SELF_PARENT)
        return pks[0]
    if name == "parents":
        pks = f.uuids(store.groups, data, name)
        if instance is not None and instance.pk in pks:
            raise f.fail(name, errors.GROUP_SELF_PARENT)
        return pks
    if name == "users":
        value = data[name]
        if value is None:
            raise f.fail(name, errors.NULL)
        if isinstance(value, (str, dict)) or not isinstance(value, list):
            raise f.fail(name, errors.not_a_list(value))
        out: list[int] = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise f.fail(name, errors.pk_wrong_type(item))
            try:
                pk = int(item)
            except ValueError:
                raise f.fail(name, errors.pk_wrong_type(item)) from None
            if pk not in store.users:
                raise f.fail(name, errors.invalid_pk(item))
            if pk not in out:
                out.append(pk)
        return out
    if name == "attributes":
        return f.attributes(data)
    if name == "roles":
        return f.uuids(store.roles, data, name)
    raise AssertionError(name)
