"""Talking to Authentik through ``authentik-client``: connection, raw-JSON calls, retries, errors.

Reads use the client's ``*_without_preload_content`` form and parse the JSON here, so one object
a newer server shapes differently cannot break the whole read (authentik-api.md §1.7); writes use
the typed request models (``PatchedUserRequest`` sends only the fields that are set, §1.1).
Every failure becomes an ``AuthentikError`` whose text names the target and never the token.
The client itself is imported on the first request, not with this module (_sdk.py says why).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import urllib3

from . import _sdk

if TYPE_CHECKING:
    from authentik_client.exceptions import ApiException

T = TypeVar("T")

RETRY_STATUSES = {502, 503, 504}


class AuthentikError(Exception):
    """One failed call. ``transport`` = Authentik could not be reached or did not answer in time."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None,
                 transport: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.transport = transport

    @property
    def retryable(self) -> bool:
        return self.transport or self.status in RETRY_STATUSES


@dataclass
class Page:
    results: list[dict[str, Any]]
    next: int
    total_pages: int
    count: int


def _describe_body(body: Any) -> str:
    """A short, safe rendering of an error body (validation messages, a detail text)."""
    if isinstance(body, dict):
        if set(body) == {"detail"}:
            return str(body["detail"])
        parts = []
        for key, value in body.items():
            text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {text}")
        return ", ".join(parts)
    if isinstance(body, list):
        return "; ".join(map(str, body))
    return ""


def api_error(status: int, reason: Any, body: str) -> ApiException:
    """The client's own ``ApiException`` for an answer read without the typed models."""
    return _sdk.api_exception()(status=status, reason=reason, body=body)


