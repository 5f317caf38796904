"""The adoption gate: an existing principal without reconciler's marker is changed only when the target adopts it.

On the wire a hand-made internal account and an LDAP user that Stalwart copied into its store on first
login look the same (stalwart-api.md §9; the lab keeps the difference in ``Principal.origin`` only),
so declaring a name in git is not enough: the target must name it in ``adopt:`` (issue 4, Ownership).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from reconciler.lab.stalwart import principals_v015 as principals
from reconciler.lab.stalwart.identity import FALLBACK_ADMIN_PERMISSIONS, Identity
from reconciler.plan import Change
from reconciler.providers.base import ProviderError, Scope
from reconciler.providers.stalwart.model import MARKER

from .support import Setup

JHLEE = """\
  - name: jhlee
    description: 이정희 (taken over)
    emails: [jhlee.new@namgun.or.kr]
    quota: 1 GiB
    secret: env:STALWART_GIT_SECRET
"""


def declare(setup: Setup, extra: str) -> None:
    text = (setup.desired / "stalwart" / "accounts.yaml").read_text("utf-8")
    setup.write_desired(text.replace("dkim:\n", extra + "dkim:\n"))


def set_adopt(setup: Setup, names: list[str] | None) -> None:
    doc = yaml.safe_load(setup.config.read_text("utf-8"))
    if names is None:
        doc["targets"]["mail"].pop("adopt", None)
    else:
        doc["targets"]["mail"]["adopt"] = names
    doc["targets"]["mail"]["policies"] = {"max_change_share": 1.0}
    setup.config.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")


def refusal_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("refused")]


def seed_principal(setup: Setup, doc: dict[str, Any]) -> None:
    """A principal made by hand on the server (no marker), outside reconciler's write log."""
    directory = setup.lab.state.directory
    admin = Identity("seed", FALLBACK_ADMIN_PERMISSIONS, "fallback-admin")
    with directory.lock:
        principals.create(directory, admin, json.dumps(doc, ensure_ascii=False).encode(),
                          setup.lab.state.principal_options(), deploy=doc["type"] == "individual")
        directory.writes.clear()


def test_lab_target_adopts_only_the_hand_made_accounts(v015: Setup) -> None:
    assert v015.service.target["adopt"] == ["system", "postmaster"]
    directory = v015.lab.state.directory
    for name in v015.service.target["adopt"]:
        assert directory.get(name).origin == "internal"  # type: ignore[union-attr]


