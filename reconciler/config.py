"""reconciler.yaml: targets, credentials by reference, policies. Committed without secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .desired import schema
from .desired.diagnostics import Diagnostics
from .desired.yamlsource import YamlError, YMap, load_file, load_text

DEFAULT_POLICIES: dict[str, Any] = {"purge": False, "max_change_share": 0.3, "removal": "deactivate",
                                    "allow_root_ns": False}


class ConfigError(Exception):
    pass


@dataclass
class Target:
    name: str
    kind: str
    options: dict[str, Any]
    policies: dict[str, Any]
    origin: str  # file:line, for messages

    @property
    def address(self) -> str:
        return str(self.options.get("address", ""))


@dataclass
class Config:
    path: Path
    desired: Path
    state_dir: Path
    audit_log: Path
    policies: dict[str, Any]
    targets: dict[str, Target] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.raw.get(name) or {})


def _anchor_files(value: Any, base: Path) -> Any:
    """`file:` secret references are relative to the config file, not to wherever reconciler runs."""
    if isinstance(value, str) and value.startswith("file:") and not value[5:].startswith(("/", "~")):
        return f"file:{(base / value[5:]).resolve()}"
    if isinstance(value, dict):
        return {k: _anchor_files(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_anchor_files(v, base) for v in value]
    return value


def load(path: Path) -> Config:
    if not path.exists():
        raise ConfigError(f"{path}: config file not found (run `reconciler lab` to get one for the lab, or "
                          "see deploy/reconciler.example.yaml)")
    try:
        doc = load_file(path)
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    return from_document(doc, path)


def from_text(text: str, path: Path) -> Config:
    try:
        doc = load_text(text, str(path))
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    return from_document(doc, path)


def from_document(doc: Any, path: Path) -> Config:
    if not isinstance(doc, YMap):
        raise ConfigError(f"{path}:1:1: top level must be a mapping")
    diags = Diagnostics()
    if not schema.validate(doc, "config", str(path), diags):
        raise ConfigError("\n".join(str(d) for d in diags.errors))
    base = path.parent
    state_dir = (base / doc.get("state_dir", ".reconciler")).resolve()
    policies = {**DEFAULT_POLICIES, **(doc.get("policies") or {})}
    cfg = Config(path=path, desired=(base / doc.get("desired", "desired")).resolve(), state_dir=state_dir,
                 audit_log=(base / doc["audit_log"]).resolve() if doc.get("audit_log")
                 else state_dir / "audit.jsonl",
                 policies=policies, raw=dict(doc))
    targets = doc["targets"]
    for name, body in targets.items():
        pos = targets.where(name)
        options = {k: _anchor_files(v, base) for k, v in body.items() if k not in ("kind", "policies")}
        cfg.targets[str(name)] = Target(name=str(name), kind=body["kind"], options=options,
                                        policies={**policies, **(body.get("policies") or {})},
                                        origin=f"{path}:{pos.line}")
    return cfg
