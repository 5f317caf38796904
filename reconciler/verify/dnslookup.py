"""A mailhealth.Lookup backed by DNS: each name goes to the server that should know it.

Routing: with ``--resolver`` every question goes to that resolver; otherwise a name inside a zone
of a configured DNS target goes to that target's authoritative server, and any other name (an
outside report domain, an ISP's reverse zone) to this host's resolver (/etc/resolv.conf).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from .query import Server, ask


def system_resolver() -> Server | None:
    try:
        nameservers = dns.resolver.Resolver().nameservers
    except (dns.resolver.NoResolverConfiguration, OSError):
        return None
    return Server(str(nameservers[0]), 53, recursive=True) if nameservers else None


def router(zone_servers: dict[str, Server], resolver: Server | None) -> Callable[[str], Server | None]:
    fallback: list[Server | None] = []

    def route(name: str) -> Server | None:
        if resolver is not None:
            return resolver
        labels = name.lower().rstrip(".")
        best = max((z for z in zone_servers if labels == z or labels.endswith("." + z)), key=len, default=None)
        if best is not None:
            return zone_servers[best]
        if not fallback:
            fallback.append(system_resolver())
        return fallback[0]

    return route


class DnsLookup:
    def __init__(self, route: Callable[[str], Server | None], timeout: float = 3.0) -> None:
        self.route = route
        self.timeout = timeout
        self.problems: list[str] = []
        self._cache: dict[tuple[str, str], list[str] | None] = {}
        self._lock = threading.Lock()

    def get(self, name: str, rtype: str) -> list[str] | None:
        key = (name.lower(), rtype)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = self._ask(name, rtype)
        with self._lock:
            self._cache[key] = value
        return value

    def _ask(self, name: str, rtype: str) -> list[str] | None:
        server = self.route(name)
        if server is None:
            self.problems.append(f"no DNS server to ask about {name} (no resolver configured; use --resolver)")
            return None
        answer = ask(server, dns.name.from_text(name), dns.rdatatype.from_text(rtype), self.timeout)
        if answer.error:
            self.problems.append(f"{name} {rtype}: {answer.error}")
            return None
        if answer.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            self.problems.append(f"{name} {rtype}: {server} answered {dns.rcode.to_text(answer.rcode or 0)}")
            return None
        return answer.values()
