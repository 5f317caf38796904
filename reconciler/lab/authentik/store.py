"""The emulated Authentik database: users, groups, roles, tokens, the brand's recovery settings.

Plain data and invariants only (pk counter never reused, membership both ways, superuser status
through ancestor groups); request parsing lives in ``validate.py``, JSON shapes in ``render.py``.
One lock guards everything: the HTTP server is threaded.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.lab.authentik.versions import AuthentikVersion, Switches

ALL_PERMISSIONS = frozenset({
    "view_user", "add_user", "change_user", "delete_user", "reset_user_password",
    "view_group", "add_group", "change_group", "delete_group",
    "add_user_to_group", "remove_user_from_group",
    "enable_group_superuser", "disable_group_superuser", "change_role",
})

USER_TYPES = ("internal", "external", "service_account", "internal_service_account")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _hash_password(raw: str, salt: str | None = None) -> str:
    """A Django-format pbkdf2 string; the lab never keeps a clear password."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", raw.encode("utf-8"), salt.encode(), 1000)
    return f"pbkdf2_sha256$1000${salt}${base64.b64encode(digest).decode()}"


def _unusable_password() -> str:
    # Django's set_unusable_password: "!" followed by random characters (authentik-api.md §2.5).
    return "!" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))


def num_pk(group_uuid: uuid.UUID) -> int:
    # authentik-api.md §5 / SRV core/models.py: first 5 decimal digits of the UUID's integer value.
    return int(str(group_uuid.int)[:5])


@dataclass
class Role:
    pk: uuid.UUID
    name: str


@dataclass
class Group:
    pk: uuid.UUID
    name: str
    is_superuser: bool = False
    parents: list[uuid.UUID] = field(default_factory=list)  # 2025.10 uses at most one
    users: list[int] = field(default_factory=list)  # insertion order: Authentik's is unsorted
    attributes: dict[str, Any] = field(default_factory=dict)
    roles: list[uuid.UUID] = field(default_factory=list)

    @property
    def num_pk(self) -> int:
        return num_pk(self.pk)


@dataclass
class User:
    pk: int
    username: str
    name: str
    uuid: uuid.UUID
    date_joined: datetime
    password_change_date: datetime
    last_updated: datetime
    is_active: bool = True
    last_login: datetime | None = None
    email: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    path: str = "users"
    type: str = "internal"
    groups: list[uuid.UUID] = field(default_factory=list)  # direct memberships
    roles: list[uuid.UUID] = field(default_factory=list)
    password: str = field(default_factory=_unusable_password, repr=False)
    permissions: frozenset[str] = frozenset()  # global permissions granted to this user (lab model)

    @property
    def has_usable_password(self) -> bool:
        return not self.password.startswith("!")


@dataclass
class Token:
    key: str = field(repr=False)
    user_pk: int
    expires: datetime | None = None


@dataclass
class SentMail:
    """A recovery email the lab 'sent' (tests read ``store.outbox``)."""

    user_pk: int
    to: str
    link: str
    stage: uuid.UUID


