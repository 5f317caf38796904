"""Wire shapes of Stalwart's error answers, shared by both API generations.

Two families exist (stalwart-api.md §3):

- management errors of the v0.15 REST API: **HTTP 200** with ``{"error": ...}`` and no ``data``
  (``ManagementApiError`` in ``crates/http/src/management/mod.rs`` at v0.15.5);
- everything else: RFC 7807 ``application/problem+json`` with a real status
  (``RequestError`` in ``crates/jmap-proto/src/error/request.rs``, same texts in v0.15.5 and v0.16.18).
"""

from __future__ import annotations

import json
from typing import Any

JSON = "application/json; charset=utf-8"
PROBLEM = "application/problem+json"


class MgmtError(Exception):
    """A v0.15 management error: answered as HTTP 200 with this body (stalwart-api.md §3)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("error", "other"))
        self.body = body


def already_exists(field: str, value: str) -> MgmtError:
    return MgmtError({"error": "fieldAlreadyExists", "field": field, "value": value})


def field_missing(field: str) -> MgmtError:
    return MgmtError({"error": "fieldMissing", "field": field})


def not_found_item(item: str) -> MgmtError:
    return MgmtError({"error": "notFound", "item": item})


def unsupported(details: str) -> MgmtError:
    return MgmtError({"error": "unsupported", "details": details})


def other(details: str, reason: str | None = None) -> MgmtError:
    # `reason` is always serialised, null when absent (stalwart-api.md §3).
    return MgmtError({"error": "other", "details": details, "reason": reason})


def invalid_value(field: str, debug_value: str) -> MgmtError:
    # PATCH combinations outside the matrix (stalwart-api.md §5.4).
    return other("Invalid parameter", f"Invalid value {debug_value} for {field}")


def rust_debug(value: Any) -> str:
    """Render a JSON value the way serde_json's Value Debug prints it (for `reason` texts)."""
    if isinstance(value, bool):
        return f"Bool({str(value).lower()})"
    if value is None:
        return "Null"
    if isinstance(value, int | float):
        return f"Number({value})"
    if isinstance(value, str):
        return f"String({json.dumps(value, ensure_ascii=False)})"
    if isinstance(value, list):
        return "Array [" + ", ".join(rust_debug(v) for v in value) + "]"
    return "Object {" + ", ".join(f"{json.dumps(k)}: {rust_debug(v)}" for k, v in value.items()) + "}"


class Problem(Exception):
    """An RFC 7807 answer with a real HTTP status (stalwart-api.md §3 'Other failures')."""

    def __init__(self, status: int, title: str | None, detail: str, ptype: str = "about:blank",
                 headers: list[tuple[str, str]] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.ptype = ptype
        self.headers = headers or []
        self.extra = extra or {}

    def body(self) -> bytes:
        # Field order of RequestError's serde derive: type, status, title?, detail, limit?.
        doc: dict[str, Any] = {"type": self.ptype, "status": self.status}
        if self.title is not None:
            doc["title"] = self.title
        doc["detail"] = self.detail
        doc.update(self.extra)
        return json.dumps(doc).encode()


def unauthorized(with_challenges: bool, v016: bool = False) -> Problem:
    """401. v0.15 `/api` omits WWW-Authenticate since v0.13 (#1795) except for a malformed Basic
    header; v0.16 sends both challenges, the Bearer one with resource_metadata
    (crates/http/src/api/mod.rs `UnauthorizedResponse`)."""
    headers: list[tuple[str, str]] = []
    if with_challenges:
        bearer = 'Bearer realm="Stalwart Server"'
        if v016:
            bearer += ', resource_metadata="/.well-known/oauth-protected-resource"'
        headers = [("WWW-Authenticate", bearer), ("WWW-Authenticate", 'Basic realm="Stalwart Server"')]
    return Problem(401, "Unauthorized", "You have to authenticate first.", headers=headers)


def too_many_auth_attempts() -> Problem:
    # AuthenticationBan -> RequestError::too_many_auth_attempts (crates/jmap/src/api/mod.rs).
    return Problem(429, "Too Many Authentication Attempts",
                   "Your request has been rate limited. Please try again in a few minutes.")


def forbidden() -> Problem:
    return Problem(403, "Forbidden", "You do not have enough permissions to access this resource.")


def blocked_ip() -> Problem:
    # A banned IP on a kept-alive connection: JsonProblemResponse(FORBIDDEN) in
    # crates/http/src/request.rs (title and detail are both the canonical reason).
    return Problem(403, "Forbidden", "Forbidden")


def not_found() -> Problem:
    return Problem(404, "Not Found", "The requested resource does not exist on this server.")


def invalid_parameters(detail: str = "JSON deserialization failed") -> Problem:
    return Problem(400, "Invalid parameters", detail)


def internal_error() -> Problem:
    return Problem(500, "Internal Server Error",
                   "There was a problem while processing your request. "
                   "Please contact the system administrator if this problem persists.")
