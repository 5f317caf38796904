"""DKIM keys the way Stalwart makes and reads them.

- Generation: RSA-2048 as PKCS#1 ``RSA PRIVATE KEY`` or Ed25519 as PKCS#8 ``PRIVATE KEY``, base64
  wrapped every 65 characters (``create_dkim_key`` in ``crates/http/src/management/dkim.rs`` at
  v0.15.5; ``generate_dkim_private_key`` in ``crates/common/src/network/dkim.rs`` at v0.16.18).
- Public key: RSA as base64 of the SubjectPublicKeyInfo DER (``Document::from_pkcs1_der`` wraps the
  PKCS#1 key into SPKI, i.e. ``MIIBIjAN…``), Ed25519 as base64 of the raw 32 bytes
  (``obtain_dkim_public_key`` v0.15.5, ``generate_dkim_public_key`` v0.16.18). The v0.16 docs call
  the field "PEM-encoded" but the code returns bare base64; stalwart-api.md §10.2 marks the RSA
  encoding unverified live, so :data:`RSA_PUBLIC_FORMAT` is a switch.
"""

from __future__ import annotations

import base64
import datetime as dt

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

# "spki" (code-derived default) or "pkcs1" (the alternative if a live server disagrees).
RSA_PUBLIC_FORMAT = "spki"


def _wrap65(der: bytes, label: str) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 65] for i in range(0, len(b64), 65)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def generate_private_key(algorithm: str) -> str:
    """PEM for 'rsa' or 'ed25519', in the server's own layout."""
    if algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        return _wrap65(der, "RSA PRIVATE KEY")
    if algorithm == "ed25519":
        key_ed = ed25519.Ed25519PrivateKey.generate()
        der = key_ed.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
        return _wrap65(der, "PRIVATE KEY")
    raise ValueError(f"unknown algorithm {algorithm!r}")


def public_key_b64(private_pem: str) -> str:
    """The `p=` value Stalwart derives from a stored private key."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        fmt = (serialization.PublicFormat.SubjectPublicKeyInfo if RSA_PUBLIC_FORMAT == "spki"
               else serialization.PublicFormat.PKCS1)
        der = key.public_key().public_bytes(serialization.Encoding.DER, fmt)
        return base64.b64encode(der).decode()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()
    raise ValueError("unsupported key type")


def default_selector(algorithm: str, now: dt.datetime | None = None) -> str:
    # `YYYYMM` + r/e (handle_create_signature, v0.15.5).
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.year:04d}{now.month:02d}{'r' if algorithm == 'rsa' else 'e'}"


def txt_value(algorithm: str, public_b64: str) -> str:
    kind = "rsa" if algorithm.startswith("rsa") else "ed25519"
    return f"v=DKIM1; k={kind}; h=sha256; p={public_b64}"


def key_algorithm(private_pem: str) -> str:
    """'rsa' or 'ed25519' for a PEM private key; ValueError when it does not parse."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ValueError("unsupported key type")
