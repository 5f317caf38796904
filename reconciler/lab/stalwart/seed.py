"""Today's state of the organisation's mail server, for tests and `reconciler demo`.

- domain ``namgun.or.kr``;
- internal individuals ``system`` and ``postmaster`` (created by hand via ``/api/principal/deploy``,
  roles ``user``, SHA-512-crypt passwords); ``git`` and ``noreply`` are missing;
- LDAP users copied into the store on their first login (namgun18 남근, tsha 김경본, jhlee 이정희):
  reconciler must never touch them;
- DKIM signature ``rsa-namgun.or.kr`` (the id Stalwart's default signing rule expects), with an RSA
  key generated now — no private key is ever committed;
- an ``apiKey`` principal ``reconciler`` with role ``admin`` for the tool.

Every secret is generated at seed time unless the caller passes one, and is kept only in memory
(:class:`SeedSecrets`); the store holds hashes.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from passlib.hash import sha512_crypt

from . import dkim
from . import principals_v015 as principals
from .identity import FALLBACK_ADMIN_PERMISSIONS, Identity
from .ldap import LdapUser, copy_in
from .rest_v015 import signature_settings
from .server import StalwartLab, StalwartLabConfig

DOMAIN = "namgun.or.kr"
DKIM_ID = f"rsa-{DOMAIN}"
DKIM_SELECTOR = "202601r"
LDAP_PEOPLE = (("namgun18", "남근"), ("tsha", "김경본"), ("jhlee", "이정희"))
API_KEY_NAME = "reconciler"


def _token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class SeedSecrets:
    """Plaintexts the lab hands to its caller (tests, demo); never written anywhere."""

    fallback_admin: str = field(default_factory=_token)
    api_key: str = field(default_factory=_token)
    system: str = field(default_factory=_token)
    postmaster: str = field(default_factory=_token)
    ldap: dict[str, str] = field(default_factory=lambda: {uid: _token() for uid, _ in LDAP_PEOPLE})

    def bearer(self) -> str:
        import base64
        return "api_" + base64.b64encode(f"{API_KEY_NAME}:{self.api_key}".encode()).decode()


def sha512(secret: str) -> str:
    return str(sha512_crypt.using(rounds=5000).hash(secret))


def seed_today(lab: StalwartLab, seeds: SeedSecrets, dkim_selector: str = DKIM_SELECTOR) -> None:
    """Fill a fresh lab with today's state (v0.15 store; migrated when the lab runs v0.16)."""
    state = lab.state
    admin = Identity("seed", FALLBACK_ADMIN_PERMISSIONS, "fallback-admin")
    opts = state.principal_options()
    directory = state.directory

    def create(doc: dict, deploy: bool = False) -> None:
        principals.create(directory, admin, json.dumps(doc, ensure_ascii=False).encode(), opts, deploy=deploy)

    with directory.lock:
        create({"type": "domain", "name": DOMAIN, "description": DOMAIN})
        create({"type": "individual", "name": "system", "description": "System notifications",
                "emails": [f"system@{DOMAIN}"], "roles": ["user"], "secrets": [sha512(seeds.system)]}, deploy=True)
        create({"type": "individual", "name": "postmaster", "description": "Postmaster",
                "emails": [f"postmaster@{DOMAIN}", f"abuse@{DOMAIN}"], "roles": ["user"],
                "secrets": [sha512(seeds.postmaster)]}, deploy=True)
        create({"type": "apiKey", "name": API_KEY_NAME, "description": "reconciler API key",
                "roles": ["admin"], "secrets": [sha512(seeds.api_key)]})
        directory.settings.update(signature_settings(DKIM_ID, "rsa", DOMAIN, dkim_selector,
                                                     dkim.generate_private_key("rsa")))
        directory.settings["server.hostname"] = state.config.hostname
    for uid, person in LDAP_PEOPLE:
        user = LdapUser(uid=uid, password_hash=sha512(seeds.ldap[uid]), email=f"{uid}@{DOMAIN}", description=person)
        state.ldap.add(user)
        copy_in(directory, user)
    with directory.lock:
        directory.writes.clear()  # the seed is history, not something reconciler did
    state.config.fallback_admin_secret = sha512(seeds.fallback_admin)
    state.config.api_keys[API_KEY_NAME] = sha512(seeds.api_key)


def seeded_lab(version: str = "0.15", seeds: SeedSecrets | None = None, latency: float = 0.0,
               config: StalwartLabConfig | None = None, dkim_selector: str = DKIM_SELECTOR
               ) -> tuple[StalwartLab, SeedSecrets]:
    """A started-ready lab (call .start()) seeded with today's state, at the given API generation."""
    seeds = seeds or SeedSecrets()
    cfg = config or StalwartLabConfig()
    cfg.version = "0.15"
    lab = StalwartLab(cfg, latency=latency)
    seed_today(lab, seeds, dkim_selector)
    if version != "0.15":
        lab.switch_version(version)
        lab.state.registry.writes.clear()
    return lab, seeds
