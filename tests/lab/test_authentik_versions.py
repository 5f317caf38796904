"""Version-dependent behaviour, the seed, the LabService and fault/latency injection of the
Authentik lab."""

from __future__ import annotations

import time
from pathlib import Path

import authentik_client as ak
import pytest
import requests
from authentik_client.exceptions import BadRequestException, ServiceException

from reconciler.lab.authentik import AuthentikVersion, Switches, html_fault, start_lab
from reconciler.lab.common import Fault
from tests.lab.authentik_support import running


@pytest.mark.parametrize(("version", "refused"), [
    ("2025.10.4", False), ("2025.12.4", False), ("2025.12.6", True), ("2026.2.2", False),
    ("2026.2.7", True), ("2026.8.5", True)])
def test_superuser_group_membership_needs_permission_after_the_cve_fix(version: str, refused: bool) -> None:
    """authentik-api.md §2.5: CVE-2026-40172, fixed in 2025.12.5 and 2026.2.3."""
    with running(version) as env:
        kkb = env.lab.store.user_by_username("kkb")
        assert kkb is not None
        api = env.api(env.seed.reconciler_token)
        request = ak.PatchedUserRequest(groups=[env.seed.mail_group, env.seed.admins_group])
        if refused:
            with pytest.raises(BadRequestException) as err:
                api.core_users_partial_update(kkb.pk, request)
            assert err.value.data.additional_properties == {"groups": [Switches().superuser_group_refusal]}
            assert kkb.groups == [env.seed.mail_group]
            # the superuser token may
            env.api().core_users_partial_update(kkb.pk, request)
        else:
            api.core_users_partial_update(kkb.pk, request)
        assert env.lab.store.is_superuser(kkb)


def test_patch_keeping_an_existing_superuser_membership_is_allowed_by_default() -> None:
    with running("2026.2.7") as env:
        admin = env.lab.store.user_by_username("administrator")
        assert admin is not None
        api = env.api(env.seed.reconciler_token)
        api.core_users_partial_update(admin.pk, ak.PatchedUserRequest(
            groups=[env.seed.admins_group, env.seed.mail_group]))
    strict = Switches(superuser_check_all_listed=True)
    with running("2026.2.7", switches=strict) as env:
        admin = env.lab.store.user_by_username("administrator")
        assert admin is not None
        with pytest.raises(BadRequestException):
            env.api(env.seed.reconciler_token).core_users_partial_update(admin.pk, ak.PatchedUserRequest(
                groups=[env.seed.admins_group, env.seed.mail_group]))


def test_add_user_superuser_check_is_a_switch() -> None:
    for switch, status in ((False, 204), (True, 403)):
        with running("2026.2.7", switches=Switches(add_user_checks_superuser=switch)) as env:
            kkb = env.lab.store.user_by_username("kkb")
            assert kkb is not None
            response = env.http("POST", f"/core/groups/{env.seed.admins_group}/add_user/",
                                who=env.seed.reconciler_token, json={"pk": kkb.pk})
            assert response.status_code == status


def test_invalid_page_size_switch_on_new_versions() -> None:
    with running("2026.2.7", switches=Switches(invalid_page_size_uses_settings_default=False)) as env:
        for i in range(40):
            env.lab.store.new_user(f"z{i:02d}", "z")
        assert len(env.http("GET", "/core/users/?page_size=abc").json()["results"]) == 20


def test_version_facts() -> None:
    old, new = AuthentikVersion("2025.10.4"), AuthentikVersion("2026.5.8")
    assert (old.default_page_size, old.max_page_size) == (100, None)
    assert (new.default_page_size, new.max_page_size) == (20, 100)
    assert not old.has_set_password_hash and new.has_set_password_hash
    with pytest.raises(ValueError, match="not an Authentik version"):
        AuthentikVersion("latest").parts  # noqa: B018


def test_set_password_hash_exists_only_from_2026_5() -> None:
    with running("2026.2.7") as env:
        kkb = env.lab.store.user_by_username("kkb")
        assert kkb is not None
        assert env.http("POST", f"/core/users/{kkb.pk}/set_password_hash/", json={"password": "x"}).status_code == 404
    with running("2026.5.8") as env:
        kkb = env.lab.store.user_by_username("kkb")
        assert kkb is not None
        response = env.http("POST", f"/core/users/{kkb.pk}/set_password_hash/",
                            json={"password": "pbkdf2_sha256$1000$salt$abc"})
        assert response.status_code == 204 and kkb.has_usable_password


def test_seed_is_todays_state() -> None:
    with running("2025.10.4") as env:
        store = env.lab.store
        for name in ("namgun18", "administrator", "olduser"):
            user = store.user_by_username(name)
            assert user is not None and user.has_usable_password
            assert (user.password_change_date - user.date_joined).days >= 1
        for name in ("tsha", "nahee14", "kkb"):
            user = store.user_by_username(name)
            assert user is not None and not user.has_usable_password
            assert (user.password_change_date - user.date_joined).total_seconds() < 0.01
        assert store.user_by_username("kkb").name == "김경본"  # type: ignore[union-attr]
        admins = store.group_by_name("authentik Admins")
        assert admins is not None and admins.is_superuser
        assert [store.users[pk].username for pk in admins.users] == ["administrator"]
        assert store.group_by_name("mail-users") is not None


def test_latency_is_added_per_request_and_counted() -> None:
    with running("2025.10.4", latency=0.05) as env:
        api = env.api()
        env.lab.control.reset_counters()
        started = time.monotonic()
        api.core_users_list()
        api.core_groups_list()
        assert time.monotonic() - started >= 0.1
        assert env.lab.control.total == 2
        assert env.lab.control.counter["GET /api/v3/core/users/"] == 1


def test_injected_faults() -> None:
    with running("2025.10.4") as env:
        api = env.api()
        env.lab.control.inject(html_fault(503, lambda m, p: m == "GET" and p.endswith("/core/users/")))
        with pytest.raises(ServiceException) as err:
            api.core_users_list()
        assert err.value.status == 503 and err.value.data is None
        assert api.core_users_list().pagination.count == 8  # one-shot
        env.lab.control.inject(Fault(match=lambda m, p: True, drop=True))
        with pytest.raises(requests.ConnectionError):
            env.http("GET", "/core/users/")
        env.lab.control.inject(Fault(match=lambda m, p: True, delay=1.0))
        with pytest.raises(requests.Timeout):
            requests.get(env.lab.api_url + "/core/users/", timeout=0.2,
                         headers={"Authorization": f"Bearer {env.seed.admin_token}"})


def test_start_lab_service(tmp_path: Path) -> None:
    service = start_lab(tmp_path, latency=0.0)
    try:
        target = service.target
        assert target["kind"] == "authentik" and target["address"].startswith("http://127.0.0.1:")
        ref = target["token"]
        assert ref.startswith("file:")
        path = Path(ref.removeprefix("file:"))
        assert path.stat().st_mode & 0o777 == 0o600
        token = path.read_text()
        assert token not in service.describe()
        response = requests.get(target["address"] + "/api/v3/core/users/", timeout=5,
                                headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.json()["pagination"]["count"] == 8
    finally:
        service.stop()
