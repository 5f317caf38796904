"""Shared set-up for the Stalwart provider tests: a lab, a desired/ folder and a reconciler.yaml."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import main
from reconciler.config import Target
from reconciler.lab.service import SimpleService
from reconciler.lab.stalwart import StalwartLab, start_lab
from reconciler.providers.stalwart import StalwartProvider

REPO_DESIRED = Path(__file__).resolve().parents[2] / "desired" / "stalwart"


@dataclass
class Setup:
    service: SimpleService
    root: Path
    config: Path
    desired: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def lab(self) -> StalwartLab:
        return self.service.lab  # type: ignore[attr-defined,no-any-return]

    def run(self, *args: str) -> int:
        return main(["-c", str(self.config), "--no-color", *args])

    def provider(self, **options: Any) -> StalwartProvider:
        opts = {k: v for k, v in self.service.target.items() if k != "kind"}
        opts.update(options)
        return StalwartProvider(Target("mail", "stalwart", opts, {"removal": "deactivate"}, "test"))

    def write_desired(self, text: str) -> None:
        (self.desired / "stalwart" / "accounts.yaml").write_text(text, "utf-8")

    def set_policies(self, **policies: Any) -> None:
        doc = yaml.safe_load(self.config.read_text("utf-8"))
        doc["targets"]["mail"]["policies"] = policies
        self.config.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")


def make_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str = "0.15", ldap: bool = True) -> Setup:
    tmp_path = tmp_path / f"v{version}"
    desired = tmp_path / "desired"
    (desired / "stalwart").mkdir(parents=True)
    shutil.copy(REPO_DESIRED / "accounts.yaml", desired / "stalwart" / "accounts.yaml")
    service = start_lab(tmp_path / "lab", desired=desired, version=version)
    lab: StalwartLab = service.lab  # type: ignore[attr-defined]
    lab.state.config.ldap_default_directory = ldap
    lab.state.registry.options.external_directory = ldap
    for key, value in service.env.items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "reconciler.yaml"
    doc = {"desired": str(desired), "state_dir": str(tmp_path / "state"), "targets": {"mail": service.target}}
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return Setup(service, tmp_path, config, desired, monkeypatch)
