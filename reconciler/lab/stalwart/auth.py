"""HTTP authentication and the authentication fail-ban, as both generations do it.

- Basic: username trimmed and lower-cased (``decode_plain_auth``); a header that does not decode is
  ``AuthEvent::Error`` (401 *with* challenges on v0.15 `/api`), wrong credentials are
  ``AuthEvent::Failed`` (401 without challenges on v0.15 `/api`; v0.16 always sends both).
- The fallback admin is checked on every path and keeps working while LDAP is down
  (stalwart-api.md §2; ``route_auth_request`` in ``crates/common/src/auth/authentication.rs``).
- Fail-ban: only ``AuthEvent::Failed`` counts; failures are rated per IP *and* per login
  (``is_auth_fail2banned``, ``crates/common/src/network/security.rs``). The failure that exceeds
  ``server.auto-ban.auth.rate`` (default ``100/1d``) answers 429 "Too Many Authentication Attempts" and
  bans the IP. A banned IP's new connections are dropped at accept (``listen.rs``); a request on a
  connection that was already open gets 403 problem+json (``request.rs``, ``is_ip_blocked``).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from .identity import Identity
from .passwords import verify_secret
from .problems import too_many_auth_attempts, unauthorized

# (username, secret) -> Identity, or None when the credentials are wrong.
BasicLookup = Callable[[str, str], Identity | None]
# bearer token -> Identity, or None.
BearerLookup = Callable[[str], Identity | None]


@dataclass
class BanPolicy:
    failures: int = 100  # server.auto-ban.auth.rate = 100/1d
    window: float = 86_400.0


class AuthGate:
    """Credentials check plus fail-ban bookkeeping. Thread-safe."""

    def __init__(self, policy: BanPolicy | None = None) -> None:
        self.policy = policy or BanPolicy()
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self.blocked: set[str] = set()
        self.failed_attempts = 0  # total, for tests and benchmarks

    def is_blocked(self, ip: str) -> bool:
        with self._lock:
            return ip in self.blocked

    def unban(self) -> None:
        with self._lock:
            self.blocked.clear()
            self._failures.clear()

    def authenticate(self, header: str | None, ip: str, basic: BasicLookup, bearer: BearerLookup,
                     challenges_on_failed: bool, v016: bool) -> Identity:
        if not header or " " not in header.strip():
            # Missing header: AuthEvent::Failed without a fail-ban count.
            raise unauthorized(challenges_on_failed, v016)
        scheme, token = header.strip().split(" ", 1)
        token = token.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise unauthorized(True, v016) from None  # AuthEvent::Error: both challenges
            if ":" not in decoded:
                raise unauthorized(True, v016)
            username, secret = decoded.split(":", 1)
            identity = basic(username.strip().lower(), secret)
            login = username.strip().lower()
        elif scheme.lower() == "bearer":
            identity = bearer(token)
            login = ""
        else:
            raise unauthorized(True, v016)  # "Unsupported authentication mechanism."
        if identity is not None:
            return identity
        self._record_failure(ip, login)
        raise unauthorized(challenges_on_failed, v016)

    def _record_failure(self, ip: str, login: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.failed_attempts += 1
            banned = False
            for key in (f"ip:{ip}", f"login:{login}" if login else ""):
                if not key:
                    continue
                hits = self._failures[key]
                while hits and now - hits[0] > self.policy.window:
                    hits.popleft()
                hits.append(now)
                if len(hits) > self.policy.failures:
                    banned = True
            if banned:
                self.blocked.add(ip)
        if banned:
            raise too_many_auth_attempts()


def check_secret(stored: str | None, given: str) -> bool:
    return stored is not None and verify_secret(stored, given)


def decode_api_key(token: str) -> tuple[str, str] | None:
    """v0.15 API keys: ``Bearer api_<base64(keyname:secret)>`` (stalwart-api.md §2)."""
    if not token.startswith("api_"):
        return None
    try:
        decoded = base64.b64decode(token[4:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    if ":" not in decoded:
        return None
    name, secret = decoded.split(":", 1)
    return name.lower(), secret

