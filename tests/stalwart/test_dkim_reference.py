"""DKIM in DNS by reference (issue 4 part 4): the engine asks Stalwart for the key at plan time.

The DNS side is a small stand-in provider that serves one zone and records what it is asked to
publish; the Stalwart side is the real provider against the lab, on both API generations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import requests
import yaml

from reconciler import config as configmod
from reconciler.config import Target
from reconciler.desired import loader
from reconciler.engine import Engine, EngineError
from reconciler.model.resource import Ref, Resource
from reconciler.providers.base import BaseProvider, ChangeResult, LiveState, Scope
from reconciler.providers.stalwart import StalwartProvider

from .support import Setup

ZONE = """\
zone: namgun.or.kr
records:
  default._domainkey:
    type: TXT
    value: {from: stalwart, dkim: rsa-namgun.or.kr}
"""


class ZoneStandIn(BaseProvider):
    """Serves dns.rrset of one zone; live holds yesterday's key, cut at 255 characters."""

    kinds = ("dns.rrset",)
    live_value = "v=DKIM1; k=rsa; p=" + "A" * 237

    def read(self, scope: Scope, progress=None) -> LiveState:  # type: ignore[no-untyped-def,override]
        state = LiveState(target=self.name)
        state.add(Resource("dns.rrset", ("namgun.or.kr", "default._domainkey", "TXT"),
                           {"ttl": 3600, "values": [self.live_value]}))
        return state

    def apply(self, changes: Sequence, progress=None) -> list[ChangeResult]:  # type: ignore[no-untyped-def,override]
        return [ChangeResult(c.id, True) for c in changes]


def _engine(setup: Setup, tmp_path: Path) -> Engine:
    desired = tmp_path / "desired"
    (desired / "dns").mkdir(parents=True, exist_ok=True)
    (desired / "dns" / "namgun.or.kr.yaml").write_text(ZONE, "utf-8")
    target = dict(setup.service.target)
    text = yaml.safe_dump({"desired": str(desired), "state_dir": str(tmp_path / "state"), "targets": {
        "mail": target, "dns": {"kind": "rfc2136", "server": "127.0.0.1", "zones": ["namgun.or.kr"]}}})
    cfg = configmod.from_text(text, tmp_path / "reconciler.yaml")
    state = loader.load(desired, check_secrets=False)
    assert state.ok, [str(d) for d in state.diagnostics.errors]

    def factory(target: Target):  # type: ignore[no-untyped-def]
        return StalwartProvider(target) if target.kind == "stalwart" else ZoneStandIn(target)

    return Engine(cfg, state, provider_factory=factory)


def _server_record(setup: Setup) -> str:
    auth = {"Authorization": "Bearer " + setup.service.seeds.bearer()}  # type: ignore[attr-defined]
    records = requests.get(setup.lab.url + "/api/dns/records/namgun.or.kr", headers=auth, timeout=5).json()["data"]
    return next(r["content"] for r in records if r["name"] == "default._domainkey.namgun.or.kr.")


def test_plan_publishes_stalwarts_own_record_and_follows_rotation(v015: Setup, tmp_path: Path) -> None:
    engine = _engine(v015, tmp_path)
    plan, _ = engine.plan()
    (change,) = [c for c in plan.changes if c.kind == "dns.rrset"]
    assert change.after is not None and change.after.data["values"] == [_server_record(v015)]
    assert change.after.meta["resolved_from"] == [str(Ref("stalwart", "dkim", "rsa-namgun.or.kr"))]
    engine.close()
    # rotate the key in the mail server: the next plan carries the new key
    auth = {"Authorization": "Bearer " + v015.service.seeds.bearer()}  # type: ignore[attr-defined]
    requests.post(v015.lab.url + "/api/settings", headers=auth, timeout=5,
                  json=[{"type": "clear", "prefix": "signature.rsa-namgun.or.kr."}])
    requests.post(v015.lab.url + "/api/dkim", headers=auth, timeout=5,
                  json={"id": "rsa-namgun.or.kr", "algorithm": "Rsa", "domain": "namgun.or.kr", "selector": "default"})
    plan2, _ = _engine(v015, tmp_path / "again").plan()
    (change2,) = [c for c in plan2.changes if c.kind == "dns.rrset"]
    assert change2.after is not None
    assert change2.after.data["values"] == [_server_record(v015)] != change.after.data["values"]


def test_v016_resolves_by_algorithm_and_domain(v016: Setup, tmp_path: Path) -> None:
    engine = _engine(v016, tmp_path)
    plan, _ = engine.plan()
    (change,) = [c for c in plan.changes if c.kind == "dns.rrset"]
    value = change.after.data["values"][0]  # type: ignore[union-attr]
    assert value.startswith("v=DKIM1; k=rsa; h=sha256; p=MIIBIjAN")
    zone = v016.lab.state.registry.render("Domain", 0)["dnsZoneFile"]
    assert value.split("p=")[1] in zone  # the same key the server's own zone file publishes


def test_unknown_signature_is_a_plan_error(v015: Setup, tmp_path: Path) -> None:
    engine = _engine(v015, tmp_path)
    (tmp_path / "desired" / "dns" / "namgun.or.kr.yaml").write_text(ZONE.replace("rsa-namgun", "rsa-other"), "utf-8")
    engine.desired = loader.load(tmp_path / "desired", check_secrets=False)
    with pytest.raises(EngineError, match=r"rsa-other.* does not exist on the server"):
        engine.plan()