class AuthentikStore:
    """State of one emulated Authentik install."""

    def __init__(self, version: AuthentikVersion | str = "2025.10.4", switches: Switches | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.version = version if isinstance(version, AuthentikVersion) else AuthentikVersion(version)
        self.switches = switches or Switches()
        self.clock = clock
        self.lock = threading.RLock()
        self.install_id = str(uuid.uuid4())
        self.users: dict[int, User] = {}
        self.groups: dict[uuid.UUID, Group] = {}
        self.roles: dict[uuid.UUID, Role] = {}
        self.tokens: dict[str, Token] = {}
        self._next_pk = 1  # authentik-observed.md §0: auto-increment, never reused
        # The brand's recovery flow (None = "No recovery flow set.") and the email stages that exist.
        self.recovery_flow_slug: str | None = None
        self.email_stages: set[uuid.UUID] = set()
        self.recovery_tokens: dict[int, str] = {}
        self.outbox: list[SentMail] = []

    # ---- users -------------------------------------------------------------------------------

    def new_user(self, username: str, name: str, *, when: datetime | None = None, **fields: Any) -> User:
        """Insert a user the way Django's model save does: next pk, fresh uuid, timestamps.

        ``password_change_date`` is set at creation even though no password is set
        (authentik-observed.md §7): its default is evaluated just after ``date_joined``'s.
        """
        with self.lock:
            joined = when or self.clock()
            pk = self._next_pk
            self._next_pk += 1
            user = User(pk=pk, username=username, name=name, uuid=uuid.uuid4(), date_joined=joined,
                        password_change_date=joined + timedelta(microseconds=607),
                        last_updated=joined + timedelta(microseconds=900), **fields)
            self.users[pk] = user
            return user

    def delete_user(self, user: User) -> None:
        with self.lock:
            for group in self.groups.values():
                if user.pk in group.users:
                    group.users.remove(user.pk)
            for key in [k for k, t in self.tokens.items() if t.user_pk == user.pk]:
                del self.tokens[key]
            self.recovery_tokens.pop(user.pk, None)
            del self.users[user.pk]

    def set_user_groups(self, user: User, group_pks: Iterable[uuid.UUID]) -> None:
        """``groups.set(value)``: full replacement of direct memberships (authentik-api.md §2.5)."""
        with self.lock:
            wanted = list(dict.fromkeys(group_pks))
            for group_pk in user.groups:
                if group_pk not in wanted:
                    self.groups[group_pk].users.remove(user.pk)
            for group_pk in wanted:
                group = self.groups[group_pk]
                if user.pk not in group.users:
                    group.users.append(user.pk)
            user.groups = wanted

    def set_password(self, user: User, raw: str, when: datetime | None = None) -> None:
        with self.lock:
            user.password = _hash_password(raw)
            user.password_change_date = when or self.clock()
            self.recovery_tokens.pop(user.pk, None)

    def set_password_hash(self, user: User, hashed: str) -> None:
        with self.lock:
            user.password = hashed
            user.password_change_date = self.clock()

    def check_password(self, username: str, raw: str) -> bool:
        """Lab-only: what an LDAP bind would answer (never exposed over HTTP)."""
        with self.lock:
            user = self.user_by_username(username)
            if user is None or not user.is_active or not user.has_usable_password:
                return False
            try:
                algo, _iters, salt, _digest = user.password.split("$", 3)
            except ValueError:
                return False
            if algo != "pbkdf2_sha256":
                return False
            return secrets.compare_digest(_hash_password(raw, salt), user.password)

    def user_by_username(self, username: str) -> User | None:
        with self.lock:
            return next((u for u in self.users.values() if u.username == username), None)

    # ---- groups ------------------------------------------------------------------------------

    def new_group(self, name: str, **fields: Any) -> Group:
        with self.lock:
            group = Group(pk=uuid.uuid4(), name=name, **fields)
            self.groups[group.pk] = group
            return group

    def set_group_users(self, group: Group, user_pks: Iterable[int]) -> None:
        with self.lock:
            wanted = list(dict.fromkeys(user_pks))
            for pk in list(group.users):
                if pk not in wanted:
                    self.users[pk].groups.remove(group.pk)
            for pk in wanted:
                if group.pk not in self.users[pk].groups:
                    self.users[pk].groups.append(group.pk)
            group.users = wanted

    def add_member(self, group: Group, user: User) -> None:
        with self.lock:
            if user.pk not in group.users:
                group.users.append(user.pk)
                user.groups.append(group.pk)

    def remove_member(self, group: Group, user: User) -> None:
        with self.lock:
            if user.pk in group.users:
                group.users.remove(user.pk)
                user.groups.remove(group.pk)

    def delete_group(self, group: Group) -> None:
        with self.lock:
            self.set_group_users(group, [])
            for other in self.groups.values():
                if group.pk in other.parents:
                    other.parents.remove(group.pk)  # authentik-observed.md §10: children lose it
            del self.groups[group.pk]

    def group_by_name(self, name: str) -> Group | None:
        with self.lock:
            return next((g for g in self.groups.values() if g.name == name), None)

    def ancestors(self, group_pks: Iterable[uuid.UUID]) -> list[Group]:
        """The groups plus all their ancestors (``User.all_groups()``, authentik-api.md §2.6)."""
        seen: dict[uuid.UUID, Group] = {}
        stack = list(group_pks)
        while stack:
            pk = stack.pop()
            if pk in seen or pk not in self.groups:
                continue
            seen[pk] = self.groups[pk]
            stack.extend(self.groups[pk].parents)
        return list(seen.values())

    def is_superuser(self, user: User) -> bool:
        return any(g.is_superuser for g in self.ancestors(user.groups))

    def children(self, group: Group) -> list[Group]:
        return [g for g in self.groups.values() if group.pk in g.parents]

    # ---- tokens and permissions --------------------------------------------------------------

    def new_token(self, user: User, key: str | None = None, expires: datetime | None = None) -> str:
        with self.lock:
            key = key or "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(60))
            self.tokens[key] = Token(key=key, user_pk=user.pk, expires=expires)
            return key

    def token_user(self, key: str) -> User | None:
        """The active owner of a valid, unexpired API token, or None (authentik-api.md §2.1)."""
        with self.lock:
            token = self.tokens.get(key)
            if token is None or (token.expires is not None and token.expires <= self.clock()):
                return None
            user = self.users.get(token.user_pk)
            if user is None or not user.is_active:
                return None
            return user

    def has_perm(self, user: User, perm: str) -> bool:
        if self.is_superuser(user):
            return True
        return perm in user.permissions

    # ---- recovery ----------------------------------------------------------------------------

    def recovery_token(self, user: User) -> str:
        """Same token on a repeated call (FlowToken update_or_create, authentik-observed.md §8)."""
        with self.lock:
            if user.pk not in self.recovery_tokens:
                alphabet = string.ascii_letters + string.digits
                self.recovery_tokens[user.pk] = "".join(secrets.choice(alphabet) for _ in range(60))
            return self.recovery_tokens[user.pk]

    def touch(self, user: User) -> None:
        user.last_updated = self.clock()
