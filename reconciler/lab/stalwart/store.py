"""The v0.15 internal directory: principals, name and e-mail indexes, word index, settings.

State per stalwart-api.md §12: principals by lower-case name (unique across types), numeric ids,
a lower-case e-mail index (unique across types), memberships and a settings map (``signature.*``,
``report.domain``). What the wire never shows but the lab must know (whether a principal was copied
in from LDAP, and every write that touched it) is kept here too, so tests can prove that reconciler
never changed an LDAP mirror.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

BUILTIN_ROLES = ("admin", "tenant-admin", "user")
TYPES = ("individual", "group", "resource", "location", "list", "tenant", "role", "domain",
         "apiKey", "oauthClient", "other")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SIG_KEY = re.compile(r"(.+)\.(private-key|domain|selector|algorithm|canonicalization|report|expire|auid|"
                      r"third-party|third-party-algo|headers\.\d+)$")


def words(text: str) -> set[str]:
    """Lower-cased alphanumeric tokens, as the v0.15 principal index stores them (§5.1)."""
    return {w.lower() for w in _WORD.findall(text)}


@dataclass
class Principal:
    id: int
    name: str
    type: str
    description: str | None = None
    quota: int | None = None  # None = unset (omitted on output)
    used_quota: int = 0
    password: str | None = None
    otp: str | None = None
    app_passwords: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)  # primary first
    member_of: list[int] = field(default_factory=list)  # groups, lists and custom roles this one is in
    roles: list[str] = field(default_factory=list)  # built-in role names
    enabled_permissions: list[str] = field(default_factory=list)
    disabled_permissions: list[str] = field(default_factory=list)
    picture: str | None = None
    locale: str | None = None
    urls: list[str] = field(default_factory=list)
    external_members: list[str] = field(default_factory=list)
    origin: str = "internal"  # "internal" | "ldap" (copied in on first login; invisible on the wire)

    def secrets(self) -> list[str]:
        # Output order: OTP, password, app passwords sorted (stalwart-api.md §4).
        out = [self.otp] if self.otp else []
        if self.password is not None:
            out.append(self.password)
        return out + sorted(self.app_passwords)

    def index_words(self) -> set[str]:
        found = words(self.name)
        if self.description:
            found |= words(self.description)
        for email in self.emails:
            found |= words(email)
        return found


@dataclass
class WriteRecord:
    op: str  # "create" | "update" | "delete" | "ldap-sync"
    principal_id: int
    name: str
    via: str  # who wrote: "api" or "lab"


class Directory:
    """The internal store. Callers hold :attr:`lock` across a read-validate-write sequence."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.principals: dict[int, Principal] = {}
        self.by_name: dict[str, int] = {}
        self.by_email: dict[str, int] = {}
        self.settings: dict[str, str] = {}
        self.writes: list[WriteRecord] = []
        self._next_id = 0

    # --- lookups -------------------------------------------------------------------------------
    def get(self, name: str) -> Principal | None:
        pid = self.by_name.get(name)
        return self.principals.get(pid) if pid is not None else None

    def owner_of(self, email: str) -> Principal | None:
        pid = self.by_email.get(email)
        return self.principals.get(pid) if pid is not None else None

    def members_of(self, pid: int) -> list[Principal]:
        return sorted((p for p in self.principals.values() if pid in p.member_of), key=lambda p: p.id)

    def domain_address_count(self, domain: str) -> int:
        return sum(1 for e in self.by_email if e.rsplit("@", 1)[-1] == domain and "@" in e)

    def signatures(self) -> dict[str, dict[str, str]]:
        """`signature.<id>.<key>` settings grouped by id (ids may contain dots: rsa-namgun.or.kr)."""
        out: dict[str, dict[str, str]] = {}
        for key, value in self.settings.items():
            if not key.startswith("signature."):
                continue
            rest = key[len("signature."):]
            match = _SIG_KEY.match(rest)
            if match:
                out.setdefault(match.group(1), {})[match.group(2)] = value
        return out

    # --- writes --------------------------------------------------------------------------------
    def next_id(self) -> int:
        pid = self._next_id
        self._next_id += 1
        return pid

    def insert(self, principal: Principal, via: str = "api") -> None:
        self.principals[principal.id] = principal
        self.by_name[principal.name] = principal.id
        for email in principal.emails:
            self.by_email[email] = principal.id
        self.writes.append(WriteRecord("create", principal.id, principal.name, via))

    def replace(self, old: Principal, new: Principal, via: str = "api", op: str = "update") -> None:
        if old.name != new.name:
            del self.by_name[old.name]
            self.by_name[new.name] = new.id
        for email in old.emails:
            if self.by_email.get(email) == old.id:
                del self.by_email[email]
        for email in new.emails:
            self.by_email[email] = new.id
        self.principals[new.id] = new
        self.writes.append(WriteRecord(op, new.id, new.name, via))

    def remove(self, principal: Principal, via: str = "api") -> None:
        del self.principals[principal.id]
        del self.by_name[principal.name]
        for email in principal.emails:
            if self.by_email.get(email) == principal.id:
                del self.by_email[email]
        for other in self.principals.values():
            if principal.id in other.member_of:
                other.member_of = [m for m in other.member_of if m != principal.id]
        self.writes.append(WriteRecord("delete", principal.id, principal.name, via))

    def writes_to(self, name: str, via: str = "api") -> list[WriteRecord]:
        return [w for w in self.writes if w.name == name and w.via == via]
