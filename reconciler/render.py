"""Human-readable plans and reports: grouped by target, coloured on a terminal, plain in a pipe."""

from __future__ import annotations

from typing import Any

from .plan import Change, Plan
from .text import safe

_COLORS = {"create": "32", "update": "33", "delete": "31", "dim": "2", "bold": "1", "warn": "35"}
_SIGNS = {"create": "+", "update": "~", "delete": "-"}
MAX_VALUE = 100


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, what: str, text: str) -> str:
        return f"\033[{_COLORS[what]}m{text}\033[0m" if self.color else text


def short(value: Any, limit: int = MAX_VALUE) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        value = safe(value)
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, str) and len(value) > limit:
        return f'"{value[: limit - 20]}…{value[-12:]}" ({len(value)} chars)'
    return f'"{text}"' if isinstance(value, str) else text


def _values(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    out = []
    for key, value in data.items():
        if key == "values" and isinstance(value, list):
            out.extend(f"    {short(v)}" for v in value)
        else:
            out.append(f"    {key}: {short(value)}")
    return out


def change_lines(change: Change, style: Style) -> list[str]:
    sign = style(change.op, _SIGNS[change.op])
    head = f"  {sign} {change.op:<6} {safe(change.ident)}"
    lines = [head]
    if change.op == "create":
        lines += [style("create", line) for line in _values(change.after.data if change.after else None)]
    elif change.op == "delete":
        lines += [style("delete", line) for line in _values(change.before.data if change.before else None)]
    else:
        before = change.before.data if change.before else {}
        after = change.after.data if change.after else {}
        for field in change.fields:
            old, new = before.get(field), after.get(field)
            if isinstance(old, list) and isinstance(new, list):
                for v in old:
                    if v not in new:
                        lines.append(style("delete", f"    - {field}: {short(v)}"))
                for v in new:
                    if v not in old:
                        lines.append(style("create", f"    + {field}: {short(v)}"))
            elif isinstance(old, dict) and isinstance(new, dict):
                for k, v in new.items():
                    if old.get(k) != v:
                        lines.append(style("update", f"    ~ {field}.{k}: {short(old.get(k))} → {short(v)}"))
            else:
                lines.append(style("update", f"    ~ {field}: {short(old)} → {short(new)}"))
    lines += [style("warn", f"    ! {safe(w)}") for w in change.warnings]
    if change.force_reason:
        lines.append(style("warn", f"    ! needs --force: {change.force_reason}"))
    return lines


def render_plan(plan: Plan, color: bool = False, show_unmanaged: bool = True) -> str:
    style = Style(color)
    out: list[str] = []
    targets = sorted({c.target for c in plan.changes} | set(plan.fingerprints))
    for target in targets:
        changes = [c for c in plan.changes if c.target == target]
        facts = plan.facts.get(target, {})
        detail = ", ".join(f"{k} {v}" for k, v in facts.items() if k != "kind")
        out.append(style("bold", f"{target} ({facts.get('kind', '?')}{', ' + detail if detail else ''})"))
        if not changes:
            out.append(style("dim", "  in sync"))
        for change in changes:
            out.extend(change_lines(change, style))
        unmanaged = [u for t, u in plan.unmanaged if t == target]
        if show_unmanaged and unmanaged:
            out.append(style("dim", f"  {len(unmanaged)} live object(s) not managed (left as they are):"))
            by_reason: dict[str, list[str]] = {}
            for item in unmanaged:
                by_reason.setdefault(item.reason, []).append("/".join(item.resource.key[1:] or item.resource.key))
            for reason, names in by_reason.items():
                examples = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                out.append(style("dim", f"    = {len(names)} × {safe(reason)}: {safe(examples)}"))
    for target, error in sorted(plan.errors.items()):
        out.append(style("delete", f"{target}: NOT READ: {safe(error.removeprefix(target + ': '))}"))
    for note in plan.notes:
        out.append(style("warn", f"note: {safe(note)}"))
    for refusal in plan.refusals:
        kind = "refused" if not refusal.forceable else "refused (override with --force)"
        out.append(style("delete", f"{kind}: {refusal.target}: {safe(refusal.message)}"))
    counts = plan.summary()
    out.append(style("bold", f"Plan: {counts['create']} to create, {counts['update']} to update, "
                             f"{counts['delete']} to delete."))
    return "\n".join(out)
