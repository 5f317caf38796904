"""A stand-in DNS target for the Authentik CLI tests: it reports every desired RRset as already live.

The cross-checks need a zone declared under desired/dns/ (every Authentik email must be in one), and
the engine needs a target that serves those RRsets. DNS is not what these tests are about, so this
double keeps DNS in sync by definition; the real DNS providers have their own tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.config import Target
from reconciler.plan import Change
from reconciler.providers.base import BaseProvider, ChangeResult, LiveState, Progress, Scope, no_progress


class MirrorDns(BaseProvider):
    kinds = ("dns.rrset",)

    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState:
        state = LiveState(target=self.name)
        for resource in scope.desired:
            state.add(resource)
        return state

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        return [ChangeResult(c.id, False, error="the DNS mirror applies nothing") for c in changes]


def create(target: Target) -> MirrorDns:
    return MirrorDns(target)
