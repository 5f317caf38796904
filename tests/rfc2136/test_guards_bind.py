"""SOA, apex NS, AD names, unmodelled types, purge and TTL against a real BIND."""

from __future__ import annotations

from pathlib import Path

import pytest

from .bindserver import BindServer
from .conftest import ZONE, write_config, write_zone
from .helpers import rrset, run

pytestmark = pytest.mark.bind


def soa_serial(bind: BindServer) -> int:
    return rrset(bind, f"{ZONE}.", "SOA")[0].serial


def test_apex_ns_change_needs_force_and_is_published(tmp_path: Path, bind: BindServer, capsys) -> None:
    write_zone(tmp_path, ZONE, {"@": {"type": "NS", "values": ["ns1", "ns2"]},
                                "ns2": {"type": "A", "value": "127.0.0.1"}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})
    assert run(config, "apply", "--yes") == 3
    assert "apex NS" in capsys.readouterr().err
    assert len(rrset(bind, f"{ZONE}.", "NS")) == 1 and rrset(bind, f"ns2.{ZONE}.", "A") is None
    assert run(config, "apply", "--yes", "--force") == 0, capsys.readouterr()
    assert sorted(str(r.target) for r in rrset(bind, f"{ZONE}.", "NS")) == [f"ns1.{ZONE}.", f"ns2.{ZONE}."]

    # Replacing the whole apex NS set: BIND ignores deleting every NS, so new values go in first.
    write_zone(tmp_path, ZONE, {"@": {"type": "NS", "values": ["ns2"], "ttl": 7200},
                                "ns2": {"type": "A", "value": "127.0.0.1"}})
    assert run(config, "apply", "--yes", "--force") == 0, capsys.readouterr()
    published = rrset(bind, f"{ZONE}.", "NS")
    assert [str(r.target) for r in published] == [f"ns2.{ZONE}."] and published.ttl == 7200
    assert run(config, "diff") == 0


def test_purge_deletes_undeclared_but_never_guarded(tmp_path: Path, bind: BindServer, capsys) -> None:
    write_zone(tmp_path, ZONE, {
        "@": [{"type": "MX", "value": "10 mail"}, {"type": "TXT", "value": "v=spf1 mx -all"}],
        "www": {"type": "A", "value": "192.0.2.10"}, "mail": {"type": "A", "value": "192.0.2.25"},
        "_dmarc": {"type": "TXT", "value": "v=DMARC1; p=none"}, "ns1": {"type": "A", "value": "127.0.0.1"},
        "dc1": {"type": "A", "value": "192.0.2.5"},
    })
    config = write_config(tmp_path, {"bind-lab": {**bind.target(zones=[ZONE]), "policies": {"purge": True}}})
    serial = soa_serial(bind)
    assert run(config, "apply", "--yes") == 0, capsys.readouterr()
    assert rrset(bind, f"old.{ZONE}.", "A") is None  # undeclared: purged
    assert rrset(bind, f"_ldap._tcp.dc._msdcs.{ZONE}.", "SRV") is not None  # AD name: guarded
    assert rrset(bind, f"host.{ZONE}.", "SSHFP") is not None  # not modelled: left alone
    assert rrset(bind, f"{ZONE}.", "NS") is not None  # apex NS: never purged
    assert soa_serial(bind) == serial + 1  # only BIND's own increment for the one UPDATE


def test_declared_ad_name_is_managed(tmp_path: Path, bind: BindServer, capsys) -> None:
    """Guarded means never deleted and changed only when git declares it (windows-dns.md §8)."""
    write_zone(tmp_path, ZONE, {"_ldap._tcp.dc._msdcs": {"type": "SRV", "value": "0 100 389 dc1", "ttl": 600}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})
    assert run(config, "diff") == 0
    write_zone(tmp_path, ZONE, {"_ldap._tcp.dc._msdcs": {"type": "SRV", "value": "0 50 389 dc1", "ttl": 600}})
    assert run(config, "apply", "--yes") == 0, capsys.readouterr()
    assert rrset(bind, f"_ldap._tcp.dc._msdcs.{ZONE}.", "SRV")[0].weight == 50


