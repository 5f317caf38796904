"""The deploy/git/post-receive hook in a real bare repository, driven by real `git push`."""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.triggers.conftest import REPO, World, git, with_record

HOOK = REPO / "deploy" / "git" / "post-receive"


@pytest.fixture
def hooked(world: World) -> World:
    target = world.bare / "hooks" / "post-receive"
    shutil.copy(HOOK, target)
    target.chmod(0o755)
    return world


def push_env(world: World) -> dict[str, str]:
    return {"RECONCILER": f"{sys.executable} -m tests.triggers.cli_with_filedns", "RECONCILER_CONFIG":
            str(world.config_path), "PYTHONPATH": str(REPO)}


def test_a_push_to_the_tracked_branch_is_applied_and_the_pusher_sees_the_plan(hooked: World) -> None:
    sha = hooked.commit("남근: mail 주소 변경", records=with_record("mail", "192.0.2.26"))
    pushed = git("push", "origin", "HEAD:main", cwd=hooked.work, env=push_env(hooked), timeout=120)
    remote = [line for line in pushed.stderr.splitlines() if line.startswith("remote:")]
    text = "\n".join(remote)
    assert f"reconciling main at {sha[:12]}" in text, pushed.stderr
    assert "update" in text and "192.0.2.26" in text  # the plan, printed back to the pusher
    assert f"reconciler: apply commit {sha[:12]}: ok; 1 change(s) applied" in text
    assert hooked.live_value("mail") == ["192.0.2.26"]  # applied before `git push` returned
    start = hooked.events("run_start")[-1]
    assert start["trigger"] == "git-hook" and start["source"]["commit"] == sha
    assert start["source"]["subject"] == "남근: mail 주소 변경"


def test_other_branches_and_deletions_are_never_applied(hooked: World) -> None:
    git("checkout", "-q", "-b", "topic", cwd=hooked.work)
    hooked.commit("topic", records=with_record("www", "192.0.2.99"))
    pushed = git("push", "origin", "topic", cwd=hooked.work, env=push_env(hooked), timeout=120)
    assert "refs/heads/topic is not the tracked branch main; nothing to do" in pushed.stderr
    assert hooked.live_value("www") == ["192.0.2.80"]
    # deleting the tracked branch (git refuses by default; a server may allow it): reported and
    # audited, the live systems keep their state
    git("config", "receive.denyDeleteCurrent", "warn", cwd=hooked.bare)
    pushed = git("push", "origin", ":main", cwd=hooked.work, env=push_env(hooked), timeout=120, check=False)
    assert "deletion is never applied" in pushed.stderr, pushed.stderr
    assert hooked.events("trigger_rejected")[-1]["reason"] == "branch deleted"
    assert not hooked.events("run_start")
    assert hooked.live_value("www") == ["192.0.2.80"]


def test_an_invalid_push_is_answered_to_the_pusher_and_blocks_the_commit(hooked: World) -> None:
    # settings from reconciler.env beside the hook this time, not from the environment
    env_file = hooked.bare / "hooks" / "reconciler.env"
    env_file.write_text("".join(f"{k}='{v}'\n" for k, v in push_env(hooked).items()), "utf-8")
    bad = "records:\n  mail: {type: MX, value: 'not an mx'}\n"
    hooked.commit("깨진 파일", {"desired/dns/namgun.or.kr.yaml": bad})
    pushed = git("push", "origin", "HEAD:main", cwd=hooked.work, timeout=120)
    assert "rejected" in pushed.stderr and "nothing was applied" in pushed.stderr
    assert "namgun.or.kr.yaml:2" in pushed.stderr
    assert hooked.live_value("mail") == ["192.0.2.25"]
    assert hooked.events("commit_rejected")


def test_a_refused_push_tells_the_pusher_the_exact_override(hooked: World) -> None:
    records = with_record("www", "192.0.2.81")
    records["sso"] = [{"type": "A", "value": "192.0.2.91"}]  # 2 of 4 updated: over max_change_share
    sha = hooked.commit("www + sso 변경", records=records)
    pushed = git("push", "origin", "HEAD:main", cwd=hooked.work, env=push_env(hooked), timeout=120)
    assert "max_change_share" in pushed.stderr
    # RECONCILER_CONFIG names the config, so the command needs no -c
    assert f"`reconciler reconcile-commit {sha} --force`" in pushed.stderr, pushed.stderr
    assert hooked.live_value("www") == ["192.0.2.80"]
