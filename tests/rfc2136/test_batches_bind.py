"""Batching against a real BIND: many changes in a few messages, each under the limit, all applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import config as configmod
from reconciler.desired import loader
from reconciler.engine import Engine

from .bindserver import BindServer, Zone
from .conftest import ZONE, write_config, write_zone
from .helpers import rrset, txt_strings

pytestmark = pytest.mark.bind

SEED = [f"h{i} 3600 IN A 192.0.2.{i % 250 + 1}" for i in range(300)]


def records(n_new: int) -> dict:
    out: dict = {f"h{i}": {"type": "A", "value": f"198.51.100.{i % 250 + 1}"} for i in range(300)}
    for i in range(n_new):
        if i % 10 == 0:
            out[f"k{i}._domainkey"] = {"type": "TXT", "value": f"v=DKIM1; k=rsa; p={'Q' * 330}{i:05d}"}
        else:
            out[f"n{i}"] = {"type": "TXT", "value": f"값 {i}; \"quoted\" back\\slash"}
    return out


def engine_for(config: Path) -> Engine:
    cfg = configmod.load(config)
    return Engine(cfg, loader.load(cfg.desired))


@pytest.mark.parametrize("limit", [4096, 32768, 65535])
def test_large_plan_in_few_messages(tmp_path: Path, bind_factory, limit: int) -> None:
    bind: BindServer = bind_factory([Zone(ZONE, SEED)])
    write_zone(tmp_path, ZONE, records(900))
    config = write_config(tmp_path, {"bind-lab": {**bind.target(zones=[ZONE]), "max_message_size": limit,
                                                  "policies": {"max_change_share": 1.0}}})
    engine = engine_for(config)
    try:
        plan, _ = engine.plan()
        assert len(plan.changes) == 1200 and not plan.blocking(False)
        report = engine.apply(plan)
        assert report.ok, (report.failed[:3], report.verify_failures[:3])
        stats = engine.provider("bind-lab").stats  # type: ignore[attr-defined]
    finally:
        engine.close()
    assert stats["largest_update"] <= limit
    assert 1 < stats["update_messages"] < 1200 / 20
    assert stats["axfr"] == 1 and stats["ixfr"] == 1
    assert [r.address for r in rrset(bind, f"h7.{ZONE}.", "A")] == ["198.51.100.8"]
    (strings,) = txt_strings(bind, f"k890._domainkey.{ZONE}.")
    value = records(900)["k890._domainkey"]["value"]
    assert [len(s) for s in strings] == [255, len(value) - 255]
    assert b"".join(strings).decode() == value
    engine = engine_for(config)
    try:
        again, _ = engine.plan()
    finally:
        engine.close()
    assert again.empty


def test_oversized_record_set_refused_before_anything_is_sent(tmp_path: Path, bind_factory, capsys) -> None:
    from .helpers import run

    bind: BindServer = bind_factory([Zone(ZONE, [])])
    huge = [f"{i:03d} " + "x" * 250 for i in range(30)]  # ~7.7 KB in one RRset
    write_zone(tmp_path, ZONE, {"big": {"type": "TXT", "values": huge}, "ok": {"type": "A", "value": "192.0.2.1"}})
    config = write_config(tmp_path, {"bind-lab": {**bind.target(zones=[ZONE]), "max_message_size": 4096}})
    assert run(config, "apply", "--yes") == 3
    err = capsys.readouterr().err
    assert "over the 4096-octet message limit (max_message_size)" in err
    assert rrset(bind, f"ok.{ZONE}.", "A") is None  # refused plans apply nothing
