"""Authentik's page-number pagination (SRV api/pagination.py; Django Paginator semantics).

authentik-observed.md §1 (2025.10) and authentik-api.md §2.3 (2025.12+): ``next``/``previous`` are
integer 0 when absent; a bad or out-of-range ``page`` is a 404 "Invalid page."; page 1 of nothing
is a 200 with ``total_pages 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from reconciler.lab.authentik import errors
from reconciler.lab.authentik.versions import AuthentikVersion, Switches

T = TypeVar("T")


def page_size(raw: str | None, version: AuthentikVersion, switches: Switches) -> int:
    """DRF ``get_page_size``: a positive int, capped at the maximum; anything else → a default.

    2025.10: ``0``/``-1``/``abc`` → 100 and no cap (observed §1). 2025.12+: cap 100; an invalid
    value → DRF's settings PAGE_SIZE (100) or the tenant default (20): unverified, a switch.
    """
    default = version.default_page_size
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        if version.max_page_size is not None and switches.invalid_page_size_uses_settings_default:
            return 100
        return default
    if version.max_page_size is not None:
        value = min(value, version.max_page_size)
    return value


def paginate(items: Sequence[T], query: dict[str, list[str]], version: AuthentikVersion,
             switches: Switches) -> tuple[dict[str, Any], Sequence[T]]:
    size = page_size(_last(query, "page_size"), version, switches)
    count = len(items)
    total_pages = max(1, math.ceil(count / size))
    raw_page = _last(query, "page") or "1"
    if raw_page == "last":
        number = total_pages
    else:
        try:
            number = int(raw_page)
        except ValueError:
            raise errors.ApiError.detail(404, errors.INVALID_PAGE) from None
    if number < 1 or number > total_pages:
        raise errors.ApiError.detail(404, errors.INVALID_PAGE)
    start = (number - 1) * size
    chunk = items[start:start + size]
    pagination = {
        "next": number + 1 if number < total_pages else 0,
        "previous": number - 1 if number > 1 else 0,
        "count": count,
        "current": number,
        "total_pages": total_pages,
        "start_index": 0 if count == 0 else start + 1,
        "end_index": count if number == total_pages else number * size,
    }
    return pagination, chunk


def _last(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None
