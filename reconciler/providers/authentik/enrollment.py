"""How a new user first gets in (issue 3 part 3). Passwords never live in git.

- ``recovery_email``: Authentik mails the person a recovery link (needs the target's ``email_stage``);
- ``recovery_link``: a recovery link is handed to the operator, never logged: printed once at a
  terminal, else written to a file of mode 0600 whose path is printed (handover.py);
- ``initial_password``: a password read from a secret reference (``env:``/``file:``) at apply time.

After a method succeeds, the user's attributes record it (``reconciler/enrollment``), so the next
run neither repeats it nor plans it again; ``drift`` keeps reporting the person until they set a
password (``password_change_date`` moves, authentik-observed.md §7).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...secrets import SecretError, secret
from ._sdk import ak
from .client import AuthentikError, Connection
from .handover import HandoverError, LinkHandover

METHODS = ("recovery_email", "recovery_link", "initial_password")


def record(method: str) -> dict[str, Any]:
    return {"method": method, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def enroll(conn: Connection, *, pk: int, username: str, email: str, method: str, meta: dict[str, Any],
           email_stage: str | None, token_duration: str | None, links: LinkHandover) -> str:
    """Carry out ``method`` for user ``pk``; returns a line for the change's detail (no secrets)."""
    if method == "recovery_email":
        if not email_stage:
            raise AuthentikError(f"user {username}: enrollment recovery_email needs `email_stage:` (the uuid of "
                                 "an Authentik email stage) in the target's options")
        body: dict[str, Any] = {"email_stage": email_stage}
        if token_duration:
            body["token_duration"] = token_duration
        # Query parameter for ≤2025.12, body field for 2026.2+ (authentik-api.md §1.4): send both.
        conn.raw_post(f"user {username}: recovery email", f"/core/users/{pk}/recovery_email/", body,
                      [("email_stage", email_stage)], safe=False)
        return f"recovery email sent to {email}"
    if method == "recovery_link":
        try:
            links.prepare()  # before asking: a link Authentik made but nobody could keep would be lost
        except HandoverError as exc:
            raise AuthentikError(f"user {username}: {exc}; no recovery link was requested") from None
        body = {"token_duration": token_duration} if token_duration else {}
        answer = conn.raw_post(f"user {username}: recovery link", f"/core/users/{pk}/recovery/", body, [],
                               safe=False)
        link = answer.get("link") if isinstance(answer, dict) else None
        if not link:
            raise AuthentikError(f"user {username}: Authentik returned no recovery link")
        try:
            return links.hand_over(conn.target, username, str(link))
        except HandoverError as exc:  # not recorded as done: the next run asks for a new link
            raise AuthentikError(f"user {username}: {exc}; the link was not kept, the next run makes a new one"
                                 ) from None
    if method == "initial_password":
        ref = (meta.get("enrollment") or {}).get("password")
        if not ref:
            raise AuthentikError(f"user {username}: initial_password needs password: env:NAME or file:PATH")
        try:
            value = secret(ref, f"user {username}").reveal()
        except SecretError as exc:
            raise AuthentikError(f"user {username}: {exc}") from None
        request = ak().UserPasswordSetRequest(password=value)
        conn.call(f"user {username}: set initial password",
                  lambda: conn.core.core_users_set_password_create(pk, request, _request_timeout=conn.timeout),
                  safe=True)
        return f"initial password set from {ref}"
    raise AuthentikError(f"user {username}: unknown enrollment method {method!r}")
