"""Name rules of v0.16: e-mail local parts, domain names, object ids.

Ported from ``crates/utils/src/lib.rs`` (``sanitize_email_local``, ``sanitize_domain``,
``is_valid_domain``) and ``crates/types/src/id.rs`` (``Id::as_string``) at v0.16.18.
``is_valid_domain`` consults the public-suffix list; the lab carries the suffixes the organisation
and the tests use plus the reserved TLDs, so a name under an unknown TLD (``.example``) is refused
exactly as on a real server (flungo/terraform-provider-stalwart docs/stalwart-api.md).
"""

from __future__ import annotations

_LOCAL_SPECIALS = set("!#$%&'*+-/=?^_`{|}~")
RESERVED_TLDS = ("test", "localhost", "local", "internal", "lan", "home", "corp", "intranet", "private",
                 "localdomain")
# A slice of the public-suffix list: enough for Korean and common domains in the lab.
PUBLIC_SUFFIXES = frozenset((
    "kr", "or.kr", "co.kr", "ac.kr", "go.kr", "ne.kr", "re.kr", "pe.kr", "seoul.kr", "xn--3e0b707e",
    "com", "net", "org", "io", "dev", "app", "de", "fr", "uk", "co.uk", "jp", "co.jp", "cn", "eu", "info",
    "biz", "me", "email", "mail", "xyz", "art",
))
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"


def sanitize_email_local(local: str) -> str | None:
    out: list[str] = []
    last = ""
    for ch in local:
        if ch == ".":
            if last in ("", "."):
                return None
            out.append(".")
        elif ch in _LOCAL_SPECIALS:
            out.append(ch)
        elif ch in " \t\n\r\x0b\x0c":
            continue
        elif ch.isupper():
            out.append(ch.lower())
        elif ch.isalnum():
            out.append(ch)
        else:
            return None
        last = ch
    if out and last != ".":
        return "".join(out)
    return None


def is_valid_domain(domain: str) -> bool:
    if domain in RESERVED_TLDS or domain.rsplit(".", 1)[-1] in RESERVED_TLDS:
        return True
    if "." not in domain:
        return False
    labels = domain.split(".")
    return any(".".join(labels[i:]) in PUBLIC_SUFFIXES for i in range(1, len(labels)))


def sanitize_domain(domain: str) -> str | None:
    result = "".join(ch.lower() for ch in domain if not ch.isspace())
    if "." not in result or result.endswith(".") or result.startswith("."):
        return None
    for label in result.split("."):
        if not label or not (label[-1].isalnum() or label[-1] in "-_"):
            return None
    if not result.isascii():
        try:
            result = result.encode("idna").decode()
        except UnicodeError:
            return None
    return result if is_valid_domain(result) else None


def sanitize_email(address: str) -> str | None:
    if "@" not in address:
        return None
    local, domain = address.rsplit("@", 1)
    local_ok = sanitize_email_local(local)
    domain_ok = sanitize_domain(domain)
    if local_ok is None or domain_ok is None:
        return None
    return f"{local_ok}@{domain_ok}"


def id_to_str(n: int) -> str:
    if n == 0:
        return "a"
    digits = []
    while n:
        digits.append(ID_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(digits))


def str_to_id(text: str) -> int | None:
    if not text or len(text) > 13:
        return None
    n = 0
    for ch in text:
        pos = ID_ALPHABET.find(ch)
        if pos < 0:
            return None
        n = (n << 5) | pos
    return n if n < 1 << 64 else None
