"""What both adapters read from a server, in one shape, and the ownership marker.

Each API generation has its own wire form (v0.15 principals, v0.16 registry objects); the adapters
turn both into these records so the provider compares, plans and verifies the same way on either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Ownership marker: appended to the description of everything reconciler creates or adopts, and
# read back to tell reconciler's principals from hand-made ones and LDAP copies (stalwart-api.md §9:
# "touch only principals it owns (names in git and/or a description marker)").
MARKER = "[managed by reconciler]"


def split_marker(description: str | None) -> tuple[str, bool]:
    text = description or ""
    if text.endswith(MARKER):
        return text[: -len(MARKER)].rstrip(), True
    return text, False


def with_marker(description: str) -> str:
    return f"{description} {MARKER}" if description else MARKER


@dataclass
class LiveDomain:
    name: str
    description: str | None
    server_id: str


@dataclass
class LiveAccount:
    name: str
    type: str  # "individual" | "list" | "group"
    description: str | None
    emails: list[str]  # primary first
    roles: list[str]
    member_of: list[str]
    members: list[str]
    quota: int | None
    server_id: str
    password_hash: str | None = None  # v0.15 only: the stored hash (never printed)
    has_password: bool = False


@dataclass
class LiveDkim:
    id: str  # v0.15 signature id; v0.16 the derived `{algorithm}-{domain}` name
    algorithm: str  # "rsa" | "ed25519"
    domain: str
    selector: str
    server_id: str
    stage: str = "active"


@dataclass
class Snapshot:
    generation: str  # "v0.15" | "v0.16"
    domains: dict[str, LiveDomain] = field(default_factory=dict)
    accounts: dict[str, LiveAccount] = field(default_factory=dict)
    dkim: dict[str, LiveDkim] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    requests: int = 0


def canonical_emails(emails: list[str]) -> list[str]:
    """Primary first, aliases sorted: the server returns aliases sorted (stalwart-api.md §4)."""
    lowered = [e.strip().lower() for e in emails]
    if not lowered:
        return []
    rest = sorted(set(lowered[1:]) - {lowered[0]})
    return [lowered[0], *rest]
