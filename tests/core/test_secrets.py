"""Secrets never appear in CLI output, saved plans, the audit log or exception text.

The provider double quotes its password in error text when `leak` is set (as a client library that
prints a URL with credentials would); the engine must scrub it before printing or auditing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import config as configmod
from reconciler.engine import EngineError
from reconciler.secrets import Secret, SecretError, scrub, secret

from .world import SECRET, ZONE, World, rr, run


def files_text(world: World) -> str:
    """Everything reconciler wrote under the test folder (audit log, saved plans, lock record)."""
    return "\n".join(p.read_text("utf-8", errors="replace") for p in world.root.rglob("*") if p.is_file())


def assert_clean(world: World, *texts: str) -> None:
    for text in (*texts, files_text(world)):
        assert SECRET not in text
        assert SECRET[:12] not in text  # not even a prefix


def test_ordinary_flows_never_print_the_secret(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    seen = []
    for args in (["validate"], ["diff"], ["diff", "--json", "--out", str(world.root / "plan.json")],
                 ["apply", "--yes"], ["drift", "--json"], ["audit", "show"], ["audit", "show", "--json"],
                 ["audit", "verify"]):
        code, out, err = run(world, capsys, *args)
        assert code in (0, 2), (args, err)
        seen += [out, err]
    assert world.dc1.applied  # the provider did use the secret to log in
    assert_clean(world, *seen)


def test_provider_exception_quoting_the_secret_is_scrubbed(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.dc1.crash_read = world.dc1.leak = True
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 1
    assert "https://admin:[secret]@" in err  # the message is kept, the value is not
    code, out2, err2 = run(world, capsys, "drift")
    assert code == 1
    assert_clean(world, out, err, out2, err2)
    assert any(e["event"] == "error" and "[secret]" in str(e["message"]) for e in world.audit.entries())


def test_engine_error_text_is_scrubbed(world: World) -> None:
    world.dc2.crash_read = world.dc2.leak = True
    with pytest.raises(EngineError) as info:
        world.engine().plan()
    assert "dc2: unexpected RuntimeError" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_apply_failure_quoting_the_secret_is_scrubbed(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.dc1.leak = True
    world.dc1.fail_on = {("dns.rrset", (ZONE, "mail", "A"))}
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 1 and "WIN32 9711" in out and "(session admin:[secret])" in out
    assert_clean(world, out, err)


def test_wrong_password_is_reported_without_it(world: World, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORE_FAKE_PASSWORD", "wrong-" + SECRET)
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 1 and "authentication failed (HTTP 401)" in err
    assert "wrong-" not in out + err + files_text(world)
    assert_clean(world, out, err)


def test_missing_secret_names_the_variable(world: World, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORE_FAKE_PASSWORD")
    code, _, err = run(world, capsys, "diff")
    assert code == 1 and "env:CORE_FAKE_PASSWORD is not set" in err


def test_secret_file_reference(world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "dc"
    path.parent.mkdir()
    path.write_text(SECRET + "\n", "utf-8")
    path.chmod(0o600)
    world.config.write_text(world.config.read_text("utf-8").replace("env:CORE_FAKE_PASSWORD", f"file:{path}"), "utf-8")
    code, out, err = run(world, capsys, "apply", "--yes")
    assert code == 0, err
    world.dc2.crash_read = world.dc2.leak = True
    code, out2, err2 = run(world, capsys, "diff")
    assert code == 1 and "[secret]" in err2
    for text in (out, err, out2, err2, (world.root / "state" / "audit.jsonl").read_text("utf-8")):
        assert SECRET not in text


def test_config_and_secret_objects_hold_references_only(world: World) -> None:
    cfg = configmod.load(world.config)
    assert SECRET not in repr(cfg) and "env:CORE_FAKE_PASSWORD" in repr(cfg.targets["dc1"])
    value = secret("env:CORE_FAKE_PASSWORD", "dc1 password")
    assert str(value) == repr(value) == "Secret(env:CORE_FAKE_PASSWORD)"
    assert value.reveal() == SECRET


def test_inline_secret_in_config_is_refused_without_echo() -> None:
    with pytest.raises(SecretError) as info:
        secret("hunter2-inline", "reconciler.yaml:3: password")
    assert "hunter2" not in str(info.value)
    with pytest.raises(SecretError) as info:
        Secret("hunter2:inline").reveal()
    assert "inline" not in str(info.value)


def test_scrub_replaces_longest_first() -> None:
    assert scrub("a abc abcd", ["abc", "abcd"]) == "a [secret] [secret]"
    assert scrub("nothing here", []) == "nothing here"


def test_saved_plan_holds_no_secret(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sync()
    world.dc1.put(rr(ZONE, "mail", "A", "10.9.9.9"))
    plan_file = world.root / "plan.json"
    assert run(world, capsys, "diff", "--out", str(plan_file))[0] == 2
    text = plan_file.read_text("utf-8")
    assert SECRET not in text and json.loads(text)["summary"]["update"] == 1


def test_desired_state_may_not_hand_the_controllers_own_credentials_to_an_account(tmp_path, monkeypatch):
    """A committer must not be able to set a mailbox password to the WinRM or admin password."""
    from reconciler import runs
    from reconciler.config import from_text
    from reconciler.desired import loader

    cfg = from_text("targets:\n  mail: {kind: stalwart, address: http://127.0.0.1:1, "
                    "password: env:STALWART_ADMIN_PASSWORD}\n", tmp_path / "reconciler.yaml")
    (tmp_path / "stalwart").mkdir()
    (tmp_path / "stalwart" / "a.yaml").write_text(
        "domains: [{name: namgun.or.kr}]\naccounts:\n  - name: noreply\n    emails: [noreply@namgun.or.kr]\n"
        "    secret: env:STALWART_ADMIN_PASSWORD\n", "utf-8")
    monkeypatch.setenv("STALWART_ADMIN_PASSWORD", "x")
    state = loader.load(tmp_path, check_secrets=True, controller_refs=runs.controller_refs(cfg))
    assert any("credential reconciler itself uses" in d.message for d in state.diagnostics.errors)
    assert loader.load(tmp_path, check_secrets=True).ok  # the same reference is fine when nothing uses it
