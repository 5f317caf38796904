"""Stalwart mail domains, internal accounts and DKIM (issue 4). ``create(target)`` is the registry's factory."""

from __future__ import annotations

from ...config import Target
from ...desired import stalwart as _desired  # noqa: F401 - registers the `import` writer
from .provider import StalwartProvider


def create(target: Target) -> StalwartProvider:
    return StalwartProvider(target)


__all__ = ["StalwartProvider", "create"]
