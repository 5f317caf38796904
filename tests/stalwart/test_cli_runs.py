"""`reconciler diff/apply/drift` against the Stalwart lab, both API generations (issue 4)."""

from __future__ import annotations

import os
import re

import pytest
from passlib.hash import sha512_crypt

from reconciler.lab.stalwart.passwords import verify_secret
from reconciler.providers.stalwart.model import MARKER

from .support import Setup

LDAP_MIRRORS = ("namgun18", "tsha", "jhlee")


def test_v015_diff_apply_converges_and_never_touches_ldap_users(
    v015: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    assert v015.run("diff") == 2
    out = capsys.readouterr().out
    assert "api v0.15" in out
    assert "+ create stalwart.account git" in out and "+ create stalwart.account noreply" in out
    assert 'secret: "differs" → "in sync"' in out  # postmaster's live hash does not match its source secret
    for uid in LDAP_MIRRORS:
        assert re.search(rf"^\s+= \d+ × not created by reconciler[^\n]*: [^\n]*\b{uid}\b", out, re.M), out
    assert v015.run("apply", "--yes") == 0
    assert v015.run("diff") == 0
    directory = v015.lab.state.directory
    for uid in LDAP_MIRRORS:
        assert directory.writes_to(uid, via="api") == []
    git = directory.get("git")
    assert git is not None and git.description == f"Git forge notifications {MARKER}"
    assert git.quota == 512 * 1024**2 and git.roles == ["user"]
    # v0.15 stores what it is sent: a SHA-512-crypt hash of the source secret, never the secret
    assert git.password is not None and git.password.startswith("$6$")
    assert sha512_crypt.verify(os.environ["STALWART_GIT_SECRET"], git.password)
    postmaster = directory.get("postmaster")
    assert postmaster is not None and verify_secret(postmaster.password or "", os.environ["STALWART_POSTMASTER_SECRET"])
    assert postmaster.emails == ["postmaster@namgun.or.kr", "abuse@namgun.or.kr"]


def test_secrets_never_reach_output_or_audit(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v015.run("diff")
    v015.run("apply", "--yes")
    v015.run("drift")
    captured = capsys.readouterr()
    audit = (v015.root / "state" / "audit.jsonl").read_text("utf-8")
    api_key = v015.service.seeds.api_key  # type: ignore[attr-defined]
    secrets = [os.environ[k] for k in ("STALWART_SYSTEM_SECRET", "STALWART_POSTMASTER_SECRET",
                                       "STALWART_GIT_SECRET", "STALWART_NOREPLY_SECRET")] + [api_key]
    hashes = [p.password for p in v015.lab.state.directory.principals.values() if p.password]
    for value in secrets + hashes:
        assert value not in captured.out and value not in captured.err and value not in audit


def test_secret_drift_after_someone_changes_a_password(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert v015.run("apply", "--yes") == 0
    directory = v015.lab.state.directory
    with directory.lock:
        directory.get("system").password = sha512_crypt.hash("changed-by-hand")  # type: ignore[union-attr]
    capsys.readouterr()
    assert v015.run("drift") == 2
    assert 'secret: "differs" → "in sync"' in capsys.readouterr().out


def test_v016_diff_apply_converges(v016: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v016.set_policies(max_change_share=1.0)  # first v0.16 run sets passwords it has no record of
    assert v016.run("diff") == 2
    out = capsys.readouterr().out
    assert "api v0.16" in out
    assert 'secret: "unknown" → "in sync"' in out  # masked on v0.16, never set by reconciler yet
    assert v016.run("apply", "--yes") == 0
    assert v016.run("diff") == 0
    registry = v016.lab.state.registry
    git = next(a for a in registry.objects["Account"].values() if a["name"] == "git")
    assert git["credentials"]["0"]["secret"].startswith("$argon2id$")  # hashed by the server
    assert git["quotas"] == {"maxDiskQuota": 512 * 1024**2}
    for uid in LDAP_MIRRORS:
        oid = next(i for i, a in registry.objects["Account"].items() if a["name"] == uid)
        assert registry.writes_to("Account", oid) == []
    # rotation: a new source secret is noticed through the local record and set again
    v016.monkeypatch.setenv("STALWART_GIT_SECRET", "a-brand-new-배터리-horse-staple-2027")
    capsys.readouterr()
    assert v016.run("diff") == 2
    assert 'secret: "differs" → "in sync"' in capsys.readouterr().out
    assert v016.run("apply", "--yes") == 0
    assert v016.run("diff") == 0


def test_v016_under_ldap_explains_refused_passwords(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from .support import make_setup

    setup = make_setup(tmp_path, monkeypatch, "0.16", ldap=True)
    try:
        setup.set_policies(max_change_share=1.0)
        assert setup.run("apply", "--yes") == 1
        out = capsys.readouterr().out
        assert "Cannot set credentials for accounts in an external directory" in out
        assert "default directory is external (LDAP)" in out
    finally:
        setup.service.stop()


def test_switching_generations_between_runs(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert v015.run("apply", "--yes") == 0
    v015.lab.switch_version("0.16")  # the organisation pulls `latest`
    v015.lab.state.config.ldap_default_directory = False
    v015.lab.state.registry.options.external_directory = False
    capsys.readouterr()
    # The probe picks JMAP; the baseline recorded on v0.15 keeps passwords "in sync" after the upgrade.
    assert v015.run("diff") == 0
    assert "api v0.16" in capsys.readouterr().out
