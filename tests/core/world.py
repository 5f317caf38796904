"""A small world for engine and CLI tests: a tmp config and desired tree, two in-memory DNS servers.

`world` (a fixture, registered in conftest.py) points `windows_dns` and `stalwart` targets at
tests/core/fakeprovider.py through `reconciler.providers.base.REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler import cli
from reconciler import config as configmod
from reconciler.audit import AuditLog
from reconciler.desired import loader
from reconciler.engine import Engine
from reconciler.model import dns as m
from reconciler.model.resource import Resource
from reconciler.providers import base

from . import fakeprovider
from .fakeprovider import FakeServer

SECRET = "Sekrit-남근-4242-pw"  # a value that must never show up anywhere
ZONE, OTHER = "namgun.or.kr", "other.kr"

CONFIG = """\
desired: desired
audit_log: state/audit.jsonl
state_dir: state
lock: {wait: 5}
targets:
  dc1: {kind: windows_dns, address: fake-dc1, zones: [namgun.or.kr], password: env:CORE_FAKE_PASSWORD}
  dc2: {kind: windows_dns, address: fake-dc2, zones: [other.kr], password: env:CORE_FAKE_PASSWORD}
"""

ZONE_YAML = """\
records:
  '@':
    - type: MX
      value: {preference: 10, exchange: mail}
    - type: TXT
      value: v=spf1 ip4:211.244.144.69 mx ~all
  mail:
    - {type: A, value: 211.244.144.69}
    - {type: TXT, value: v=spf1 a -all}
  _dmarc: {type: TXT, value: 'v=DMARC1; p=quarantine; rua=mailto:postmaster@namgun.or.kr'}
  메일: {type: CNAME, value: mail}
"""

OTHER_YAML = """\
records:
  www: {type: A, value: 10.0.0.1}
  api: {type: A, value: 10.0.0.2}
"""


@dataclass
class World:
    root: Path
    config: Path
    dc1: FakeServer
    dc2: FakeServer

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.root / "state" / "audit.jsonl")

    def desired(self) -> loader.DesiredState:
        state = loader.load(self.root / "desired")
        assert state.ok, [str(d) for d in state.diagnostics]
        return state

    def sync(self) -> None:
        """Make both servers hold exactly the desired records."""
        for res in self.desired().resources:
            (self.dc1 if res.key[0] == ZONE else self.dc2).put(Resource(res.kind, res.key, dict(res.data)))

    def engine(self) -> Engine:
        cfg = configmod.load(self.config)
        return Engine(cfg, self.desired(), audit=self.audit)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setitem(base.REGISTRY, "windows_dns", "tests.core.fakeprovider:create")
    monkeypatch.setitem(base.REGISTRY, "stalwart", "tests.core.fakeprovider:create")
    servers = {"fake-dc1": FakeServer(password=SECRET), "fake-dc2": FakeServer(password=SECRET),
               "fake-mail": FakeServer(password=SECRET)}
    monkeypatch.setattr(fakeprovider, "SERVERS", servers)
    monkeypatch.setenv("CORE_FAKE_PASSWORD", SECRET)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desired" / "dns").mkdir(parents=True)
    (tmp_path / "desired" / "dns" / f"{ZONE}.yaml").write_text(ZONE_YAML, "utf-8")
    (tmp_path / "desired" / "dns" / f"{OTHER}.yaml").write_text(OTHER_YAML, "utf-8")
    config = tmp_path / "reconciler.yaml"
    config.write_text(CONFIG, "utf-8")
    yield World(tmp_path, config, servers["fake-dc1"], servers["fake-dc2"])


def run(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["--no-color", "-c", str(world.config), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rr(zone: str, name: str, rtype: str, *values: str, ttl: int = 3600, **meta: str) -> Resource:
    return Resource(m.KIND, (zone, name, rtype), m.rrset_data(ttl, list(values)), dict(meta))


def events(world: World) -> list[dict[str, object]]:
    return world.audit.entries()


