"""The files in deploy/ fit the code and the host: the example config loads and every file it refers
to is created by the documented steps, the compose file and the units mount the same volumes with
shared SELinux labels and the right user namespace, the health check they run answers from a real
`serve`, the unit files parse, and the pushers' forced command lets `git push` through and nothing else."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler import config as configmod
from reconciler.runs import Console
from reconciler.secrets import secret
from reconciler.triggers.gitsource import GitSource
from reconciler.triggers.serve import ServeSettings, Service
from tests.triggers.conftest import REPO, World, git

DEPLOY = REPO / "deploy"
DOCS = (REPO / "docs" / "operations.md").read_text("utf-8")
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
VOLUME_TARGETS = {"/etc/reconciler", "/var/lib/reconciler", "/run/secrets/reconciler", "/home/reconciler/.ssh",
                  "/srv/git"}


def exec_start(unit: Path) -> list[str]:
    """ExecStart= as words (continuation lines joined; systemd's quoting is POSIX-like for these)."""
    text = unit.read_text("utf-8").replace("\\\n", " ")
    line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def image_uid() -> str:
    match = re.search(r"useradd --uid (\d+) --gid (\d+)", (DEPLOY / "Containerfile").read_text("utf-8"))
    assert match and match.group(1) == match.group(2)
    return match.group(1)


def test_example_config_loads_and_holds_no_inline_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = configmod.load(DEPLOY / "reconciler.example.yaml")
    assert set(cfg.targets) == {"dc1", "sso", "mail"}
    source = GitSource.from_config(cfg)
    assert source is not None and source.branch == "main" and source.repository == "/srv/git/infra.git"
    for target in cfg.targets.values():
        for key in ("password", "token", "api_key"):
            if key in target.options:
                secret(target.options[key], f"{target.name}.{key}")  # raises on an inline value
    secret(cfg.section("notify")["smtp"]["password"], "smtp")
    # serve settings parse once the referenced secret file exists
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text("x")
    raw = dict(cfg.raw)
    raw["serve"] = {**cfg.section("serve"), "secret": f"file:{secret_file}"}
    monkeypatch.setattr(cfg, "raw", raw)
    settings = ServeSettings.from_config(cfg)
    assert (settings.host, settings.port, settings.drift_interval) == ("127.0.0.1", 8470, 3600.0)


def test_every_file_the_example_config_names_is_created_by_the_documented_steps() -> None:
    text = (DEPLOY / "reconciler.example.yaml").read_text("utf-8")
    live = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # commented-out lines are optional
    secrets = set(re.findall(r"file:/run/secrets/reconciler/([\w.-]+)", live))
    assert {"winrm-password", "authentik-token", "stalwart-admin-password", "smtp-password"} <= secrets
    for name in secrets:
        assert f"~/reconciler/secrets/{name}" in DOCS, name
    assert "~/reconciler/secrets/notify-webhook-url" in DOCS  # the optional channel, when uncommented
    for path in re.findall(r"(/etc/reconciler/[\w.-]+)", live):
        assert f"~/reconciler/config/{Path(path).name}" in DOCS, path
    # recovery links must land on the state volume, not inside the container
    cfg = configmod.load(DEPLOY / "reconciler.example.yaml")
    link_dir = str(cfg.targets["sso"].options["recovery_link_dir"])
    assert link_dir.startswith(str(cfg.state_dir) + "/")
    assert "~/reconciler/state/recovery-links" in DOCS and "0700" in DOCS and "0600" in DOCS


def test_compose_runs_serve_on_the_host_network_with_shared_labels_and_the_image_user() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    serve = doc["services"]["reconciler"]
    assert serve["network_mode"] == "host" and serve["command"] == ["serve"]
    assert serve["userns_mode"] == f"keep-id:uid={image_uid()},gid={image_uid()}"
    mounts = {v.split(":")[1]: v.split(":")[2] for v in serve["volumes"]}
    assert set(mounts) == VOLUME_TARGETS
    assert all("z" in opts.split(",") for opts in mounts.values()), mounts  # shared, never private Z
    # podman-restart.service starts only restart-policy=always containers at boot (Podman < 5.8)
    assert serve["restart"] == "always"
    assert serve["healthcheck"]["test"][0] == "CMD"
    example = configmod.load(DEPLOY / "reconciler.example.yaml")
    assert str(example.state_dir) == "/var/lib/reconciler"
    assert "systemctl --user enable podman-restart.service" in DOCS


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_mount_the_same_volumes_as_compose_and_never_order_on_network_online(unit: Path) -> None:
    text = unit.read_text("utf-8")
    words = exec_start(unit)
    assert words[:2] == ["/usr/bin/podman", "run"]
    assert words[words.index("--userns") + 1] == f"keep-id:uid={image_uid()},gid={image_uid()}"
    volumes = [words[i + 1] for i, w in enumerate(words) if w == "-v"]
    assert {v.split(":")[1] for v in volumes} == VOLUME_TARGETS
    assert all("z" in v.split(":")[2].split(",") and "Z" not in v.split(":")[2] for v in volumes), volumes
    # a user manager cannot see the system's network-online.target
    assert not re.search(r"^(Wants|After|Requires)=.*network-online\.target", text, re.M)
    for timer in re.findall(r"reconciler-[\w-]+\.timer", text):
        assert (DEPLOY / "systemd" / timer).exists(), timer


def test_timer_units_name_their_trigger_and_each_mentioned_timer_ships() -> None:
    drift = exec_start(DEPLOY / "systemd" / "reconciler-drift.service")
    assert drift[-5:] == ["drift-check", "--trigger", "timer", "--wait", "600"]
    apply = exec_start(DEPLOY / "systemd" / "reconciler-apply.service")
    assert apply[-5:] == ["reconcile-commit", "--trigger", "poll-timer", "--wait", "600"]
    for service in ("reconciler-drift", "reconciler-apply"):
        assert (DEPLOY / "systemd" / f"{service}.timer").exists()
        assert f"{service}.timer" in DOCS


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_files_parse_without_warnings(tmp_path: Path) -> None:
    # podman is not on the test machine; every other word of the units is checked by systemd itself
    for unit in (DEPLOY / "systemd").iterdir():
        (tmp_path / unit.name).write_text(unit.read_text("utf-8").replace("/usr/bin/podman", "/bin/true"))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(["systemd-analyze", "--user", "verify", "--man=no",
                             *sorted(str(p) for p in tmp_path.glob("reconciler-*"))],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_the_health_check_the_unit_and_compose_run_answers_from_a_real_serve(world: World) -> None:
    unit = exec_start(DEPLOY / "systemd" / "reconciler-serve.service")
    command = unit[unit.index("--health-cmd") + 1]  # run by podman with /bin/sh -c
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    argv = compose["services"]["reconciler"]["healthcheck"]["test"][1:]  # exec form, no shell
    assert "http://127.0.0.1:8470/healthz" in command and argv[-1] == "http://127.0.0.1:8470/healthz"
    secret_file = world.root / "webhook-secret"
    secret_file.write_text("s")
    world.set_config(serve=f"listen: 127.0.0.1:0\nsecret: file:{secret_file}\nreconcile_on_start: false\n"
                           "drift_interval: 0\n")
    service = Service(world.config(), Console(out=io.StringIO(), err=io.StringIO()))
    service.start()
    try:
        url = f"{service.url}/healthz"
        shell = command.replace("python ", f"{shlex.quote(sys.executable)} ", 1)  # the image's python
        assert subprocess.run(["sh", "-c", shell.replace("http://127.0.0.1:8470/healthz", url)],
                              capture_output=True, timeout=20).returncode == 0
        assert subprocess.run([sys.executable, *argv[1:-1], url], capture_output=True, timeout=20).returncode == 0
    finally:
        service.stop()
    # nothing listening any more: both forms fail, so podman marks the container unhealthy
    assert subprocess.run(["sh", "-c", shell.replace("http://127.0.0.1:8470/healthz", url)],
                          capture_output=True, timeout=20).returncode != 0
    assert subprocess.run([sys.executable, *argv[1:-1], url], capture_output=True, timeout=20).returncode != 0


def test_containerfile_has_no_healthcheck_and_runs_as_the_mapped_user() -> None:
    text = (DEPLOY / "Containerfile").read_text("utf-8")
    assert not re.search(r"^HEALTHCHECK", text, re.M)  # OCI images drop it; see the units/compose
    assert re.search(r"^USER reconciler$", text, re.M)
    assert "--userns keep-id:uid=10001,gid=10001" in text and image_uid() == "10001"


def test_hook_script_is_valid_posix_shell_and_executable() -> None:
    for name in ("post-receive", "git-only"):
        script = DEPLOY / "git" / name
        assert script.stat().st_mode & 0o111, name
        subprocess.run(["sh", "-n", str(script)], check=True, timeout=10)


@pytest.mark.skipif(shutil.which("git-shell") is None, reason="git-shell not installed")
def test_pushers_forced_command_allows_push_and_fetch_of_the_repository_only(tmp_path: Path) -> None:
    # The service account's home: the bare repository people push to, and the controller's own clone
    # beside it, which a pusher must not reach.
    home = tmp_path / "home"
    git("init", "-q", "--bare", "-b", "main", str(home / "git" / "infra.git"), cwd=tmp_path)
    git("init", "-q", "--bare", "-b", "main", str(home / "reconciler" / "state" / "repo.git"), cwd=tmp_path)
    # sshd's part: run the forced command with what the client asked for in SSH_ORIGINAL_COMMAND
    sshd = tmp_path / "fake-ssh"
    sshd.write_text('#!/bin/sh\nfor last; do :; done\ncd "$FAKE_HOME" && HOME="$FAKE_HOME" '
                    'SSH_ORIGINAL_COMMAND="$last" exec "$FORCED"\n')
    sshd.chmod(0o755)
    env = {"FAKE_HOME": str(home), "FORCED": str(DEPLOY / "git" / "git-only"), "GIT_SSH_COMMAND": str(sshd),
           "GIT_SSH_VARIANT": "simple"}
    work = tmp_path / "work"
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "남근", cwd=work)
    for url in ("reconciler@infra01:git/infra.git", "reconciler@infra01:~/git/infra.git",
                "reconciler@infra01:git/infra"):
        pushed = git("push", "-q", url, "HEAD:main", cwd=work, env=env, check=False)
        assert pushed.returncode == 0, (url, pushed.stderr)
    assert git("rev-parse", "main", cwd=home / "git" / "infra.git").stdout.strip() == \
        git("rev-parse", "HEAD", cwd=work).stdout.strip()
    fetched = git("ls-remote", "reconciler@infra01:git/infra.git", cwd=work, env=env, check=False)
    assert fetched.returncode == 0 and "refs/heads/main" in fetched.stdout
    for url in ("reconciler@infra01:reconciler/state/repo.git", "reconciler@infra01:git/../reconciler/state/repo.git",
                f"reconciler@infra01:{home}/reconciler/state/repo.git"):
        pushed = git("push", "-q", url, "HEAD:main", cwd=work, env=env, check=False)
        assert pushed.returncode != 0 and "accepts only git push and fetch" in pushed.stderr, url
    assert git("rev-parse", "--verify", "--quiet", "main", cwd=home / "reconciler" / "state" / "repo.git",
               check=False).returncode != 0  # the controller's clone was never touched
    for request in ("sh", "bash -i", "git-receive-pack 'git/infra.git'; sh", "scp -t /tmp", "",
                    "git-receive-pack 'x'; sh 'git/infra.git'", "git-upload-archive 'git/infra.git'"):
        run = subprocess.run([str(DEPLOY / "git" / "git-only")], cwd=home, capture_output=True, text=True,
                             timeout=10, env={**os.environ, "HOME": str(home), "SSH_ORIGINAL_COMMAND": request})
        assert run.returncode != 0 and "accepts only git push and fetch" in run.stderr, request
