"""Bad input and faults against a real BIND: each a clear message naming server and zone, exit 1,
nothing applied without saying so, no secret in any output."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from .bindserver import BindServer, Zone
from .conftest import ZONE, write_config, write_zone
from .helpers import audit_events, rrset, run

pytestmark = pytest.mark.bind

RECORDS = {"www": {"type": "A", "value": "192.0.2.11"}, "new": {"type": "TXT", "value": "새 기록"}}


def configure(tmp_path: Path, bind: BindServer, **overrides: object) -> Path:
    write_zone(tmp_path, ZONE, RECORDS)
    target = bind.target(zones=[ZONE])
    target.update(overrides)
    return write_config(tmp_path, {"bind-lab": target})


def wrong_secret_file(tmp_path: Path) -> str:
    path = tmp_path / "wrong.secret"
    path.write_text(base64.b64encode(os.urandom(32)).decode())
    return f"file:{path}"


def assert_clean(text: str, bind: BindServer) -> None:
    assert bind.secret not in text


def test_wrong_tsig_secret_is_badsig(tmp_path: Path, bind: BindServer, capsys) -> None:
    config = configure(tmp_path, bind, tsig={"name": bind.key_name, "algorithm": bind.algorithm,
                                             "secret": wrong_secret_file(tmp_path)})
    assert run(config, "diff") == 1
    err = capsys.readouterr().err
    assert f"bind-lab: 127.0.0.1:{bind.port} zone {ZONE}" in err
    assert "BADSIG" in err and "secret does not match" in err
    assert_clean(err, bind)


def test_unknown_tsig_key_is_badkey(tmp_path: Path, bind: BindServer, capsys) -> None:
    config = configure(tmp_path, bind, tsig={"name": "somebody-else.", "algorithm": bind.algorithm,
                                             "secret": f"file:{bind.secret_file}"})
    assert run(config, "apply", "--yes") == 1
    err = capsys.readouterr().err
    assert "does not know the TSIG key 'somebody-else.' (BADKEY)" in err
    assert f"zone {ZONE}" in err
    assert rrset(bind, f"new.{ZONE}.", "TXT") is None


def test_axfr_refused(tmp_path: Path, bind_factory, capsys) -> None:
    bind = bind_factory([Zone(ZONE, [], allow_transfer=False)])
    config = configure(tmp_path, bind)
    assert run(config, "diff") == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{bind.port} zone {ZONE}: AXFR refused (REFUSED)" in err


def test_update_refused_applies_nothing_and_says_so(tmp_path: Path, bind_factory, capsys) -> None:
    bind = bind_factory([Zone(ZONE, ["www 3600 IN A 192.0.2.10"], allow_update=False)])
    config = configure(tmp_path, bind)
    assert run(config, "apply", "--yes") == 1
    out = capsys.readouterr()
    assert "update refused (REFUSED)" in out.out
    assert f"127.0.0.1:{bind.port} zone {ZONE}" in out.out
    assert "apply incomplete: 0 applied" in out.err
    assert [r.address for r in rrset(bind, f"www.{ZONE}.", "A")] == ["192.0.2.10"]
    results = [e for e in audit_events(config) if e["event"] == "change_result"]
    assert len(results) == 2 and not any(e["ok"] for e in results)


def test_zone_not_on_server_is_notauth(tmp_path: Path, bind: BindServer, capsys) -> None:
    write_zone(tmp_path, "elsewhere.kr", {"www": {"type": "A", "value": "192.0.2.1"}})
    target = bind.target(zones=["elsewhere.kr"])
    config = write_config(tmp_path, {"bind-lab": target})
    assert run(config, "diff") == 1
    err = capsys.readouterr().err
    assert "zone elsewhere.kr: AXFR refused (NOTAUTH)" in err


def test_server_down(tmp_path: Path, bind: BindServer, capsys) -> None:
    config = configure(tmp_path, bind)
    bind.stop()
    assert run(config, "diff") == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{bind.port} zone {ZONE}: connection refused" in err


def test_server_dies_between_plan_and_apply(tmp_path: Path, bind: BindServer, capsys,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler import cli

    config = configure(tmp_path, bind)

    def stop_server(prompt: str) -> bool:
        bind.stop()
        return True

    monkeypatch.setattr(cli, "_confirm", stop_server)
    assert run(config, "apply") == 1
    out = capsys.readouterr()
    assert "connection refused" in out.out
    assert "FAILED" in out.out or "NOT applied" in out.out
    assert "apply incomplete: 0 applied" in out.err


def test_secret_reference_missing(tmp_path: Path, bind: BindServer, capsys) -> None:
    config = configure(tmp_path, bind, tsig={"name": bind.key_name, "secret": "env:RECONCILER_TEST_UNSET_TSIG"})
    monkeypatch_env = os.environ.pop("RECONCILER_TEST_UNSET_TSIG", None)
    assert monkeypatch_env is None
    assert run(config, "diff") == 1
    err = capsys.readouterr().err
    assert "env:RECONCILER_TEST_UNSET_TSIG is not set" in err


def test_inline_secret_refused(tmp_path: Path, bind: BindServer, capsys) -> None:
    config = configure(tmp_path, bind, tsig={"name": bind.key_name, "secret": bind.secret})
    assert run(config, "diff") == 1
    err = capsys.readouterr().err
    assert "inline secrets are refused" in err
    assert_clean(err, bind)
