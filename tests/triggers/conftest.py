"""A git world for the trigger tests: a bare "server" repository, a person's clone that commits and
pushes with git itself, and a reconciler.yaml whose controller tracks the bare repository and applies
to the file-backed test provider (filedns.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler import config as configmod
from reconciler.audit import AuditLog
from reconciler.providers import base
from tests.triggers import filedns

REPO = Path(__file__).resolve().parents[2]
ZONE = "namgun.or.kr"
AUTHOR = ("김경본", "kgb@namgun.or.kr")

# Four records, so a one-record change stays under the default max_change_share of 30 %.
BASE_ZONE = {
    "@": [{"type": "MX", "value": "10 mail.namgun.or.kr."}],
    "mail": [{"type": "A", "value": "192.0.2.25"}],
    "www": [{"type": "A", "value": "192.0.2.80"}],
    "sso": [{"type": "A", "value": "192.0.2.90"}],
}


def zone_yaml(records: dict[str, list[dict[str, Any]]], ttl: int = 3600) -> str:
    lines = [f"zone: {ZONE}", f"defaults: {{ttl: {ttl}}}", "records:"]
    for name, recs in records.items():
        lines.append(f"  '{name}':")
        for rec in recs:
            body = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in rec.items())
            lines.append(f"    - {{{body}}}")
    return "\n".join(lines) + "\n"


def git(*args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
                "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1], **(env or {})}
    full_env.pop("GIT_DIR", None)
    return subprocess.run(["git", *args], cwd=cwd, env=full_env, check=check, capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class World:
    root: Path
    bare: Path
    work: Path
    config_path: Path
    state: Path  # the file-backed "live" DNS
    state_dir: Path
    extra_config: dict[str, str] = field(default_factory=dict)
    lock_wait: float = 5.0

    # --------------------------------------------------------------------------- git, as a person
    def write(self, rel: str, text: str) -> None:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")

    def commit(self, message: str, files: dict[str, str] | None = None, *, records: dict[str, Any] | None = None
               ) -> str:
        if records is not None:
            self.write(f"desired/dns/{ZONE}.yaml", zone_yaml(records))
        for rel, text in (files or {}).items():
            self.write(rel, text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work).stdout.strip()

    def push(self, *args: str, env: dict[str, str] | None = None, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        return git("push", "-q", "origin", *(args or ("HEAD:main",)), cwd=self.work, env=env, check=check,
                   timeout=120)

    # --------------------------------------------------------------------------- reconciler side
    def config(self) -> configmod.Config:
        return configmod.load(self.config_path)

    def audit(self) -> AuditLog:
        return AuditLog(self.state_dir / "audit.jsonl")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        entries = self.audit().entries()
        return [e for e in entries if name is None or e.get("event") == name]

    def live(self) -> dict[str, Any]:
        return filedns.read_state(self.state)

    def live_value(self, name: str, rtype: str = "A") -> list[str] | None:
        entry = self.live().get(f"{ZONE}/{name}/{rtype}")
        return entry["values"] if entry else None

    def set_config(self, **sections: str) -> None:
        self.extra_config.update(sections)
        self.write_config()

    def write_config(self, repository: Path | None = None) -> None:
        text = textwrap.dedent(f"""\
            state_dir: state
            desired: desired-unused
            lock: {{wait: {self.lock_wait}}}
            targets:
              dns: {{kind: rfc2136, state: {self.state}, zones: [{ZONE}]}}
            git:
              repository: {repository or self.bare}
              branch: main
            """)
        for name, body in self.extra_config.items():
            text += f"{name}:\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\n"
        self.config_path.write_text(text, "utf-8")

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """The reconciler CLI in a subprocess (with the test provider installed)."""
        return subprocess.run([sys.executable, "-m", "tests.triggers.cli_with_filedns", "-c", str(self.config_path),
                               *args], cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout, input=stdin)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "tests.triggers.cli_with_filedns", "-c",
                                 str(self.config_path), *args], cwd=REPO, env={**os.environ, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def seed_live(state: Path) -> None:
    """The live DNS before any run: equal to BASE_ZONE."""
    with filedns.locked(state) as live:
        live.clear()
        live[f"{ZONE}/@/MX"] = {"ttl": 3600, "values": ["10 mail.namgun.or.kr."]}
        live[f"{ZONE}/mail/A"] = {"ttl": 3600, "values": ["192.0.2.25"]}
        live[f"{ZONE}/www/A"] = {"ttl": 3600, "values": ["192.0.2.80"]}
        live[f"{ZONE}/sso/A"] = {"ttl": 3600, "values": ["192.0.2.90"]}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(base.REGISTRY, filedns.KIND, filedns.SPEC)


@pytest.fixture
def world(tmp_path: Path, provider: None) -> Iterator[World]:
    bare = tmp_path / "server" / "infra.git"
    work = tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    w = World(tmp_path, bare, work, tmp_path / "reconciler.yaml", tmp_path / "live-dns.json", tmp_path / "state")
    w.write_config()
    seed_live(w.state)
    w.commit("초기 상태: namgun.or.kr 영역", records=BASE_ZONE)
    w.push()
    yield w


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


def with_record(name: str, value: str, rtype: str = "A") -> dict[str, Any]:
    records = {k: list(v) for k, v in BASE_ZONE.items()}
    records[name] = [{"type": rtype, "value": value}]
    return records
