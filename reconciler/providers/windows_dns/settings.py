"""A windows_dns target's options from reconciler.yaml, checked before anything is contacted.

```yaml
dc1:
  kind: windows_dns
  address: https://dc1.namgun.or.kr:5986/wsman   # WinRM endpoint
  transport: ntlm            # ntlm | kerberos | credssp | basic
  username: 'NAMGUN\\svc-reconciler'
  password: env:RECONCILER_WINRM_PASSWORD       # a secret reference, never the value
  tls: {verify: true, ca_file: /etc/pki/namgun-ca.pem}   # certificate validation is on by default
  zones: [namgun.or.kr]
  dns_server: dc1.namgun.or.kr:53    # DNS read-back of TXT and verification (default: address host:53)
  computer_name: DC1                 # only when the WinRM host is not the DNS server (-ComputerName)
  long_txt: [dnscmd, wmi]            # paths for TXT longer than one string, tried in this order
  timeout: 600                       # wall-clock seconds for one remote program (read or apply batch)
```

Rules from winrm-protocol.md §3/§7: Basic and CredSSP are only allowed over HTTPS unless the target
says ``allow_unencrypted: true`` (the lab does; a default Windows server refuses plain Basic too);
NTLM and Kerberos over HTTP use WinRM message encryption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ...model import dns as m
from ...secrets import Secret, SecretError, secret

TRANSPORTS = ("ntlm", "kerberos", "credssp", "basic")
LONG_TXT_PATHS = ("dnscmd", "wmi")
KNOWN = {"address", "transport", "username", "password", "tls", "zones", "dns_server", "computer_name",
         "long_txt", "timeout", "operation_timeout", "read_timeout", "allow_unencrypted", "max_payload",
         "resolver", "kerberos"}


class SettingsError(ValueError):
    pass


@dataclass
class Settings:
    name: str
    address: str
    transport: str
    username: str | None
    password: Secret | None
    zones: list[str]
    dns_host: str
    dns_port: int
    verify_tls: bool = True
    ca_file: str | None = None
    computer_name: str | None = None
    long_txt: tuple[str, ...] = ("dnscmd", "wmi")
    timeout: float = 600.0
    operation_timeout: int = 20
    read_timeout: int = 30
    allow_unencrypted: bool = False
    max_payload: int = 1_000_000  # JSON characters per apply command (PS 5.1 JavaScriptSerializer limit 2 MB)
    resolver: str = "127.0.0.1"   # the server Resolve-DnsName asks on the Windows side
    kerberos: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.name} ({self.address})"


def parse(name: str, options: dict[str, Any]) -> Settings:
    unknown = sorted(set(options) - KNOWN)
    if unknown:
        raise SettingsError(f"unknown option(s) for a windows_dns target: {', '.join(unknown)}")
    address = str(options.get("address") or "")
    url = urlparse(address)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise SettingsError("address must be the WinRM endpoint URL, e.g. https://dc1.example:5986/wsman")
    transport = str(options.get("transport") or "ntlm").lower()
    if transport not in TRANSPORTS:
        raise SettingsError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    allow_plain = bool(options.get("allow_unencrypted", False))
    if url.scheme == "http" and transport in ("basic", "credssp") and not allow_plain:
        raise SettingsError(f"transport {transport} over plain HTTP sends credentials unprotected; use https "
                            "(port 5986) or set allow_unencrypted: true for a lab")
    username = options.get("username")
    password = None
    if transport != "kerberos" or options.get("password") is not None:
        if not username:
            raise SettingsError(f"transport {transport} needs username and password")
        try:
            password = secret(options.get("password"), f"{name}.password")
        except SecretError as exc:
            raise SettingsError(str(exc)) from None
    zones_raw = options.get("zones")
    if not isinstance(zones_raw, list) or not zones_raw:
        raise SettingsError("zones must list the zones this server serves, e.g. zones: [example.org]")
    try:
        zones = [m.zone_name(str(z)) for z in zones_raw]
    except m.DnsValueError as exc:
        raise SettingsError(str(exc)) from None
    dns_host, dns_port = _host_port(str(options.get("dns_server") or url.hostname))
    tls = options.get("tls") or {}
    if not isinstance(tls, dict) or set(tls) - {"verify", "ca_file"}:
        raise SettingsError("tls takes verify (true/false) and ca_file")
    long_txt = options.get("long_txt", ["dnscmd", "wmi"])
    if not isinstance(long_txt, list) or any(p not in LONG_TXT_PATHS for p in long_txt):
        raise SettingsError(f"long_txt lists paths among {', '.join(LONG_TXT_PATHS)}")
    try:
        timeout = float(options.get("timeout", 600))
        operation = int(options.get("operation_timeout", 20))
        read = int(options.get("read_timeout", max(operation + 10, 30)))
        max_payload = int(options.get("max_payload", 1_000_000))
    except (TypeError, ValueError):
        raise SettingsError("timeout, operation_timeout, read_timeout and max_payload are numbers") from None
    if not 0 < operation < read or timeout <= 0:
        raise SettingsError("need 0 < operation_timeout < read_timeout and timeout > 0 (pywinrm's rule)")
    return Settings(
        name=name, address=address, transport=transport, username=str(username) if username else None,
        password=password, zones=zones, dns_host=dns_host, dns_port=dns_port,
        verify_tls=bool(tls.get("verify", True)), ca_file=tls.get("ca_file"),
        computer_name=str(options["computer_name"]) if options.get("computer_name") else None,
        long_txt=tuple(long_txt), timeout=timeout, operation_timeout=operation, read_timeout=read,
        allow_unencrypted=allow_plain, max_payload=max_payload,
        resolver=str(options.get("resolver") or "127.0.0.1"), kerberos=dict(options.get("kerberos") or {}))


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            raise SettingsError(f"dns_server {text!r}: port must be a number")
        return host, int(port)
    return text, 53
