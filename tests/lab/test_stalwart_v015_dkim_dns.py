"""The lab's v0.15 DKIM endpoints and `/api/dns/records/{domain}` (stalwart-api.md §10)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from reconciler.lab.stalwart import DKIM_ID, DKIM_SELECTOR, DOMAIN, SeedSecrets, StalwartLab, seeded_lab

# Spelled in two parts so that no committed file carries a private-key marker (the keys are made at run time).
PEM_HEADER = "-----BEGIN RSA " + "PRIVATE KEY-----"

TIMEOUT = 5


@pytest.fixture()
def lab() -> Iterator[tuple[StalwartLab, SeedSecrets]]:
    lab, seeds = seeded_lab("0.15")
    with lab:
        yield lab, seeds


def _s(lab: tuple[StalwartLab, SeedSecrets]) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + lab[1].bearer()
    return session


def test_seeded_signature_public_key_is_the_spki_of_its_private_key(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    public = _s(lab).get(lab[0].url + f"/api/dkim/{DKIM_ID}", timeout=TIMEOUT).json()["data"]
    assert public.startswith("MIIBIjAN")  # RSA-2048 SubjectPublicKeyInfo
    pem = lab[0].state.directory.settings[f"signature.{DKIM_ID}.private-key"]
    assert pem.startswith(PEM_HEADER + "\n")
    assert all(len(line) <= 65 for line in pem.splitlines())  # the server wraps at 65
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(public) == spki


def test_unknown_signature_is_404_problem(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    r = _s(lab).get(lab[0].url + "/api/dkim/rsa-nowhere.org", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_create_defaults_and_existing_id_leaks_the_key(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    s, url = _s(lab), lab[0].url
    r = s.post(
        url + "/api/dkim",
        json={"id": None, "algorithm": "Ed25519", "domain": DOMAIN, "selector": None},
        timeout=TIMEOUT,
    )
    assert r.json() == {"data": None}
    settings = lab[0].state.directory.settings
    now = dt.datetime.now(dt.UTC)
    assert settings[f"signature.ed25519-{DOMAIN}.selector"] == f"{now.year:04d}{now.month:02d}e"
    assert settings[f"signature.ed25519-{DOMAIN}.headers.4"] == "Message-ID"
    assert len(base64.b64decode(s.get(url + f"/api/dkim/ed25519-{DOMAIN}", timeout=TIMEOUT).json()["data"])) == 32
    r = s.post(url + "/api/dkim", json={"algorithm": "Rsa", "domain": DOMAIN}, timeout=TIMEOUT)
    assert r.status_code == 200
    body = r.json()
    assert body["error"] == "fieldAlreadyExists" and body["field"] == f"signature.{DKIM_ID}.private-key"
    assert body["value"].startswith(PEM_HEADER)
    # `algorithm` is case-sensitive
    assert s.post(url + "/api/dkim", json={"algorithm": "rsa", "domain": "x.org"}, timeout=TIMEOUT).status_code == 400


def test_dns_records_order_and_dkim(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    s, url = _s(lab), lab[0].url
    records = s.get(url + f"/api/dns/records/{DOMAIN}", timeout=TIMEOUT).json()["data"]
    kinds = [(r["type"], r["name"]) for r in records]
    assert kinds[0] == ("MX", f"{DOMAIN}.")
    assert ("CNAME", f"mail.{DOMAIN}.") not in kinds  # the server is mail.<domain>
    dkim_rec = records[1]
    assert dkim_rec["name"] == f"{DKIM_SELECTOR}._domainkey.{DOMAIN}."
    public = s.get(url + f"/api/dkim/{DKIM_ID}", timeout=TIMEOUT).json()["data"]
    assert dkim_rec["content"] == f"v=DKIM1; k=rsa; h=sha256; p={public}"
    assert len(dkim_rec["content"]) > 255  # needs splitting into character-strings when published
    assert records[2] == {"type": "TXT", "name": f"mail.{DOMAIN}.", "content": "v=spf1 a ra=postmaster -all"}
    assert ("SRV", f"_submissions._tcp.{DOMAIN}.") in kinds and ("SRV", f"_jmap._tcp.{DOMAIN}.") in kinds
    assert records[-2]["name"] == f"_dmarc.{DOMAIN}." and records[-1]["name"] == f"_smtp._tls.{DOMAIN}."
    # A domain without signatures and outside the server's name: CNAME mail.<d>, no DKIM, no host SPF.
    other = [
        r["type"] + " " + r["name"] for r in s.get(url + "/api/dns/records/example.org", timeout=TIMEOUT).json()["data"]
    ]
    assert other[:2] == ["MX example.org.", "CNAME mail.example.org."]
    assert not any("_domainkey" in o for o in other)


def test_rotation_changes_what_dns_records_return(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    s, url = _s(lab), lab[0].url
    before = s.get(url + f"/api/dkim/{DKIM_ID}", timeout=TIMEOUT).json()["data"]
    r = s.post(url + "/api/settings", json=[{"type": "clear", "prefix": f"signature.{DKIM_ID}."}], timeout=TIMEOUT)
    assert r.json() == {"data": None}
    s.post(url + "/api/dkim", json={"algorithm": "Rsa", "domain": DOMAIN, "selector": "202612r"}, timeout=TIMEOUT)
    after = s.get(url + f"/api/dkim/{DKIM_ID}", timeout=TIMEOUT).json()["data"]
    assert after != before
    txt = [
        r
        for r in s.get(url + f"/api/dns/records/{DOMAIN}", timeout=TIMEOUT).json()["data"]
        if "_domainkey" in r["name"]
    ]
    assert txt == [
        {"type": "TXT", "name": f"202612r._domainkey.{DOMAIN}.", "content": f"v=DKIM1; k=rsa; h=sha256; p={after}"}
    ]
