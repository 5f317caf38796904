"""`reconciler verify` against a real BIND: what the server answers, compared with git."""

from __future__ import annotations

import json
from pathlib import Path

import dns.query
import dns.rcode
import dns.rdata
import dns.update
import pytest

from reconciler.model.dns import txt_chunks

from .bindserver import BindServer
from .conftest import REVERSE, ZONE, write_config, write_zone
from .helpers import audit_events, dkim_value, run

pytestmark = pytest.mark.bind


def replace_txt(bind: BindServer, name: str, strings: list[bytes], ttl: int = 3600) -> None:
    """An out-of-band TXT with exactly these character-strings (e.g. a value cut at 255)."""
    rdata = dns.rdata.from_wire(1, 16, b"".join(bytes([len(s)]) + s for s in strings), 0,
                                sum(len(s) + 1 for s in strings))
    update = dns.update.UpdateMessage(ZONE, keyring=bind.keyring(), keyname=bind.key_name)
    update.replace(name, ttl, rdata)
    assert dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5).rcode() == dns.rcode.NOERROR


def delete(bind: BindServer, name: str, rtype: str) -> None:
    update = dns.update.UpdateMessage(ZONE, keyring=bind.keyring(), keyname=bind.key_name)
    update.delete(name, rtype)
    assert dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5).rcode() == dns.rcode.NOERROR


@pytest.fixture
def applied(tmp_path: Path, bind: BindServer) -> tuple[Path, BindServer, str]:
    dkim = dkim_value()
    write_zone(tmp_path, ZONE, {
        "www": {"type": "A", "value": "192.0.2.10"},
        "rsa._domainkey": {"type": "TXT", "value": dkim},
        "spf": {"type": "TXT", "value": "v=spf1 mx a:mail.namgun.or.kr -all"},
        "old": {"type": "A", "value": "192.0.2.99", "ttl": 300},
    })
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})
    assert run(config, "apply", "--yes") == 0
    return config, bind, dkim


def test_verify_passes_when_published(applied, capsys) -> None:
    config, _, _ = applied
    capsys.readouterr()
    assert run(config, "verify") == 0
    assert "4 record set(s) at 1 server(s)" in capsys.readouterr().err
    events = audit_events(config)
    verify = [e for e in events if e["event"] == "verify"][-1]
    assert verify["ok"] is True and verify["checked"] == 4
    starts = [e for e in events if e["event"] == "run_start"]
    assert starts[-1]["command"] == "verify"
    assert events[-1]["event"] == "run_end" and events[-1]["exit_code"] == 0


def test_verify_reports_truncated_missplit_missing_stale(applied, capsys) -> None:
    config, bind, dkim = applied
    raw = dkim.encode()
    replace_txt(bind, "rsa._domainkey", [raw[:255]])  # the organisation's incident: cut at 255
    replace_txt(bind, "spf", [b"v=spf1", b"mx", b"a:mail.namgun.or.kr", b"-all"])  # spaces lost at boundaries
    delete(bind, "www", "A")
    replace_txt(bind, "old", [b"nothing to do with it"])  # type TXT beside; A unchanged
    update = dns.update.UpdateMessage(ZONE, keyring=bind.keyring(), keyname=bind.key_name)
    update.replace("old", 60, "A", "192.0.2.98")
    dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5)
    capsys.readouterr()
    assert run(config, "verify") == 1
    out = capsys.readouterr().out
    where = f"at 127.0.0.1:{bind.port}"
    assert f"{ZONE}/rsa._domainkey/TXT {where}: TXT value truncated: the server publishes 255 of 410 octets" in out
    assert f"{ZONE}/spf/TXT {where}: TXT value mis-split" in out
    assert f"{ZONE}/www/A {where}: missing (NXDOMAIN)" in out
    assert f"{ZONE}/old/A {where}: stale value: the server publishes '192.0.2.98', desired '192.0.2.99'" in out
    assert f"{ZONE}/old/A {where}: TTL 60, desired 300" in out
    verify = [e for e in audit_events(config) if e["event"] == "verify"][-1]
    assert verify["ok"] is False and len(verify["failures"]) == 5


def test_verify_target_option(applied, capsys) -> None:
    config, _, _ = applied
    assert run(config, "verify", "--target", "bind-lab") == 0
    assert run(config, "verify", "--target", "nope") == 1
    assert "'nope' is not a DNS target" in capsys.readouterr().err


def test_verify_through_a_resolver(applied, capsys) -> None:
    config, bind, _ = applied
    assert run(config, "verify", "--resolver", f"127.0.0.1:{bind.port}", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is True and body["resolver"] == f"127.0.0.1:{bind.port}"


def test_verify_server_down(applied, capsys) -> None:
    config, bind, _ = applied
    bind.stop()
    capsys.readouterr()
    assert run(config, "verify", "--timeout", "0.5") == 1
    out = capsys.readouterr().out
    assert f"at 127.0.0.1:{bind.port}: 127.0.0.1:{bind.port} refused the connection" in out or "no answer" in out


def test_verify_windows_dns_target_uses_its_dns_port(tmp_path: Path, bind: BindServer, capsys) -> None:
    """A windows_dns target is verified at `dns_server: host:port` (the Windows server's port 53)."""
    write_zone(tmp_path, ZONE, {"www": {"type": "A", "value": "192.0.2.10"}})
    config = write_config(tmp_path, {"dc1": {
        "kind": "windows_dns", "address": "https://127.0.0.1:1/wsman", "zones": [ZONE],
        "username": "NAMGUN\\svc", "password": "env:UNUSED_IN_VERIFY", "dns_server": f"127.0.0.1:{bind.port}"}})
    assert run(config, "verify") == 0, capsys.readouterr()
    write_zone(tmp_path, ZONE, {"www": {"type": "A", "value": "192.0.2.77"}})
    assert run(config, "verify") == 1
    assert "stale value: the server publishes '192.0.2.10', desired '192.0.2.77'" in capsys.readouterr().out


def test_verify_only_records_are_checked_never_written(tmp_path: Path, bind: BindServer, capsys) -> None:
    """An ISP-managed PTR: declared verify_only, in a zone the target also reads. Apply leaves it
    alone even when it differs; verify reports the difference."""
    write_zone(tmp_path, ZONE, {"mail": {"type": "A", "value": "192.0.2.25"}})
    write_zone(tmp_path, REVERSE, {"25": {"type": "PTR", "value": "smtp.namgun.or.kr.", "verify_only": True}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE, REVERSE])})
    assert run(config, "apply", "--yes") == 0
    assert "nothing to do" in capsys.readouterr().err
    assert run(config, "verify") == 1
    out = capsys.readouterr().out
    assert f"{REVERSE}/25/PTR" in out
    assert "stale value: the server publishes 'mail.namgun.or.kr.', desired 'smtp.namgun.or.kr.'" in out


def test_published_txt_chunks_match_the_model() -> None:
    """The fixture's notion of "cut at 255" is the model's chunking, not a coincidence."""
    assert [len(c) for c in txt_chunks("x" * 410)] == [255, 155]
