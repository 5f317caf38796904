"""Offline checks of mail-related TXT values: DKIM keys, SPF and DMARC syntax.

These catch the organisation's own failure kinds before anything is published: a DKIM key that
does not parse (e.g. cut at 255 characters), an SPF record over the 10-lookup limit, a DMARC record
without a policy. Each check returns (severity, message) pairs; severity is "error" or "warning".
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

Finding = tuple[str, str]

# RFC 7208 §4.6.4: at most 10 terms that cause DNS queries.
SPF_LOOKUP_LIMIT = 10
_SPF_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_SPF_LOOKUP_TERMS = {"include", "a", "mx", "ptr", "exists", "redirect"}


def check_txt(name: str, value: str) -> list[Finding]:
    lower = value.lstrip().lower()
    if lower.startswith("v=dkim1") or (name.endswith("._domainkey") and "p=" in lower):
        return check_dkim(value)
    if lower.startswith("v=spf1"):
        return check_spf(value)
    if name == "_dmarc" or name.startswith("_dmarc."):
        return check_dmarc(value)
    return []


def dkim_tags(value: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if sep:
            tags[key.strip().lower()] = re.sub(r"\s+", "", val)
    return tags


def dkim_key_bits(value: str) -> tuple[str, int]:
    """(algorithm, bits) of a DKIM record's public key; raises ValueError with a reason."""
    tags = dkim_tags(value)
    algo = tags.get("k", "rsa").lower()
    p = tags.get("p")
    if p is None:
        raise ValueError("no p= tag (RFC 6376 §3.6.1 requires it)")
    if p == "":
        raise ValueError("empty p= (the key is revoked)")
    try:
        raw = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"p= is not valid base64 ({exc}); a value cut short does this") from exc
    if algo == "ed25519":  # RFC 8463 §4: the raw 32-byte key, not SubjectPublicKeyInfo
        if len(raw) != 32:
            raise ValueError(f"an Ed25519 p= must be 32 bytes, got {len(raw)}")
        ed25519.Ed25519PublicKey.from_public_bytes(raw)
        return "ed25519", 256
    if algo != "rsa":
        raise ValueError(f"unknown key type k={algo}")
    try:
        key = load_der_public_key(raw)
    except ValueError as exc:
        raise ValueError("p= does not hold an RSA public key (is the value truncated?)") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("p= holds a public key that is not RSA")
    return "rsa", key.key_size


def check_dkim(value: str) -> list[Finding]:
    tags = dkim_tags(value)
    out: list[Finding] = []
    if "v" in tags and tags["v"] != "DKIM1":
        out.append(("error", f"DKIM v= must be DKIM1, got {tags['v']!r}"))
    try:
        algo, bits = dkim_key_bits(value)
    except ValueError as exc:
        return [*out, ("error", f"DKIM key does not parse: {exc}")]
    if algo == "rsa" and bits < 1024:
        out.append(("error", f"DKIM RSA key of {bits} bits; verifiers reject keys under 1024 (RFC 8301 §3.2)"))
    elif algo == "rsa" and bits < 2048:
        out.append(("warning", f"DKIM RSA key of {bits} bits; use 2048 bits or more"))
    return out


def spf_lookup_terms(value: str) -> int:
    count = 0
    for term in value.split()[1:]:
        name = re.split(r"[:=/]", term.lstrip("+-~?"), maxsplit=1)[0].lower()
        if name in _SPF_LOOKUP_TERMS:
            count += 1
    return count


