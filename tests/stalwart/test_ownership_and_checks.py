"""Ownership (marker, LDAP copies, removal policy), the provider's refusals, lists and ordering."""

from __future__ import annotations

import re

import pytest

from reconciler.providers.stalwart.model import MARKER

from .support import Setup

BASE = """\
domains:
  - name: namgun.or.kr
    description: 남근 organisation mail domain
accounts:
  - name: system
    description: System notifications
    emails: [system@namgun.or.kr]
    secret: env:STALWART_SYSTEM_SECRET
"""


def test_removal_deletes_only_owned_accounts_and_warns(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v015.set_policies(max_change_share=1.0)
    assert v015.run("apply", "--yes") == 0
    v015.write_desired(BASE)  # postmaster, git, noreply removed from git
    capsys.readouterr()
    assert v015.run("diff") == 0  # removal defaults to keeping them (reported as not declared)
    out = capsys.readouterr().out
    assert re.search(r"^\s+= \d+ × not declared in git[^\n]*: [^\n]*\bgit\b", out, re.M), out
    v015.set_policies(max_change_share=1.0, removal="delete")
    assert v015.run("diff") == 2
    out = capsys.readouterr().out
    assert "- delete stalwart.account git" in out and "ALL its stored mail" in out
    assert "delete stalwart.account tsha" not in out  # LDAP copies: never, whatever the policy
    assert v015.run("apply", "--yes") == 0
    directory = v015.lab.state.directory
    assert directory.get("git") is None and directory.get("postmaster") is None
    assert directory.get("tsha") is not None and directory.writes_to("tsha", via="api") == []


def test_adopted_accounts_get_the_marker(v015: Setup) -> None:
    v015.set_policies(max_change_share=1.0)
    assert v015.run("apply", "--yes") == 0
    system = v015.lab.state.directory.get("system")
    assert system is not None and system.description == f"System notifications {MARKER}"


def test_list_with_members_created_after_its_members(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v015.set_policies(max_change_share=1.0)
    v015.write_desired(BASE + """\
  - name: ops
    type: list
    description: 운영팀 목록
    emails: [ops@namgun.or.kr]
    members: [system, git]
  - name: git
    description: Git forge notifications
    emails: [git@namgun.or.kr]
    secret: env:STALWART_GIT_SECRET
""")
    assert v015.run("apply", "--yes") == 0
    assert v015.run("diff") == 0
    ops = v015.lab.state.directory.get("ops")
    assert ops is not None and ops.type == "list"
    assert sorted(m.name for m in v015.lab.state.directory.members_of(ops.id)) == ["git", "system"]


def test_type_change_is_refused(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v015.write_desired(BASE.replace("  - name: system\n", "  - name: system\n    type: list\n"))
    assert v015.run("diff") == 2
    assert "refused: mail: stalwart.account system: the type cannot change" in capsys.readouterr().out
    assert v015.run("apply", "--yes", "--force") == 3  # a provider's "cannot" is not forceable
    assert v015.lab.state.directory.get("system").type == "individual"  # type: ignore[union-attr]


def test_domains_are_created_before_and_deleted_after_their_accounts(
    v015: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    v015.set_policies(max_change_share=1.0, removal="delete")
    extra = """\
  - name: news
    description: 소식지
    emails: [news@example.org]
"""
    v015.write_desired(BASE.replace("accounts:\n", "  - name: example.org\n    description: 예제\naccounts:\n") + extra)
    assert v015.run("apply", "--yes") == 0  # the plan lists the account first; the domain goes first
    directory = v015.lab.state.directory
    created = [w.name for w in directory.writes if w.op == "create"]
    assert created.index("example.org") < created.index("news")
    v015.write_desired(BASE)
    assert v015.run("apply", "--yes") == 0
    deleted = [w.name for w in directory.writes if w.op == "delete"]
    assert deleted.index("news") < deleted.index("example.org")
    assert "ALL its stored mail" in capsys.readouterr().out


def test_v016_account_name_must_be_the_local_part(v016: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v016.write_desired(BASE + """\
  - name: builds
    description: CI
    emails: [ci@namgun.or.kr]
""")
    assert v016.run("diff") == 2
    assert "the local part of its primary address (ci)" in capsys.readouterr().out
    assert v016.run("apply", "--yes") == 3


def test_changing_the_primary_address_sets_the_full_list(v015: Setup) -> None:
    v015.set_policies(max_change_share=1.0)
    assert v015.run("apply", "--yes") == 0
    text = (v015.desired / "stalwart" / "accounts.yaml").read_text("utf-8")
    v015.write_desired(text.replace("emails: [postmaster@namgun.or.kr, abuse@namgun.or.kr]",
                                    "emails: [abuse@namgun.or.kr, postmaster@namgun.or.kr]"))
    assert v015.run("apply", "--yes") == 0
    assert v015.lab.state.directory.get("postmaster").emails[0] == "abuse@namgun.or.kr"  # type: ignore[union-attr]
    assert v015.run("diff") == 0


def test_drift_findings_name_dkim_ids_outside_the_signing_rule(v015: Setup) -> None:
    directory = v015.lab.state.directory
    with directory.lock:
        for key in [k for k in directory.settings if k.startswith("signature.rsa-namgun.or.kr.")]:
            directory.settings["signature.rsa-namgun-or-kr." + key.split("signature.rsa-namgun.or.kr.", 1)[1]] = \
                directory.settings.pop(key)
    provider = v015.provider()
    from reconciler.providers.base import Scope

    provider.read(Scope(desired=[]))
    (finding,) = provider.drift_findings()
    assert "rsa-namgun-or-kr does not follow the {algorithm}-{domain} naming" in finding
    assert "expected rsa-namgun.or.kr" in finding
