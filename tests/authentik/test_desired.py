"""Validate-time checks of desired/authentik/*.yaml (issue 3 part 4, "Bad input"): every finding names
file and line, and nothing is contacted (no lab runs in this module)."""

from __future__ import annotations

from pathlib import Path

from reconciler.desired.authentik import write_authentik
from reconciler.desired.loader import load
from tests.authentik.support import TODAY, desired_tree


def errors(tmp_path: Path, yaml_text: str, extra: dict[str, str] | None = None) -> list[str]:
    state = load(desired_tree(tmp_path, yaml_text, extra), check_secrets=False)
    return [str(d) for d in state.diagnostics.errors]


def test_todays_desired_state_is_valid(tmp_path: Path) -> None:
    state = load(desired_tree(tmp_path, TODAY), check_secrets=False)
    assert state.ok
    kkb = next(r for r in state.resources if r.key == ("kkb",))
    assert kkb.data["name"] == "김경본" and kkb.data["enrollment"] == "recovery_link"
    assert kkb.data["groups"] == ["mail-users"]


def test_unknown_group(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            groups: [nope]
        """)
    assert found == ["desired/authentik/users.yaml:2:5: error: user kkb: unknown group 'nope' "
                     "(declare it under groups:)"]


def test_user_declared_twice_across_files(tmp_path: Path) -> None:
    user = """\
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
        """
    found = errors(tmp_path, user, {"authentik/more.yaml": user.replace("kkb@", "kkb2@")})
    assert len(found) == 1
    assert found[0].startswith("desired/authentik/users.yaml:2:5: error: authentik.user kkb is declared twice "
                               "(first at desired/authentik/more.yaml:2:5)")


def test_email_in_undeclared_domain(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        users:
          - username: kkb
            name: 김경본
            email: kkb@gmail.com
        """)
    assert found == ["desired/authentik/users.yaml:2:5: error: user kkb: email kkb@gmail.com is not in a domain "
                     "declared under desired/dns/ (namgun.or.kr)"]


def test_names_differing_only_by_case_and_duplicate_emails(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
          - username: KKB
            name: 김경본
            email: KKB@namgun.or.kr
        """)
    assert any("differ only by case" in e and e.startswith("desired/authentik/users.yaml:5:5") for e in found)
    assert any("email kkb@namgun.or.kr is also the email of user kkb" in e for e in found)


def test_reserved_attributes_bad_path_and_parents(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        groups:
          - name: a
            parent: b
          - name: b
            parent: a
          - name: c
            parent: ghost
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            path: /people
            attributes: {"goauthentik.io/user/sources": x, "reconciler/managed": true}
        """)
    text = "\n".join(found)
    assert "users.yaml:13:" in text and "attribute 'goauthentik.io/user/sources' is reserved" in text
    assert "attribute 'reconciler/managed' is reserved" in text
    assert "users.yaml:12:" in text and "no leading or trailing slash" in text
    assert "group a: parent chain loops back to 'a'" in text
    assert "users.yaml:6:5: error: group c: unknown parent group 'ghost'" in text


def test_authentik_and_stalwart_may_not_share_an_address(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
        """, {"stalwart/accounts.yaml": """\
        accounts:
          - name: kkb
            emails: [kkb@namgun.or.kr]
        """})
    assert any("kkb@namgun.or.kr is both a Stalwart internal account and the Authentik user kkb" in e
               for e in found)


def test_import_writer_round_trips(tmp_path: Path) -> None:
    state = load(desired_tree(tmp_path, """\
        groups:
          - name: mail-users
            attributes: {quota: 5}
          - name: ops
            parent: mail-users
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            active: false
            path: people/seoul
            attributes: {dept: 운영}
            groups: [mail-users, ops]
        """), check_secrets=False)
    assert state.ok
    files = write_authentik(state.resources)
    again = load(desired_tree(tmp_path / "again", files["authentik/users.yaml"]), check_secrets=False)
    assert again.ok
    assert {(r.kind, r.key, str(r.data)) for r in again.of_kind("authentik")} == \
        {(r.kind, r.key, str(r.data)) for r in state.of_kind("authentik")}
    assert "김경본" in files["authentik/users.yaml"]