class Connection:
    """One Authentik API endpoint and token, shared by the provider's threads."""

    def __init__(self, target: str, address: str, token: str, *, timeout: float = 30.0,
                 verify_tls: bool = True, ca_file: str | None = None, retries: int = 2,
                 pool_size: int = 8) -> None:
        self.target = target
        self.address = address.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.requests = 0
        self._settings = (token, verify_tls, ca_file, pool_size)
        self._client: Any = None
        self._core: Any = None
        self._lock = threading.Lock()

    def _open(self) -> None:
        """Build the client on first use: constructing the provider must not import authentik-client."""
        with self._lock:
            if self._core is not None:
                return
            ak = _sdk.ak()
            token, verify_tls, ca_file, pool_size = self._settings
            base = self.address if self.address.endswith("/api/v3") else self.address + "/api/v3"
            cfg = ak.Configuration(host=base, access_token=token)  # host must include /api/v3 (§1.1)
            cfg.verify_ssl = verify_tls
            if ca_file:
                cfg.ssl_ca_cert = ca_file
            cfg.retries = False  # retries are decided here, per operation (only where safe)
            cfg.connection_pool_maxsize = pool_size
            client = ak.ApiClient(cfg)
            self._client, self._core = client, ak.CoreApi(client)

    @property
    def client(self) -> Any:
        """``authentik_client.ApiClient`` (built on first use)."""
        if self._core is None:
            self._open()
        return self._client

    @property
    def core(self) -> Any:
        """``authentik_client.CoreApi`` (built on first use)."""
        if self._core is None:
            self._open()
        return self._core

    def close(self) -> None:
        if self._client is None:  # never used: nothing to close, and no reason to import the client
            return
        try:
            self._client.rest_client.pool_manager.clear()
        except Exception:  # noqa: S110 - closing must not mask the run's outcome
            pass

    # ---- error handling ----------------------------------------------------------------------

    def _translate(self, exc: Exception, what: str) -> AuthentikError:
        if isinstance(exc, AuthentikError):
            return exc
        if _sdk.loaded() and isinstance(exc, _sdk.api_exception()):
            body: Any = None
            try:
                body = json.loads(exc.body) if exc.body else None
            except (TypeError, ValueError):
                body = None
            status = int(exc.status or 0)
            detail = _describe_body(body)
            if status == 403:
                hint = ("the token was refused" if detail == "Token invalid/expired"
                        else "the token lacks permission" if "permission" in detail
                        else "access refused")
                message = f"{what}: {hint} (403 {detail or exc.reason})"
            elif status >= 500:
                message = f"{what}: Authentik answered {status} {exc.reason or ''}".rstrip()
            else:
                message = f"{what}: {status} {detail or exc.reason or ''}".rstrip()
            return AuthentikError(message, status=status, body=body)
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            exc = exc.reason
        if isinstance(exc, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError
            return AuthentikError(f"{what}: cannot reach Authentik at {self.address} (connection refused)",
                                  transport=True)
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            return AuthentikError(f"{what}: no answer from {self.address} within {self.timeout:g}s",
                                  transport=True)
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            reason = getattr(exc, "reason", None) or exc
            text = type(reason).__name__ if not str(reason) else str(reason)
            if "Connection refused" in text or "NewConnectionError" in text:
                text = "connection refused"
            elif "RemoteDisconnected" in text or "ProtocolError" in text or "reset" in text.lower():
                text = "connection closed without an answer"
            else:
                text = text.split(": ", 1)[-1][:120]
            return AuthentikError(f"{what}: cannot reach Authentik at {self.address} ({text})", transport=True)
        if isinstance(exc, ValueError):  # a body that is not JSON (a proxy's HTML page)
            return AuthentikError(f"{what}: Authentik answered something that is not JSON")
        return AuthentikError(f"{what}: {type(exc).__name__}")

    def call(self, what: str, fn: Callable[[], T], *, safe: bool) -> T:
        """Run one API call. ``safe`` (idempotent) calls are retried on 502/503/504, timeouts and
        dropped connections; others (a create, a recovery email) never are: they may have happened."""
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            try:
                return fn()
            except Exception as exc:
                error = self._translate(exc, what)
                if not (safe and error.retryable and attempt <= self.retries):
                    raise error from None
                time.sleep(min(0.2 * attempt, 1.0))

    # ---- reads -------------------------------------------------------------------------------

    def _json(self, response: Any) -> Any:
        status = int(response.status)
        text = response.data.decode("utf-8") if response.data else ""
        if status >= 400:
            raise api_error(status, response.reason, text)
        return json.loads(text)

    def page(self, kind: str, number: int, size: int) -> Page:
        """GET one list page as raw JSON (``kind`` is "users" or "groups")."""
        if kind == "users":
            fn = lambda: self._json(self.core.core_users_list_without_preload_content(  # noqa: E731
                page=number, page_size=size, include_groups=False, _request_timeout=self.timeout))
        else:
            fn = lambda: self._json(self.core.core_groups_list_without_preload_content(  # noqa: E731
                page=number, page_size=size, include_users=False, _request_timeout=self.timeout))
        body = self.call(f"list {kind} (page {number})", fn, safe=True)
        try:
            pagination = body["pagination"]
            return Page(results=list(body["results"]), next=int(pagination["next"] or 0),
                        total_pages=int(pagination["total_pages"]), count=int(pagination["count"]))
        except (KeyError, TypeError, ValueError):
            raise AuthentikError(f"list {kind}: the answer has no pagination object") from None

    def token_owner(self) -> int:
        """pk of the user the API token belongs to: ``GET /core/users/me/`` answers for any valid token,
        whatever its permissions (authentik-observed.md §11); the body is ``{"user": {"pk": …}, …}``."""
        body = self.call("who owns the API token (users/me)", lambda: self._json(
            self.core.core_users_me_retrieve_without_preload_content(_request_timeout=self.timeout)), safe=True)
        try:
            return int(body["user"]["pk"])
        except (KeyError, TypeError, ValueError):
            raise AuthentikError("users/me: the answer names no user") from None

    def list_all(self, kind: str, size: int, workers: int) -> list[dict[str, Any]]:
        """Every object of a list. The served page size may differ from ``size`` (2025.12+ caps it at
        100, authentik-api.md §2.3): pages are numbered by what page 1 reports, fetched in parallel,
        then checked; if the list changed meanwhile, fall back to following ``pagination.next``."""
        first = self.page(kind, 1, size)
        if first.next == 0:
            return first.results
        numbers = list(range(2, first.total_pages + 1))
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(numbers)))) as pool:
            rest = list(pool.map(lambda n: self.page(kind, n, size), numbers))
        results = list(first.results)
        for page in rest:
            results.extend(page.results)
        consistent = (all(p.count == first.count for p in rest) and rest[-1].next == 0
                      and len(results) == first.count)
        if consistent:
            return results
        results, number = [], 1
        while number:
            page = self.page(kind, number, size)
            results.extend(page.results)
            number = page.next
        return results

    # ---- writes ------------------------------------------------------------------------------

    def raw_post(self, what: str, path: str, body: dict[str, Any] | None, query: list[tuple[str, str]],
                 *, safe: bool) -> Any:
        """A POST the typed client cannot express (recovery_email's email_stage is a query parameter
        up to 2025.12 and a body field from 2026.2: we send both, each server reads its own)."""
        def fn() -> Any:
            params = self.client.param_serialize(
                method="POST", resource_path=path, query_params=query,
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body, auth_settings=["authentik"])
            response = self.client.call_api(*params, _request_timeout=self.timeout)
            response.read()
            status = int(response.status)
            text = response.data.decode("utf-8") if response.data else ""
            if status >= 400:
                raise api_error(status, response.reason, text)
            return json.loads(text) if text else None
        return self.call(what, fn, safe=safe)
