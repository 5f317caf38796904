"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from . import permissions


@dataclass(frozen=True)
class Identity:
    name: str
    permissions: frozenset[str]
    kind: str  # "fallback-admin" | "api-key" | "account"

    @property
    def is_admin(self) -> bool:
        return self.permissions >= permissions.ALL_SET

    def has(self, permission: str) -> bool:
        return permission in self.permissions


FALLBACK_ADMIN_PERMISSIONS = permissions.ALL_SET | permissions.V016_SYS
