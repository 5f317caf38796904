"""Small helpers for the RFC 2136 tests: real DNS questions and a DKIM key of the real size."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reconciler import cli

from .bindserver import BindServer


def dkim_value(bits: int = 2048) -> str:
    """A DKIM TXT value like the organisation's (2048-bit RSA: 410 characters)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def answer(server: BindServer, name: str, rtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rtype, use_edns=0, payload=1232)
    query.flags &= ~dns.flags.RD
    response, _ = dns.query.udp_with_fallback(query, "127.0.0.1", timeout=3, port=server.port)
    return response


def rrset(server: BindServer, name: str, rtype: str):  # type: ignore[no-untyped-def]
    """The RRset at exactly this name (not one reached through a CNAME), or None."""
    response = answer(server, name, rtype)
    for item in response.answer:
        if item.rdtype == dns.rdatatype.from_text(rtype) and item.name == dns.name.from_text(name):
            return item
    return None


def txt_strings(server: BindServer, name: str) -> list[tuple[bytes, ...]]:
    found = rrset(server, name, "TXT")
    return sorted(tuple(r.strings) for r in found) if found is not None else []


def run(config: Path, *args: str) -> int:
    return cli.main(["-c", str(config), "--no-color", *args])


def audit_events(config: Path) -> list[dict]:
    path = config.parent / "state" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def out_of_band_cname(server: BindServer, name: str, target: str, zone: str = "namgun.or.kr") -> None:
    """Somebody else's nsupdate adding a CNAME (not through the reconciler)."""
    import dns.rcode
    import dns.update

    update = dns.update.UpdateMessage(zone, keyring=server.keyring(), keyname=server.key_name)
    update.add(name, 3600, "CNAME", target)
    assert dns.query.tcp(update, "127.0.0.1", port=server.port, timeout=5).rcode() == dns.rcode.NOERROR
