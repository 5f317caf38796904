"""Text from git or a live system, made harmless before it reaches a terminal."""

from __future__ import annotations

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_CONTROL |= {c: f"\\u{c:04x}" for c in range(0x80, 0xA0)}  # C1 controls (CSI …) act like ESC too
# Bidirectional overrides and isolates reorder what a reviewer sees (Trojan Source, CVE-2021-42574).
_CONTROL |= {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def safe(text: str) -> str:
    """Escape control characters: a TXT value or a display name holding ESC sequences, CR, BEL or a
    right-to-left override must not rewrite what a reviewer reads in a plan or a log."""
    return text.translate(_CONTROL)
