"""The lab's Stalwart emulator: v0.15 REST `/api/principal` and v0.16+ JMAP `/jmap` on loopback.

Entry points: :class:`StalwartLab` (a server), :class:`StalwartLabConfig` (its settings) and
:func:`seeded_lab` (today's state of the organisation's mail server).
"""

from .seed import DKIM_ID, DKIM_SELECTOR, DOMAIN, LDAP_PEOPLE, SeedSecrets, seed_today, seeded_lab
from .server import VERSIONS, StalwartLab, StalwartLabConfig
from .service import start_lab

__all__ = ["DKIM_ID", "DKIM_SELECTOR", "DOMAIN", "LDAP_PEOPLE", "VERSIONS", "SeedSecrets", "StalwartLab",
           "StalwartLabConfig", "seed_today", "seeded_lab", "start_lab"]
