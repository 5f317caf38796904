"""Choosing the API generation, and failing clearly: 401, 429 ban, no Stalwart at all, timeouts."""

from __future__ import annotations

import json

import pytest

from reconciler.lab.common import Fault
from reconciler.lab.stalwart.auth import BanPolicy
from reconciler.lab.stalwart.server import StalwartLabConfig
from reconciler.providers.base import ProviderError, Scope

from .support import Setup


def test_probe_costs_no_extra_request(v015: Setup, v016: Setup) -> None:
    for setup, generation, requests in ((v015, "v0.15", 1), (v016, "v0.16", 2)):
        setup.lab.control.reset_counters()
        live = setup.provider().read(Scope(desired=[_any_account()]))
        assert live.facts["api"] == generation
        # v0.15: the principal list is the probe; v0.16: one 404 on /api/principal, then one JMAP read
        assert setup.lab.control.total == requests


def _any_account():  # a desired account, so the DKIM settings are not read
    from reconciler.model.resource import Resource

    return Resource("stalwart.account", ("system",), {"type": "individual"})


def test_configured_generation_is_used_and_mismatch_is_explained(v016: Setup) -> None:
    v016.lab.control.reset_counters()
    live = v016.provider(api="v0.16").read(Scope(desired=[_any_account()]))
    assert live.facts["api"] == "v0.16" and v016.lab.control.total == 1
    with pytest.raises(ProviderError, match=r"api: v0\.15 is configured but /api/principal does not exist"):
        v016.provider(api="v0.15").read(Scope(desired=[]))


def test_server_answering_neither_generation(v015: Setup) -> None:
    v015.lab.control.inject(Fault(match=lambda m, p: True, status=404, body=b'{"detail":"nope"}', times=5))
    with pytest.raises(ProviderError) as info:
        v015.provider().read(Scope(desired=[]))
    message = str(info.value)
    assert message.startswith("mail: the server answers neither the v0.15 REST API")


def test_wrong_credentials_stop_at_the_first_401(v015: Setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wrong = tmp_path / "wrong-key"
    wrong.write_text("not-the-key")
    provider = v015.provider(api_key=f"file:{wrong}")
    v015.lab.control.reset_counters()
    with pytest.raises(ProviderError, match="authentication refused \\(HTTP 401\\)") as info:
        provider.read(Scope(desired=[]))
    assert "not-the-key" not in str(info.value)
    assert v015.lab.control.total == 1  # no retry storm
    assert v015.lab.state.auth.failed_attempts == 1


def test_banned_host_gets_a_clear_message(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from .support import make_setup

    setup = make_setup(tmp_path, monkeypatch, "0.15")
    try:
        setup.lab.state.auth.policy = BanPolicy(failures=0, window=60)
        wrong = tmp_path / "wrong-key"
        wrong.write_text("nope")
        with pytest.raises(ProviderError, match="HTTP 429 Too Many Authentication Attempts"):
            setup.provider(api_key=f"file:{wrong}").read(Scope(desired=[]))
        # afterwards the host is banned: new connections are dropped, even with the right key
        with pytest.raises(ProviderError, match="connection failed"):
            setup.provider().read(Scope(desired=[]))
    finally:
        setup.service.stop()


def test_fallback_admin_basic_auth(v015: Setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret_file = tmp_path / "admin"
    secret_file.write_text(v015.service.seeds.fallback_admin)  # type: ignore[attr-defined]
    provider = v015.provider(api_key=None, username="admin", password=f"file:{secret_file}")
    v015.lab.state.ldap.up = False  # the fallback admin works while LDAP is down
    assert provider.read(Scope(desired=[])).facts["api"] == "v0.15"


def test_timeout_is_a_retryable_target_failure(v015: Setup) -> None:
    v015.lab.control.inject(Fault(match=lambda m, p: True, delay=1.5))
    with pytest.raises(ProviderError, match=r"no answer within 0\.5s") as info:
        v015.provider(timeout=0.5).read(Scope(desired=[]))
    assert info.value.retryable


def test_apply_stops_after_a_server_error_and_reports_the_rest(v015: Setup, capsys) -> None:  # type: ignore[no-untyped-def]
    v015.set_policies(max_change_share=1.0)
    v015.lab.control.inject(Fault(match=lambda m, p: m == "POST" and p.endswith("/deploy"), status=503,
                                  body=json.dumps({"status": 503}).encode()))
    assert v015.run("apply", "--yes") == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "server error (HTTP 503)" in out
    assert "not attempted after an earlier failure" in out


def test_lab_config_default_ban_is_the_server_default() -> None:
    assert StalwartLabConfig().ban.failures == 100
