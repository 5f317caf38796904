"""What every lab emulator hands to `reconciler lab`, `reconciler demo` and the tests."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .common import LabControl


class LabService(Protocol):
    name: str
    target: dict[str, Any]
    env: dict[str, str]
    control: LabControl

    def describe(self) -> str: ...

    def stop(self) -> None: ...


def write_secret(workdir: Path, name: str, value: str | None = None) -> tuple[str, str]:
    """Write a lab credential to <workdir>/secrets/<name> (mode 0600); return (file: reference, value)."""
    folder = workdir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    value = value or secrets.token_urlsafe(18)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return f"file:{path.resolve()}", value


@dataclass
class SimpleService:
    """A LabService made of a name, a target entry and a stop function."""

    name: str
    target: dict[str, Any]
    control: LabControl
    summary: str
    stopper: Any
    env: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return self.summary

    def stop(self) -> None:
        self.stopper()
