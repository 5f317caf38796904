"""RFC 2136 §2.4 prerequisites against a real BIND: a record set somebody changes between the read
and the UPDATE is not overwritten; the rest of the plan still applies; the next run converges."""

from __future__ import annotations

from pathlib import Path

import dns.query
import dns.rcode
import dns.update
import pytest

from reconciler import cli

from .bindserver import BindServer
from .conftest import ZONE, write_config, write_zone
from .helpers import audit_events, rrset, run

pytestmark = pytest.mark.bind


def out_of_band(bind: BindServer, name: str, rtype: str, *values: str, ttl: int = 3600) -> None:
    """Somebody else's nsupdate: replace an RRset directly on the server."""
    update = dns.update.UpdateMessage(ZONE, keyring=bind.keyring(), keyname=bind.key_name)
    update.replace(name, ttl, rtype, *values)
    assert dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5).rcode() == dns.rcode.NOERROR


def test_concurrent_change_fails_that_change_only(tmp_path: Path, bind: BindServer, capsys,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_zone(tmp_path, ZONE, {
        "www": {"type": "A", "value": "192.0.2.11"},            # update (live 192.0.2.10)
        "mail": {"type": "A", "value": "192.0.2.26"},           # update (live 192.0.2.25)
        "new": {"type": "TXT", "value": "v=created; 남근"},       # create
    })
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})

    def confirm_while_somebody_edits(prompt: str) -> bool:
        # Between the plan's AXFR and our UPDATE, an administrator changes www by hand.
        out_of_band(bind, "www", "A", "198.51.100.7")
        return True

    monkeypatch.setattr(cli, "_confirm", confirm_while_somebody_edits)
    assert run(config, "apply") == 1
    out = capsys.readouterr()
    assert "FAILED   update dns.rrset namgun.or.kr/www/A" in out.out
    assert "was changed on the server since it was read" in out.out
    assert "198.51.100.7" in out.out and "not overwritten" in out.out
    assert f"127.0.0.1:{bind.port} zone {ZONE}" in out.out
    # The hand edit survived; the other changes of the same message were applied.
    assert [r.address for r in rrset(bind, f"www.{ZONE}.", "A")] == ["198.51.100.7"]
    assert [r.address for r in rrset(bind, f"mail.{ZONE}.", "A")] == ["192.0.2.26"]
    assert rrset(bind, f"new.{ZONE}.", "TXT") is not None
    results = [e for e in audit_events(config) if e["event"] == "change_result"]
    assert sorted(e["ok"] for e in results) == [False, True, True]
    assert any(e["detail"].get("conflict") for e in results if not e["ok"])

    # The next run re-reads, sees the hand edit, and converges.
    monkeypatch.setattr(cli, "_confirm", lambda prompt: True)
    assert run(config, "apply", "--yes") == 0
    assert [r.address for r in rrset(bind, f"www.{ZONE}.", "A")] == ["192.0.2.11"]
    assert run(config, "diff") == 0


def test_concurrent_create_is_not_overwritten(tmp_path: Path, bind: BindServer, capsys,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    write_zone(tmp_path, ZONE, {"api": {"type": "A", "value": "192.0.2.40"}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})

    def confirm(prompt: str) -> bool:
        out_of_band(bind, "api", "A", "198.51.100.40")  # somebody created it first
        return True

    monkeypatch.setattr(cli, "_confirm", confirm)
    assert run(config, "apply") == 1
    out = capsys.readouterr().out
    assert "expected absent, now '198.51.100.40'" in out
    assert [r.address for r in rrset(bind, f"api.{ZONE}.", "A")] == ["198.51.100.40"]


def test_prerequisite_uses_the_exact_split_read(tmp_path: Path, bind_factory, capsys) -> None:
    """A TXT that another tool split differently (here: 3 strings) still matches the prerequisite,
    because the update repeats the rdata as read, not a re-encoding of the logical value."""
    from .conftest import Zone

    server = bind_factory([Zone(ZONE, ['split 3600 IN TXT "v=spf1 " "ip4:192.0.2.1 " "-all"'])])
    write_zone(tmp_path, ZONE, {"split": {"type": "TXT", "value": "v=spf1 ip4:192.0.2.2 -all"}})
    config = write_config(tmp_path, {"bind-lab": server.target(zones=[ZONE])})
    assert run(config, "apply", "--yes") == 0, capsys.readouterr()
    assert [b"".join(r.strings) for r in rrset(server, f"split.{ZONE}.", "TXT")] == [b"v=spf1 ip4:192.0.2.2 -all"]
