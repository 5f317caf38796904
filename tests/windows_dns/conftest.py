"""Fixtures: the Windows DNS lab on loopback and a provider pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config import Target
from reconciler.lab.windows_dns.dnsserver import Behaviour
from reconciler.lab.windows_dns.service import WindowsDnsService, start_lab
from reconciler.providers.windows_dns.provider import WindowsDnsProvider

ZONE = "namgun.or.kr"
# a 410-character DKIM record like the organisation's; the lab seeds it cut at 255 (issue 2)
KEY = ("v=DKIM1; k=rsa; p="
       "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmh6OuhvbNdZZ/HLPFf8k+Yvas098M0pPOTCvQG"
       "ZfKin0E/0M1uaIht0ThZaNM6kgY/hm9SNH8Fj+Vy6+wuUKCnPQUw1Zvd5GUrAnwTEggL0KjDwxFc6ltbefqrbwBuzKa3sw2CIWYI"
       "Nb6D0d06LUbemo2xRyT08Xg9RpS3TiCLlWRXNlqUxzls7PDbXObu44+7Mba0NyOobnmfOx37f14HPrQtx/nFdLwcTjfOKM3yacN6"
       "+kTUSH2ihXwvRFcnd/DQtwk27jTI4DptnEA5AsSf+baLfxW2iLB/iFfH9tynX5N973SGQXvhcqhAJKi0GFGmKmS14bbzZzAxZV4BKiRQIDAQAB")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[WindowsDnsService]:
    desired = tmp_path / "desired"
    (desired / "dns").mkdir(parents=True)
    (desired / "dns" / f"{ZONE}.yaml").write_text(yaml.safe_dump(
        {"zone": ZONE, "records": {"default._domainkey": {"type": "TXT", "value": KEY}}}), "utf-8")
    svc = start_lab(tmp_path / "lab", desired=desired, behaviour=Behaviour())
    try:
        yield svc
    finally:
        svc.stop()


ProviderFactory = Callable[..., WindowsDnsProvider]


@pytest.fixture
def provider(lab: WindowsDnsService) -> Iterator[ProviderFactory]:
    made: list[WindowsDnsProvider] = []

    def make(**overrides: Any) -> WindowsDnsProvider:
        options = {k: v for k, v in lab.target.items() if k != "kind"}
        options.update(overrides)
        prov = WindowsDnsProvider(Target("dc1", "windows_dns", options, {"purge": False}, "reconciler.yaml:3"))
        made.append(prov)
        return prov

    yield make
    for prov in made:
        prov.close()
