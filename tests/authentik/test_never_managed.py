"""What reconciler never changes in Authentik even when git declares it (guards.py): Authentik's own
service and outpost accounts, the API token's owner, superuser groups (and groups under them), and
superusers. Each refusal comes at plan time, cannot be forced, and nothing reaches the lab: the tests
look at the lab's request counters and its store, not only at the message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import plan as planmod
from reconciler.cli import main
from reconciler.lab.authentik.store import ALL_PERMISSIONS
from reconciler.model.resource import Resource
from reconciler.providers import base
from reconciler.providers.authentik import AuthentikProvider
from reconciler.providers.authentik.live import MARKER
from reconciler.providers.base import Scope
from tests.authentik.support import Env, desired_tree, lab_env, load_desired

VERSIONS = ("2025.10.4", "2026.2.7")
WRITES = ("POST ", "PATCH ", "PUT ", "DELETE ")


@pytest.fixture(params=VERSIONS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with lab_env(tmp_path, request.param) as e:
        yield e


def desired(env: Env, text: str) -> list[Resource]:
    return load_desired(env.tmp / "d", text).of_kind("authentik")


def plan(provider: AuthentikProvider, res: list[Resource]) -> list[planmod.Change]:
    live = provider.read(Scope(desired=res))
    return planmod.diff_target(provider, res, live, provider.target.policies)[0]


def writes(env: Env) -> list[str]:
    return sorted(k for k in env.lab.control.counter if k.startswith(WRITES))


def refused(provider: AuthentikProvider, res: list[Resource]) -> dict[str, str]:
    """ident → refusal message of a fresh plan."""
    changes = plan(provider, res)
    by_id = {c.id: c.ident for c in changes}
    return {by_id[i]: m for i, m in provider.check(changes).items()}


# ---- the tester's report, end to end through the CLI -------------------------------------------

ROBOT = """\
groups:
  - name: mail-users
users:
  - username: reconciler
    name: reconciler
    email: reconciler@namgun.or.kr
"""

ROBOT_TAKEOVER = """\
groups:
  - name: mail-users
users:
  - username: reconciler
    name: reconciler
    email: attacker@namgun.or.kr
    enrollment: {method: recovery_email}
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, Path]]:
    monkeypatch.setitem(base.REGISTRY, "rfc2136", "tests.authentik.dns_mirror:create")
    with lab_env(tmp_path, "2025.10.4") as env:
        config = {"desired": "desired", "state_dir": "state",
                  "targets": {"sso": {"kind": "authentik", **env.target().options},
                              "dns": {"kind": "rfc2136", "server": "127.0.0.1", "zones": ["namgun.or.kr"]}}}
        path = tmp_path / "reconciler.yaml"
        path.write_text(json.dumps(config, ensure_ascii=False), "utf-8")
        yield env, path


def run(path: Path, *args: str) -> int:
    return main(["-c", str(path), "--no-color", *args])


@pytest.mark.parametrize("text", [ROBOT, ROBOT_TAKEOVER], ids=["declared", "recovery-to-attacker"])
def test_token_owner_declared_in_git_is_refused_and_nothing_is_sent(
        cli: tuple[Env, Path], capsys: pytest.CaptureFixture[str], text: str) -> None:
    env, config = cli
    desired_tree(config.parent, text)
    robot = env.lab.store.user_by_username("reconciler")
    assert robot is not None
    before = (robot.type, robot.path, robot.email, dict(robot.attributes))
    env.lab.control.reset_counters()
    for force in ((), ("--force",)):  # not even --force
        assert run(config, "apply", "--yes", *force) == 3
        captured = capsys.readouterr()
        assert ("refused: sso: authentik.user reconciler: owner of this target's API token (the account "
                "reconciler acts as): never managed by reconciler — remove it from desired/authentik/users.yaml "
                "(line 4)") in captured.out
        assert "nothing was applied" in captured.err
    assert writes(env) == []
    assert (robot.type, robot.path, robot.email, dict(robot.attributes)) == before
    assert env.lab.store.outbox == []
    assert not env.link_dir.exists()


