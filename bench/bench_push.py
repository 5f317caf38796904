"""GitOps push-to-apply benchmark (issue 5 part 7).

Time from `git push` returning to the change being live, for a one-record change, median of N
pushes (default 20). Two ways, both with real git and a real `reconciler` process:

- webhook: `reconciler serve` runs as its own process; after each push the benchmark sends the signed
  push webhook a forge would send (Gitea style), then polls the target until the new value is served.
- hook: the bare repository's post-receive hook (deploy/git/post-receive) applies during the push, so
  the change is live when `git push` returns; reported as the push's own duration.

Target: the lab's Windows DNS (WinRM emulator, default latency), the new value read back over the
lab's port-53 server, when the windows_dns provider is installed; otherwise the trigger tests'
file-backed provider, which measures the controller's own overhead only (the output says which).
Usage: python bench/bench_push.py [--pushes 20] [--mode webhook|hook|both] [--system auto|windows_dns|filedns]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import importlib
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ZONE = "namgun.or.kr"
NAMES = ("www", "sso", "git", "mail", "push")
SECRET = "bench-webhook-secret"


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "김경본", "GIT_AUTHOR_EMAIL": "kgb@namgun.or.kr",
           "GIT_COMMITTER_NAME": "김경본", "GIT_COMMITTER_EMAIL": "kgb@namgun.or.kr"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True,
                          timeout=120).stdout


def zone_text(values: dict[str, str]) -> str:
    lines = [f"zone: {ZONE}", "defaults: {ttl: 300}", "records:"]
    lines += [f"  {name}: {{type: A, value: {value}}}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ systems
class System:
    name: str
    target: dict[str, Any]
    python: list[str]  # how to run the reconciler CLI for this system
    env: dict[str, str]

    def value(self, name: str) -> list[str]:
        raise NotImplementedError

    def stop(self) -> None:
        return None


class WindowsDns(System):
    name = "windows_dns lab (WinRM emulator, latency 0)"

    def __init__(self, workdir: Path) -> None:
        from reconciler.lab.windows_dns import start_lab

        self.service = start_lab(workdir / "lab", seed=False)
        self.target = dict(self.service.target)
        self.python = [sys.executable, "-m", "reconciler.cli"]
        self.env = dict(self.service.env)
        self.port = int(str(self.target["dns_server"]).rsplit(":", 1)[1])

    def value(self, name: str) -> list[str]:
        import dns.message
        import dns.query
        import dns.rdatatype

        query = dns.message.make_query(f"{name}.{ZONE}", dns.rdatatype.A)
        answer = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=2)
        return sorted(rr.to_text() for rrset in answer.answer for rr in rrset)

    def stop(self) -> None:
        self.service.stop()


class FileDns(System):
    name = "file-backed test provider (controller overhead only; no lab)"

    def __init__(self, workdir: Path) -> None:
        self.state = workdir / "live-dns.json"
        self.state.write_text("{}")
        self.target = {"kind": "rfc2136", "state": str(self.state), "zones": [ZONE]}
        self.python = [sys.executable, "-m", "tests.triggers.cli_with_filedns"]
        self.env = {"PYTHONPATH": str(REPO)}

    def value(self, name: str) -> list[str]:
        try:
            data = json.loads(self.state.read_text() or "{}")
        except json.JSONDecodeError:
            return []
        entry = data.get(f"{ZONE}/{name}/A")
        return sorted(entry["values"]) if entry else []


def windows_dns_provider_ready() -> bool:
    if importlib.util.find_spec("reconciler.providers.windows_dns") is None:
        return False
    return callable(getattr(importlib.import_module("reconciler.providers.windows_dns"), "create", None))


def pick_system(choice: str, workdir: Path) -> System:
    if choice == "windows_dns" or (choice == "auto" and windows_dns_provider_ready()):
        return WindowsDns(workdir)
    return FileDns(workdir)


# ------------------------------------------------------------------------------------------ world
class World:
    def __init__(self, root: Path, system: System) -> None:
        self.root, self.system = root, system
        self.bare = root / "infra.git"
        self.work = root / "work"
        git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=root)
        git("init", "-q", "-b", "main", str(self.work), cwd=root)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.values = {name: f"192.0.2.{10 + i}" for i, name in enumerate(NAMES)}
        (root / "secret").write_text(SECRET)
        self.port = free_port()
        self.config = root / "reconciler.yaml"
        target = json.dumps(system.target)
        self.config.write_text(textwrap.dedent(f"""\
            state_dir: state
            targets:
              dc1: {target}
            git: {{repository: {self.bare}, branch: main}}
            serve: {{listen: 127.0.0.1:{self.port}, secret: file:{root / 'secret'}, drift_interval: 0,
                     reconcile_on_start: false}}
            """), "utf-8")
        self.commit("초기 상태")
        self.push()
        self.cli("reconcile-commit")  # the first apply creates the records; not measured

    def cli(self, *args: str) -> None:
        done = subprocess.run([*self.system.python, "-c", str(self.config), "-q", *args], cwd=REPO,
                              env={**os.environ, **self.system.env}, capture_output=True, text=True, timeout=300)
        if done.returncode not in (0, 2):
            raise SystemExit(f"reconciler {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def commit(self, message: str) -> str:
        path = self.work / "desired" / "dns" / f"{ZONE}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(zone_text(self.values), "utf-8")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def push(self, env: dict[str, str] | None = None) -> float:
        start = time.perf_counter()
        subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=self.work, check=True, capture_output=True,
                       env={**os.environ, **(env or {})}, timeout=300)
        return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise SystemExit("the change did not appear within 60 s")
        time.sleep(0.005)
    return time.perf_counter() - start


def send_webhook(port: int, after: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": after, "repository": {"full_name": "namgun/infra"},
                       "pusher": {"login": "kgb"}}).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/webhook", body=body, headers={"Content-Type": "application/json", "X-Gitea-Event": "push",
                                                         "X-Gitea-Delivery": str(uuid.uuid4()),
                                                         "X-Gitea-Signature": sig})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 202:
        raise SystemExit(f"webhook answered {response.status}")


def one_change(world: World, i: int, net: str = "198.51.100") -> tuple[str, str]:
    name = NAMES[i % len(NAMES)]
    world.values[name] = f"{net}.{(i % 250) + 1}"
    return name, world.values[name]


def bench_webhook(world: World, pushes: int) -> list[float]:
    port = world.port
    server = subprocess.Popen([*world.system.python, "-c", str(world.config), "-q", "serve"], cwd=REPO,
                              env={**os.environ, **world.system.env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _healthy(port), timeout=30)
        times = []
        for i in range(pushes):
            name, value = one_change(world, i)
            sha = world.commit(f"{name} → {value}")
            world.push()
            start = time.perf_counter()
            send_webhook(port, sha)  # what the forge does right after it accepted the push
            wait_until(lambda n=name, v=value: world.system.value(n) == [v])
            times.append(time.perf_counter() - start)
        return times
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def bench_hook(world: World, pushes: int) -> tuple[list[float], list[float]]:
    hook = world.bare / "hooks" / "post-receive"
    shutil.copy(REPO / "deploy" / "git" / "post-receive", hook)
    hook.chmod(0o755)
    env = {"RECONCILER": " ".join(world.system.python), "RECONCILER_CONFIG": str(world.config),
           **world.system.env, "PYTHONPATH": str(REPO)}
    push_times, after = [], []
    for i in range(pushes):
        name, value = one_change(world, i, net="203.0.113")
        world.commit(f"{name} → {value}")
        push_times.append(world.push(env))
        start = time.perf_counter()
        wait_until(lambda n=name, v=value: world.system.value(n) == [v])
        after.append(time.perf_counter() - start)
    hook.unlink()
    return push_times, after


def describe(label: str, times: list[float]) -> str:
    q = statistics.quantiles(times, n=20, method="inclusive") if len(times) >= 2 else times
    return (f"{label}: median {statistics.median(times):.3f}s, min {min(times):.3f}s, "
            f"p95 {q[-1]:.3f}s, max {max(times):.3f}s (n={len(times)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--mode", choices=["webhook", "hook", "both"], default="both")
    parser.add_argument("--system", choices=["auto", "windows_dns", "filedns"], default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        root = Path(tmp)
        system = pick_system(args.system, root)
        try:
            world = World(root, system)
            version = git("--version", cwd=root).split()[-1]
            print(f"target: {system.name}; {args.pushes} pushes of a one-record change; git {version}")
            if args.mode in ("webhook", "both"):
                times = bench_webhook(world, args.pushes)
                print(describe("webhook (serve, debounce 0.3 s): push returned → change served", times))
            if args.mode in ("hook", "both"):
                push_times, after = bench_hook(world, args.pushes)
                print(describe("post-receive hook: duration of `git push` (applies before returning)", push_times))
                print(describe("post-receive hook: push returned → change served", after))
        finally:
            system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
