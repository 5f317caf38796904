"""Tell people when something needs them: drift, a failed run, a refusal, a rejected commit.

Two channels, both optional, configured under ``notify:``::

    notify:
      on: [drift, failed, refused, rejected]        # default: all four
      smtp:                                         # the organisation's own mail server
        host: mail.namgun.or.kr
        port: 587                                   # submission; STARTTLS is always required
        username: reconciler@namgun.or.kr
        password: env:RECONCILER_SMTP_PASSWORD      # by reference, never inline
        from: reconciler@namgun.or.kr
        to: [admin@namgun.or.kr]
        ca_file: /etc/pki/tls/certs/namgun-ca.pem   # optional; else the system trust store
      webhook:
        url: https://chat.namgun.or.kr/hooks/infra  # or env:NAME / file:PATH when the URL is a secret
        secret: env:RECONCILER_NOTIFY_SECRET        # optional: X-Reconciler-Signature: sha256=<hmac>
        timeout: 5

A channel that fails never fails the run: the failure is returned (and the caller audits it), with
text that names the channel and the server's answer but never a credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import requests

from ..secrets import SecretError, secret
from .outcome import Outcome

DEFAULT_EVENTS = ("drift", "failed", "refused", "rejected")


@dataclass
class Delivery:
    channel: str
    ok: bool
    error: str | None = None


def event_of(outcome: Outcome) -> str | None:
    if outcome.kind == "drift" and outcome.status == "changes":
        return "drift"
    if outcome.status in ("failed", "refused", "rejected"):
        return outcome.status
    return None


class Notifier:
    def __init__(self, section: dict[str, Any]) -> None:
        self.section = section
        self.events = tuple(section.get("on") or DEFAULT_EVENTS)

    @property
    def configured(self) -> bool:
        return bool(self.section.get("smtp") or self.section.get("webhook"))

    def wants(self, outcome: Outcome) -> bool:
        event = event_of(outcome)
        return event is not None and event in self.events

    def send(self, outcome: Outcome) -> list[Delivery]:
        if not self.wants(outcome):
            return []
        out: list[Delivery] = []
        if self.section.get("smtp"):
            out.append(_guarded("smtp", lambda: send_email(dict(self.section["smtp"]), outcome)))
        if self.section.get("webhook"):
            out.append(_guarded("webhook", lambda: send_webhook(dict(self.section["webhook"]), outcome)))
        return out


def _guarded(channel: str, action: Any) -> Delivery:
    try:
        action()
        return Delivery(channel, True)
    except SecretError as exc:
        return Delivery(channel, False, str(exc))
    except (smtplib.SMTPException, OSError, ssl.SSLError, requests.RequestException, ValueError) as exc:
        return Delivery(channel, False, f"{type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}".splitlines()[0]
    if isinstance(exc, requests.RequestException):
        return type(exc).__name__  # requests' text can carry the URL, which may itself be a secret
    return (str(exc).splitlines() or [""])[0][:300]


# ------------------------------------------------------------------------------------------- text
def subject(outcome: Outcome) -> str:
    event = event_of(outcome) or outcome.status
    host = socket.gethostname()
    if event == "drift":
        where = ", ".join(f"{t} ({n})" for t, n in sorted(outcome.drift.items()) if n) or "live systems"
        return f"[reconciler] drift on {where} — {host}"
    commit = f" commit {outcome.commit.get('commit', '')[:12]}" if outcome.commit.get("commit") else ""
    return f"[reconciler] {outcome.kind}{commit} {event} — {host}"


def body_text(outcome: Outcome) -> str:
    lines = [outcome.headline(), ""]
    if outcome.commit:
        lines.append(f"commit:  {outcome.commit.get('commit', '')}")
        if outcome.commit.get("author"):
            lines.append(f"author:  {outcome.commit['author']}")
        if outcome.commit.get("subject"):
            lines.append(f"subject: {outcome.commit['subject']}")
        lines.append("")
    for target, items in sorted(outcome.drift.items()):
        if items:
            lines.append(f"drift on {target}: {items} item(s)")
    for target, count in sorted(outcome.applied.items()):
        lines.append(f"applied on {target}: {count} change(s)")
    lines += [f"refused: {r}" for r in outcome.refusals]
    lines += [f"error: {e}" for e in outcome.errors[:50]]
    if outcome.run_id:
        lines += ["", f"details: reconciler audit show --run {outcome.run_id}"]
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------------------------------- email
def send_email(cfg: dict[str, Any], outcome: Outcome, *, timeout: float = 15.0) -> None:
    host = str(cfg["host"])
    port = int(cfg.get("port", 587))
    recipients: Sequence[str] = cfg["to"] if isinstance(cfg["to"], list) else [cfg["to"]]
    message = EmailMessage()
    message["Subject"] = subject(outcome)
    message["From"] = str(cfg["from"])
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=str(cfg["from"]).rsplit("@", 1)[-1].strip(">"))
    message.set_content(body_text(outcome), charset="utf-8")
    context = ssl.create_default_context(cafile=cfg.get("ca_file"))
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError(f"{host}:{port} does not offer STARTTLS; refusing to send "
                                                "credentials or mail in clear text")
        smtp.starttls(context=context)
        smtp.ehlo()
        if cfg.get("username"):
            password = secret(cfg.get("password"), "notify.smtp.password").reveal()
            _login(smtp, str(cfg["username"]), password)
        smtp.send_message(message, to_addrs=list(recipients))


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN in UTF-8 (RFC 4616) when offered: smtplib's login() encodes credentials as ASCII
    and cannot send a Korean password; other mechanisms go through smtplib."""
    offered = str(smtp.esmtp_features.get("auth", "")).upper().split()
    if "PLAIN" in offered:
        token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
        code, answer = smtp.docmd("AUTH", "PLAIN " + token)
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, answer)
        return
    smtp.login(user, password)


# ------------------------------------------------------------------------------------------- webhook
def send_webhook(cfg: dict[str, Any], outcome: Outcome) -> None:
    url = str(cfg["url"])
    if url.startswith(("env:", "file:")):
        url = secret(url, "notify.webhook.url").reveal()
    body = json.dumps({"source": "reconciler", "host": socket.gethostname(), "event": event_of(outcome),
                       "subject": subject(outcome), "text": body_text(outcome), "outcome": outcome.to_json()},
                      ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "reconciler"}
    if cfg.get("secret"):
        key = secret(cfg["secret"], "notify.webhook.secret").reveal().encode("utf-8")
        headers["X-Reconciler-Signature"] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    response = requests.post(url, data=body, headers=headers, timeout=float(cfg.get("timeout", 5)),
                             allow_redirects=False)
    if response.status_code >= 300:
        raise ValueError(f"webhook answered HTTP {response.status_code}")