def test_declaring_an_ldap_copy_is_refused_and_nothing_is_written(
    v015: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    set_adopt(v015, ["system", "postmaster"])
    declare(v015, JHLEE)
    directory = v015.lab.state.directory
    jhlee = directory.get("jhlee")
    assert jhlee is not None and jhlee.origin == "ldap"
    before = (list(jhlee.emails), jhlee.password, jhlee.description)
    capsys.readouterr()
    assert v015.run("diff") == 2
    out = capsys.readouterr().out
    (line,) = [line for line in refusal_lines(out) if "jhlee" in line]
    assert line.startswith("refused: mail: stalwart.account jhlee: jhlee already exists on mail but reconciler "
                           "did not create it (no ownership marker)")
    assert "(override with --force)" not in line  # not a safety limit: --force never overrides it
    assert "under the target mail" in line and str(v015.config) in line  # which target, in which file
    assert "add jhlee to its adopt: list (adopt: [system, postmaster, jhlee])" in line
    assert "never adopt an LDAP user that Stalwart copied into its store on first login" in line
    assert v015.run("apply", "--yes") == 3
    assert v015.run("apply", "--yes", "--force") == 3
    assert "nothing was applied" in capsys.readouterr().err
    assert directory.writes_to("jhlee", via="api") == []
    assert directory.writes == []  # a refused plan applies none of its changes
    jhlee = directory.get("jhlee")
    assert jhlee is not None and (jhlee.emails, jhlee.password, jhlee.description) == before
    assert directory.by_email["jhlee@namgun.or.kr"] == jhlee.id  # their address still reaches them


def test_without_an_adopt_line_the_message_says_which_line_to_add(
    v015: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    set_adopt(v015, None)  # the organisation's repo before this fix: system and postmaster are unmarked
    capsys.readouterr()
    assert v015.run("diff") == 2
    out = capsys.readouterr().out
    refused = refusal_lines(out)
    assert {re.search(r"stalwart\.account (\w+):", r).group(1) for r in refused} == {"system", "postmaster"}  # type: ignore[union-attr]
    assert all("add the line `adopt: [" in r for r in refused)
    assert "+ create stalwart.account git" in out  # creates of new names are not gated
    assert v015.run("apply", "--yes") == 3
    assert v015.lab.state.directory.writes == []


def test_adopted_account_is_changed_and_carries_the_marker(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    seed_principal(v015, {"type": "individual", "name": "helpdesk", "description": "헬프데스크 (손으로 만듦)",
                          "emails": ["helpdesk@namgun.or.kr"], "roles": ["user"]})
    declare(v015, """\
  - name: helpdesk
    description: 헬프데스크
    emails: [helpdesk@namgun.or.kr, help@namgun.or.kr]
""")
    set_adopt(v015, ["system", "postmaster"])
    assert v015.run("apply", "--yes") == 3
    directory = v015.lab.state.directory
    assert directory.writes_to("helpdesk", via="api") == []
    set_adopt(v015, ["system", "postmaster", "helpdesk"])
    assert v015.run("apply", "--yes") == 0
    helpdesk = directory.get("helpdesk")
    assert helpdesk is not None and helpdesk.description == f"헬프데스크 {MARKER}"
    assert helpdesk.emails == ["helpdesk@namgun.or.kr", "help@namgun.or.kr"]
    # Once marked it is reconciler's: dropping it from adopt: no longer blocks a change.
    set_adopt(v015, ["system", "postmaster"])
    text = (v015.desired / "stalwart" / "accounts.yaml").read_text("utf-8")
    v015.write_desired(text.replace("description: 헬프데스크\n", "description: 헬프데스크 팀\n"))
    capsys.readouterr()
    assert v015.run("apply", "--yes") == 0
    assert directory.get("helpdesk").description == f"헬프데스크 팀 {MARKER}"  # type: ignore[union-attr]


def test_adopt_lets_the_gate_through_for_any_named_account(v015: Setup) -> None:
    # The gate's mechanics: adopt: is the operator's explicit word. (For a real LDAP copy such as
    # jhlee the refusal tells them never to do this.)
    declare(v015, JHLEE)
    set_adopt(v015, ["system", "postmaster", "jhlee"])
    assert v015.run("apply", "--yes") == 0
    jhlee = v015.lab.state.directory.get("jhlee")
    assert jhlee is not None and jhlee.emails == ["jhlee.new@namgun.or.kr"] and jhlee.description.endswith(MARKER)


def test_v016_ldap_copy_is_refused_and_not_written(v016: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    registry = v016.lab.state.registry
    ids = [oid for oid, obj in registry.objects["Account"].items() if obj["name"] == "jhlee"]
    assert len(ids) == 1
    declare(v016, JHLEE.replace("jhlee.new@", "jhlee@"))
    set_adopt(v016, ["system", "postmaster"])
    capsys.readouterr()
    assert v016.run("diff") == 2
    assert any(line.startswith("refused: mail: stalwart.account jhlee: jhlee already exists on mail")
               for line in refusal_lines(capsys.readouterr().out))
    assert v016.run("apply", "--yes") == 3
    assert registry.writes_to("Account", ids[0], via="api") == []


def test_create_colliding_with_an_unmarked_group_is_gated(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    # Names are unique across principal types (stalwart-api.md §12); groups are read but not declarable.
    seed_principal(v015, {"type": "group", "name": "staff", "description": "직원"})
    declare(v015, "  - name: staff\n    type: list\n    description: 직원 목록\n    emails: [staff@namgun.or.kr]\n")
    set_adopt(v015, ["system", "postmaster"])
    capsys.readouterr()
    assert v015.run("diff") == 2
    out = capsys.readouterr().out
    assert "+ create stalwart.account staff" in out
    assert any("stalwart.account staff: staff already exists on mail" in line for line in refusal_lines(out))
    set_adopt(v015, ["system", "postmaster", "staff"])
    assert v015.run("diff") == 2
    assert any("staff exists on mail as a group, which desired/stalwart cannot declare" in line
               for line in refusal_lines(capsys.readouterr().out))
    assert v015.run("apply", "--yes") == 3
    assert v015.lab.state.directory.writes_to("staff", via="api") == []


def test_apply_without_check_still_writes_nothing_to_an_unadopted_account(v015: Setup) -> None:
    provider = v015.provider()  # no adopt: in these options
    try:
        live = provider.read(Scope(desired=[]))
        before = live.resources[("stalwart.account", ("jhlee",))]
        after = type(before)(before.kind, before.key, {**before.data, "description": "taken"}, {}, None)
        (result,) = provider.apply([Change.update("mail", before, after, ["description"])])
    finally:
        provider.close()
    assert not result.ok and "jhlee already exists on mail" in (result.error or "")
    assert v015.lab.state.directory.writes_to("jhlee", via="api") == []


def test_adopt_must_be_a_list_of_names(v015: Setup) -> None:
    with pytest.raises(ProviderError, match=r"adopt must be a list of account names"):
        v015.provider(adopt="system")
    with pytest.raises(ProviderError, match=r"adopt must be a list"):
        v015.provider(adopt=["system", 3])


def test_kept_objects_say_why_when_purge_is_on(v015: Setup) -> None:
    """absent() keeps owned accounts unless removal: delete; absent_reason() says why (not "purge is off")."""
    assert v015.run("apply", "--yes") == 0  # git and noreply created: owned
    provider = v015.provider()
    try:
        live = provider.read(Scope(desired=[]))
    finally:
        provider.close()
    git = live.resources[("stalwart.account", ("git",))]
    policies = {"purge": True, "removal": "deactivate"}
    assert provider.absent(git, policies) is None
    reason = provider.absent_reason(git, policies)
    assert reason is not None and "purge is off" not in reason
    assert "only under removal: delete" in reason and "removal: deactivate" in reason
    assert "purge: true does not delete Stalwart objects" in reason
    assert "purge" not in (provider.absent_reason(git, {"removal": "report"}) or "")
    assert provider.absent(git, {"removal": "delete"}) is not None
    assert provider.absent_reason(git, {"removal": "delete"}) is None
    dkim = live.resources[("stalwart.dkim", ("rsa-namgun.or.kr",))]
    assert "never removed by reconciler" in (provider.absent_reason(dkim, policies) or "")
