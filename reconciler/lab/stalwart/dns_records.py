"""`GET /api/dns/records/{domain}` (v0.15) and `Domain.dnsZoneFile` (v0.16) contents.

Order and texts follow ``build_dns_records`` in ``crates/http/src/management/dns.rs`` at v0.15.5
(stalwart-api.md §10.3). The lab loads no TLS certificates, so no TLSA records (item 10) appear, and
no MTA-STS policy is configured (item 7's second half).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import dkim


@dataclass(frozen=True)
class Listener:
    protocol: str  # "smtp" | "imap" | "pop3" | "http"
    port: int
    tls: bool


DEFAULT_LISTENERS = (
    Listener("smtp", 25, False),
    Listener("smtp", 465, True),
    Listener("smtp", 587, False),
    Listener("imap", 993, True),
    Listener("http", 443, True),
)


def build_records(domain: str, server: str, signatures: dict[str, dict[str, str]],
                  listeners: tuple[Listener, ...] = DEFAULT_LISTENERS) -> list[dict[str, str]]:
    """`signatures` maps id -> settings sub-tree (`domain`, `selector`, `algorithm`, `private-key`)."""
    records: list[dict[str, str]] = [{"type": "MX", "name": f"{domain}.", "content": f"10 {server}."}]
    if server.removeprefix("mail.") != domain or not server.startswith("mail."):
        records.append({"type": "CNAME", "name": f"mail.{domain}.", "content": f"{server}."})
    # Signatures whose `domain` is exactly this domain, in settings-key order (sorted ids).
    for sig_id in sorted(signatures):
        sub = signatures[sig_id]
        if sub.get("domain") != domain:
            continue
        algo, pem, selector = sub.get("algorithm", ""), sub.get("private-key"), sub.get("selector")
        if not (pem and selector and algo in ("rsa-sha256", "ed25519-sha256")):
            continue
        try:
            public = dkim.public_key_b64(pem)
        except ValueError:
            continue  # the server logs the error and skips the record
        records.append({"type": "TXT", "name": f"{selector}._domainkey.{domain}.",
                        "content": dkim.txt_value(algo, public)})
    if server.endswith(f".{domain}") or server == domain:
        records.append({"type": "TXT", "name": f"{server}.", "content": "v=spf1 a ra=postmaster -all"})
    records.append({"type": "TXT", "name": f"{domain}.", "content": "v=spf1 mx ra=postmaster -all"})
    has_https = False
    for lst in listeners:
        if lst.protocol == "smtp" and lst.port >= 26:
            records.append({"type": "SRV", "name": f"_submission{'s' if lst.tls else ''}._tcp.{domain}.",
                            "content": f"0 1 {lst.port} {server}."})
        elif lst.protocol in ("imap", "pop3"):
            records.append({"type": "SRV", "name": f"_{lst.protocol}{'s' if lst.tls else ''}._tcp.{domain}.",
                            "content": f"0 1 {lst.port} {server}."})
        elif lst.protocol == "http" and lst.tls:
            has_https = True
            for service in ("jmap", "caldavs", "carddavs"):
                records.append({"type": "SRV", "name": f"_{service}._tcp.{domain}.",
                                "content": f"0 1 {lst.port} {server}."})
    if has_https:
        records.append({"type": "CNAME", "name": f"autoconfig.{domain}.", "content": f"{server}."})
        records.append({"type": "CNAME", "name": f"autodiscover.{domain}.", "content": f"{server}."})
    records.append({"type": "TXT", "name": f"_dmarc.{domain}.",
                    "content": f"v=DMARC1; p=reject; rua=mailto:postmaster@{domain}; "
                               f"ruf=mailto:postmaster@{domain}"})
    records.append({"type": "TXT", "name": f"_smtp._tls.{domain}.",
                    "content": f"v=TLSRPTv1; rua=mailto:postmaster@{domain}"})
    return records


def zone_file(records: list[dict[str, str]]) -> str:
    """A plain zone-file rendering for v0.16's `Domain.dnsZoneFile` (format approximated)."""
    lines = []
    for rec in records:
        content = rec["content"]
        if rec["type"] == "TXT":
            content = '"' + content.replace('"', '\\"') + '"'
        lines.append(f"{rec['name']} IN {rec['type']} {content}")
    return "\n".join(lines) + "\n"
