"""The Authentik provider against the lab's emulator, in both version modes (issue 3 parts 1–3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import plan as planmod
from reconciler.model.resource import Resource
from reconciler.plan import Change
from reconciler.providers.authentik import AuthentikProvider
from reconciler.providers.authentik.live import ENROLLMENT, MARKER
from reconciler.providers.base import ChangeResult, LiveState, Scope
from tests.authentik.support import TODAY, Env, lab_env, load_desired

VERSIONS = ("2025.10.4", "2026.2.7")


@pytest.fixture(params=VERSIONS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with lab_env(tmp_path, request.param) as e:
        yield e


def plan_for(provider: AuthentikProvider, desired: list[Resource]) -> tuple[list[Change], LiveState]:
    live = provider.read(Scope(desired=desired))
    changes, _ = planmod.diff_target(provider, desired, live, provider.target.policies)
    return changes, live


def converge(provider: AuthentikProvider, desired: list[Resource]) -> list[ChangeResult]:
    changes, _ = plan_for(provider, desired)
    assert not provider.check(changes)
    results = provider.apply(changes)
    assert all(r.ok for r in results), [r.error for r in results]
    again, _ = plan_for(provider, desired)
    assert again == [], [(c.ident, c.fields) for c in again]
    return results


def authentik(env: Env, text: str) -> list[Resource]:
    return load_desired(env.tmp / "d", text).of_kind("authentik")


def test_todays_state_is_fixed_and_the_administrator_is_left_alone(env: Env) -> None:
    provider = env.provider()
    desired = authentik(env, TODAY)
    changes, live = plan_for(provider, desired)
    by = {(c.ident, tuple(c.fields)) for c in changes}
    assert by == {("authentik.user tsha", ("enrollment",)), ("authentik.user nahee14", ("enrollment",)),
                  ("authentik.user kkb", ("enrollment",))}
    # administrator is declared exactly as it is (seed.py): no change, but a note that it is never managed
    assert any(n.startswith("authentik.user administrator is declared in git") for n in live.notes)
    tsha = next(c for c in changes if c.key == ("tsha",))
    assert tsha.before is not None and tsha.before.data["enrollment"] == "none"
    assert "never set a password" in provider.drift_findings()[0]
    converge(provider, desired)
    store = env.lab.store
    admin = store.user_by_username("administrator")
    assert admin is not None and store.is_superuser(admin)
    assert {store.groups[g].name for g in admin.groups} == {"authentik Admins", "mail-users"}
    assert {m.to for m in store.outbox} == {"tsha@namgun.or.kr", "nahee14@namgun.or.kr"}
    assert len(env.announced) == 1 and "recovery link for kkb" in env.announced[0]
    olduser = store.user_by_username("olduser")
    assert olduser is not None and olduser.is_active  # not in git, no marker: left alone
    # still reported until the people set a password; no second email on the next run
    assert sum("has never set a password" in f for f in provider.drift_findings()) == 3
    kkb = store.user_by_username("kkb")
    assert kkb is not None
    store.set_password(kkb, "kkb's own choice")
    provider.read(Scope(desired=desired))
    assert not any("user kkb" in f for f in provider.drift_findings())


def test_create_with_each_enrollment_method(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIM_INITIAL_PASSWORD", "처음-비밀번호-1")
    desired = authentik(env, """\
        groups:
          - name: mail-users
          - name: 운영팀
            parent: mail-users
            attributes: {floor: 3}
        users:
          - username: jdoe
            name: 정도윤
            email: jdoe@namgun.or.kr
            groups: [mail-users, 운영팀]
            attributes: {dept: 운영}
            enrollment: {method: recovery_email}
          - username: link
            name: 이링크
            email: link@namgun.or.kr
            enrollment: {method: recovery_link}
          - username: kim
            name: 김처음
            email: kim@namgun.or.kr
            enrollment: {method: initial_password, password: env:KIM_INITIAL_PASSWORD}
        """)
    results = converge(env.provider(), desired)
    store = env.lab.store
    jdoe = store.user_by_username("jdoe")
    assert jdoe is not None and jdoe.name == "정도윤" and jdoe.attributes[MARKER] is True
    assert jdoe.attributes["dept"] == "운영" and jdoe.attributes[ENROLLMENT]["method"] == "recovery_email"
    assert {store.groups[g].name for g in jdoe.groups} == {"mail-users", "운영팀"}
    team = store.group_by_name("운영팀")
    assert team is not None and team.attributes == {"floor": 3, MARKER: True}
    assert [store.groups[p].name for p in team.parents] == ["mail-users"]
    assert store.outbox[-1].to == "jdoe@namgun.or.kr"
    assert store.check_password("kim", "처음-비밀번호-1")
    assert any("recovery link for link" in a for a in env.announced)
    created = [r for r in results if r.detail.get("pk") and r.detail.get("enrollment")]
    assert all(r.detail["requests"] == 3 for r in created)
    assert not any("처음-비밀번호-1" in str(r) for r in results)  # the secret never reaches a result


def test_attributes_are_merged_and_only_patch_is_used(env: Env) -> None:
    store = env.lab.store
    kkb = store.user_by_username("kkb")
    assert kkb is not None
    kkb.attributes = {"goauthentik.io/user/sources": ["ldap"], "keep": "me", "dept": "old"}
    desired = authentik(env, """\
        groups:
          - name: mail-users
        users:
          - username: kkb
            name: 김경본 (운영)
            email: kkb@namgun.or.kr
            groups: [mail-users]
            attributes: {dept: 운영}
        """)
    env.lab.control.reset_counters()
    converge(env.provider(), desired)
    assert kkb.attributes == {"goauthentik.io/user/sources": ["ldap"], "keep": "me", "dept": "운영"}
    assert kkb.name == "김경본 (운영)"
    methods = {key.split(" ")[0] for key in env.lab.control.counter}
    assert "PUT" not in methods and "PATCH" in methods


def test_membership_only_of_declared_groups(env: Env) -> None:
    store = env.lab.store
    other = store.new_group("vpn-users")
    kkb = store.user_by_username("kkb")
    assert kkb is not None
    store.add_member(other, kkb)
    desired = authentik(env, """\
        groups:
          - name: mail-users
          - name: wiki
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            groups: [wiki]
        """)
    converge(env.provider(), desired)
    assert {store.groups[g].name for g in kkb.groups} == {"vpn-users", "wiki"}


def test_removed_user_is_deactivated_not_deleted(env: Env) -> None:
    desired = authentik(env, """\
        users:
          - username: temp
            name: 임시
            email: temp@namgun.or.kr
        """)
    provider = env.provider()
    converge(provider, desired)
    temp = env.lab.store.user_by_username("temp")
    assert temp is not None and temp.attributes[MARKER] is True
    changes, _ = plan_for(provider, [])
    assert [(c.op, c.ident, c.fields) for c in changes] == [("update", "authentik.user temp", ["is_active"])]
    assert "deactivated" in changes[0].warnings[0]
    assert all(r.ok for r in provider.apply(changes))
    assert temp.is_active is False and env.lab.store.user_by_username("temp") is temp
    # users without the marker are never touched, whatever the policy
    deleting = env.provider(policies={"removal": "delete"})
    changes, _live = plan_for(deleting, [])
    assert [(c.op, c.ident) for c in changes] == [("delete", "authentik.user temp")]
    assert "irreversible" in changes[0].warnings[0] and "uidNumber" in changes[0].warnings[0]
    assert all(r.ok for r in deleting.apply(changes))
    assert env.lab.store.user_by_username("temp") is None
    assert env.lab.store.user_by_username("olduser") is not None


def test_new_enum_value_falls_back_to_raw_json(env: Env) -> None:
    olduser = env.lab.store.user_by_username("olduser")
    assert olduser is not None
    olduser.type = "future_kind"
    nahee = env.lab.store.user_by_username("nahee14")
    assert nahee is not None
    nahee.name = None  # type: ignore[assignment]  # an unexpected null where the client wants a string
    live = env.provider().read(Scope(desired=[]))
    assert live.resources[("authentik.user", ("olduser",))].data["type"] == "future_kind"
    assert live.resources[("authentik.user", ("nahee14",))].data["name"] == ""
    assert any("user olduser: the client could not parse it (type:" in n for n in live.notes)
    assert any("user nahee14: the client could not parse it (name:" in n for n in live.notes)
    assert len([r for r in live.resources.values() if r.kind == "authentik.user"]) == 6


def test_reads_follow_pagination_whatever_the_served_size(env: Env) -> None:
    for i in range(260):
        env.lab.store.new_user(f"user{i:03d}", f"사용자{i}")
    env.lab.control.reset_counters()
    live = env.provider(page_size=500).read(Scope(desired=[]))
    assert len([r for r in live.resources.values() if r.kind == "authentik.user"]) == 266
    pages = env.lab.control.counter["GET /api/v3/core/users/"]
    # 2025.10 serves 500 per page (1 page); 2025.12+ caps at 100 (3 pages)
    assert pages == (1 if env.lab.store.version.max_page_size is None else 3)

