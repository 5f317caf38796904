"""Authentik down, 5xx, timeouts, 403s and refused superuser changes (issue 3, "Bad input and faults"):
a clear message naming the target, retries only where safe, a report of what was and was not
applied, and a next run that converges."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import plan as planmod
from reconciler.lab.authentik import html_fault
from reconciler.lab.common import Fault
from reconciler.model.resource import Resource
from reconciler.providers.authentik import AuthentikProvider
from reconciler.providers.base import ProviderError, Scope
from tests.authentik.support import Env, lab_env, load_desired

THREE_NEW = """\
users:
  - username: a1
    name: 가
    email: a1@namgun.or.kr
  - username: a2
    name: 나
    email: a2@namgun.or.kr
  - username: a3
    name: 다
    email: a3@namgun.or.kr
"""


def desired(env: Env, text: str) -> list[Resource]:
    return load_desired(env.tmp / "d", text).of_kind("authentik")


def plan(provider: AuthentikProvider, res: list[Resource]) -> list[planmod.Change]:
    live = provider.read(Scope(desired=res))
    return planmod.diff_target(provider, res, live, provider.target.policies)[0]


def is_users(method: str) -> object:
    return lambda m, p: m == method and p.startswith("/api/v3/core/users/")


def test_authentik_down_names_the_target(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        provider = env.provider()
    # the lab has stopped: nothing listens on that port any more
    with pytest.raises(ProviderError) as err:
        provider.read(Scope(desired=[]))
    text = str(err.value)
    assert text.startswith("sso: list ") and "cannot reach Authentik at http://127.0.0.1:" in text
    assert err.value.retryable


def test_one_5xx_on_a_read_is_retried_a_persistent_one_is_reported(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        env.lab.control.inject(html_fault(503, is_users("GET")))
        live = env.provider().read(Scope(desired=[]))
        assert len(live.resources) == 8
        env.lab.control.inject(html_fault(502, is_users("GET"), times=10))
        with pytest.raises(ProviderError, match=r"^sso: list users \(page 1\): Authentik answered 502"):
            env.provider().read(Scope(desired=[]))


def test_timeout_is_reported(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        env.lab.control.inject(Fault(match=is_users("GET"), delay=1.5, times=10))  # type: ignore[arg-type]
        with pytest.raises(ProviderError, match=r"no answer from http://127\.0\.0\.1:\d+ within 0\.5s"):
            env.provider(timeout=0.5, retries=1).read(Scope(desired=[]))


def test_bad_token_and_token_without_permission(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        with pytest.raises(ProviderError) as err:
            env.provider(token="not-the-token").read(Scope(desired=[]))
        assert "the token was refused (403 Token invalid/expired)" in str(err.value)
        assert "not-the-token" not in str(err.value)
        with pytest.raises(ProviderError) as err:
            env.provider(token=env.seed.no_permission_token).read(Scope(desired=[]))
        assert "the token lacks permission (403 You do not have permission to perform this action.)" \
            in str(err.value)
        assert env.seed.no_permission_token not in str(err.value)


def test_a_failed_change_does_not_stop_the_others_and_the_next_run_converges(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        res = desired(env, THREE_NEW)
        provider = env.provider(concurrency=1)
        changes = plan(provider, res)
        assert len(changes) == 3
        # a 500 is not retried for a create (it may have happened); the other two go on
        env.lab.control.inject(html_fault(500, lambda m, p: m == "POST" and p == "/api/v3/core/users/"))
        env.lab.control.reset_counters()
        results = provider.apply(changes)
        assert [r.ok for r in results].count(True) == 2
        failed = next(r for r in results if not r.ok)
        assert failed.error is not None and failed.error.startswith("sso: create user a")
        assert "Authentik answered 500" in failed.error and not failed.skipped
        assert env.lab.control.counter["POST /api/v3/core/users/"] == 3  # no retry of the failed POST
        again = plan(provider, res)
        assert [c.op for c in again] == ["create"]
        assert all(r.ok for r in provider.apply(again))
        assert plan(provider, res) == []


def test_connection_lost_mid_apply_marks_the_rest_not_attempted(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        res = desired(env, THREE_NEW)
        provider = env.provider(concurrency=1)
        changes = plan(provider, res)
        env.lab.control.inject(Fault(match=lambda m, p: m == "POST", drop=True))
        results = provider.apply(changes)
        assert not results[0].ok and "cannot reach Authentik" in (results[0].error or "")
        assert all(r.skipped and (r.error or "").startswith("not attempted: Authentik stopped answering")
                   for r in results[1:])
        assert env.lab.store.user_by_username("a2") is None
        assert all(r.ok for r in provider.apply(plan(provider, res)))
        assert plan(provider, res) == []


def test_patch_is_retried_on_503(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        res = desired(env, """\
            users:
              - username: kkb
                name: 김경본 팀장
                email: kkb@namgun.or.kr
            """)
        provider = env.provider()
        changes = plan(provider, res)
        env.lab.control.inject(html_fault(503, lambda m, p: m == "PATCH"))
        env.lab.control.reset_counters()
        assert all(r.ok for r in provider.apply(changes))
        assert env.lab.control.counter[f"PATCH /api/v3/core/users/{env.lab.store.user_by_username('kkb').pk}/"] == 2  # type: ignore[union-attr]


OPS = """\
groups:
  - name: ops
