"""Shared setup for the Authentik provider tests: a seeded lab, a Target for it, desired-state trees."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.config import DEFAULT_POLICIES, Target
from reconciler.desired.loader import DesiredState, load
from reconciler.lab.authentik import AuthentikLab, SeedInfo, Switches, seed_today
from reconciler.lab.service import write_secret
from reconciler.providers.authentik import AuthentikProvider

ZONE = """\
zone: namgun.or.kr
records:
  mail:
    type: A
    value: 192.0.2.25
"""


@dataclass
class Env:
    lab: AuthentikLab
    seed: SeedInfo
    tmp: Path
    announced: list[str]

    @property
    def link_dir(self) -> Path:
        """Where recovery links go when stderr is not a terminal (always so under pytest)."""
        return self.tmp / "recovery-links"

    def target(self, token: str | None = None, policies: dict[str, Any] | None = None,
               **options: Any) -> Target:
        ref, _ = write_secret(self.tmp, "token", token or self.seed.reconciler_token)
        opts = {"address": self.lab.url, "token": ref, "email_stage": str(self.seed.email_stage),
                "timeout": 5, "recovery_link_dir": str(self.link_dir), **options}
        return Target("sso", "authentik", opts, {**DEFAULT_POLICIES, **(policies or {})}, "test")

    def provider(self, **kwargs: Any) -> AuthentikProvider:
        return AuthentikProvider(self.target(**kwargs), announce=self.announced.append)


@contextmanager
def lab_env(tmp: Path, version: str = "2025.10.4", switches: Switches | None = None,
            latency: float = 0.0) -> Iterator[Env]:
    lab = AuthentikLab(version, switches=switches, latency=latency)
    seed = seed_today(lab.store)
    with lab:
        yield Env(lab, seed, tmp, [])


def desired_tree(root: Path, authentik_yaml: str, extra: dict[str, str] | None = None) -> Path:
    """desired/ with the namgun.or.kr zone and one authentik file; returns the desired folder."""
    desired = root / "desired"
    (desired / "dns").mkdir(parents=True, exist_ok=True)
    (desired / "authentik").mkdir(parents=True, exist_ok=True)
    (desired / "dns" / "namgun.or.kr.yaml").write_text(ZONE, "utf-8")
    (desired / "authentik" / "users.yaml").write_text(textwrap.dedent(authentik_yaml), "utf-8")
    for rel, text in (extra or {}).items():
        path = desired / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), "utf-8")
    return desired


def load_desired(root: Path, authentik_yaml: str) -> DesiredState:
    state = load(desired_tree(root, authentik_yaml), check_secrets=False)
    assert state.ok, [str(d) for d in state.diagnostics.errors]
    return state


TODAY = """\
groups:
  - name: mail-users
users:
  - username: namgun18
    name: 남근
    email: namgun18@namgun.or.kr
    groups: [mail-users]
  - username: tsha
    name: 하태수
    email: tsha@namgun.or.kr
    groups: [mail-users]
    enrollment: {method: recovery_email}
  - username: nahee14
    name: 나희
    email: nahee14@namgun.or.kr
    groups: [mail-users]
    enrollment: {method: recovery_email}
  - username: kkb
    name: 김경본
    email: kkb@namgun.or.kr
    groups: [mail-users]
    enrollment: {method: recovery_link}
  - username: administrator
    name: 관리자
    email: administrator@namgun.or.kr
    groups: [mail-users]
"""
