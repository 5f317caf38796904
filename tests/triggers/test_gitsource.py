"""Git source: fetch, fast-forward only, exactly one committed commit applied, validation blocks a commit."""

from __future__ import annotations

import io
import os
from pathlib import Path

from reconciler.runs import Console
from reconciler.triggers.gitsource import GitSource
from reconciler.triggers.runner import Runner
from tests.triggers.conftest import ZONE, World, git, with_record, zone_yaml


def runner(world: World) -> tuple[Runner, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Runner(world.config(), Console(out=out, err=err)), out, err


def test_push_is_applied_and_the_commit_lands_in_the_audit_log(world: World) -> None:
    sha = world.commit("남근: www 주소 변경", records=with_record("www", "192.0.2.81"))
    world.push()
    run, out, _ = runner(world)
    outcome = run.reconcile("cli")
    assert outcome.status == "ok", outcome
    assert world.live_value("www") == ["192.0.2.81"]
    start = next(e for e in world.events("run_start") if e["run"] == outcome.run_id)
    assert start["source"]["commit"] == sha
    assert start["source"]["author"] == "김경본 <kgb@namgun.or.kr>"
    assert start["source"]["subject"] == "남근: www 주소 변경"
    plan = next(e for e in world.events("plan") if e["run"] == outcome.run_id)
    assert plan["summary"] == {"create": 0, "update": 1, "delete": 0}
    assert outcome.applied == {"dns": 1}
    assert "192.0.2.81" in out.getvalue()
    assert world.audit().verify().ok
    # the controller's clone follows the branch; a second run applies nothing
    again = run.reconcile("cli")
    assert again.status == "ok" and again.applied == {} and again.summary == {"create": 0, "update": 0, "delete": 0}


def test_uncommitted_edits_are_never_applied(world: World) -> None:
    # The controller tracks the person's working clone itself; they edit without committing.
    world.commit("mail 주소", records=with_record("mail", "192.0.2.26"))
    world.write(f"desired/dns/{ZONE}.yaml", zone_yaml(with_record("mail", "192.0.2.99")))
    world.write_config(repository=world.work)
    run, _, err = runner(world)
    outcome = run.reconcile("cli")
    assert outcome.status == "ok", outcome
    assert world.live_value("mail") == ["192.0.2.26"]  # the commit, not the working tree
    assert "uncommitted changes" in err.getvalue() and "ignored" in err.getvalue()


def test_an_invalid_file_blocks_the_whole_commit(world: World) -> None:
    # One good change and one broken file in the same commit: nothing at all is applied.
    bad = "zone: lab.namgun.or.kr\nrecords:\n  host: {type: A, value: 999.1.1.1}\n"
    sha = world.commit("www 변경 + 잘못된 파일", {"desired/dns/lab.namgun.or.kr.yaml": bad},
                       records=with_record("www", "192.0.2.82"))
    world.push()
    run, _, err = runner(world)
    outcome = run.reconcile("cli")
    assert outcome.status == "rejected" and outcome.exit_code == 1
    assert world.live_value("www") == ["192.0.2.80"]
    assert "lab.namgun.or.kr.yaml:3" in err.getvalue()
    rejected = world.events("commit_rejected")
    assert rejected and rejected[-1]["source"]["commit"] == sha
    assert any("999.1.1.1" in p or "lab.namgun.or.kr.yaml" in p for p in rejected[-1]["problems"])
    assert not world.events("run_start") and not world.events("change_intended")
    # the fix is the next commit; the next trigger converges
    world.commit("잘못된 파일 삭제", {"desired/dns/lab.namgun.or.kr.yaml": "records: {}\n"})
    world.push()
    assert run.reconcile("cli").status == "ok"
    assert world.live_value("www") == ["192.0.2.82"]


def test_rewritten_history_is_refused_then_accepted_on_request(world: World) -> None:
    world.commit("www 1", records=with_record("www", "192.0.2.83"))
    world.push()
    run, _, _err = runner(world)
    assert run.reconcile("cli").status == "ok"
    # rewrite: replace the last commit and force-push
    git("reset", "-q", "--hard", "HEAD~1", cwd=world.work)
    rewritten = world.commit("www 다른 값", records=with_record("www", "192.0.2.84"))
    world.push("--force", "HEAD:main")
    outcome = run.reconcile("cli")
    assert outcome.status == "refused" and outcome.exit_code == 3
    assert "rewritten" in outcome.message and "--accept-rewrite" in outcome.message
    assert world.live_value("www") == ["192.0.2.83"]
    assert world.events("history_rewritten")[-1]["tip"] == rewritten
    outcome = run.reconcile("cli", accept_rewrite=True)
    assert outcome.status == "ok" and world.live_value("www") == ["192.0.2.84"]
    assert world.events("history_rewrite_accepted")


def test_an_unfetchable_repository_is_reported_and_nothing_applies(world: World, tmp_path: Path) -> None:
    world.write_config(repository=tmp_path / "no-such-repo.git")
    run, _, _err = runner(world)
    outcome = run.reconcile("hook")
    assert outcome.status == "failed" and "cannot fetch" in outcome.message
    failed = world.events("trigger_failed")
    assert failed and failed[-1]["reason"] == "git" and "cannot fetch" in failed[-1]["message"]
    assert not world.events("run_start")
    assert world.audit().verify().ok


def test_a_credential_in_the_repository_url_never_reaches_messages(world: World) -> None:
    world.write_config(repository=Path("/nonexistent"))
    text = world.config_path.read_text().replace("repository: /nonexistent",
                                                 "repository: https://user:s3cr3t-pw@127.0.0.1:9/infra.git")
    world.config_path.write_text(text)
    run, _, err = runner(world)
    outcome = run.reconcile("hook")
    assert outcome.status == "failed"
    assert "s3cr3t-pw" not in outcome.message and "s3cr3t-pw" not in err.getvalue()
    assert "s3cr3t-pw" not in world.audit().path.read_text()


def test_a_pushed_commit_must_be_on_the_branch(world: World) -> None:
    git("checkout", "-q", "-b", "topic", cwd=world.work)
    side = world.commit("topic 브랜치", records=with_record("www", "192.0.2.85"))
    world.push("topic")
    run, _, _ = runner(world)
    outcome = run.reconcile("hook", expect=side)
    assert outcome.status == "failed" and "not on branch main" in outcome.message
    assert world.live_value("www") == ["192.0.2.80"]


def test_symlinks_in_desired_are_refused(world: World) -> None:
    os.symlink("/etc/passwd", world.work / "desired" / "dns" / "leak.yaml")
    world.commit("symlink")
    world.push()
    run, _, _ = runner(world)
    outcome = run.reconcile("cli")
    assert outcome.status == "rejected"
    assert "symlink" in " ".join(outcome.errors)


def test_export_writes_exactly_the_commit(world: World, tmp_path: Path) -> None:
    first = world.head()
    world.commit("www", records=with_record("www", "192.0.2.86"))
    world.push()
    source = GitSource.from_config(world.config())
    assert source is not None
    tip = source.fetch()
    assert tip == world.head()
    out = source.export(first, tmp_path / "export")
    text = (out / "dns" / f"{ZONE}.yaml").read_text("utf-8")
    assert "192.0.2.80" in text and "192.0.2.86" not in text
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [f"{ZONE}.yaml"]


def test_a_crafted_tree_entry_dot_dot_rejects_the_commit_instead_of_crashing(world: World) -> None:
    """`git mktree` accepts an entry named `..`; the export must refuse the commit, not die."""
    import subprocess

    def mktree(line: str) -> str:
        return subprocess.run(["git", "mktree"], cwd=world.work, input=line, capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()

    world.commit("start")
    zone_file = world.work / "desired" / "dns" / f"{ZONE}.yaml"
    blob = git("hash-object", "-w", str(zone_file), cwd=world.work).stdout.strip()
    dns_tree = mktree(f"100644 blob {blob}\t..\n")
    desired = mktree(f"040000 tree {dns_tree}\tdns\n")
    root = mktree(f"040000 tree {desired}\tdesired\n")
    head = git("rev-parse", "HEAD", cwd=world.work).stdout.strip()
    crafted = git("commit-tree", root, "-p", head, "-m", "crafted", cwd=world.work).stdout.strip()
    git("push", "-q", "origin", f"{crafted}:refs/heads/main", cwd=world.work)
    run, _, _ = runner(world)
    outcome = run.reconcile("cli")
    assert outcome.status == "rejected", outcome
    assert "cannot export" in " ".join(outcome.errors)
    assert world.events("commit_rejected")
