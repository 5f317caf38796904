"""End to end against a real BIND 9: `reconciler apply --yes`, then real DNS questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from .bindserver import BindServer
from .conftest import ZONE, write_config, write_zone
from .helpers import audit_events, dkim_value, rrset, run, txt_strings

pytestmark = pytest.mark.bind

# Every character that broke a DNS-as-code tool's TXT handling (dns-as-code-anchors.md §1.5, §2.3):
# semicolons, double quotes, backslashes, spaces (also doubled and at the ends) and Hangul.
AWKWARD = 'a;b "quoted" back\\slash  two  spaces ; 남근 김경본 ;"\\ end '


def desired_records(dkim: str) -> dict:
    return {
        "@": [{"type": "MX", "value": {"preference": 10, "exchange": "mail"}},
              {"type": "TXT", "value": "v=spf1 mx -all"}],
        "www": {"type": "A", "values": ["192.0.2.10", "192.0.2.11"], "ttl": 300},
        "mail": {"type": "A", "value": "192.0.2.25"},
        "_dmarc": {"type": "TXT", "value": "v=DMARC1; p=quarantine; rua=mailto:dmarc@reports.example"},
        "rsa._domainkey": {"type": "TXT", "value": dkim},
        "odd": {"type": "TXT", "value": AWKWARD},
        "sso": {"type": "CNAME", "value": "www"},
        "_imaps._tcp": {"type": "SRV", "value": {"priority": 0, "weight": 1, "port": 993, "target": "mail"}},
        "@caa": {"type": "CAA", "value": {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}},
    }


@pytest.fixture
def setup(tmp_path: Path, bind: BindServer) -> tuple[Path, BindServer, str]:
    dkim = dkim_value()
    assert len(dkim) == 410
    records = desired_records(dkim)
    records["caa"] = records.pop("@caa")
    write_zone(tmp_path, ZONE, records)
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE])})
    return config, bind, dkim


def test_apply_publishes_exactly_and_second_diff_is_empty(setup, capsys) -> None:
    config, bind, dkim = setup
    assert run(config, "diff") == 2
    capsys.readouterr()
    assert run(config, "apply", "--yes") == 0, capsys.readouterr()
    out = capsys.readouterr()
    assert "apply complete" in out.err

    # The 410-character DKIM key: two character-strings (255 + 155), joined exactly.
    strings = txt_strings(bind, f"rsa._domainkey.{ZONE}.")
    assert len(strings) == 1
    assert [len(s) for s in strings[0]] == [255, 155]
    assert b"".join(strings[0]).decode() == dkim
    # Semicolons, quotes, backslashes, spaces and Hangul exactly as written.
    (odd,) = txt_strings(bind, f"odd.{ZONE}.")
    assert b"".join(odd).decode("utf-8") == AWKWARD
    assert {r.address for r in rrset(bind, f"www.{ZONE}.", "A")} == {"192.0.2.10", "192.0.2.11"}
    assert rrset(bind, f"www.{ZONE}.", "A").ttl == 300
    assert str(rrset(bind, f"sso.{ZONE}.", "CNAME")[0].target) == f"www.{ZONE}."
    assert rrset(bind, f"caa.{ZONE}.", "CAA")[0].value == b"letsencrypt.org"

    # Idempotent: a second diff finds nothing, a second apply does nothing.
    assert run(config, "diff") == 0
    assert run(config, "apply", "--yes") == 0
    assert "nothing to do" in capsys.readouterr().err


def test_unmanaged_left_alone(setup, capsys) -> None:
    config, bind, _ = setup
    assert run(config, "apply", "--yes") == 0
    out = capsys.readouterr().out
    # SOA, the AD name, the SSHFP and the undeclared host stay (purge is off) and are listed.
    assert rrset(bind, f"old.{ZONE}.", "A") is not None
    assert rrset(bind, f"_ldap._tcp.dc._msdcs.{ZONE}.", "SRV") is not None
    assert rrset(bind, f"host.{ZONE}.", "SSHFP") is not None
    assert rrset(bind, f"{ZONE}.", "NS") is not None
    assert "SSHFP" in out


def test_one_axfr_per_zone_and_verification_recorded(setup, capsys) -> None:
    config, bind, _ = setup
    assert run(config, "apply", "--yes") == 0
    log = bind.log()
    # One AXFR for the plan; the verification after the apply asks only for the difference (IXFR).
    axfr = [line for line in log.splitlines() if "AXFR started" in line and f"'{ZONE}/IN'" in line]
    ixfr = [line for line in log.splitlines() if "IXFR started" in line and f"'{ZONE}/IN'" in line]
    assert len(axfr) == 1 and len(ixfr) == 1, log
    events = audit_events(config)
    verify = [e for e in events if e["event"] == "verify"]
    assert verify and verify[-1]["ok"] is True
