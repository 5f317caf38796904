"""Benchmark of the Windows DNS provider (issue 2 part 9).

A zone of 10,000 records in the lab's Windows DNS (plus the organisation's seed), a plan of 1,000
changes (500 creates, 300 value updates, 200 TTL updates), 200 ms added to every WinRM HTTP request.
Reports WinRM commands ("round trips" at the PowerShell level) and HTTP requests, wall time, CPU time
of the diff, and peak memory; then the same kind of change applied the way the earlier Windows
DNS-as-code tool did it (one ``Session.run_ps`` per change: a new shell and 5 HTTP requests each),
measured on a sample and extrapolated to 1,000 changes.

The lab runs in a child process so that memory and CPU figures are the reconciler's own.
Usage: python bench/bench_windows_dns.py [--latency-ms 200] [--sample 10]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from reconciler import plan as planmod
from reconciler.config import Target
from reconciler.lab.service import write_secret
from reconciler.model import dns as m
from reconciler.model.resource import Resource
from reconciler.providers.base import Scope
from reconciler.providers.windows_dns.provider import WindowsDnsProvider

ZONE = "namgun.or.kr"
RECORDS, CREATES, UPDATES, RETIMES = 10_000, 500, 300, 200
TXT_EVERY = 50  # every 50th record is a TXT (read back over DNS)


def _address(i: int) -> str:
    return f"10.{i // 62500}.{(i // 250) % 250}.{i % 250 + 1}"


def serve(pipe: Pipe, latency: float, workdir: str) -> None:
    """Child: the seeded lab plus RECORDS static records, latency on every WinRM request."""
    from reconciler.lab.windows_dns.dnsserver import Record
    from reconciler.lab.windows_dns.seed import load_namgun
    from reconciler.lab.windows_dns.service import start_windows_dns

    model = load_namgun()
    zone = model.server().zone(ZONE)
    for i in range(RECORDS):
        if i % TXT_EVERY == 0:
            zone.records.append(Record(f"t{i}", "TXT", 3600, {"strings": [f"bench value {i}; v=1"]}))
        else:
            zone.records.append(Record(f"h{i}", "A", 3600, {"IPv4Address": _address(i)}))
    _, password = write_secret(Path(workdir), "winrm-password")
    lab = start_windows_dns(model, password=password, latency=latency)
    pipe.send({"endpoint": lab.endpoint, "dns_port": lab.dns.port, "username": lab.username,
               "password_file": str(Path(workdir) / "secrets" / "winrm-password")})
    while True:
        msg = pipe.recv()
        if msg == "stats":
            pipe.send(lab.winrm.stats.snapshot())
        elif msg == "reset":
            lab.winrm.stats.reset()
            pipe.send(True)
        else:
            lab.stop()
            pipe.send(True)
            return


def desired_state() -> list[Resource]:
    out = []
    for i in range(RECORDS):
        if i % TXT_EVERY == 0:
            out.append(Resource(m.KIND, (ZONE, f"t{i}", "TXT"), m.rrset_data(3600, [f"bench value {i}; v=1"])))
            continue
        address = _address(i)
        ttl = 3600
        if i < UPDATES * 2 and i % 2:           # 300 value updates among the first 600 odd records
            address = _address(i + 500_000)
        elif UPDATES * 2 <= i < UPDATES * 2 + RETIMES * 2 and i % 2:   # 200 TTL updates
            ttl = 600
        out.append(Resource(m.KIND, (ZONE, f"h{i}", "A"), m.rrset_data(ttl, [address])))
    for i in range(CREATES):
        out.append(Resource(m.KIND, (ZONE, f"new{i}", "A"), m.rrset_data(3600, [_address(i + 300_000)])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--sample", type=int, default=10, help="changes applied one run_ps each")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-windows-dns-")
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=serve, args=(child, args.latency_ms / 1000, workdir), daemon=True)
    proc.start()
    info: dict[str, Any] = parent.recv()

    def stats() -> dict[str, Any]:
        parent.send("stats")
        return parent.recv()

    def reset() -> None:
        parent.send("reset")
        parent.recv()

    options = {"address": info["endpoint"], "transport": "basic", "allow_unencrypted": True,
               "username": info["username"], "password": f"file:{info['password_file']}", "zones": [ZONE],
               "dns_server": f"127.0.0.1:{info['dns_port']}", "timeout": 1800}
    target = Target("dc1", "windows_dns", options, {"purge": False}, "bench")
    desired = desired_state()
    tracemalloc.start()
    provider = WindowsDnsProvider(target)
    report: list[str] = []
    try:
        reset()
        t0 = time.perf_counter()
        live = provider.read(Scope(desired, {ZONE}))
        read_wall = time.perf_counter() - t0
        read_stats = stats()
        cpu0 = time.process_time()
        changes, _ = planmod.diff_target(provider, desired, live, {"purge": False})
        diff_cpu = time.process_time() - cpu0
        summary = {"create": 0, "update": 0, "delete": 0}
        for change in changes:
            summary[change.op] += 1
        reset()
        t0 = time.perf_counter()
        results = provider.apply(changes)
        apply_wall = time.perf_counter() - t0
        apply_stats = stats()
        failed = [r for r in results if not r.ok]
        live2 = provider.read(Scope(desired, {ZONE}))
        remaining, _ = planmod.diff_target(provider, desired, live2, {"purge": False})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        # the earlier tool's way: one run_ps (new shell, 5 HTTP requests) per change, values in the script
        import winrm

        password = Path(info["password_file"]).read_text().strip()
        session = winrm.Session(info["endpoint"], auth=(info["username"], password), transport="basic")
        reset()
        t0 = time.perf_counter()
        for i in range(args.sample):
            script = (f'Add-DnsServerResourceRecord -ZoneName "{ZONE}" -Name "old{i}" -A '
                      f'-IPv4Address "{_address(i + 400_000)}" -TimeToLive 01:00:00')
            assert session.run_ps(script).status_code == 0
        naive_wall = time.perf_counter() - t0
        naive_stats = stats()
        per_change = naive_wall / args.sample
        per_change_requests = naive_stats["http_requests"] / args.sample

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        records_read = len(live.resources) + len(live.unmanaged)
        report += [
            f"### {RECORDS:,} records + seed, {len(changes):,} changes, {args.latency_ms:g} ms per WinRM request",
            "",
            "| phase | WinRM commands | HTTP requests | wall time |",
            "|---|---|---|---|",
            f"| read (1 zone, {records_read:,} RRsets) | {read_stats['requests'].get('Command', 0)} | "
            f"{read_stats['http_requests']} | {read_wall:.1f} s |",
            f"| apply ({len(changes):,} changes) | {apply_stats['requests'].get('Command', 0)} | "
            f"{apply_stats['http_requests']} | {apply_wall:.1f} s |",
            f"| one run_ps per change (sample of {args.sample}, ×{len(changes) // args.sample} for "
            f"{len(changes):,}) | {len(changes):,} | {per_change_requests * len(changes):,.0f} | "
            f"{per_change * len(changes):,.0f} s |",
            "",
            f"- plan: {summary}; failed {len(failed)}; remaining after apply {len(remaining)}",
            f"- diff of {len(desired):,} desired RRsets against {records_read:,} live: {diff_cpu:.2f} s CPU",
            f"- read stdout {read_stats['max_response_bytes']:,} bytes max per HTTP response; "
            f"apply stdin {apply_stats['stdin_bytes']:,} bytes",
            f"- peak traced Python memory {peak / 2**20:.1f} MB; max RSS of the reconciler process {rss:.0f} MB",
        ]
    finally:
        provider.close()
        parent.send("stop")
        parent.recv()
        proc.join(10)
    print("\n".join(report))


if __name__ == "__main__":
    main()
