"""The rfc2136 target's options from reconciler.yaml, checked once, with messages naming the option.

```yaml
bind-lab:
  kind: rfc2136
  server: 127.0.0.1          # address of the primary that accepts UPDATE and AXFR
  port: 53
  zones: [namgun.or.kr]
  tsig: {name: reconciler-key., algorithm: hmac-sha256, secret: env:RECONCILER_TSIG_SECRET}
  timeout: 10                # seconds per network operation
  max_message_size: 32768    # optional: octets per UPDATE message (512..65535)
  guard_ad_names: true       # optional: names under _msdcs/_sites/_tcp/_udp/DomainDnsZones/ForestDnsZones
                             # are never deleted unless git declares them (set false on zones without AD)
```
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.tsig

from ...model import dns as m
from ...secrets import Secret, SecretError, secret

# Largest DNS message over TCP: a two-octet length prefix (RFC 1035 §4.2.2).
TCP_MESSAGE_LIMIT = 65535
# Default batch size in octets. Well under the TCP limit because middleboxes and some servers
# refuse large updates (external-dns #1297/#1322, dns-as-code-anchors.md §3); still large enough
# that 1,000 changes take a handful of messages.
DEFAULT_MESSAGE_SIZE = 32768

ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5, "hmac-md5.sig-alg.reg.int": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1, "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256, "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


class SettingsError(ValueError):
    """A configuration mistake; the message names the target option, never a secret value."""


@dataclass(frozen=True)
class Tsig:
    name: dns.name.Name
    algorithm: dns.name.Name
    secret: Secret

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        try:
            key = dns.tsig.Key(self.name, self.secret.reveal(), self.algorithm)
        except SecretError:
            raise
        except Exception:
            # The message of a base64 error could quote the value: never pass it on.
            raise SecretError(f"TSIG secret {self.secret.ref} is not valid base64") from None
        return {self.name: key}


@dataclass(frozen=True)
class Settings:
    server: str
    port: int
    zones: tuple[str, ...]
    tsig: Tsig | None
    timeout: float
    max_message_size: int
    guard_ad_names: bool = True

    @property
    def where(self) -> str:
        host = f"[{self.server}]" if ":" in self.server else self.server
        return f"{host}:{self.port}"


def parse(target_name: str, options: dict[str, Any]) -> Settings:
    known = {"server", "port", "zones", "zone", "tsig", "timeout", "max_message_size", "guard_ad_names", "address",
             "dns_server"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SettingsError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    server = str(options.get("server") or "").strip()
    if not server:
        raise SettingsError("option server is required (address of the primary DNS server)")
    try:
        ipaddress.ip_address(server)
    except ValueError:
        raise SettingsError(f"server must be an IP address, got {server!r} (dnspython does not resolve names; "
                            "give the primary's address)") from None
    port = _int(options.get("port", 53), "port", 1, 65535)
    raw_zones = options.get("zones")
    if raw_zones is None and options.get("zone"):
        raw_zones = [options["zone"]]
    if not isinstance(raw_zones, list) or not raw_zones:
        raise SettingsError("option zones must be a non-empty list of zone names")
    try:
        zones = tuple(dict.fromkeys(m.zone_name(str(z)) for z in raw_zones))
    except m.DnsValueError as exc:
        raise SettingsError(f"zones: {exc}") from None
    timeout = float(options.get("timeout", 10))
    if not 0 < timeout <= 600:
        raise SettingsError(f"timeout must be between 0 and 600 seconds, got {timeout}")
    size = _int(options.get("max_message_size", DEFAULT_MESSAGE_SIZE), "max_message_size", 512,
                TCP_MESSAGE_LIMIT)
    guard = options.get("guard_ad_names", True)
    if not isinstance(guard, bool):
        raise SettingsError("guard_ad_names must be true or false")
    return Settings(server=server, port=port, zones=zones, tsig=_tsig(target_name, options.get("tsig")),
                    timeout=timeout, max_message_size=size, guard_ad_names=guard)


def _tsig(target_name: str, raw: Any) -> Tsig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SettingsError("tsig must be a mapping {name, algorithm, secret}")
    unknown = sorted(set(raw) - {"name", "algorithm", "secret"})
    if unknown:
        raise SettingsError(f"tsig: unknown option(s) {', '.join(unknown)}")
    name = str(raw.get("name") or "").strip()
    if not name:
        raise SettingsError("tsig.name is required (the key name as configured on the server)")
    algorithm = str(raw.get("algorithm", "hmac-sha256")).strip().lower().rstrip(".")
    if algorithm not in ALGORITHMS:
        raise SettingsError(f"tsig.algorithm {algorithm!r} is not one of {', '.join(sorted(ALGORITHMS))}")
    try:
        ref = secret(raw.get("secret"), f"{target_name}: tsig.secret")
    except SecretError as exc:
        raise SettingsError(str(exc).removeprefix(f"{target_name}: ")) from None
    try:
        key_name = dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise SettingsError(f"tsig.name {name!r} is not a valid DNS name ({exc})") from None
    return Tsig(name=key_name, algorithm=ALGORITHMS[algorithm], secret=ref)


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{what} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{what} must be {low}..{high}, got {number}")
    return number
