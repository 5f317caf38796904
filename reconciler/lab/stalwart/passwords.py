"""Secret handling as the server does it: verify on login, hash (v0.16 only), strength check.

- v0.15 stores whatever it is sent; a stored value not starting with ``$``, ``_`` or ``{`` is compared
  as plaintext (stalwart-api.md §6, ``crates/directory/src/core/secret.rs``).
- v0.16 hashes server-side with argon2id unless the value already is a recognised hash
  (``is_password_hash`` in ``crates/jmap/src/registry/mapping/principal.rs``) and rejects weak
  passwords with zxcvbn: min length 8, max 128, min score 3 (``Authentication`` defaults in
  ``crates/registry/src/schema/structs_impl.rs`` at v0.16.18).
"""

from __future__ import annotations

import hmac

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error
from passlib.exc import MissingBackendError
from passlib.hash import bcrypt, md5_crypt, sha1_crypt, sha256_crypt, sha512_crypt
from zxcvbn import zxcvbn

_ARGON2 = PasswordHasher()

# Prefixes the server verifies as hashes (stalwart-api.md §6).
_HASH_PREFIXES = ("$argon2", "$pbkdf2", "$scrypt", "$2", "$6$", "$5$", "$sha1", "$1$", "_",
                  "{SHA}", "{SSHA}", "{SHA256}", "{SSHA256}", "{SHA512}", "{SSHA512}", "{MD5}",
                  "{CRYPT}", "{crypt}", "{ARGON2", "{PBKDF2}", "{PLAIN}", "{CLEAR}")


def is_password_hash(value: str) -> bool:
    return value.startswith(_HASH_PREFIXES)


def verify_secret(stored: str, given: str) -> bool:
    """True when `given` matches `stored` (a hash or, failing the hash prefixes, plaintext)."""
    try:
        if stored.startswith("$argon2"):
            return _ARGON2.verify(stored, given)
        if stored.startswith("$6$"):
            return bool(sha512_crypt.verify(given, stored))
        if stored.startswith("$5$"):
            return bool(sha256_crypt.verify(given, stored))
        if stored.startswith("$2"):
            return bool(bcrypt.verify(given, stored))
        if stored.startswith("$1$"):
            return bool(md5_crypt.verify(given, stored))
        if stored.startswith("$sha1"):
            return bool(sha1_crypt.verify(given, stored))
        if stored.startswith(("{PLAIN}", "{CLEAR}")):
            return hmac.compare_digest(stored.split("}", 1)[1].encode(), given.encode())
    except (ValueError, TypeError, Argon2Error, MissingBackendError):
        return False
    if stored.startswith(("$", "_", "{")):
        return False  # a scheme the lab does not implement never verifies (never easier than real)
    return hmac.compare_digest(stored.encode(), given.encode())


def hash_v016(secret: str) -> str:
    return _ARGON2.hash(secret)


def strength_error(secret: str, min_length: int = 8, max_length: int = 128, min_score: int = 3) -> str | None:
    """The server's `is_secure_password` message, or None when acceptable."""
    if len(secret.encode()) > max_length:
        return f"Password must be at most {max_length} characters long."
    if len(secret.encode()) < min_length:
        return f"Password must be at least {min_length} characters long."
    if min_score > 0:
        result = zxcvbn(secret)
        if result["score"] < min_score:
            feedback = result.get("feedback") or {}
            warning = feedback.get("warning") or ""
            return f"Password is too weak. {warning}".rstrip() if warning else "Password is too weak."
    return None
