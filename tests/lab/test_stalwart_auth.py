"""Authentication, 401/403/429 and the fail-ban, on both generations (stalwart-api.md §2)."""

from __future__ import annotations

import base64

import pytest
import requests

from reconciler.lab.stalwart import DOMAIN, StalwartLabConfig, seeded_lab
from reconciler.lab.stalwart.auth import BanPolicy

TIMEOUT = 5


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def test_fallback_admin_and_api_key_work_and_survive_ldap_outage() -> None:
    lab, seeds = seeded_lab("0.15")
    with lab:
        lab.state.ldap.up = False
        r = requests.get(
            lab.url + "/api/principal/system", headers=_basic(" ADMIN ", seeds.fallback_admin), timeout=TIMEOUT
        )
        assert r.json()["data"]["name"] == "system"  # user name trimmed and lower-cased
        r = requests.get(
            lab.url + "/api/principal/system", headers={"Authorization": "Bearer " + seeds.bearer()}, timeout=TIMEOUT
        )
        assert r.status_code == 200
        # An API key also works as Basic on /api (apiKey principal with a matching secret)
        r = requests.get(
            lab.url + "/api/principal/system", headers=_basic("reconciler", seeds.api_key), timeout=TIMEOUT
        )
        assert r.status_code == 200


def test_v015_401_shapes() -> None:
    lab, _ = seeded_lab("0.15")
    with lab:
        r = requests.get(lab.url + "/api/principal", timeout=TIMEOUT)
        assert r.status_code == 401
        assert "WWW-Authenticate" not in r.headers  # none on /api since v0.13 (#1795)
        assert r.json() == {
            "type": "about:blank",
            "status": 401,
            "title": "Unauthorized",
            "detail": "You have to authenticate first.",
        }
        r = requests.get(lab.url + "/api/principal", headers=_basic("admin", "wrong"), timeout=TIMEOUT)
        assert r.status_code == 401 and "WWW-Authenticate" not in r.headers
        r = requests.get(lab.url + "/api/principal", headers={"Authorization": "Basic !!notbase64"}, timeout=TIMEOUT)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].count("realm") == 2  # malformed Basic: both challenges


def test_ldap_user_is_copied_in_and_has_no_management_rights() -> None:
    lab, seeds = seeded_lab("0.15")
    with lab:
        r = requests.get(lab.url + "/api/principal", headers=_basic("tsha", seeds.ldap["tsha"]), timeout=TIMEOUT)
        assert r.status_code == 403
        mirror = lab.state.directory.get("tsha")
        assert mirror is not None and mirror.origin == "ldap" and mirror.roles == ["user"]
        assert [w.op for w in lab.state.directory.writes_to("tsha", via="lab")] == ["ldap-sync"]
        assert lab.state.directory.writes_to("tsha", via="api") == []


def test_ban_after_repeated_failures_then_403_or_dropped() -> None:
    lab, seeds = seeded_lab("0.15", config=StalwartLabConfig(ban=BanPolicy(failures=3, window=60)))
    with lab:
        session = requests.Session()
        statuses = [
            session.get(lab.url + "/api/principal", headers=_basic("admin", "bad"), timeout=TIMEOUT).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        r = session.get(lab.url + "/api/principal", headers=_basic("admin", "bad"), timeout=TIMEOUT)
        assert r.status_code == 403  # kept-alive connection: blocked-IP problem
        # A new connection from the banned IP is dropped, even with good credentials.
        with pytest.raises(requests.ConnectionError):
            requests.get(
                lab.url + "/api/principal",
                headers={"Authorization": "Bearer " + seeds.bearer(), "Connection": "close"},
                timeout=TIMEOUT,
            )
        assert lab.state.auth.failed_attempts == 4


def test_ban_body_text() -> None:
    lab, _ = seeded_lab("0.16", config=StalwartLabConfig(ban=BanPolicy(failures=1, window=60)))
    with lab:
        s = requests.Session()
        s.post(lab.url + "/jmap", headers=_basic("admin", "x"), json={}, timeout=TIMEOUT)
        r = s.post(lab.url + "/jmap", headers=_basic("admin", "x"), json={}, timeout=TIMEOUT)
        assert r.status_code == 429
        assert r.json()["title"] == "Too Many Authentication Attempts"


def test_v016_401_always_challenges_and_login_by_email() -> None:
    cfg = StalwartLabConfig(ldap_default_directory=False)
    lab, seeds = seeded_lab("0.16", config=cfg)
    with lab:
        r = requests.post(lab.url + "/jmap", json={}, timeout=TIMEOUT)
        assert r.status_code == 401
        challenges = r.raw.headers.get_all("WWW-Authenticate")
        assert challenges == [
            'Bearer realm="Stalwart Server", resource_metadata="/.well-known/oauth-protected-resource"',
            'Basic realm="Stalwart Server"',
        ]
        # Account names are e-mail addresses on v0.16; the migrated SHA-512-crypt hash still verifies.
        r = requests.get(lab.url + "/jmap/session", headers=_basic(f"system@{DOMAIN}", seeds.system), timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["username"] == f"system@{DOMAIN}"
        r = requests.get(lab.url + "/jmap/session", headers=_basic("system", seeds.system), timeout=TIMEOUT)
        assert r.status_code == 401
