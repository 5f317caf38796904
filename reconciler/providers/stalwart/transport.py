"""HTTP to one Stalwart: authentication header, timeouts, and failures turned into safe messages.

Never retries a refused login: repeated failures ban the host (``server.auto-ban.auth.rate``,
default 100/1d; stalwart-api.md §2), so a 401 stops the run at the first request, and a 429 says the
host is banned. Messages name the target and never contain a credential.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import requests

from ...secrets import Secret


class StalwartHTTPError(Exception):
    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 fatal: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.fatal = fatal  # stop talking to this server for the rest of the run


@dataclass
class Credentials:
    """Either a v0.15-style API key (`name` + secret) sent as Bearer, or Basic (admin user)."""

    username: str | None
    password: Secret | None
    api_key_name: str | None
    api_key: Secret | None

    def header(self) -> str:
        if self.api_key is not None and self.api_key_name:
            token = base64.b64encode(f"{self.api_key_name}:{self.api_key.reveal()}".encode()).decode()
            return f"Bearer api_{token}"
        if self.password is not None and self.username:
            token = base64.b64encode(f"{self.username}:{self.password.reveal()}".encode()).decode()
            return f"Basic {token}"
        raise StalwartHTTPError("no credentials configured (username + password, or api_key_name + api_key)",
                                fatal=True)


class Transport:
    def __init__(self, address: str, credentials: Credentials, *, timeout: float = 30.0, verify: bool | str = True
                 ) -> None:
        self.address = address.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify
        self.requests = 0
        self.blocked: str | None = None  # after a 401/429, the reason no further request is sent

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
             auth: bool = True) -> requests.Response:
        if self.blocked:
            raise StalwartHTTPError(self.blocked, fatal=True)
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = self.credentials.header()
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        self.requests += 1
        try:
            response = self.session.request(method, self.address + path, params=params, data=data, headers=headers,
                                            timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            raise StalwartHTTPError(f"{method} {path}: no answer within {self.timeout:g}s", retryable=True) from None
        except requests.ConnectionError as exc:
            reason = type(exc).__name__
            raise StalwartHTTPError(f"{method} {path}: connection failed ({reason}); if this host was banned after "
                                    "failed logins the server drops its connections", retryable=True) from None
        if response.status_code == 401:
            self.blocked = ("authentication refused (HTTP 401): check the configured credentials; reconciler does "
                            "not retry, since repeated failed logins get this host banned")
            raise StalwartHTTPError(self.blocked, status=401, fatal=True)
        if response.status_code == 429:
            self.blocked = ("the server refuses this host (HTTP 429 Too Many Authentication Attempts): it was "
                            "banned after repeated failed logins (server.auto-ban.auth.rate); wait for the ban to "
                            "expire or lift it on the server, then fix the credentials")
            raise StalwartHTTPError(self.blocked, status=429, fatal=True)
        if response.status_code == 403:
            raise StalwartHTTPError(f"{method} {path}: permission denied (HTTP 403): the credential lacks a "
                                    "permission this needs", status=403)
        if response.status_code >= 500:
            raise StalwartHTTPError(f"{method} {path}: server error (HTTP {response.status_code})",
                                    status=response.status_code, retryable=True)
        return response


def json_body(response: requests.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise StalwartHTTPError(f"{what}: answer is not JSON (HTTP {response.status_code})") from None
