"""A real BIND 9 for the RFC 2136 tests: zones and a TSIG key in tmp_path, `named -g` on 127.0.0.1.

Skipped only when `named` is not installed here; CI installs it with .ci/bind.sh, so there the
tests run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from .bindserver import SKIP_REASON, BindServer, Zone, named_binary

ZONE = "namgun.or.kr"
REVERSE = "2.0.192.in-addr.arpa"
REPORTS = "reports.example"

# What the server holds before the reconciler runs: some of it drifted from desired/, some of it
# never managed (SOA, an AD-style name, a type the model does not cover, an undeclared old host).
SEED = [
    "@ 3600 IN MX 10 mail",
    '@ 3600 IN TXT "v=spf1 mx -all"',
    "www 3600 IN A 192.0.2.10",
    "mail 3600 IN A 192.0.2.25",
    "old 3600 IN A 192.0.2.99",
    '_dmarc 3600 IN TXT "v=DMARC1; p=none"',
    "_ldap._tcp.dc._msdcs 600 IN SRV 0 100 389 dc1",
    "dc1 600 IN A 192.0.2.5",
    "host 3600 IN SSHFP 1 1 dd465c09cfa51fb45020cc83316fff21b9ec74ac",
]
REVERSE_SEED = ["25 3600 IN PTR mail.namgun.or.kr."]
REPORTS_SEED = ["@ 3600 IN MX 10 mx.reports.example.", "mx 3600 IN A 192.0.2.80"]


def default_zones() -> list[Zone]:
    return [Zone(ZONE, list(SEED)), Zone(REVERSE, list(REVERSE_SEED)), Zone(REPORTS, list(REPORTS_SEED))]


@pytest.fixture
def bind_factory(tmp_path: Path) -> Iterator[Callable[..., BindServer]]:
    if named_binary() is None:
        if os.environ.get("CI"):  # CI runs .ci/bind.sh first: a missing named there is a failure
            pytest.fail("named is missing although CI is set: .ci/bind.sh should have installed BIND 9")
        pytest.skip(SKIP_REASON)
    started: list[BindServer] = []

    def start(zones: list[Zone] | None = None, name: str = "bind", **kw: object) -> BindServer:
        server = BindServer(tmp_path / name, zones if zones is not None else default_zones(), **kw)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def bind(bind_factory: Callable[..., BindServer]) -> BindServer:
    return bind_factory()


def write_config(tmp_path: Path, targets: dict[str, dict], *, desired: str = "desired") -> Path:
    config = tmp_path / "reconciler.yaml"
    config.write_text(yaml.safe_dump({"desired": desired, "state_dir": "state", "targets": targets},
                                     allow_unicode=True, sort_keys=False), "utf-8")
    return config


def write_zone(tmp_path: Path, zone: str, records: dict, *, desired: str = "desired") -> Path:
    folder = tmp_path / desired / "dns"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{zone}.yaml"
    path.write_text(yaml.safe_dump({"zone": zone, "records": records}, allow_unicode=True, sort_keys=False,
                                   width=10_000), "utf-8")
    return path
