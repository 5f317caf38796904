"""The seeded organisation zone reproduces today's faults (issue 2) and snapshots round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.lab.windows_dns import seed
from reconciler.lab.windows_dns.dnsserver import WindowsDnsModel

ZONE = "namgun.or.kr"
KEY = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 348  # 410 characters


def records(model: WindowsDnsModel) -> list:
    return model.zone_records(ZONE)


def by(model: WindowsDnsModel, name: str, rrtype: str) -> list:
    return [r for r in records(model) if r.name.lower() == name.lower() and r.rrtype == rrtype]


def test_dkim_is_cut_at_255_characters_of_the_desired_value(tmp_path: Path) -> None:
    desired = tmp_path / "namgun.or.kr.yaml"
    desired.write_text(yaml.safe_dump({"zone": ZONE, "records": {
        "default._domainkey": {"type": "TXT", "value": KEY}}}), "utf-8")
    model = seed.load_namgun(desired_file=desired)
    (dkim,) = by(model, "default._domainkey", "TXT")
    assert len(KEY) == 410
    assert dkim.data["strings"] == [KEY[:255]]


def test_dkim_value_can_be_passed_in() -> None:
    model = seed.load_namgun(dkim_value=KEY, desired_file=None)
    assert by(model, "default._domainkey", "TXT")[0].data["strings"] == [KEY[:255]]


def test_the_repository_desired_file_drives_the_cut_when_present() -> None:
    if not seed.NAMGUN_DESIRED.exists():
        pytest.skip("no desired/dns/namgun.or.kr.yaml in this checkout")
    full = seed._desired_txt(seed.NAMGUN_DESIRED)["default._domainkey"]
    assert len(full) > 255
    model = seed.load_namgun()
    assert by(model, "default._domainkey", "TXT")[0].data["strings"] == [full[:255]]


def test_todays_faults_and_the_records_that_are_right() -> None:
    model = seed.load_namgun(dkim_value=KEY)
    assert [r.data for r in by(model, "@", "MX")] == [{"MailExchange": "mail.namgun.or.kr.", "Preference": 10}]
    assert [r.data for r in by(model, "mail", "A")] == [{"IPv4Address": "211.244.144.69"}]
    assert [r.data["strings"] for r in by(model, "@", "TXT")] == [["v=spf1 ip4:211.244.144.69 mx ~all"]]
    assert [r.data["strings"] for r in by(model, "_dmarc", "TXT")] == [
        ["v=DMARC1; p=quarantine; rua=mailto:postmaster@namgun.or.kr"]]
    assert by(model, "mail", "TXT") == []  # the HELO SPF record is missing


def test_records_reconciler_must_never_touch_are_there() -> None:
    model = seed.load_namgun(dkim_value=KEY)
    assert by(model, "@", "SOA") and by(model, "@", "NS")
    assert by(model, "_ldap._tcp.dc._msdcs", "SRV") and by(model, "_msdcs", "NS")
    assert by(model, "_kerberos._tcp", "SRV") and by(model, "DomainDnsZones", "A")
    dynamic = [r for r in records(model) if r.timestamp is not None]
    assert {r.name for r in dynamic} >= {"DESKTOP-7K2M9QA", "NAMGUN-LAPTOP"}
    (printer,) = by(model, "printer", "A")
    assert printer.timestamp is None  # added by hand in the console: static


def test_zone_is_ad_integrated_and_the_server_has_auto_created_zones() -> None:
    model = seed.load_namgun(dkim_value=KEY)
    zones = {z.name: z for _, z in model.iter_zones()}
    assert zones[ZONE].is_ds_integrated and zones[ZONE].dynamic_update == "Secure"
    assert zones["0.in-addr.arpa"].is_auto_created


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    model = seed.load_namgun(dkim_value=KEY)
    model.behaviour.txt_readback = "crlf"
    for suffix in (".yaml", ".json"):
        path = tmp_path / f"snap{suffix}"
        seed.save_snapshot(model, path)
        again = seed.load(path)
        assert again.dump() == model.dump()
        assert again.behaviour.txt_readback == "crlf"


def test_snapshot_with_unknown_zone_field_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("servers:\n  - name: DC01\n    zones:\n      - {name: x.kr, colour: blue, records: []}\n")
    with pytest.raises(seed.SnapshotError, match=r"bad.yaml: zone x.kr: unknown field\(s\) \['colour'\]"):
        seed.load(path)


def test_journal_and_dump_are_inspectable() -> None:
    model = seed.load_namgun(dkim_value=KEY)
    assert {entry["via"] for entry in model.journal} == {"seed"}
    doc = model.dump()
    zone = next(z for z in doc["servers"][0]["zones"] if z["name"] == ZONE)
    names = {(r["name"], r["type"]) for r in zone["records"]}
    assert ("default._domainkey", "TXT") in names and ("printer", "A") in names