def test_ttl_only_change(tmp_path: Path, bind: BindServer, capsys) -> None:
    write_zone(tmp_path, ZONE, {"www": {"type": "A", "value": "192.0.2.10", "ttl": 60}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})
    assert run(config, "apply", "--yes") == 0, capsys.readouterr()
    assert rrset(bind, f"www.{ZONE}.", "A").ttl == 60
    assert run(config, "diff") == 0


def test_cname_replaces_a_in_one_message(tmp_path: Path, bind: BindServer, capsys) -> None:
    write_zone(tmp_path, ZONE, {"www": {"type": "CNAME", "value": "mail"}, "mail": {"type": "A", "value": "192.0.2.25"},
                                "ns1": {"type": "A", "value": "127.0.0.1"}})
    config = write_config(tmp_path, {"bind-lab": {**bind.target(zones=[ZONE]), "policies": {
        "purge": True, "max_change_share": 1.0}}})
    assert run(config, "apply", "--yes") == 0, capsys.readouterr()
    assert str(rrset(bind, f"www.{ZONE}.", "CNAME")[0].target) == f"mail.{ZONE}."
    assert rrset(bind, f"www.{ZONE}.", "A") is None


def test_deleting_a_name_server_address_is_refused_before_sending(tmp_path: Path, bind: BindServer, capsys) -> None:
    write_zone(tmp_path, ZONE, {"www": {"type": "A", "value": "192.0.2.10"}})
    config = write_config(tmp_path, {"bind-lab": {**bind.target(zones=[ZONE]), "policies": {
        "purge": True, "max_change_share": 1.0}}})
    assert run(config, "apply", "--yes", "--force") == 3
    err = capsys.readouterr().err
    assert "ns1 is a name server of @ (NS); deleting its address is refused" in err
    assert rrset(bind, f"old.{ZONE}.", "A") is not None  # nothing was applied


def test_bind_ignoring_an_update_fails_verification(tmp_path: Path, bind: BindServer, capsys) -> None:
    """RFC 2136 §3.4.2.2: a server silently ignores data added beside a CNAME and answers NOERROR.
    Only verification notices; apply exits 1 and the audit log records the failure."""
    from .helpers import audit_events, out_of_band_cname

    out_of_band_cname(bind, "legacy", "www")
    write_zone(tmp_path, ZONE, {"legacy": {"type": "TXT", "value": "v=spf1 -all"}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})
    assert run(config, "apply", "--yes") == 1
    out = capsys.readouterr()
    assert "verify: bind-lab: dns.rrset namgun.or.kr/legacy/TXT still differs after apply" in out.out
    assert f"namgun.or.kr/legacy/TXT at 127.0.0.1:{bind.port}: missing: the name is a CNAME to www.{ZONE}." \
        in out.out
    verify = [e for e in audit_events(config) if e["event"] == "verify"]
    assert verify[-1]["ok"] is False and len(verify[-1]["failures"]) == 2


def test_guard_ad_names_can_be_turned_off(tmp_path: Path, bind: BindServer, capsys) -> None:
    """A zone without AD: `guard_ad_names: false` lets purge remove an undeclared _tcp name."""
    write_zone(tmp_path, ZONE, {"ns1": {"type": "A", "value": "127.0.0.1"}, "www": {"type": "A", "value": "192.0.2.10"},
                                "@": [{"type": "MX", "value": "10 mail"}, {"type": "TXT", "value": "v=spf1 mx -all"}],
                                "mail": {"type": "A", "value": "192.0.2.25"},
                                "dc1": {"type": "A", "value": "192.0.2.5"},
                                "_dmarc": {"type": "TXT", "value": "v=DMARC1; p=none"}})
    target = {**bind.target(zones=[ZONE]), "guard_ad_names": False,
              "policies": {"purge": True, "max_change_share": 1.0}}
    config = write_config(tmp_path, {"bind-lab": target})
    assert run(config, "apply", "--yes") == 0, capsys.readouterr()
    assert rrset(bind, f"_ldap._tcp.dc._msdcs.{ZONE}.", "SRV") is None
