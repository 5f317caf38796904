"""The lab's Authentik: a loopback emulator of ``/api/v3/core/users/`` and ``/core/groups/``.

Built from ../shared/reference/authentik-api.md and authentik-observed.md; see ``server.AuthentikLab``.
"""

from reconciler.lab.authentik.seed import SeedInfo, seed_today
from reconciler.lab.authentik.server import AuthentikLab, html_fault
from reconciler.lab.authentik.service import start_lab
from reconciler.lab.authentik.store import AuthentikStore
from reconciler.lab.authentik.versions import SUPPORTED, AuthentikVersion, Switches

__all__ = ["SUPPORTED", "AuthentikLab", "AuthentikStore", "AuthentikVersion", "SeedInfo", "Switches",
           "html_fault", "seed_today", "start_lab"]
