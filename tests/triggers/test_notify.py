"""Notifications: mail through a real SMTP submission server on loopback (STARTTLS + AUTH) and the
JSON webhook; a channel that fails never leaks a credential and never fails the run."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reconciler.cli import main
from reconciler.triggers.notify import Notifier
from reconciler.triggers.outcome import Outcome
from tests.triggers import filedns
from tests.triggers.conftest import ZONE, World
from tests.triggers.test_serve import Receiver

PASSWORD = "메일-비밀번호-42"
USER = "reconciler@namgun.or.kr"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Mailbox:
    port: int
    ca_file: Path
    messages: list[dict[str, Any]] = field(default_factory=list)


class Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.messages.append({"tls": session.ssl is not None, "authenticated": session.authenticated,
                                  "rcpt": list(envelope.rcpt_tos), "data": envelope.original_content})
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode("utf-8")
    return AuthResult(success=ok, handled=False)


def smtp_server(tmp_path: Path, *, starttls: bool) -> Iterator[Mailbox]:
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox(free_port(), cert)
    kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_require_tls": True}
    if starttls:
        kwargs.update(tls_context=context, require_starttls=True)
    else:
        kwargs.update(auth_require_tls=False)
    controller = Controller(Handler(box), hostname="127.0.0.1", port=box.port, loop=asyncio.new_event_loop(),
                            **kwargs)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path, starttls=True)


@pytest.fixture
def plain_mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path, starttls=False)


def smtp_section(box: Mailbox, password_ref: str) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": box.port, "username": USER, "password": password_ref,
            "from": USER, "to": ["남근 <admin@namgun.or.kr>"], "ca_file": str(box.ca_file)}


def drift_outcome() -> Outcome:
    return Outcome("drift", "timer", "changes", 2, run_id="20260101T000000Z-abcdef12",
                   commit={"commit": "a" * 40, "author": "김경본 <kgb@namgun.or.kr>", "subject": "남근 레코드"},
                   drift={"dns": 2, "sso": 0})


def test_drift_mail_goes_through_starttls_and_auth(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_SMTP_PASSWORD", PASSWORD)
    notifier = Notifier({"smtp": smtp_section(mailbox, "env:RECONCILER_SMTP_PASSWORD")})
    deliveries = notifier.send(drift_outcome())
    assert [(d.channel, d.ok) for d in deliveries] == [("smtp", True)], deliveries
    (msg,) = mailbox.messages
    assert msg["tls"] and msg["authenticated"] and msg["rcpt"] == ["admin@namgun.or.kr"]
    parsed = email.message_from_bytes(msg["data"], policy=email.policy.default)
    assert "drift on dns (2)" in parsed["Subject"]
    body = parsed.get_body().get_content()
    assert "김경본 <kgb@namgun.or.kr>" in body and "남근 레코드" in body
    assert "reconciler audit show --run 20260101T000000Z-abcdef12" in body
    assert PASSWORD not in msg["data"].decode("utf-8", "replace")


def test_no_starttls_means_no_mail_and_no_credential_sent(plain_mailbox: Mailbox,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_SMTP_PASSWORD", PASSWORD)
    (delivery,) = Notifier({"smtp": smtp_section(plain_mailbox, "env:RECONCILER_SMTP_PASSWORD")}
                           ).send(drift_outcome())
    assert not delivery.ok and "does not offer STARTTLS" in (delivery.error or "")
    assert plain_mailbox.messages == []


def test_a_wrong_password_fails_the_channel_without_showing_it(mailbox: Mailbox, tmp_path: Path) -> None:
    wrong = tmp_path / "pw"
    wrong.write_text("틀린-비밀번호", "utf-8")
    (delivery,) = Notifier({"smtp": smtp_section(mailbox, f"file:{wrong}")}).send(drift_outcome())
    assert not delivery.ok and "535" in (delivery.error or "")
    assert "틀린-비밀번호" not in (delivery.error or "")
    # an inline password is refused before any connection
    (delivery,) = Notifier({"smtp": smtp_section(mailbox, PASSWORD)}).send(drift_outcome())
    assert not delivery.ok and "secret reference" in (delivery.error or "") and PASSWORD not in delivery.error
    assert mailbox.messages == []


def test_webhook_is_signed_json_and_only_notable_outcomes_are_sent(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver()
    try:
        monkeypatch.setenv("NOTIFY_SECRET", "알림-서명")
        notifier = Notifier({"webhook": {"url": receiver.url, "secret": "env:NOTIFY_SECRET"}})
        assert notifier.send(Outcome("apply", "webhook", "ok", 0)) == []
        assert notifier.send(Outcome("drift", "timer", "ok", 0)) == []
        refused = Outcome("apply", "webhook", "refused", 3, refusals=["dns: zone namgun.or.kr: the plan deletes …"])
        assert [d.ok for d in notifier.send(refused)] == [True]
        headers, body = receiver.posts[0]
        expected = "sha256=" + hmac.new("알림-서명".encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Reconciler-Signature"] == expected
        doc = json.loads(body)
        assert doc["event"] == "refused" and doc["outcome"]["refusals"] == refused.refusals
        only_drift = Notifier({"on": ["drift"], "webhook": {"url": receiver.url}})
        assert only_drift.send(refused) == []
    finally:
        receiver.stop()


def test_drift_check_command_notifies_by_mail(world: World, mailbox: Mailbox,
                                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    monkeypatch.setenv("RECONCILER_SMTP_PASSWORD", PASSWORD)
    section = smtp_section(mailbox, "env:RECONCILER_SMTP_PASSWORD")
    world.set_config(notify="smtp:\n" + "\n".join(f"  {k}: {json.dumps(v, ensure_ascii=False)}"
                                                  for k, v in section.items()))
    assert main(["-c", str(world.config_path), "reconcile-commit"]) == 0
    assert main(["-c", str(world.config_path), "drift-check"]) == 0
    assert mailbox.messages == []  # in sync: nobody is bothered
    with filedns.locked(world.state) as live:
        live[f"{ZONE}/mail/A"] = {"ttl": 60, "values": ["203.0.113.25"]}
    assert main(["-c", str(world.config_path), "drift-check"]) == 2
    (msg,) = mailbox.messages
    parsed = email.message_from_bytes(msg["data"], policy=email.policy.default)
    assert "drift on dns (1)" in parsed["Subject"]
    out = capsys.readouterr()
    assert ": changes; drift dns 1" in out.out and PASSWORD not in out.out + out.err
    assert PASSWORD not in world.audit().path.read_text("utf-8")


def test_a_failing_channel_is_audited_and_does_not_change_the_exit_code(world: World,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    world.set_config(notify=f"webhook: {{url: 'http://127.0.0.1:{free_port()}/closed'}}")
    assert main(["-c", str(world.config_path), "reconcile-commit"]) == 0
    with filedns.locked(world.state) as live:
        live[f"{ZONE}/www/A"] = {"ttl": 3600, "values": ["203.0.113.80"]}
    assert main(["-c", str(world.config_path), "drift-check"]) == 2
    failed = world.events("notify_failed")
    assert failed and failed[-1]["channel"] == "webhook" and "ConnectionError" in failed[-1]["error"]
    assert "notification by webhook failed" in capsys.readouterr().err
    assert world.audit().verify().ok
