"""reconciler.yaml loading and secret references."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import config as configmod
from reconciler.secrets import Secret, SecretError, check_reference, referenced_values


def load(tmp_path: Path, text: str) -> configmod.Config:
    path = tmp_path / "reconciler.yaml"
    path.write_text(text, "utf-8")
    return configmod.load(path)


def test_targets_policies_and_paths(tmp_path: Path) -> None:
    cfg = load(tmp_path, """\
policies: {max_change_share: 0.2}
targets:
  dc1:
    kind: windows_dns
    address: https://dc1.namgun.or.kr:5986/wsman
    username: 'NAMGUN\\svc-reconciler'
    password: env:RECONCILER_WINRM_PASSWORD
    zones: [namgun.or.kr]
    policies: {purge: true}
  sso: {kind: authentik, address: https://sso.namgun.or.kr, token: env:AUTHENTIK_TOKEN}
""")
    dc1, sso = cfg.targets["dc1"], cfg.targets["sso"]
    assert dc1.kind == "windows_dns" and dc1.address.endswith("/wsman")
    assert dc1.options["username"] == "NAMGUN\\svc-reconciler" and "kind" not in dc1.options
    assert "policies" not in dc1.options
    assert dc1.policies == {"purge": True, "max_change_share": 0.2, "removal": "deactivate", "allow_root_ns": False}
    assert sso.policies["purge"] is False and sso.policies["max_change_share"] == 0.2
    assert dc1.origin == f"{tmp_path / 'reconciler.yaml'}:4"
    assert cfg.desired == tmp_path / "desired" and cfg.audit_log == tmp_path / ".reconciler" / "audit.jsonl"


@pytest.mark.parametrize(("text", "expect"), [
    ("targets:\n  dc1: {address: x}\n", "'kind' is a required property"),
    ("targets:\n  dc1: {kind: bind}\n", "targets.dc1.kind"),
    ("targets: {}\npolicies: {max_change_share: 2}\n", "policies.max_change_share"),
    ("targets: {}\npolicies: {purg: true}\n", "unknown key 'purg'"),
    ("targets: [1]\n", "targets"),
    ("- 1\n", "top level must be a mapping"),
    ("targets: {\n", "reconciler.yaml:1:10: YAML syntax error"),  # clamped to the last line, not past the end
])
def test_config_errors(tmp_path: Path, text: str, expect: str) -> None:
    with pytest.raises(configmod.ConfigError) as info:
        load(tmp_path, text)
    assert expect in str(info.value)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(configmod.ConfigError, match="config file not found"):
        configmod.load(tmp_path / "nope.yaml")


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORE_CFG_SECRET", "v1")
    monkeypatch.setenv("CORE_CFG_EMPTY", "")
    check_reference("env:CORE_CFG_SECRET")
    with pytest.raises(SecretError, match="env:CORE_CFG_EMPTY is not set"):
        check_reference("env:CORE_CFG_EMPTY")
    with pytest.raises(SecretError, match="names no variable"):
        check_reference("env:")
    with pytest.raises(SecretError, match="does not exist"):
        check_reference(f"file:{tmp_path / 'none'}")
    (tmp_path / "empty").write_text("")
    with pytest.raises(SecretError, match="is empty"):
        check_reference(f"file:{tmp_path / 'empty'}")
    (tmp_path / "pw").write_text("파일-secret\r\n", "utf-8")
    assert Secret(f"file:{tmp_path / 'pw'}").reveal() == "파일-secret"
    options = {"password": "env:CORE_CFG_SECRET", "tsig": {"secret": f"file:{tmp_path / 'pw'}"},
               "unset": "env:CORE_CFG_EMPTY", "address": "https://x"}
    assert sorted(referenced_values(options)) == ["v1", "파일-secret"]


def test_relative_file_secret_is_anchored_at_the_config_folder(tmp_path, monkeypatch):
    from reconciler import config as configmod

    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "reconciler.yaml"
    path.write_text("targets:\n  t:\n    kind: rfc2136\n    tsig: {secret: 'file:secrets/tsig'}\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = configmod.load(path)
    assert cfg.targets["t"].options["tsig"]["secret"] == f"file:{(tmp_path / 'conf' / 'secrets' / 'tsig').resolve()}"
