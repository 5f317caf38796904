"""Keep every Authentik test away from the real home folder: the default recovery-link folder is
``$XDG_STATE_HOME/reconciler/recovery-links`` (reconciler/providers/authentik/handover.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
