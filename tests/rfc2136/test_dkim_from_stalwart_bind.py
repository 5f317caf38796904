"""The organisation's DKIM path end to end: the key comes from Stalwart (lab), is published in a real
BIND as two character-strings, and `reconciler verify` checks what BIND answers against Stalwart's
key. The incident of issue 6 (a key cut at 255 characters) then fails verification."""

from __future__ import annotations

from pathlib import Path

import dns.query
import dns.rcode
import dns.rdata
import dns.update
import pytest

from reconciler.lab.stalwart import start_lab

from .bindserver import BindServer
from .conftest import ZONE, write_config, write_zone
from .helpers import run, txt_strings

pytestmark = pytest.mark.bind


@pytest.fixture
def stalwart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    service = start_lab(tmp_path / "stalwart-lab")
    for key, value in service.env.items():
        monkeypatch.setenv(key, value)
    yield service
    service.stop()


def test_dkim_from_stalwart_published_and_verified(tmp_path: Path, bind: BindServer, stalwart, capsys) -> None:
    write_zone(tmp_path, ZONE, {"rsa._domainkey": {"type": "TXT",
                                                   "value": {"from": "stalwart", "dkim": "rsa-namgun.or.kr"}}})
    config = write_config(tmp_path, {"bind-lab": bind.target(zones=[ZONE]), "mail": dict(stalwart.target)})
    assert run(config, "apply", "--yes", "--target", "bind-lab") == 0, capsys.readouterr()
    (strings,) = txt_strings(bind, f"rsa._domainkey.{ZONE}.")
    published = b"".join(strings).decode()
    assert published.startswith("v=DKIM1") and len(strings) >= 2 and len(strings[0]) == 255
    capsys.readouterr()
    assert run(config, "verify", "--target", "bind-lab") == 0, capsys.readouterr()

    # Somebody republishes the key cut at 255 characters: verification says so against Stalwart's key.
    raw = strings[0]
    rdata = dns.rdata.from_wire(1, 16, bytes([len(raw)]) + raw, 0, len(raw) + 1)
    update = dns.update.UpdateMessage(ZONE, keyring=bind.keyring(), keyname=bind.key_name)
    update.replace("rsa._domainkey", 3600, rdata)
    assert dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5).rcode() == dns.rcode.NOERROR
    assert run(config, "verify", "--target", "bind-lab") == 1
    out = capsys.readouterr().out
    assert f"TXT value truncated: the server publishes 255 of {len(published.encode())} octets" in out
