"""The organisation's Authentik as it is today (issue 3, "What a user sees"), for tests and the demo.

- ``namgun18`` and ``administrator`` exist and have set a password;
- ``tsha``, ``nahee14`` and ``kkb`` exist but never got a usable password (the incident): their
  ``password_change_date`` is still their creation time (authentik-observed.md §7);
- ``olduser`` is an old account that is not in git;
- groups ``mail-users`` and ``authentik Admins`` (superuser); ``administrator`` is in both (an
  administrator reads mail too), everyone else in ``mail-users``. reconciler never changes a
  superuser (providers/authentik/guards.py), so git can only declare ``administrator`` as it is;
- a ``reconciler`` service account whose API token lacks the superuser-group permissions, and the
  LDAP outpost's internal service account (authentik-api.md §2.4), as a real install has.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reconciler.lab.authentik.store import ALL_PERMISSIONS, AuthentikStore

ADMINS_GROUP = "authentik Admins"
MAIL_GROUP = "mail-users"
RECOVERY_FLOW = "default-recovery-flow"

# The reconciler's own account: everything it needs, not the superuser-group or role permissions.
RECONCILER_PERMISSIONS = ALL_PERMISSIONS - {"enable_group_superuser", "disable_group_superuser",
                                            "change_role"}

# username, display name, local part of the email, has set a password
PEOPLE: tuple[tuple[str, str, bool], ...] = (
    ("administrator", "관리자", True),
    ("namgun18", "남근", True),
    ("tsha", "하태수", False),
    ("nahee14", "나희", False),
    ("kkb", "김경본", False),
    ("olduser", "박예전", True),
)


@dataclass(frozen=True)
class SeedInfo:
    """What a test or the demo needs to talk to the seeded lab. Token keys are lab-only secrets."""

    domain: str
    admin_token: str  # administrator's token: superuser through "authentik Admins"
    reconciler_token: str  # service account: no enable_group_superuser / change_role
    no_permission_token: str  # namgun18's own token: authenticated, no model permissions
    email_stage: uuid.UUID
    admins_group: uuid.UUID
    mail_group: uuid.UUID


def seed_today(store: AuthentikStore, *, domain: str = "namgun.or.kr",
               start: datetime | None = None) -> SeedInfo:
    """Fill an empty store with today's state. ``start`` is when the install was set up."""
    start = start or datetime(2024, 3, 4, 9, 30, 12, 118734, tzinfo=UTC)
    admins = store.new_group(ADMINS_GROUP, is_superuser=True)
    mail = store.new_group(MAIL_GROUP)
    outpost = store.new_user("ak-outpost-ldap", "Outpost ldap Service-Account",
                             when=start + timedelta(minutes=20), path="goauthentik.io/outposts",
                             type="internal_service_account")
    for index, (username, name, has_password) in enumerate(PEOPLE):
        joined = start + timedelta(days=3 * index, hours=index, microseconds=index * 7919)
        user = store.new_user(username, name, when=joined, email=f"{username}@{domain}")
        store.set_user_groups(user, [admins.pk, mail.pk] if username == "administrator" else [mail.pk])
        if has_password:
            # the person chose a password some days later (lab-only value, never reused anywhere)
            store.set_password(user, uuid.uuid4().hex, when=joined + timedelta(days=2, minutes=index))
        user.last_updated = joined + timedelta(days=2, minutes=index, seconds=1)
    robot = store.new_user("reconciler", "reconciler", when=start + timedelta(days=30),
                           path="goauthentik.io/service-accounts", type="service_account",
                           attributes={"goauthentik.io/user/token-expires": False},
                           permissions=RECONCILER_PERMISSIONS)
    outpost.last_updated = outpost.date_joined + timedelta(seconds=1)
    robot.last_updated = robot.date_joined + timedelta(seconds=1)
    store.recovery_flow_slug = RECOVERY_FLOW
    stage = uuid.uuid4()
    store.email_stages.add(stage)
    admin = store.user_by_username("administrator")
    person = store.user_by_username("namgun18")
    assert admin is not None and person is not None
    return SeedInfo(domain=domain, admin_token=store.new_token(admin),
                    reconciler_token=store.new_token(robot),
                    no_permission_token=store.new_token(person), email_stage=stage,
                    admins_group=admins.pk, mail_group=mail.pk)
