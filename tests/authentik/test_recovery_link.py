"""Enrollment ``recovery_link``: at a terminal the link is printed once; anywhere else (the controller's
journald/podman logs, the pusher's git client) it goes to a 0600 file and only the path is printed.
The link never reaches a ChangeResult, so never the audit log (reconciler/providers/authentik/handover.py).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler import plan as planmod
from reconciler.config import Target
from reconciler.providers.authentik import AuthentikProvider
from reconciler.providers.authentik.handover import LinkHandover, default_dir, file_name
from reconciler.providers.authentik.live import ENROLLMENT
from reconciler.providers.base import ChangeResult, ProviderError, Scope
from tests.authentik.support import TODAY, Env, desired_tree, lab_env, load_desired

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^kkb-\d{8}T\d{6}Z\.txt$")


def apply_today(env: Env, provider: AuthentikProvider) -> list[ChangeResult]:
    desired = load_desired(env.tmp / "d", TODAY).of_kind("authentik")
    live = provider.read(Scope(desired=desired))
    changes, _ = planmod.diff_target(provider, desired, live, provider.target.policies)
    assert not provider.check(changes)
    return provider.apply(changes)


def kkb_token(env: Env) -> str:
    kkb = env.lab.store.user_by_username("kkb")
    assert kkb is not None
    return env.lab.store.recovery_tokens[kkb.pk]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with lab_env(tmp_path, "2026.2.7") as e:
        yield e


def test_not_a_terminal_writes_a_private_file_and_prints_only_its_path(env: Env) -> None:
    provider = AuthentikProvider(env.target(), announce=env.announced.append, interactive=lambda: False)
    results = apply_today(env, provider)
    assert all(r.ok for r in results), [r.error for r in results]
    files = list(env.link_dir.iterdir())
    assert len(files) == 1 and NAME.match(files[0].name), files
    path = files[0]
    token = kkb_token(env)
    assert path.read_text("utf-8") == path.read_text("utf-8").strip() + "\n"
    assert f"flow_token={token}" in path.read_text("utf-8")  # the link Authentik made, complete
    assert mode(path) == 0o600 and mode(env.link_dir) == 0o700
    assert env.announced == [f"sso: recovery link for kkb written to {path} (readable only by this account; "
                             "hand it over privately, then delete the file)"]
    kkb = next(r for r in results if r.detail.get("enrollment", "").startswith("recovery link"))
    assert kkb.detail["enrollment"] == f"recovery link written to {path}"
    assert token not in repr(results)  # nothing the engine records carries the link
    user = env.lab.store.user_by_username("kkb")
    assert user is not None and user.attributes[ENROLLMENT]["method"] == "recovery_link"


def test_at_a_terminal_the_link_is_printed_once_and_no_file_is_written(env: Env) -> None:
    provider = AuthentikProvider(env.target(), announce=env.announced.append, interactive=lambda: True)
    results = apply_today(env, provider)
    assert all(r.ok for r in results), [r.error for r in results]
    token = kkb_token(env)
    shown = [a for a in env.announced if "recovery link for kkb" in a]
    assert len(shown) == 1 and f"flow_token={token}" in shown[0]
    assert not env.link_dir.exists()
    assert token not in repr(results)
    assert any(r.detail.get("enrollment") == "recovery link shown once on the console" for r in results)


def test_a_folder_that_cannot_be_made_stops_before_any_link_is_requested(env: Env) -> None:
    blocker = env.tmp / "not-a-folder"
    blocker.write_text("x", "utf-8")
    provider = AuthentikProvider(env.target(recovery_link_dir=str(blocker / "links")),
                                 announce=env.announced.append, interactive=lambda: False)
    env.lab.control.reset_counters()
    results = apply_today(env, provider)
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0].error is not None
    assert f"cannot keep recovery links in {blocker / 'links'}" in failed[0].error
    assert "no recovery link was requested" in failed[0].error
    assert not [k for k in env.lab.control.counter if k.endswith("/recovery/")]  # Authentik never asked
    assert not [a for a in env.announced if "kkb" in a]
    user = env.lab.store.user_by_username("kkb")
    assert user is not None and ENROLLMENT not in user.attributes  # not recorded: the next run tries again


def test_a_new_user_is_not_created_when_its_link_could_not_be_kept(env: Env) -> None:
    blocker = env.tmp / "not-a-folder"
    blocker.write_text("x", "utf-8")
    provider = AuthentikProvider(env.target(recovery_link_dir=str(blocker / "links")),
                                 announce=env.announced.append, interactive=lambda: False)
    desired = load_desired(env.tmp / "d", """\
        users:
          - username: 신입
            name: 신입사원
            email: sinip@namgun.or.kr
            enrollment: {method: recovery_link}
        """).of_kind("authentik")
    live = provider.read(Scope(desired=desired))
    changes, _ = planmod.diff_target(provider, desired, live, provider.target.policies)
    [result] = provider.apply([c for c in changes if c.key == ("신입",)])
    assert not result.ok and result.error is not None and "the user was not created" in result.error
    assert env.lab.store.user_by_username("신입") is None


def test_an_existing_folder_others_can_enter_is_tightened(env: Env) -> None:
    env.link_dir.mkdir(mode=0o755)
    env.link_dir.chmod(0o755)
    provider = AuthentikProvider(env.target(), announce=env.announced.append, interactive=lambda: False)
    assert all(r.ok for r in apply_today(env, provider))
    assert mode(env.link_dir) == 0o700


def test_two_links_within_one_second_do_not_overwrite_each_other(tmp_path: Path) -> None:
    said: list[str] = []
    links = LinkHandover(tmp_path / "links", said.append, lambda: False)
    first = links.hand_over("sso", "남근", "https://sso.example/if/flow/r/?flow_token=AAA")
    second = links.hand_over("sso", "남근", "https://sso.example/if/flow/r/?flow_token=BBB")
    paths = sorted((tmp_path / "links").iterdir())
    assert len(paths) == 2 and first != second
    contents = sorted(p.read_text("utf-8") for p in paths)
    assert contents == ["https://sso.example/if/flow/r/?flow_token=AAA\n",
                        "https://sso.example/if/flow/r/?flow_token=BBB\n"]
    assert all(p.name.startswith("남근-") for p in paths)  # Hangul names stay readable
    assert not any("flow_token" in s for s in said)


def test_file_names_cannot_leave_the_folder() -> None:
    when = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)
    assert file_name("../../etc/김경본", when) == "_.._etc_김경본-20260301T093005Z"
    assert file_name(".hidden", when) == "hidden-20260301T093005Z"
    assert "/" not in file_name("a/b\\c d\n", when)


def test_option_and_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts = {"address": "http://127.0.0.1:9", "token": "env:AK_TEST_TOKEN"}
    monkeypatch.setenv("AK_TEST_TOKEN", "t0ken-value")
    with pytest.raises(ProviderError, match="recovery_link_dir must be an absolute path"):
        AuthentikProvider(Target("sso", "authentik", {**opts, "recovery_link_dir": "state/links"}, {}, "t"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    provider = AuthentikProvider(Target("sso", "authentik", {**opts, "recovery_link_dir": "~/links"}, {}, "t"))
    assert provider.links.directory == tmp_path / "home" / "links"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_dir() == tmp_path / "home" / ".local" / "state" / "reconciler" / "recovery-links"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    provider = AuthentikProvider(Target("sso", "authentik", opts, {}, "t"))
    assert provider.links.directory == tmp_path / "state" / "reconciler" / "recovery-links"
    assert not provider.links.directory.exists()  # nothing is made until a link must be kept


# ---- the whole command, with stderr a pipe (the controller) and a terminal (an operator) -------------

APPLY = """
    import sys
    from reconciler.providers import base
    base.REGISTRY["rfc2136"] = "tests.authentik.dns_mirror:create"
    from reconciler.cli import main
    sys.exit(main(["-c", sys.argv[1], "--no-color", "-q", "apply", "--yes"]))
    """


def cli_config(env: Env) -> Path:
    desired_tree(env.tmp, TODAY)
    config = {"desired": "desired", "state_dir": "state",
              "targets": {"sso": {"kind": "authentik", **env.target().options},
                          "dns": {"kind": "rfc2136", "server": "127.0.0.1", "zones": ["namgun.or.kr"]}}}
    path = env.tmp / "reconciler.yaml"
    path.write_text(json.dumps(config, ensure_ascii=False), "utf-8")
    return path


def run_apply(config: Path, *, terminal: bool) -> tuple[int, str]:
    """``reconciler apply --yes`` in a new process; stderr a pipe, or the follower side of a pty."""
    cmd = [sys.executable, "-c", textwrap.dedent(APPLY), str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not terminal:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8",
                              timeout=120)
        return proc.returncode, proc.stderr
    import pty

    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read while it runs, so a full pty buffer can never block the child
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child closed its side
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=follower, timeout=120)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return proc.returncode, b"".join(chunks).decode("utf-8")


def test_cli_with_stderr_a_pipe_writes_the_file(env: Env) -> None:
    config = cli_config(env)
    code, err = run_apply(config, terminal=False)
    assert code == 0, err
    token = kkb_token(env)
    [path] = list(env.link_dir.iterdir())
    assert f"flow_token={token}" in path.read_text("utf-8") and mode(path) == 0o600
    assert f"sso: recovery link for kkb written to {path}" in err and token not in err
    audit = (env.tmp / "state" / "audit.jsonl").read_text("utf-8")
    assert f"recovery link written to {path}" in audit and token not in audit and "flow_token" not in audit


def test_cli_at_a_terminal_prints_the_link_once(env: Env) -> None:
    config = cli_config(env)
    code, err = run_apply(config, terminal=True)
    assert code == 0, err
    token = kkb_token(env)
    assert err.count(f"flow_token={token}") == 1, err
    assert not env.link_dir.exists()
    audit = (env.tmp / "state" / "audit.jsonl").read_text("utf-8")
    assert "recovery link shown once on the console" in audit and token not in audit
