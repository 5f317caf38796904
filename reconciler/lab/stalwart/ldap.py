"""The organisation's LDAP (Authentik's LDAP outpost) as Stalwart sees it, and the copying-in.

Under ``storage.directory = "ldap"`` (v0.15, stalwart-api.md §9, code-derived):

- an LDAP user who logs in is copied into the internal store (``get_or_create_principal_id``) with
  role ``user``; missing ``domain`` principals for their addresses are auto-created with the domain
  as description (``validate_email(create_if_missing)``, ``manage.rs`` v0.15.5);
- every later lookup overwrites description, quota, password, primary e-mail, memberOf and roles that
  LDAP supplies (``Principal::update_external``); internal aliases survive.

The mirror is an ordinary principal on the wire; only the lab knows its origin, so tests can prove
reconciler never wrote to one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .passwords import verify_secret
from .store import Directory, Principal


@dataclass
class LdapUser:
    uid: str
    password_hash: str  # what the LDAP bind is checked against (never a plaintext in the lab)
    email: str
    description: str | None = None
    aliases: list[str] = field(default_factory=list)


class LdapDirectory:
    """A stand-in for the LDAP server: binds and attribute lookups. `up=False` models an outage."""

    def __init__(self) -> None:
        self.users: dict[str, LdapUser] = {}
        self.up = True
        self._lock = threading.Lock()

    def add(self, user: LdapUser) -> None:
        with self._lock:
            self.users[user.uid.lower()] = user

    def bind(self, uid: str, secret: str) -> LdapUser | None:
        with self._lock:
            user = self.users.get(uid)
        if not self.up or user is None:
            return None
        return user if verify_secret(user.password_hash, secret) else None


def copy_in(directory: Directory, user: LdapUser) -> Principal:
    """First login or later lookup of an LDAP user: create or refresh its mirror (lab-side write)."""
    with directory.lock:
        emails = [user.email.lower(), *[a.lower() for a in user.aliases]]
        for email in emails:
            domain = email.rsplit("@", 1)[1]
            if directory.get(domain) is None:
                directory.insert(Principal(id=directory.next_id(), name=domain, type="domain",
                                           description=domain), via="lab")
        existing = directory.get(user.uid.lower())
        if existing is None:
            mirror = Principal(id=directory.next_id(), name=user.uid.lower(), type="individual",
                               description=user.description, password=user.password_hash,
                               emails=[e for e in emails if e not in directory.by_email],
                               roles=["user"], origin="ldap")
            directory.insert(mirror, via="lab")
            return mirror
        refreshed = Principal(**{**existing.__dict__})
        refreshed.description = user.description
        refreshed.password = user.password_hash
        refreshed.roles = ["user"]
        aliases = [e for e in existing.emails[1:] if e != emails[0]]
        refreshed.emails = [emails[0], *aliases]
        directory.replace(existing, refreshed, via="lab", op="ldap-sync")
        return refreshed
