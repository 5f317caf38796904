"""Account secrets: hash for v0.15, check drift without printing, remember rotations for v0.16.

- v0.15 stores and returns exactly what it is sent (stalwart-api.md §6), so reconciler sends a
  SHA-512-crypt hash (``$6$``, the webadmin's format) and detects drift by verifying the source
  secret against the stored hash.
- v0.16 hashes server-side and reads passwords back as ``"****"``: drift cannot be read, so
  reconciler keeps, per target, a SHA-512-crypt hash of the secret it last set (a state file, mode
  0600, never in git) and sets the password again when the source secret no longer verifies.
Neither the secret nor any hash is ever part of a Resource, a message or the audit log; Resources
carry only a status word.
"""

from __future__ import annotations

import hmac
import json
import os
import threading
from pathlib import Path

from passlib.context import CryptContext
from passlib.hash import sha512_crypt

IN_SYNC, DIFFERS, MISSING, UNKNOWN, UNAVAILABLE = "in sync", "differs", "missing", "unknown", "source unavailable"

_CONTEXT = CryptContext(schemes=["sha512_crypt", "sha256_crypt", "bcrypt", "md5_crypt", "sha1_crypt", "argon2",
                                 "pbkdf2_sha256", "ldap_salted_sha1", "ldap_sha1", "ldap_salted_sha256",
                                 "ldap_salted_sha512", "ldap_md5"])


def hash_secret(secret: str) -> str:
    return str(sha512_crypt.using(rounds=5000).hash(secret))


def verifies(secret: str, stored: str) -> bool:
    """True if `secret` matches `stored`; a value without a hash prefix is compared as plaintext (§6)."""
    if not stored.startswith(("$", "_", "{")):
        return hmac.compare_digest(stored.encode(), secret.encode())
    try:
        return bool(_CONTEXT.verify(secret, stored))
    except (ValueError, TypeError):
        return False  # a scheme we cannot check: treated as drift, and reported as such


class RotationRecord:
    """Per-target memory of which secret reconciler last set on a v0.16 server."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in (data.get("accounts") or {}).items()}

    def status(self, account: str, secret: str, has_password: bool) -> str:
        if not has_password:
            return MISSING
        stored = self._load().get(account)
        if stored is None:
            return UNKNOWN
        return IN_SYNC if verifies(secret, stored) else DIFFERS

    def remember(self, account: str, secret: str) -> None:
        with self._lock:
            data = self._load()
            data[account] = hash_secret(secret)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"accounts": data}, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)

    def forget(self, account: str) -> None:
        with self._lock:
            data = self._load()
            if data.pop(account, None) is not None:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"accounts": data}, fh, indent=1, sort_keys=True)
