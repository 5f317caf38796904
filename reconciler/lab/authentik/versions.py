"""What differs between the Authentik releases the lab can pretend to be.

One ``AuthentikVersion`` is chosen when the lab starts (``AuthentikLab(version="2025.10.4")``).
Every behaviour that changed between 2025.10 and 2026.x is a property here, with its source, so the
server code asks ``version.has_roles`` instead of comparing version strings all over the place.
Facts the reference sheets mark (unverified) are separate ``Switches`` a test can flip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUPPORTED = ("2025.10.4", "2025.12.6", "2026.2.7", "2026.5.8", "2026.8.5")


def _parse(name: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"(\d{4})\.(\d{1,2})(?:\.(\d+))?", name)
    if not match:
        raise ValueError(f"not an Authentik version: {name!r} (expected e.g. 2025.10.4)")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True)
class Switches:
    """Behaviour the reference marks (unverified): a test can choose either side."""

    # authentik-api.md §2.3: on 2025.12+ an invalid page_size falls back to DRF's PAGE_SIZE (100)
    # before PR #18879, to the tenant default (20) after it; which release has which is unverified.
    invalid_page_size_uses_settings_default: bool = True
    # authentik-api.md §2.5: CVE-2026-40172 fix; the refusal's text is unverified. It is raised from
    # UserSerializer.validate_groups, so it lands under the "groups" key of a 400.
    superuser_group_refusal: str = "User does not have permission to add members to superuser groups."
    # Whether that check covers superuser groups the user is already in (a PATCH that keeps them)
    # or only ones being added: unverified; default = only additions.
    superuser_check_all_listed: bool = False
    # authentik-api.md §2.6: whether add_user checks the superuser permission is unverified
    # (third-party: none does); default follows the third-party reading.
    add_user_checks_superuser: bool = False


@dataclass(frozen=True)
class AuthentikVersion:
    """Release-dependent behaviour. Sources are the sections of the two Authentik reference sheets."""

    name: str = "2025.10.4"

    @property
    def parts(self) -> tuple[int, int, int]:
        return _parse(self.name)

    def at_least(self, year: int, minor: int, patch: int = 0) -> bool:
        return self.parts >= (year, minor, patch)

    # authentik-api.md §2.3, authentik-observed.md §1: 2025.10 default 100 and no maximum;
    # 2025.12+ tenant default 20 and maximum 100 (migration 0007, PR #18165).
    @property
    def default_page_size(self) -> int:
        return 20 if self.at_least(2025, 12) else 100

    @property
    def max_page_size(self) -> int | None:
        return 100 if self.at_least(2025, 12) else None

    # authentik-api.md §1.4/§1.6: roles on users, many parents on groups from 2025.12.
    @property
    def has_roles(self) -> bool:
        return self.at_least(2025, 12)

    @property
    def group_parents_many(self) -> bool:
        return self.at_least(2025, 12)

    # authentik-api.md §1.4: last_login filters from 2026.2.
    @property
    def last_login_filters(self) -> bool:
        return self.at_least(2026, 2)

    # authentik-api.md §1.4: recovery_email reads email_stage from the query up to 2025.12 and from
    # a JSON body from 2026.2; recovery accepts an optional {token_duration} body from 2026.2.
    @property
    def recovery_email_stage_in_body(self) -> bool:
        return self.at_least(2026, 2)

    # authentik-observed.md §8 (2025.10 text) vs authentik-api.md §2.7 (2026.x text).
    @property
    def email_stage_missing_text(self) -> str:
        return "Email stage not found." if self.at_least(2026, 2) else "Email stage does not exist."

    # authentik-api.md §1.4: set_password_hash from 2026.5.
    @property
    def has_set_password_hash(self) -> bool:
        return self.at_least(2026, 5)

    # authentik-api.md §2.5: CVE-2026-40172 fixed in 2025.12.5 and 2026.2.3.
    @property
    def superuser_group_check(self) -> bool:
        year, minor, patch = self.parts
        if (year, minor) == (2025, 12):
            return patch >= 5
        if (year, minor) == (2026, 2):
            return patch >= 3
        return self.at_least(2026, 2)

    # authentik-api.md §2.4: 2026.x orders users only by username, date_joined, last_updated,
    # last_login; authentik-observed.md §2 saw pk and email honoured on 2025.10 (inferred boundary).
    @property
    def user_ordering_fields(self) -> frozenset[str]:
        if self.at_least(2026, 2):
            return frozenset({"username", "date_joined", "last_updated", "last_login"})
        return frozenset({"pk", "username", "name", "email", "date_joined", "last_updated",
                          "last_login", "is_active", "path", "type", "uuid"})
