"""Shared helpers of the identity sections (sizes, list items); Stalwart lives in desired/stalwart.py,
Authentik in desired/authentik.py.

The providers for these systems own what the fields mean on the wire; this module only turns the
validated YAML into Resources, checks what can be checked offline, and records where each came from.
"""

from __future__ import annotations

import re
from typing import Any

from ..model.resource import Origin
from .yamlsource import YList, YMap

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


MAX_SIZE = 2**63 - 1


def parse_size(value: Any) -> int:
    """'2 GiB' → 2147483648. Integers are bytes. Raises ValueError with a reason."""
    if isinstance(value, bool):
        raise ValueError("a size cannot be true/false")
    if isinstance(value, int):
        size = value
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"{value!r} is not a size (examples: 500 MiB, 2 GiB, 1073741824)")
        size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 0:
        raise ValueError("a size cannot be negative")
    if size > MAX_SIZE:  # servers store quotas as 64-bit integers
        raise ValueError(f"{value!r} is larger than the largest size a server can store (8 EiB)")
    return size


def _items(doc: YMap, section: str) -> list[tuple[YMap, Origin]]:
    seq = doc.get(section) or YList()
    return [(item, Origin("", pos.line, pos.col)) for item, pos in zip(seq, getattr(seq, "item_pos", []),
                                                                      strict=False)]

