"""The files in deploy/ fit the code: the example config loads, every credential in it is a
reference, the compose file runs serve on the host network with the volumes the docs name."""

from __future__ import annotations

import subprocess

import yaml

from reconciler import config as configmod
from reconciler.secrets import secret
from reconciler.triggers.gitsource import GitSource
from reconciler.triggers.serve import ServeSettings
from tests.triggers.conftest import REPO

DEPLOY = REPO / "deploy"


def test_example_config_loads_and_holds_no_inline_secret(tmp_path, monkeypatch) -> None:
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


def test_compose_runs_serve_on_the_host_network_with_the_documented_volumes() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    serve = doc["services"]["reconciler"]
    assert serve["network_mode"] == "host" and serve["command"] == ["serve"]
    mounts = {v.split(":")[1] for v in serve["volumes"]}
    assert mounts == {"/etc/reconciler", "/var/lib/reconciler", "/run/secrets/reconciler", "/srv/git"}
    example = configmod.load(DEPLOY / "reconciler.example.yaml")
    assert str(example.state_dir) == "/var/lib/reconciler"


def test_hook_script_is_valid_posix_shell_and_executable() -> None:
    hook = DEPLOY / "git" / "post-receive"
    assert hook.stat().st_mode & 0o111
    subprocess.run(["sh", "-n", str(hook)], check=True, timeout=10)
