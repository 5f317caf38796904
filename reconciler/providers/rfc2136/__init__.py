"""RFC 2136 DNS provider (BIND, Knot, PowerDNS …): AXFR with TSIG to read, guarded UPDATE to write."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...config import Target
    from .provider import Rfc2136Provider


def create(target: Target) -> Rfc2136Provider:
    from .provider import Rfc2136Provider

    return Rfc2136Provider(target)
