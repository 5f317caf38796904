"""Push webhooks from Gitea/Forgejo, GitHub and GitLab: authenticate, then read what was pushed.

Each forge proves a delivery its own way; every comparison is constant-time (hmac.compare_digest)
over the exact bytes received, before a byte of the body is parsed:

- Forgejo: ``X-Forgejo-Signature`` = hex HMAC-SHA256 of the body (it also sends the same value as
  ``X-Gitea-Signature``; when the Forgejo header is present it alone is checked).
  https://forgejo.org/docs/latest/user/webhooks/
- Gitea: ``X-Gitea-Signature`` = hex HMAC-SHA256 of the body. https://docs.gitea.com/usage/webhooks
- GitHub: ``X-Hub-Signature-256`` = ``sha256=`` + hex HMAC-SHA256 of the body.
  https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
- GitLab: ``X-Gitlab-Token`` = the secret itself (GitLab does not sign the body).
  https://docs.gitlab.com/user/project/integrations/webhooks/

A signature covers no timestamp, so a captured delivery replays; the delivery id
(``X-Forgejo-Delivery``/``X-Gitea-Delivery``/``X-GitHub-Delivery``/``X-Gitlab-Event-UUID``) lets the
server drop repeats, and a push is only ever a prompt to fetch: the server applies the branch tip it
fetches itself, never anything from the payload, so even a replay that gets through cannot roll back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ZERO_SHA = "0" * 40

# (forge, signature header, delivery header, event header); checked in this order.
SCHEMES = (
    ("forgejo", "X-Forgejo-Signature", "X-Forgejo-Delivery", "X-Forgejo-Event"),
    ("gitea", "X-Gitea-Signature", "X-Gitea-Delivery", "X-Gitea-Event"),
    ("github", "X-Hub-Signature-256", "X-GitHub-Delivery", "X-GitHub-Event"),
    ("gitlab", "X-Gitlab-Token", "X-Gitlab-Event-UUID", "X-Gitlab-Event"),
)


class WebhookRefused(Exception):
    """The request is answered with ``status`` and this message; nothing runs."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(message)


@dataclass(frozen=True)
class Delivery:
    forge: str
    event: str  # the forge's own event name: push, delete, ping, Push Hook …
    delivery: str | None
    body: bytes


@dataclass(frozen=True)
class Push:
    forge: str
    delivery: str | None
    ref: str  # refs/heads/main
    before: str | None
    after: str | None
    deleted: bool
    repository: str | None
    pusher: str | None

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    def to_json(self) -> dict[str, Any]:
        return {"forge": self.forge, "delivery": self.delivery, "ref": self.ref, "before": self.before,
                "after": self.after, "deleted": self.deleted, "repository": self.repository, "pusher": self.pusher}


def hmac_hex(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # http.server's headers are case-insensitive; plain dicts in tests may not be
        lowered = {k.lower(): v for k, v in headers.items()}
        value = lowered.get(name.lower())
    return value


def authenticate(headers: Mapping[str, str], body: bytes, secrets: Mapping[str, bytes]) -> Delivery:
    """Which forge sent this, proven by its signature; WebhookRefused(401) otherwise.

    ``secrets`` maps forge name to the shared secret for that forge (usually the same for all).
    """
    for forge, sig_header, delivery_header, event_header in SCHEMES:
        presented = _header(headers, sig_header)
        if presented is None:
            continue
        key = secrets.get(forge)
        if not key:
            raise WebhookRefused(401, "no secret", f"{forge} deliveries are not accepted: no secret is configured "
                                                   "for them")
        if forge == "gitlab":
            # http.server hands header values over as latin-1 text: that recovers the bytes sent
            good = hmac.compare_digest(presented.encode("latin-1", "replace"), key)
        else:
            expected = hmac_hex(key, body)
            if forge == "github":
                expected = "sha256=" + expected
            good = hmac.compare_digest(presented.strip().lower().encode("ascii", "replace"), expected.encode("ascii"))
        if not good:
            raise WebhookRefused(401, "bad signature", f"{sig_header} does not match this body and the configured "
                                                       "secret; nothing runs")
        event = (_header(headers, event_header) or "").strip()
        return Delivery(forge, event, _header(headers, delivery_header), body)
    raise WebhookRefused(401, "no signature", "no signature: expected X-Forgejo-Signature, X-Gitea-Signature, "
                                              "X-Hub-Signature-256 or X-Gitlab-Token; nothing runs")


def parse_json(delivery: Delivery) -> dict[str, Any]:
    try:
        doc = json.loads(delivery.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookRefused(400, "not json", "the body is not JSON (configure the webhook with content type "
                                              "application/json)") from None
    if not isinstance(doc, dict):
        raise WebhookRefused(400, "not json", "the body is JSON but not an object")
    return doc


def classify(delivery: Delivery) -> tuple[str, Push | None]:
    """("push", Push) for a push or a branch deletion; ("ping", None) for a hello; else WebhookRefused."""
    event = delivery.event.lower()
    doc = parse_json(delivery)
    if event in ("ping",) or (delivery.forge == "gitlab" and event == "system hook" and "ref" not in doc):
        return "ping", None
    if event == "delete" and delivery.forge in ("github", "gitea", "forgejo"):
        # GitHub/Gitea send a separate `delete` event with a short ref and ref_type.
        ref_type = str(doc.get("ref_type", ""))
        ref = str(doc.get("ref", ""))
        full = f"refs/heads/{ref}" if ref_type == "branch" and not ref.startswith("refs/") else (
            f"refs/tags/{ref}" if ref_type == "tag" and not ref.startswith("refs/") else ref)
        return "push", Push(delivery.forge, delivery.delivery, full, None, None, True, _repo(doc), _pusher(doc))
    is_push = event == "push" or (delivery.forge == "gitlab" and event == "push hook")
    if not is_push:
        raise WebhookRefused(400, "unknown event", f"event {delivery.event or '(none)'!r} is not handled; configure "
                                                   "the webhook to send push events only")
    ref = doc.get("ref")
    after = doc.get("after")
    if not isinstance(ref, str) or not ref:
        raise WebhookRefused(400, "bad payload", "push payload has no ref")
    if after is not None and not isinstance(after, str):
        raise WebhookRefused(400, "bad payload", "push payload has a malformed 'after'")
    gitlab_gone = delivery.forge == "gitlab" and "checkout_sha" in doc and doc["checkout_sha"] is None
    deleted = bool(doc.get("deleted")) or after == ZERO_SHA or gitlab_gone
    before = doc.get("before") if isinstance(doc.get("before"), str) else None
    return "push", Push(delivery.forge, delivery.delivery, ref, before, after, deleted, _repo(doc), _pusher(doc))


def _repo(doc: dict[str, Any]) -> str | None:
    for holder, key in (("repository", "full_name"), ("project", "path_with_namespace")):
        value = doc.get(holder)
        if isinstance(value, dict) and isinstance(value.get(key), str):
            return str(value[key])
    return None


def _pusher(doc: dict[str, Any]) -> str | None:
    pusher = doc.get("pusher")
    if isinstance(pusher, dict):
        for key in ("login", "username", "name"):
            if isinstance(pusher.get(key), str):
                return str(pusher[key])
    for key in ("user_username", "user_name"):
        if isinstance(doc.get(key), str):
            return str(doc[key])
    return None
