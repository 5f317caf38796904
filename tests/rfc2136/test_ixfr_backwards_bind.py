"""A zone whose serial went backwards (restored from a backup, re-created): BIND answers an IXFR from
the serial held with its SOA alone; the provider must read the zone again by AXFR at once, not wait
for more messages until the timeout (found by an attacker's review of the transfer reader)."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.config import Target
from reconciler.providers.base import Scope
from reconciler.providers.rfc2136 import create

from .bindserver import BindServer, Zone

ZONE = "back.test"


def test_ixfr_from_a_serial_the_server_never_reached_falls_back_to_axfr(
        bind_factory: Callable[..., BindServer]) -> None:
    server = bind_factory([Zone(ZONE, ["www 300 IN A 192.0.2.1"])])
    options = {k: v for k, v in server.target(zones=[ZONE], timeout=5).items() if k != "kind"}
    provider = create(Target("bind-lab", "rfc2136", options, {}, "test"))
    try:
        provider.read(Scope([], zones={ZONE}))
        provider.zones[ZONE].serial += 1000  # as if read before the zone went back 1000 versions
        started = time.monotonic()
        live = provider.read(Scope([], zones={ZONE}))
        seconds = time.monotonic() - started
    finally:
        provider.close()
    assert seconds < 3  # not the 5 s timeout
    assert any(r.key == (ZONE, "www", "A") for r in live.resources.values())
    assert provider.stats["ixfr"] == 0 and provider.stats["axfr"] == 2  # the read, then the fallback
