"""`reconciler verify --mail DOMAIN` against a real BIND serving the domain, its reverse zone and an
outside report domain."""

from __future__ import annotations

from pathlib import Path

import pytest

from .bindserver import BindServer, Zone
from .conftest import REPORTS, REVERSE, ZONE, write_config, write_zone
from .helpers import audit_events, dkim_value, run

pytestmark = pytest.mark.bind


def mail_records(dkim: str) -> dict:
    return {
        "@": [{"type": "MX", "value": "10 mail"}, {"type": "TXT", "value": "v=spf1 mx -all"}],
        "mail": [{"type": "A", "value": "192.0.2.25"}, {"type": "TXT", "value": "v=spf1 a -all"}],
        "_dmarc": {"type": "TXT", "value": f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{REPORTS}"},
        "rsa._domainkey": {"type": "TXT", "value": dkim},
    }


def start(bind_factory, *, authorised: bool = True, ptr: str = "mail.namgun.or.kr.") -> BindServer:
    reports = ["@ 3600 IN MX 10 mx", "mx 3600 IN A 192.0.2.80"]
    if authorised:
        reports.append(f'{ZONE}._report._dmarc 3600 IN TXT "v=DMARC1"')
    return bind_factory([Zone(ZONE, []), Zone(REVERSE, [f"25 3600 IN PTR {ptr}"]), Zone(REPORTS, reports)])


def setup(tmp_path: Path, bind: BindServer, dkim: str) -> Path:
    write_zone(tmp_path, ZONE, mail_records(dkim))
    write_zone(tmp_path, REVERSE, {"25": {"type": "PTR", "value": "mail.namgun.or.kr.", "verify_only": True}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE, REVERSE])})
    assert run(config, "apply", "--yes") == 0
    return config


def test_healthy_mail_domain(tmp_path: Path, bind_factory, capsys) -> None:
    bind = start(bind_factory)
    config = setup(tmp_path, bind, dkim_value())
    capsys.readouterr()
    assert run(config, "verify", "--mail", ZONE, "--resolver", f"127.0.0.1:{bind.port}") == 0
    out = capsys.readouterr().out
    assert f"ok mail {ZONE}: DKIM selector rsa: RSA key of 2048 bits" in out
    assert f"ok mail {ZONE}: reverse DNS of 192.0.2.25: mail.namgun.or.kr. (forward-confirmed)" in out
    assert "FAIL" not in out
    verify = [e for e in audit_events(config) if e["event"] == "verify"][-1]
    assert verify["ok"] is True and ZONE in verify["mail"]


def test_routes_names_to_the_zone_servers_without_a_resolver(tmp_path: Path, bind_factory, capsys) -> None:
    """Without --resolver, names of configured zones go to their authoritative servers; the outside
    report domain is served by a second server configured as another target."""
    bind = start(bind_factory)
    config = setup(tmp_path, bind, dkim_value())
    target = bind.target(zones=[ZONE, REVERSE])
    reports = {**bind.target(zones=[REPORTS]), "port": bind.port}
    write_config(tmp_path, {"bind-lab": target, "reports": reports})
    capsys.readouterr()
    assert run(config, "verify", "--mail", ZONE) == 0, capsys.readouterr()


def test_broken_mail_domain_fails_with_each_reason(tmp_path: Path, bind_factory, capsys) -> None:
    bind = start(bind_factory, authorised=False, ptr="smtp.isp.example.")
    dkim = dkim_value()
    config = setup(tmp_path, bind, dkim)
    capsys.readouterr()
    assert run(config, "verify", "--mail", ZONE, "--resolver", f"127.0.0.1:{bind.port}") == 1
    out = capsys.readouterr().out
    assert "has not agreed to receive them" in out
    # The ISP's PTR is declared verify_only: verified (and found stale), never written.
    assert f"FAIL {REVERSE}/25/PTR" in out
    assert "stale value: the server publishes 'smtp.isp.example.', desired 'mail.namgun.or.kr.'" in out
    # smtp.isp.example is in no zone the resolver serves: the lookup failure is reported, not hidden.
    assert "lookup failed: smtp.isp.example. A" in out


def test_helo_name_option(tmp_path: Path, bind_factory, capsys) -> None:
    bind = start(bind_factory)
    config = setup(tmp_path, bind, dkim_value())
    capsys.readouterr()
    resolver = f"127.0.0.1:{bind.port}"
    assert run(config, "verify", "--mail", ZONE, "--resolver", resolver, "--helo", f"www.{ZONE}") == 1
    assert f"HELO name www.{ZONE}. has no SPF record" in capsys.readouterr().out