def test_outpost_account_declared_in_git_is_refused(cli: tuple[Env, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    env, config = cli
    desired_tree(config.parent, """\
        users:
          - username: ak-outpost-ldap
            name: Outpost ldap Service-Account
            email: ldap@namgun.or.kr
            enrollment: {method: recovery_email}
        """)
    env.lab.control.reset_counters()
    assert run(config, "diff") == 2
    assert ("refused: sso: authentik.user ak-outpost-ldap: outpost service account (type internal_service_account, "
            "path goauthentik.io/outposts): never managed by reconciler — remove it from "
            "desired/authentik/users.yaml (line 2)") in capsys.readouterr().out
    assert run(config, "apply", "--yes") == 3
    assert writes(env) == [] and env.lab.store.outbox == []


def test_admins_group_declared_in_git_is_refused(cli: tuple[Env, Path], capsys: pytest.CaptureFixture[str]) -> None:
    env, config = cli
    desired_tree(config.parent, """\
        groups:
          - name: authentik Admins
        """)
    admins = env.lab.store.group_by_name("authentik Admins")
    assert admins is not None
    env.lab.control.reset_counters()
    assert run(config, "apply", "--yes", "--force") == 3
    out = capsys.readouterr().out
    assert ("refused: sso: authentik.group authentik Admins: superuser group (is_superuser: true): never managed "
            "by reconciler — remove it from desired/authentik/users.yaml (line 2)") in out
    assert "2025.12.5" not in out  # nothing reached the lab, so no permission hint about any release
    assert writes(env) == []
    assert admins.is_superuser and [env.lab.store.users[pk].username for pk in admins.users] == ["administrator"]


# ---- each rule, through the provider ------------------------------------------------------------

def test_service_account_any_field(env: Env) -> None:
    res = desired(env, """\
        users:
          - username: reconciler
            name: reconciler
            email: ""
            type: internal
            path: users
        """.replace('email: ""', "email: robot@namgun.or.kr"))
    provider = env.provider(token=env.seed.admin_token)  # here the token belongs to administrator
    assert refused(provider, res) == {
        "authentik.user reconciler": "authentik.user reconciler: service account (type service_account, path "
                                     "goauthentik.io/service-accounts): never managed by reconciler — remove it "
                                     "from desired/authentik/users.yaml (line 2)"}


def test_token_owner_that_is_an_ordinary_user(env: Env) -> None:
    """The owner is found through GET /core/users/me/, not guessed from its type or path."""
    store = env.lab.store
    bot = store.new_user("메일봇", "메일 봇", email="mailbot@namgun.or.kr", permissions=ALL_PERMISSIONS)
    token = store.new_token(bot)
    res = desired(env, """\
        users:
          - username: 메일봇
            name: 메일 봇
            email: other@namgun.or.kr
        """)
    provider = env.provider(token=token)
    env.lab.control.reset_counters()
    assert refused(provider, res) == {
        "authentik.user 메일봇": "authentik.user 메일봇: owner of this target's API token (the account reconciler "
                               "acts as): never managed by reconciler — remove it from desired/authentik/users.yaml "
                               "(line 2)"}
    assert env.lab.control.counter["GET /api/v3/core/users/me/"] == 1
    # not declared: left out of the live state, like Authentik's own accounts
    live = provider.read(Scope(desired=[]))
    assert ("authentik.user", ("메일봇",)) not in live.resources
    assert any(u.resource.key == ("메일봇",) and "API token" in u.reason for u in live.unmanaged)
    assert bot.email == "mailbot@namgun.or.kr" and writes(env) == []


def test_superuser_and_groups_under_a_superuser_group(env: Env) -> None:
    store = env.lab.store
    admins = store.group_by_name("authentik Admins")
    assert admins is not None
    helpdesk = store.new_group("helpdesk")
    helpdesk.parents = [admins.pk]
    kkb = store.user_by_username("kkb")
    assert kkb is not None
    store.add_member(helpdesk, kkb)  # kkb is a superuser through helpdesk's parent
    res = desired(env, """\
        groups:
          - name: helpdesk
            attributes: {floor: 2}
          - name: mail-users
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            groups: [mail-users]
          - username: administrator
            name: 관리자 (바뀜)
            email: administrator@namgun.or.kr
            groups: [mail-users]
        """)
    provider = env.provider()
    env.lab.control.reset_counters()
    assert refused(provider, res) == {
        "authentik.group helpdesk": "authentik.group helpdesk: grants superuser through its parent group authentik "
                                    "Admins: never managed by reconciler — remove it from "
                                    "desired/authentik/users.yaml (line 2)",
        "authentik.user kkb": "authentik.user kkb: superuser (member of helpdesk, which inherits superuser from "
                              "authentik Admins): never managed by reconciler — remove it from "
                              "desired/authentik/users.yaml (line 6)",
        "authentik.user administrator": "authentik.user administrator: superuser (member of authentik Admins): "
                                        "never managed by reconciler — remove it from "
                                        "desired/authentik/users.yaml (line 10)"}
    assert writes(env) == []


def test_changes_that_would_grant_superuser(env: Env) -> None:
    res = desired(env, """\
        groups:
          - name: authentik Admins
            is_superuser: true
          - name: mail-users
            is_superuser: true
          - name: root
            is_superuser: true
          - name: 부관리자
            parent: authentik Admins
          - name: ops
        users:
          - username: namgun18
            name: 남근
            email: namgun18@namgun.or.kr
            groups: [mail-users]
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            groups: [ops, 부관리자]
          - username: newadmin
            name: 새관리자
            email: newadmin@namgun.or.kr
            groups: [authentik Admins]
        """)
    provider = env.provider()
    changes = plan(provider, res)
    live = provider.read(Scope(desired=res))
    # the admins group is declared exactly as it is: no change, a note
    assert any(n.startswith("authentik.group authentik Admins is declared in git") for n in live.notes)
    env.lab.control.reset_counters()
    messages = {c.ident: m for c in changes for i, m in provider.check(changes).items() if i == c.id}
    assert messages["authentik.group mail-users"].startswith(
        "authentik.group mail-users: would make this group grant superuser (is_superuser: true)")
    assert messages["authentik.group root"].startswith(
        "authentik.group root: would create a group that grants superuser (is_superuser: true)")
    assert messages["authentik.group 부관리자"].startswith(
        "authentik.group 부관리자: would create a group that grants superuser (through its parent group "
        "authentik Admins)")
    assert messages["authentik.user kkb"].startswith(
        "authentik.user kkb: joining group 부관리자, which inherits superuser from authentik Admins, would make "
        "this user a superuser")
    assert messages["authentik.user newadmin"].startswith(
        "authentik.user newadmin: joining group authentik Admins would make this user a superuser")
    # namgun18 is already in mail-users: the refusal is the group's (its flag), not the membership's
    assert "authentik.user namgun18" not in messages
    assert "authentik.group ops" not in messages  # an ordinary new group is fine
    # and the Applier, asked directly, sends none of the refused changes
    results = {r.change_id: r for r in provider.apply(changes)}
    for change in changes:
        if change.ident in messages:
            assert results[change.id].skipped and (results[change.id].error or "").startswith("refused: ")
    assert env.lab.store.group_by_name("root") is None and env.lab.store.user_by_username("newadmin") is None
    assert writes(env) == ["POST /api/v3/core/groups/"]  # ops only
    mail = env.lab.store.group_by_name("mail-users")
    assert mail is not None and not mail.is_superuser


def test_applier_refuses_on_its_own(env: Env) -> None:
    """Defence in depth: apply() without check() (a caller that skipped the plan) sends nothing refused."""
    res = desired(env, """\
        users:
          - username: reconciler
            name: 로봇
            email: attacker@namgun.or.kr
            enrollment: {method: recovery_email}
        """)
    provider = env.provider()
    changes = plan(provider, res)
    env.lab.control.reset_counters()
    [result] = provider.apply(changes)
    assert not result.ok and result.skipped and "owner of this target's API token" in (result.error or "")
    assert writes(env) == [] and env.lab.store.outbox == []


def test_superuser_created_by_reconciler_is_not_deactivated_when_removed_from_git(env: Env) -> None:
    store = env.lab.store
    temp = store.new_user("temp", "임시", email="temp@namgun.or.kr", attributes={MARKER: True})
    admins = store.group_by_name("authentik Admins")
    assert admins is not None
    store.add_member(admins, temp)  # someone made it an admin by hand
    provider = env.provider(policies={"removal": "delete"})
    assert plan(provider, []) == []
    live = provider.read(Scope(desired=[]))
    assert live.resources[("authentik.user", ("temp",))].guard == (
        "superuser (member of authentik Admins): never managed by reconciler")


def test_import_leaves_out_what_is_never_managed(env: Env) -> None:
    live = env.provider().read(Scope(desired=[]))
    importable = {r.ident for r in live.resources.values() if not r.guard or r.meta.get("importable")}
    assert "authentik.user administrator" not in importable
    assert "authentik.group authentik Admins" not in importable
    assert {"authentik.user kkb", "authentik.group mail-users"} <= importable