users:
  - username: kkb
    name: 김경본
    email: kkb@namgun.or.kr
    groups: [ops]
"""


@pytest.mark.parametrize(("version", "refused"), [("2025.10.4", False), ("2025.12.6", True), ("2026.2.7", True)])
def test_group_made_superuser_between_read_and_apply(tmp_path: Path, version: str, refused: bool) -> None:
    """reconciler never sends a membership of a superuser group (guards.py), but an administrator may
    flip a group's flag after the read. Authentik from 2025.12.5/2026.2.3 then refuses the PATCH for lack
    of enable_group_superuser (authentik-api.md §2.5, CVE-2026-40172); the result says so, no crash."""
    with lab_env(tmp_path, version) as env:
        ops = env.lab.store.new_group("ops")
        provider = env.provider()
        changes = plan(provider, desired(env, OPS))
        assert [(c.ident, c.fields) for c in changes] == [("authentik.user kkb", ["groups"])]
        assert provider.check(changes) == {}
        ops.is_superuser = True  # by hand in Authentik, after reconciler read
        results = provider.apply(changes)
        kkb = env.lab.store.user_by_username("kkb")
        assert kkb is not None
        if refused:
            error = results[0].error or ""
            assert not results[0].ok and "User does not have permission to add members to superuser groups" in error
            assert "(Authentik 2025.12.5, 2026.2.3 and later need authentik_core.enable_group_superuser)" in error
            assert not env.lab.store.is_superuser(kkb)
        else:  # before the fix change_user was enough: the race is Authentik's hole, the next plan refuses
            assert results[0].ok and env.lab.store.is_superuser(kkb)
            refusal = provider.check(plan(provider, desired(env, OPS.replace("[ops]", "[]"))))
            assert sorted(refusal.values()) == [
                "authentik.group ops: superuser group (is_superuser: true): never managed by reconciler — remove "
                "it from desired/authentik/users.yaml (line 2)",
                "authentik.user kkb: superuser (member of ops): never managed by reconciler — remove it from "
                "desired/authentik/users.yaml (line 4)"]


@pytest.mark.parametrize("version", ["2025.10.4", "2026.2.7"])
def test_superuser_flag_refusal_is_not_blamed_on_the_cve_releases(tmp_path: Path, version: str) -> None:
    """A 400 on ``is_superuser`` is GroupSerializer.validate_is_superuser (enable/disable_group_superuser,
    authentik-api.md §2.5), on every release the lab models: the hint must not name 2025.12.5."""
    from reconciler.providers.authentik.apply import permission_hint
    from reconciler.providers.authentik.client import AuthentikError

    with lab_env(tmp_path, version) as env:
        provider = env.provider()
        with pytest.raises(AuthentikError) as err:
            provider.conn.raw_post("create group root", "/core/groups/", {"name": "root", "is_superuser": True},
                                   [], safe=False)
        assert err.value.body == {"is_superuser": ["User does not have permission to set superuser status to True."]}
        hint = permission_hint(err.value) or ""
        assert "enable_group_superuser / disable_group_superuser" in hint and "2025.12.5" not in hint
        assert env.lab.store.group_by_name("root") is None


def test_recovery_email_without_email_stage_is_refused_before_apply(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        res = desired(env, """\
            users:
              - username: tsha
                name: 하태수
                email: tsha@namgun.or.kr
                enrollment: {method: recovery_email}
            """)
        provider = env.provider(email_stage=None)
        changes = plan(provider, res)
        refusals = provider.check(changes)
        assert list(refusals.values()) == [
            "authentik.user tsha: enrollment recovery_email needs `email_stage:` (uuid of an Authentik email "
            "stage) in the options of target sso"]
