"""`reconciler validate/diff/apply/drift/import` with an Authentik target pointing at the lab.

The DNS target is the test double of tests/authentik/dns_mirror.py (always in sync): the email-domain
cross-check needs a declared zone, and DNS is not what these tests are about.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.providers import base
from tests.authentik.support import TODAY, Env, desired_tree, lab_env


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, Path]]:
    monkeypatch.setitem(base.REGISTRY, "rfc2136", "tests.authentik.dns_mirror:create")
    with lab_env(tmp_path, "2026.2.7") as env:
        desired_tree(tmp_path, TODAY)
        target = env.target().options
        config = {"desired": "desired", "state_dir": "state",
                  "targets": {"sso": {"kind": "authentik", **target},
                              "dns": {"kind": "rfc2136", "server": "127.0.0.1", "zones": ["namgun.or.kr"]}}}
        path = tmp_path / "reconciler.yaml"
        path.write_text(json.dumps(config, ensure_ascii=False), "utf-8")
        yield env, path


def run(path: Path, *args: str) -> int:
    return main(["-c", str(path), "--no-color", *args])


def test_diff_apply_diff_drift(setup: tuple[Env, Path], capsys: pytest.CaptureFixture[str]) -> None:
    env, config = setup
    assert run(config, "diff") == 2
    out = capsys.readouterr().out
    assert "sso (authentik, api 2025.12+, users 8, groups 2)" in out
    assert '~ enrollment: "none" → "recovery_email"' in out
    # administrator is a superuser: declared as it is, so no change; a change would be refused (guards.py)
    assert "update authentik.user administrator" not in out
    assert ("authentik.user administrator is declared in git (desired/authentik/users.yaml) and matches; reconciler "
            "only checks it and would refuse to change it (superuser (member of authentik Admins))") in out
    assert re.search(r"^\s+= \d+ × created outside reconciler[^\n]*: [^\n]*\bolduser\b", out, re.M), out
    assert run(config, "apply", "--yes") == 0
    captured = capsys.readouterr()
    assert "apply complete: 3 change(s) applied and verified" in captured.err
    # stderr is not a terminal here (as under the controller): the link goes to a 0600 file, only its path
    # is printed (test_recovery_link.py covers the terminal case) …
    [link_file] = list(env.link_dir.iterdir())
    assert f"recovery link for kkb written to {link_file}" in captured.err and "flow_token" not in captured.err
    audit = (config.parent / "state" / "audit.jsonl").read_text("utf-8")
    assert "flow_token" not in audit and env.seed.reconciler_token not in audit  # … never logged
    assert "recovery email sent to tsha@namgun.or.kr" in audit
    assert run(config, "diff") == 0
    assert run(config, "drift") == 2  # three people still have not set a password
    out = capsys.readouterr().out
    assert "drift: user tsha (하태수) has never set a password" in out
    for name in ("tsha", "nahee14", "kkb"):
        user = env.lab.store.user_by_username(name)
        assert user is not None
        env.lab.store.set_password(user, f"{name}-chose-this")
    assert run(config, "drift") == 0


def test_validate_refuses_bad_input_without_contacting(setup: tuple[Env, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    env, config = setup
    users = config.parent / "desired" / "authentik" / "users.yaml"
    users.write_text(TODAY + "  - username: kkb\n    name: 또\n    email: kkb2@namgun.or.kr\n"
                     "  - username: ghosty\n    name: 유령\n    email: g@example.com\n    groups: [ghost]\n",
                     "utf-8")
    env.lab.control.reset_counters()
    assert run(config, "validate") == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert ("desired/authentik/users.yaml:27:5: error: authentik.user kkb is declared twice "
            "(first at desired/authentik/users.yaml:18:5)") in text
    assert "users.yaml:30:5: error: user ghosty: email g@example.com is not in a domain declared" in text
    assert "users.yaml:30:5: error: user ghosty: unknown group 'ghost'" in text
    assert run(config, "diff") == 1
    assert env.lab.control.total == 0  # nothing was contacted


def test_authentik_down_is_a_clear_error(setup: tuple[Env, Path], capsys: pytest.CaptureFixture[str]) -> None:
    env, config = setup
    env.lab.stop()
    assert run(config, "diff") == 1
    err = capsys.readouterr().err
    assert "sso: list " in err and "cannot reach Authentik at http://127.0.0.1:" in err
    assert "Traceback" not in err


def test_import_writes_yaml_that_diffs_clean(setup: tuple[Env, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, config = setup
    out = config.parent / "imported"
    assert run(config, "import", "--target", "sso", "--out", str(out)) == 0
    text = (out / "authentik" / "users.yaml").read_text("utf-8")
    assert "username: olduser" in text and "name: 김경본" in text
    assert "ak-outpost-ldap" not in text and "username: reconciler" not in text  # service accounts left out
    # the imported file replaces the hand-written one: the plan is then empty
    target = config.parent / "desired" / "authentik" / "users.yaml"
    target.write_text(text, "utf-8")
    capsys.readouterr()
    assert run(config, "diff") == 0, capsys.readouterr().out
