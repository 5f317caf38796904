"""``start_lab``: the Stalwart emulator as a LabService for `reconciler lab`, the demo and tests.

The target authenticates with the seeded ``reconciler`` API key (a 0600 file). ``env`` carries the
account secrets desired/stalwart/ refers to: ``system``'s matches the live hash (in sync),
``postmaster``'s does not (today's drift), ``git`` and ``noreply`` are new.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from ..service import SimpleService, write_secret
from .seed import API_KEY_NAME, DKIM_ID, DKIM_SELECTOR, SeedSecrets, seeded_lab
from .server import StalwartLab, StalwartLabConfig

DEFAULT_VERSION = "0.15"  # what the organisation deployed; `version="0.16"` models the latest image


def desired_selector(desired: Path | None) -> str:
    """The selector git declares for rsa-namgun.or.kr, so the seeded key sits where DNS expects it."""
    folder = (desired or Path("desired")) / "stalwart"
    if folder.is_dir():
        for path in sorted(folder.glob("*.y*ml")):
            try:
                doc = yaml.safe_load(path.read_text("utf-8")) or {}
            except (OSError, yaml.YAMLError):
                continue
            for sig in doc.get("dkim") or []:
                if isinstance(sig, dict) and sig.get("id") == DKIM_ID and sig.get("selector"):
                    return str(sig["selector"])
    return DKIM_SELECTOR


def start_lab(workdir: Path, *, latency: float = 0.0, seed: bool = True, desired: Path | None = None,
              version: str = DEFAULT_VERSION) -> SimpleService:
    workdir.mkdir(parents=True, exist_ok=True)
    seeds = SeedSecrets()
    if seed:
        lab, seeds = seeded_lab(version, seeds, latency=latency, dkim_selector=desired_selector(desired))
    else:
        lab = StalwartLab(StalwartLabConfig(version="0.15"), latency=latency)
        seed_today_minimal(lab, seeds)
        if version != "0.15":
            lab.switch_version(version)
    ref, _ = write_secret(workdir, "stalwart-api-key", seeds.api_key)
    lab.start()
    target = {"kind": "stalwart", "address": lab.url, "api": "auto", "api_key_name": API_KEY_NAME, "api_key": ref,
              "state_file": str((workdir / "state" / "stalwart-secrets.json").resolve()),
              # The organisation's hand-made internal accounts (seed.py): reconciler may take them over.
              # The LDAP copies (LDAP_PEOPLE) are never adopted.
              "adopt": ["system", "postmaster"]}
    env = {"STALWART_SYSTEM_SECRET": seeds.system,
           "STALWART_POSTMASTER_SECRET": secrets.token_urlsafe(24),  # differs from the live hash: drift
           "STALWART_GIT_SECRET": secrets.token_urlsafe(24),
           "STALWART_NOREPLY_SECRET": secrets.token_urlsafe(24)}
    state = lab.state
    count = (len(state.directory.principals) if version == "0.15"
             else sum(len(v) for v in state.registry.objects.values()))
    api = "REST /api/principal" if version == "0.15" else "JMAP /jmap"
    summary = f"Stalwart v{version} emulator at {lab.url} ({api}; {count} objects, LDAP users copied in)"
    service = SimpleService(name="mail", target=target, control=lab.control, summary=summary, stopper=lab.stop,
                            env=env)
    service.lab = lab  # type: ignore[attr-defined]  # tests reach the stores through it
    service.seeds = seeds  # type: ignore[attr-defined]
    return service


def seed_today_minimal(lab: StalwartLab, seeds: SeedSecrets) -> None:
    """An empty server apart from the API key reconciler logs in with."""
    import json

    from . import principals_v015 as principals
    from .identity import FALLBACK_ADMIN_PERMISSIONS, Identity
    from .seed import sha512

    admin = Identity("seed", FALLBACK_ADMIN_PERMISSIONS, "fallback-admin")
    body = {"type": "apiKey", "name": API_KEY_NAME, "roles": ["admin"], "secrets": [sha512(seeds.api_key)]}
    with lab.state.directory.lock:
        principals.create(lab.state.directory, admin, json.dumps(body).encode(), lab.state.principal_options())
        lab.state.directory.writes.clear()
    lab.state.config.api_keys[API_KEY_NAME] = sha512(seeds.api_key)
