"""Windows Server DNS provider: fixed PowerShell programs over one WinRM shell (pywinrm)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...config import Target
    from .provider import WindowsDnsProvider


def create(target: Target) -> WindowsDnsProvider:
    from .provider import WindowsDnsProvider

    return WindowsDnsProvider(target)
