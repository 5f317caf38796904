"""Authentik users and groups (issue 3). ``create(target)`` is the factory the registry names."""

from __future__ import annotations

from ...config import Target
from ...desired import authentik as _desired  # noqa: F401 - registers the `import` writer
from .provider import AuthentikProvider


def create(target: Target) -> AuthentikProvider:
    return AuthentikProvider(target)


__all__ = ["AuthentikProvider", "create"]
