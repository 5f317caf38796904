"""``start_lab``: the Authentik emulator as a LabService for `reconciler lab`, the demo and tests."""

from __future__ import annotations

import uuid
from pathlib import Path

from reconciler.lab.authentik.seed import seed_today
from reconciler.lab.authentik.server import AuthentikLab
from reconciler.lab.authentik.store import ALL_PERMISSIONS
from reconciler.lab.service import SimpleService, write_secret

DEFAULT_VERSION = "2025.10.4"  # what the organisation runs (authentik-observed.md)


def start_lab(workdir: Path, *, latency: float = 0.0, seed: bool = True, desired: Path | None = None,
              version: str = DEFAULT_VERSION) -> SimpleService:
    """Start a seeded (or empty) Authentik lab on 127.0.0.1; the target uses the reconciler's own
    service-account token (no superuser-group permission), written to a 0600 file. Recovery links
    go to ``<workdir>/recovery-links``: the lab and the demo never write into the user's home."""
    lab = AuthentikLab(version, latency=latency)
    stage: str | None = None
    if seed:
        info = seed_today(lab.store)
        token = info.reconciler_token
        stage = str(info.email_stage)
    else:
        lab.store.recovery_flow_slug = "default-recovery-flow"
        stage_uuid = uuid.uuid4()
        lab.store.email_stages.add(stage_uuid)
        stage = str(stage_uuid)
        robot = lab.store.new_user("reconciler", "reconciler", path="goauthentik.io/service-accounts",
                                   type="service_account", permissions=ALL_PERMISSIONS)
        token = lab.store.new_token(robot)
    ref, _ = write_secret(workdir, "authentik-token", token)
    lab.start()
    target: dict[str, object] = {"kind": "authentik", "address": lab.url, "token": ref,
                                 "recovery_link_dir": str(workdir.resolve() / "recovery-links")}
    if stage:
        target["email_stage"] = stage  # the seeded email stage, for enrollment: recovery_email
    summary = (f"Authentik {version} emulator at {lab.url}/api/v3/ "
               f"({len(lab.store.users)} users, {len(lab.store.groups)} groups)")
    service = SimpleService(name="sso", target=target, control=lab.control, summary=summary, stopper=lab.stop)
    service.lab = lab  # type: ignore[attr-defined]  # tests reach the store through it
    return service
