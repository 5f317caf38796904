from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import Setup, make_setup


@pytest.fixture()
def v015(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    setup = make_setup(tmp_path, monkeypatch, "0.15")
    yield setup
    setup.service.stop()


@pytest.fixture()
def v016(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    setup = make_setup(tmp_path, monkeypatch, "0.16", ldap=False)
    yield setup
    setup.service.stop()