def check_spf(value: str) -> list[Finding]:
    terms = value.split()
    out: list[Finding] = []
    if not terms or terms[0].lower() != "v=spf1":
        return [("error", "SPF must start with v=spf1")]
    seen_modifiers: set[str] = set()
    for term in terms[1:]:
        if "=" in term and term.lstrip("+-~?").split("=", 1)[0].lower() not in _SPF_MECHANISMS:
            mod, _, arg = term.partition("=")
            mod = mod.lower()
            if mod in seen_modifiers and mod in ("redirect", "exp"):
                out.append(("error", f"SPF modifier {mod}= appears twice (RFC 7208 §6)"))
            seen_modifiers.add(mod)
            if not arg:
                out.append(("error", f"SPF modifier {mod}= has no value"))
            continue
        body = term.lstrip("+-~?")
        if term[:1] in "+-~?" and len(term) > 1 and term[1] in "+-~?":
            out.append(("error", f"SPF term {term!r} has two qualifiers"))
            continue
        mech, _, arg = body.partition(":")
        mech_l = mech.split("/")[0].lower()
        if mech_l not in _SPF_MECHANISMS:
            out.append(("error", f"unknown SPF mechanism {term!r}"))
            continue
        if mech_l in ("ip4", "ip6"):
            try:
                net = ipaddress.ip_network(arg, strict=False)
            except ValueError:
                out.append(("error", f"SPF {mech_l}:{arg} is not a valid address or network"))
                continue
            if (mech_l == "ip4") != (net.version == 4):
                out.append(("error", f"SPF {mech_l}:{arg} has the wrong address family"))
        elif mech_l in ("include", "exists") and not arg:
            out.append(("error", f"SPF {mech_l} needs a domain"))
        elif mech_l == "all" and arg:
            out.append(("error", "SPF all takes no argument"))
    lookups = spf_lookup_terms(value)
    if lookups > SPF_LOOKUP_LIMIT:
        out.append(("error", f"SPF has {lookups} DNS-querying terms; the limit is {SPF_LOOKUP_LIMIT} "
                             "(RFC 7208 §4.6.4)"))
    if "all" not in {t.lstrip("+-~?").lower() for t in terms[1:]} and "redirect" not in seen_modifiers:
        out.append(("warning", "SPF has neither an all mechanism nor redirect=; the default is ?all (neutral)"))
    return out


_DMARC_TAGS = {"v", "p", "sp", "pct", "rua", "ruf", "adkim", "aspf", "fo", "rf", "ri", "np", "psd", "t"}


def check_dmarc(value: str) -> list[Finding]:
    parts = [p.strip() for p in value.split(";") if p.strip()]
    if not parts or parts[0].replace(" ", "") != "v=DMARC1":
        return [("error", "DMARC must start with v=DMARC1 (RFC 7489 §6.4)")]
    tags: dict[str, str] = {}
    out: list[Finding] = []
    for part in parts:
        key, sep, val = part.partition("=")
        key = key.strip().lower()
        if not sep:
            out.append(("error", f"DMARC tag {part!r} has no '='"))
            continue
        if key in tags:
            out.append(("error", f"DMARC tag {key} appears twice"))
        tags[key] = val.strip()
        if key not in _DMARC_TAGS:
            out.append(("warning", f"unknown DMARC tag {key!r}"))
    if "p" not in tags:
        out.append(("error", "DMARC has no p= policy (RFC 7489 §6.3 requires it)"))
    for key in ("p", "sp", "np"):
        if key in tags and tags[key].lower() not in ("none", "quarantine", "reject"):
            out.append(("error", f"DMARC {key}={tags[key]} must be none, quarantine or reject"))
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        out.append(("error", f"DMARC pct={tags['pct']} must be 0..100"))
    for key in ("adkim", "aspf"):
        if key in tags and tags[key].lower() not in ("r", "s"):
            out.append(("error", f"DMARC {key}={tags[key]} must be r or s"))
    for key in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in tags.get(key, "").split(","))):
            address = uri.split("!")[0]
            if not re.fullmatch(r"mailto:[^@\s]+@[^@\s]+\.[^@\s]+", address, flags=re.I):
                out.append(("error", f"DMARC {key} URI {uri!r} must be mailto:local@domain"))
    return out


def dmarc_report_domains(value: str) -> list[str]:
    domains = []
    for part in value.split(";"):
        key, _, val = part.partition("=")
        if key.strip().lower() in ("rua", "ruf"):
            for uri in val.split(","):
                address = uri.strip().split("!")[0]
                if "@" in address:
                    domains.append(address.rsplit("@", 1)[1].lower())
    return domains
