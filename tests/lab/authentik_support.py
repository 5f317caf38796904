"""Helpers shared by the Authentik lab tests: a started, seeded lab and clients bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import authentik_client as ak
import requests

from reconciler.lab.authentik import AuthentikLab, SeedInfo, Switches, seed_today

VERSIONS = ("2025.10.4", "2026.2.7")  # before and after every version difference the lab models


@dataclass
class Running:
    lab: AuthentikLab
    seed: SeedInfo

    def api(self, token: str | None = None) -> ak.CoreApi:
        cfg = ak.Configuration(host=self.lab.api_url, access_token=token or self.seed.admin_token)
        return ak.CoreApi(ak.ApiClient(cfg))

    def http(self, method: str, path: str, who: str | None = "admin", **kwargs: object
             ) -> requests.Response:
        """A raw request; ``who`` is "admin" (the admin token), None (no header) or a token key."""
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if who == "admin":
            headers.setdefault("Authorization", f"Bearer {self.seed.admin_token}")
        elif who is not None:
            headers.setdefault("Authorization", f"Bearer {who}")
        return requests.request(method, self.lab.api_url + path, headers=headers, timeout=10,
                                **kwargs)  # type: ignore[arg-type]


@contextmanager
def running(version: str, switches: Switches | None = None, latency: float = 0.0) -> Iterator[Running]:
    lab = AuthentikLab(version, switches=switches, latency=latency)
    seed = seed_today(lab.store)
    with lab:
        yield Running(lab, seed)
