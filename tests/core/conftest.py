"""Shared helpers for the core tests: desired trees on disk, RSA keys for DKIM records."""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .world import world  # noqa: F401 - the `world` fixture for engine, CLI and secret tests

REPO = Path(__file__).resolve().parents[2]


def dkim_value(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@pytest.fixture(scope="session")
def dkim2048() -> str:
    return dkim_value(2048)


@pytest.fixture(scope="session")
def dkim1024() -> str:
    return dkim_value(1024)


WriteTree = Callable[[dict[str, str]], Path]


@pytest.fixture
def write_tree(tmp_path: Path) -> WriteTree:
    """Write {relative path: YAML text (dedented)} under tmp_path/desired and return that folder."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "desired"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
        return root

    return write
