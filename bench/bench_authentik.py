"""Benchmark of the Authentik provider (issue 3 part 6).

2,000 users and 200 groups in the lab's Authentik, a desired state that differs by 100 changes
(40 creates, 50 renames, 10 users removed from git → deactivated), 30 ms added to every HTTP request.
Reports requests made, wall time and peak memory for read (plan), apply and the verifying re-read.
The import of authentik-client (once per process, several seconds) is done and timed before the
read, so the read's figure is the read alone.

The lab runs in a child process so that memory and CPU figures are the reconciler's own.
Usage: python bench/bench_authentik.py [--version 2026.2.7] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from benchlib import cost_lines, run_phases

from reconciler.config import DEFAULT_POLICIES, Target
from reconciler.desired.loader import load
from reconciler.lab.authentik import AuthentikLab
from reconciler.lab.authentik.store import ALL_PERMISSIONS
from reconciler.lab.common import answer_commands
from reconciler.lab.service import write_secret
from reconciler.providers.authentik import AuthentikProvider, _sdk
from reconciler.providers.authentik.live import MARKER

USERS, GROUPS, CREATES, RENAMES, REMOVED = 2000, 200, 40, 50, 10
CONCURRENCY = 8
PAGE_SIZE = 500


def serve(pipe: Pipe, version: str, latency: float) -> None:
    """Child process: a lab seeded with USERS users and GROUPS groups, all created by reconciler."""
    lab = AuthentikLab(version)
    store = lab.store
    groups = [store.new_group(f"g{i:03d}", attributes={MARKER: True}) for i in range(GROUPS)]
    for i in range(USERS):
        user = store.new_user(f"u{i:04d}", f"사용자{i}", email=f"u{i:04d}@namgun.or.kr",
                              attributes={MARKER: True, "dept": f"d{i % 7}"})
        store.set_password(user, "x") if i % 3 else None
        store.set_user_groups(user, [groups[i % GROUPS].pk, groups[(i * 7) % GROUPS].pk])
    robot = store.new_user("reconciler", "reconciler", path="goauthentik.io/service-accounts",
                           type="service_account", permissions=ALL_PERMISSIONS)
    token = store.new_token(robot)
    lab.control.latency = latency
    lab.start()
    pipe.send((lab.url, token))
    answer_commands(pipe, lab.control, lab.stop)


def desired_yaml() -> str:
    lines = ["groups:"] + [f"  - name: g{i:03d}" for i in range(GROUPS)] + ["users:"]
    for i in range(USERS - REMOVED):
        name = f"사용자{i} (수정)" if i < RENAMES else f"사용자{i}"
        groups = sorted({f"g{i % GROUPS:03d}", f"g{(i * 7) % GROUPS:03d}"})
        lines += [f"  - username: u{i:04d}", f"    name: {name}", f"    email: u{i:04d}@namgun.or.kr",
                  f"    groups: [{', '.join(groups)}]"]
    for i in range(CREATES):
        lines += [f"  - username: n{i:03d}", f"    name: 신규{i}", f"    email: n{i:03d}@namgun.or.kr",
                  "    groups: [g000]"]
    return "\n".join(lines) + "\n"


def rounds(n: int) -> int:
    return math.ceil(n / CONCURRENCY) if n else 0


def run(version: str, latency: float, trace: bool = False) -> dict[str, Any]:
    """One full pass. tracemalloc slows Python down severalfold, so timings come from a pass without it
    (``trace=False``) and the memory peak from a second pass with it."""
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=serve, args=(child, version, latency), daemon=True)
    proc.start()
    url, token = parent.recv()
    out: dict[str, Any] = {"version": version}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "desired" / "dns").mkdir(parents=True)
            (root / "desired" / "authentik").mkdir(parents=True)
            (root / "desired" / "dns" / "namgun.or.kr.yaml").write_text(
                "zone: namgun.or.kr\nrecords:\n  mail: {type: A, value: 192.0.2.25}\n", "utf-8")
            (root / "desired" / "authentik" / "users.yaml").write_text(desired_yaml(), "utf-8")
            ref, _ = write_secret(root, "token", token)
            if trace:
                tracemalloc.start()
            started = time.monotonic()
            state = load(root / "desired", check_secrets=False)
            assert state.ok, state.diagnostics.errors[:3]
            desired = state.of_kind("authentik")
            out["load_s"] = time.monotonic() - started
            target = Target("sso", "authentik", {"address": url, "token": ref, "page_size": PAGE_SIZE,
                                                 "concurrency": CONCURRENCY, "timeout": 60},
                            dict(DEFAULT_POLICIES), "bench")
            provider = AuthentikProvider(target, announce=lambda text: None)
            _sdk.ak()  # imported (and timed) in main(); the provider would otherwise import it in the read

            run_phases(parent, out, provider, desired, target.policies, started, trace)
            out["user_pages"] = out["read_counter"].get("GET /api/v3/core/users/", 0)
            out["group_pages"] = out["read_counter"].get("GET /api/v3/core/groups/", 0)
            out["me_calls"] = out["read_counter"].get("GET /api/v3/core/users/me/", 0)
    finally:
        parent.send("stop")
        parent.recv()
        proc.join(timeout=10)
    # critical path: page 1 of each list (in parallel), then the other pages CONCURRENCY at a time;
    # apply: user changes (creates, renames, deactivations are one phase) CONCURRENCY at a time.
    served = 100 if version >= "2025.12" else PAGE_SIZE
    pages = math.ceil((USERS + 1) / served)
    out["max_size_pages"] = math.ceil((USERS + 1) / 100) if served == 100 else pages
    out["read_critical"] = 1 + rounds(pages - 1)
    out["apply_critical"] = rounds(sum(out["changes"].values()))
    return out


def report(res: dict[str, Any], latency: float) -> str:
    lat_ms = latency * 1000
    lines = [f"### Authentik {res['version']} (lab), {lat_ms:.0f} ms per request, concurrency {CONCURRENCY}",
             "",
             f"| phase | requests | critical-path requests | bound (×{lat_ms:.0f} ms ×1.5) | wall time |",
             "|---|---|---|---|---|"]
    for name, critical in (("read", res["read_critical"]), ("apply", res["apply_critical"]),
                           ("verify", res["read_critical"])):
        bound = critical * latency * 1.5
        lines.append(f"| {name} | {res[f'{name}_requests']} | {critical} | {bound:.2f} s | "
                     f"{res[f'{name}_s']:.2f} s |")
    lines += ["",
              f"- plan: {res['changes']} (target 100 changes); failed {len(res['failed'])}; remaining after "
              f"apply {res['remaining']}",
              f"- list calls per read: {res['user_pages']} user pages + {res['group_pages']} group pages "
              f"(page count at the maximum page size: {res['max_size_pages']} + 2 at 100), plus "
              f"{res['me_calls']} GET users/me (the token's owner, sent beside page 1)",
              f"- apply requests per change: {res['apply_requests'] / max(1, sum(res['changes'].values())):.2f}",
              *cost_lines(res)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", action="append", help="lab Authentik version (repeatable)")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    # The provider imports authentik-client on its first request (_sdk.py): several seconds, once per
    # process. Done here, before any timed phase, and reported on its own line.
    t0 = time.monotonic()
    _sdk.ak()
    import_s = time.monotonic() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"authentik-client import (once per process, before every timed phase): {import_s:.2f} s; "
          f"max RSS after it {rss:.0f} MB\n")
    for version in args.version or ["2025.10.4", "2026.2.7"]:
        timed = run(version, latency)
        timed["peak_mb"] = run(version, latency, trace=True)["peak_mb"]
        print(report(timed, latency))


if __name__ == "__main__":
    main()
