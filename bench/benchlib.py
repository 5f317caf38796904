"""What the identity benchmarks share: run read → plan → apply → verify against a lab in a child
process, counting the lab's requests per phase (the lab side is reconciler.lab.common.answer_commands)."""

from __future__ import annotations

import resource
import time
import tracemalloc
from typing import Any

from reconciler import plan as planmod
from reconciler.providers.base import Scope


def run_phases(parent: Any, out: dict[str, Any], provider: Any, desired: list[Any], policies: dict[str, Any],
               started: float, trace: bool) -> None:
    """Fill ``out`` with each phase's time and request counts, the plan's size, what failed and what
    still differed afterwards; close the provider."""

    def phase(name: str, fn: Any) -> Any:
        parent.send("reset")
        parent.recv()
        t0 = time.monotonic()
        result = fn()
        out[f"{name}_s"] = time.monotonic() - t0
        parent.send("counters")
        total, counter = parent.recv()
        out[f"{name}_requests"] = total
        out[f"{name}_counter"] = counter
        return result

    live = phase("read", lambda: provider.read(Scope(desired=desired)))
    changes, _ = planmod.diff_target(provider, desired, live, policies)
    out["changes"] = {op: sum(1 for c in changes if c.op == op) for op in ("create", "update", "delete")}
    results = phase("apply", lambda: provider.apply(changes))
    out["failed"] = [r.error for r in results if not r.ok]
    verify = phase("verify", lambda: provider.read(Scope(desired=desired)))
    remaining, _ = planmod.diff_target(provider, desired, verify, policies)
    out["remaining"] = len(remaining)
    out["total_s"] = time.monotonic() - started
    if trace:
        out["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    provider.close()


def cost_lines(res: dict[str, Any]) -> list[str]:
    """The load/whole-run and memory lines every identity benchmark report ends with."""
    return [f"- desired load (YAML → resources, validation): {res['load_s']:.2f} s; whole run {res['total_s']:.2f} s",
            f"- peak traced Python memory (second pass under tracemalloc) {res['peak_mb']:.1f} MB; "
            f"max RSS of the reconciler process {res['maxrss_mb']:.0f} MB",
            ""]
