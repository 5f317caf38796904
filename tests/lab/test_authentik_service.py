"""``start_lab`` for `reconciler lab` / `reconciler demo`: the target it hands out keeps recovery links
in the lab's own folder, never in the user's home (the provider's default is under ~/.local/state)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import plan as planmod
from reconciler.config import DEFAULT_POLICIES, Target
from reconciler.lab.authentik import start_lab
from reconciler.model.resource import Resource
from reconciler.providers.authentik import AuthentikProvider
from reconciler.providers.base import Scope


def test_recovery_links_stay_in_the_lab_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    workdir = tmp_path / "lab" / "authentik"
    service = start_lab(workdir)
    try:
        options = {k: v for k, v in service.target.items() if k != "kind"}
        assert options["recovery_link_dir"] == str(workdir.resolve() / "recovery-links")
        announced: list[str] = []
        provider = AuthentikProvider(Target("sso", "authentik", options, dict(DEFAULT_POLICIES), "test"),
                                     announce=announced.append, interactive=lambda: False)
        kkb = Resource("authentik.user", ("kkb",), {"name": "김경본", "email": "kkb@namgun.or.kr",
                                                   "enrollment": "recovery_link"})
        live = provider.read(Scope(desired=[kkb]))
        changes, _ = planmod.diff_target(provider, [kkb], live, {})
        assert [(c.ident, c.fields) for c in changes] == [("authentik.user kkb", ["enrollment"])]
        assert all(r.ok for r in provider.apply(changes))
        provider.close()
    finally:
        service.stop()
    [link] = list((workdir / "recovery-links").iterdir())
    assert link.name.startswith("kkb-") and f"written to {link.resolve()}" in announced[0]
    assert not home.exists()  # nothing under ~ (the default would be ~/.local/state/reconciler/…)
