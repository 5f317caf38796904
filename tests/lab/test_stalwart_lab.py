"""The Stalwart lab as a whole: seed, version switch, LabControl latency and faults, counters."""

from __future__ import annotations

import time

import pytest
import requests

from reconciler.lab.common import Fault
from reconciler.lab.stalwart import DKIM_ID, DOMAIN, LDAP_PEOPLE, seeded_lab

TIMEOUT = 5


def test_seed_is_todays_state() -> None:
    lab, seeds = seeded_lab("0.15")
    directory = lab.state.directory
    assert directory.get("system") is not None and directory.get("postmaster") is not None
    assert directory.get("git") is None and directory.get("noreply") is None
    mirrors = sorted(p.name for p in directory.principals.values() if p.origin == "ldap")
    assert mirrors == ["jhlee", "namgun18", "tsha"]
    assert directory.get("namgun18").description == "남근"
    assert f"signature.{DKIM_ID}.private-key" in directory.settings
    assert directory.writes == []  # seeding is history, not an API write
    # no plaintext secret is stored anywhere in the lab's state
    dump = repr(directory.principals) + repr(directory.settings) + repr(lab.state.config)
    for secret in (seeds.fallback_admin, seeds.api_key, seeds.system, *seeds.ldap.values()):
        assert secret not in dump


def test_switch_to_v016_removes_rest_and_keeps_data() -> None:
    lab, seeds = seeded_lab("0.15")
    auth = {"Authorization": "Bearer " + seeds.bearer()}
    with lab:
        before = requests.get(lab.url + f"/api/dkim/{DKIM_ID}", headers=auth, timeout=TIMEOUT).json()["data"]
        lab.switch_version("0.16")
        assert requests.get(lab.url + "/api/principal", headers=auth, timeout=TIMEOUT).status_code == 404
        r = requests.post(
            lab.url + "/jmap",
            headers=auth,
            timeout=TIMEOUT,
            json={
                "using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"],
                "methodCalls": [
                    ["x:DkimSignature/get", {"ids": None, "properties": ["publicKey", "selector"]}, "0"],
                    ["x:Account/query", {"filter": {"text": DOMAIN}, "calculateTotal": True}, "1"],
                ],
            },
        )
        responses = r.json()["methodResponses"]
        assert responses[0][1]["list"][0]["publicKey"] == before
        assert responses[1][1]["total"] == 5


def test_latency_faults_and_counters() -> None:
    lab, seeds = seeded_lab("0.15", latency=0.05)
    auth = {"Authorization": "Bearer " + seeds.bearer()}
    with lab:
        started = time.monotonic()
        requests.get(lab.url + "/api/principal/system", headers=auth, timeout=TIMEOUT)
        assert time.monotonic() - started >= 0.05
        lab.control.inject(Fault(match=lambda m, p: m == "PATCH", status=503, body=b"busy"))
        r = requests.patch(
            lab.url + "/api/principal/system",
            headers=auth,
            timeout=TIMEOUT,
            json=[{"action": "set", "field": "description", "value": "x"}],
        )
        assert r.status_code == 503
        assert lab.state.directory.get("system").description == "System notifications"
        lab.control.inject(Fault(match=lambda m, p: p.startswith("/api/principal"), drop=True))
        with pytest.raises(requests.ConnectionError):
            requests.get(lab.url + "/api/principal", headers=auth, timeout=TIMEOUT)
        assert lab.control.counter["GET /api/principal/system"] == 1
        assert lab.control.total == 3


def test_start_lab_service_contract(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import stat

    from reconciler.lab.stalwart import start_lab

    desired = tmp_path / "desired" / "stalwart"
    desired.mkdir(parents=True)
    (desired / "a.yaml").write_text("dkim:\n  - {id: rsa-namgun.or.kr, domain: namgun.or.kr, selector: s2026}\n")
    service = start_lab(tmp_path / "lab", desired=tmp_path / "desired")
    try:
        target = service.target
        assert target["kind"] == "stalwart" and target["api"] == "auto" and target["address"] == service.lab.url
        key_file = target["api_key"].removeprefix("file:")
        assert stat.S_IMODE(__import__("os").stat(key_file).st_mode) == 0o600
        # the organisation's hand-made accounts are adopted; the LDAP copies never (issue 4, Ownership)
        assert target["adopt"] == ["system", "postmaster"]
        assert not set(target["adopt"]) & {uid for uid, _ in LDAP_PEOPLE}
        assert set(service.env) == {"STALWART_SYSTEM_SECRET", "STALWART_POSTMASTER_SECRET", "STALWART_GIT_SECRET",
                                    "STALWART_NOREPLY_SECRET"}
        # the seeded key sits under the selector git declares, so DNS and mail server agree
        assert service.lab.state.directory.settings[f"signature.{DKIM_ID}.selector"] == "s2026"
        assert "Stalwart v0.15 emulator" in service.describe()
    finally:
        service.stop()
