"""Benchmark of the Stalwart provider (issue 4 part 6).

1,000 principals in the lab's Stalwart (1 domain + 999 accounts, all created by reconciler), a
desired state that differs by 50 changes (20 creates with secrets, 20 description/quota updates,
10 accounts removed from git with ``removal: delete``), 30 ms added to every HTTP request.
Target: one list pass (largest page) plus one request per change. Reports requests, wall time and
peak memory for read (plan), apply and the verifying re-read, on v0.15 REST and v0.16 JMAP.

The lab runs in a child process so that memory and CPU figures are the reconciler's own.
Usage: python bench/bench_stalwart.py [--version 0.15] [--version 0.16] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from benchlib import cost_lines, run_phases

from reconciler.config import DEFAULT_POLICIES, Target
from reconciler.desired.loader import load
from reconciler.lab.common import answer_commands
from reconciler.lab.service import write_secret
from reconciler.lab.stalwart import StalwartLab, StalwartLabConfig
from reconciler.lab.stalwart import principals_v015 as principals
from reconciler.lab.stalwart.identity import FALLBACK_ADMIN_PERMISSIONS, Identity
from reconciler.lab.stalwart.seed import sha512
from reconciler.providers.stalwart import StalwartProvider
from reconciler.providers.stalwart.model import MARKER

ACCOUNTS, CREATES, UPDATES, REMOVED = 999, 20, 20, 10
DOMAIN = "namgun.or.kr"
API_KEY = "bench-api-key-not-a-real-secret"


def serve(pipe: Pipe, version: str, latency: float) -> None:
    """Child process: a lab holding ACCOUNTS accounts and their domain, all owned by reconciler."""
    lab = StalwartLab(StalwartLabConfig(version="0.15", ldap_default_directory=False))
    admin = Identity("bench", FALLBACK_ADMIN_PERMISSIONS, "fallback-admin")
    directory, opts = lab.state.directory, lab.state.principal_options()

    def create(doc: dict[str, Any]) -> None:
        principals.create(directory, admin, json.dumps(doc, ensure_ascii=False).encode(), opts)

    with directory.lock:
        create({"type": "domain", "name": DOMAIN, "description": f"메일 도메인 {MARKER}"})
        create({"type": "apiKey", "name": "reconciler", "roles": ["admin"], "secrets": [sha512(API_KEY)]})
        for i in range(ACCOUNTS):
            create({"type": "individual", "name": f"svc{i:04d}", "description": f"서비스 {i} {MARKER}",
                    "emails": [f"svc{i:04d}@{DOMAIN}"], "roles": ["user"], "quota": 1024**3})
    lab.state.config.api_keys["reconciler"] = sha512(API_KEY)
    if version != "0.15":
        lab.switch_version(version)
    lab.control.latency = latency
    lab.start()
    pipe.send(lab.url)
    answer_commands(pipe, lab.control, lab.stop)


def desired_yaml() -> str:
    lines = ["domains:", f"  - name: {DOMAIN}", "    description: 메일 도메인", "accounts:"]
    for i in range(ACCOUNTS - REMOVED):
        description = f"서비스 {i} (변경)" if i < UPDATES else f"서비스 {i}"
        quota = "2 GiB" if i < UPDATES else "1 GiB"
        lines += [f"  - name: svc{i:04d}", f"    description: {description}", f"    emails: [svc{i:04d}@{DOMAIN}]",
                  f"    quota: {quota}"]
    for i in range(CREATES):
        lines += [f"  - name: new{i:03d}", f"    description: 신규 {i}", f"    emails: [new{i:03d}@{DOMAIN}]",
                  "    quota: 512 MiB", "    secret: env:BENCH_STALWART_SECRET"]
    return "\n".join(lines) + "\n"


def run(version: str, latency: float, trace: bool = False) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=serve, args=(child, version, latency), daemon=True)
    proc.start()
    url = parent.recv()
    out: dict[str, Any] = {"version": version}
    os.environ["BENCH_STALWART_SECRET"] = "bench-Secret-배터리-horse-2026"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "desired" / "stalwart").mkdir(parents=True)
            (root / "desired" / "stalwart" / "accounts.yaml").write_text(desired_yaml(), "utf-8")
            ref, _ = write_secret(root, "api-key", API_KEY)
            if trace:
                tracemalloc.start()
            started = time.monotonic()
            state = load(root / "desired")
            assert state.ok, state.diagnostics.errors[:3]
            desired = state.of_kind("stalwart")
            out["load_s"] = time.monotonic() - started
            policies = {**DEFAULT_POLICIES, "removal": "delete"}
            target = Target("mail", "stalwart", {"address": url, "api": "auto", "api_key": ref,
                                                 "state_file": str(root / "secrets.json"), "timeout": 60},
                            policies, "bench")
            provider = StalwartProvider(target)

            run_phases(parent, out, provider, desired, policies, started, trace)
    finally:
        parent.send("stop")
        parent.recv()
        proc.join(timeout=10)
    return out


def report(res: dict[str, Any], latency: float) -> str:
    lat_ms = latency * 1000
    n_changes = sum(res["changes"].values())
    api = "v0.15 REST `/api/principal`" if res["version"] == "0.15" else "v0.16 JMAP `/jmap`"
    probe = 0 if res["version"] == "0.15" else 1  # api: auto on v0.16 first meets a 404 on /api/principal
    lines = [f"### Stalwart {api} (lab), {ACCOUNTS + 1} principals, {lat_ms:.0f} ms per request", "",
             "| phase | requests | target | wall time | floor (requests × latency) |", "|---|---|---|---|---|"]
    for name, target in (("read", 1 + probe), ("apply", n_changes), ("verify", 1 + probe)):
        lines.append(f"| {name} | {res[f'{name}_requests']} | {target} | {res[f'{name}_s']:.2f} s | "
                     f"{res[f'{name}_requests'] * latency:.2f} s |")
    lines += ["",
              f"- plan: {res['changes']} (target 50 changes); failed {len(res['failed'])}; remaining after apply "
              f"{res['remaining']}",
              f"- read requests by path: {res['read_counter']}",
              *cost_lines(res)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", action="append", choices=["0.15", "0.16"])
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    for version in args.version or ["0.15", "0.16"]:
        timed = run(version, latency)
        timed["peak_mb"] = run(version, latency, trace=True)["peak_mb"]
        print(report(timed, latency))


if __name__ == "__main__":
    main()
