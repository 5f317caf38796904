"""Mail DNS health of a domain (issue 6 part 4), over any source of DNS data.

The same checks run online (`reconciler verify --mail DOMAIN`, answers from DNS servers) and
offline (`reconciler validate`, answers from desired/ only). A ``Lookup`` returns the canonical
values of a name and type, ``[]`` when it does not exist, or ``None`` when the source cannot tell
(offline: a name git does not declare may still exist on the server) — unknown answers skip a check
instead of failing it.

Checks:
- MX targets resolve to addresses and are not CNAMEs (RFC 2181 §10.3); a null MX (RFC 7505) is noted;
- SPF: one record, it parses (mailchecks.check_spf), at most 10 DNS-querying terms counted through
  include/redirect (RFC 7208 §4.6.4), and it authorises every MX host's address (a small evaluator
  of RFC 7208 §4–§6 without macros);
- DMARC: the record parses (mailchecks.check_dmarc); every report domain receives mail and, when it
  is outside the domain, authorises the reports with `<domain>._report._dmarc.<rua-domain>` (RFC 7489
  §7.1);
- DKIM: each selector's key parses, with its algorithm and size (mailchecks.dkim_key_bits);
- the HELO name (by default each MX host) has an SPF record that authorises its own address
  (RFC 7208 §2.3);
- forward-confirmed reverse DNS: each MX address has a PTR whose name resolves back to the address,
  and one PTR name is the host's own name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import dns.reversename

from ..model import dns as m
from ..model.resource import Resource
from . import mailchecks

Finding = tuple[str, str]  # (severity: "error" | "warning" | "info", message)
SPF_LIMIT = mailchecks.SPF_LOOKUP_LIMIT


class Lookup(Protocol):
    def get(self, name: str, rtype: str) -> list[str] | None:
        """Canonical values at an absolute name (trailing dot), [] if none, None if unknown."""
        ...


def fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


# ------------------------------------------------------------------------------------------ SPF

@dataclass
class SpfOutcome:
    result: str  # pass | fail | softfail | neutral | none | permerror | temperror | unknown
    reason: str = ""


_QUAL = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_LOOKUP_MECHS = {"include", "a", "mx", "ptr", "exists"}


def spf_record(lookup: Lookup, domain: str) -> tuple[str | None, str | None]:
    """(record, problem): the single SPF record at a domain; problem 'unknown' when undeterminable."""
    txt = lookup.get(fqdn(domain), "TXT")
    if txt is None:
        return None, "unknown"
    spf = [t for t in txt if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if not spf:
        return None, "none"
    if len(spf) > 1:
        return None, f"{len(spf)} SPF records (RFC 7208 §4.5: permanent error)"
    return spf[0], None


class SpfEvaluator:
    """check_host() of RFC 7208 for one address, counting DNS-querying terms as it goes."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.lookups = 0

    def check_host(self, ip: str, domain: str, depth: int = 0) -> SpfOutcome:
        if depth > SPF_LIMIT:
            return SpfOutcome("permerror", "include/redirect loop")
        record, problem = spf_record(self.lookup, domain)
        if record is None:
            if problem == "none":
                return SpfOutcome("none", f"no SPF record at {domain}")
            if problem == "unknown":
                return SpfOutcome("unknown", f"SPF of {domain} is not known")
            return SpfOutcome("permerror", f"{domain}: {problem}")
        address = ipaddress.ip_address(ip)
        redirect: str | None = None
        for term in record.split()[1:]:
            qualifier = term[0] if term[0] in _QUAL else "+"
            body = term[1:] if term[0] in _QUAL else term
            name, sep, value = body.partition("=")
            if sep and name.lower() not in _MECHS and ":" not in name:
                if name.lower() == "redirect":
                    redirect = value
                continue
            mech, _, arg = body.partition(":")
            mech, _, cidr = mech.partition("/")
            mech = mech.lower()
            if arg and mech in ("a", "mx"):
                arg, _, cidr = arg.partition("/")  # a:host/24//64
            if "%" in arg:
                return SpfOutcome("unknown", f"{domain}: macros ({term}) are not evaluated")
            if mech in _LOOKUP_MECHS:
                self.lookups += 1
                if self.lookups > SPF_LIMIT:
                    return SpfOutcome("permerror", f"more than {SPF_LIMIT} DNS-querying terms")
            matched = self._match(mech, arg, cidr, address, domain, depth)
            if isinstance(matched, SpfOutcome):
                return matched
            if matched:
                return SpfOutcome(_QUAL[qualifier], f"{term} in the SPF of {domain}")
        if redirect:
            self.lookups += 1
            outcome = self.check_host(ip, redirect, depth + 1)
            if outcome.result == "none":
                return SpfOutcome("permerror", f"redirect={redirect} has no SPF record")
            return outcome
        return SpfOutcome("neutral", f"no term of the SPF of {domain} matches {ip}")

    def _match(self, mech: str, arg: str, cidr: str, address: ipaddress._BaseAddress, domain: str,
               depth: int) -> bool | SpfOutcome:
        target = arg or domain
        if mech == "all":
            return True
        if mech in ("ip4", "ip6"):
            try:
                return address in ipaddress.ip_network(arg, strict=False)
            except (ValueError, TypeError):
                return SpfOutcome("permerror", f"bad network {mech}:{arg}")
        if mech == "include":
            outcome = self.check_host(str(address), arg, depth + 1)
            if outcome.result == "pass":
                return True
            if outcome.result in ("fail", "softfail", "neutral"):
                return False
            if outcome.result == "none":
                return SpfOutcome("permerror", f"include:{arg} has no SPF record")
            return outcome
        if mech == "a":
            return self._in_hosts([target], address, cidr)
        if mech == "mx":
            mx = self.lookup.get(fqdn(target), "MX")
            if mx is None:
                return SpfOutcome("unknown", f"MX of {target} is not known")
            return self._in_hosts([v.split()[1] for v in mx][:10], address, cidr)
        if mech == "exists":
            found = self.lookup.get(fqdn(target), "A")
            return SpfOutcome("unknown", f"A of {target} is not known") if found is None else bool(found)
        if mech == "ptr":
            return self._ptr(address, target)
        return SpfOutcome("permerror", f"unknown mechanism {mech}")

    def _in_hosts(self, hosts: Iterable[str], address: ipaddress._BaseAddress, cidr: str) -> bool | SpfOutcome:
        v4_len, _, v6_len = cidr.partition("/")  # a/24//64 arrives here as "24" and "/64"
        prefix = int(v4_len) if address.version == 4 and v4_len else None
        if address.version == 6 and v6_len.strip("/"):
            prefix = int(v6_len.strip("/"))
        for host in hosts:
            found = self.lookup.get(fqdn(host), "A" if address.version == 4 else "AAAA")
            if found is None:
                return SpfOutcome("unknown", f"addresses of {host} are not known")
            for value in found:
                net = ipaddress.ip_network(f"{value}/{prefix}" if prefix is not None else value, strict=False)
                if address in net:
                    return True
        return False

    def _ptr(self, address: ipaddress._BaseAddress, domain: str) -> bool | SpfOutcome:
        names = self.lookup.get(dns.reversename.from_address(str(address)).to_text(), "PTR")
        if names is None:
            return SpfOutcome("unknown", f"PTR of {address} is not known")
        for name in names[:10]:
            if fqdn(name) == fqdn(domain) or fqdn(name).endswith("." + fqdn(domain)):
                found = self.lookup.get(fqdn(name), "A" if address.version == 4 else "AAAA") or []
                if str(address) in found:
                    return True
        return False


def spf_lookup_count(lookup: Lookup, domain: str, seen: set[str] | None = None) -> int | None:
    """DNS-querying terms of a domain's SPF, counted through include and redirect (worst case)."""
    seen = seen if seen is not None else set()
    if fqdn(domain) in seen:
        return SPF_LIMIT + 1  # a loop never terminates within the limit
    seen.add(fqdn(domain))
    record, problem = spf_record(lookup, domain)
    if record is None:
        return None if problem == "unknown" else 0
    total = mailchecks.spf_lookup_terms(record)
    for term in record.split()[1:]:
        body = term.lstrip("+-~?")
        key, sep, value = (body.partition(":") if body.lower().startswith("include:") else body.partition("="))
        if (key.lower() == "include" and sep) or (key.lower() == "redirect" and sep):
            if "%" in value:
                continue
            nested = spf_lookup_count(lookup, value, seen)
            if nested is None:
                return None
            total += nested
    return total


# ------------------------------------------------------------------------------------- the checks

@dataclass
class MailReport:
    domain: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: str, message: str) -> None:
        self.findings.append((severity, message))

    @property
    def errors(self) -> list[str]:
        return [msg for sev, msg in self.findings if sev == "error"]


def check_domain(domain: str, lookup: Lookup, *, dkim_selectors: Sequence[str] = (),
                 helo_names: Sequence[str] | None = None, syntax: bool = True) -> MailReport:
    """All mail DNS health checks of one domain. ``syntax=False`` skips the per-record syntax checks
    that the desired loader already ran (mailchecks.check_txt), to report each problem once."""
    report = MailReport(domain)
    domain = fqdn(domain)
    hosts = _mx_hosts(domain, lookup, report)
    addresses = {host: _addresses(host, lookup) for host in hosts}
    for host, found in addresses.items():
        if found is not None and not found:
            report.add("error", f"MX target {host} does not resolve (no A or AAAA record)")
        if (lookup.get(host, "CNAME") or []) and found:
            report.add("error", f"MX target {host} is a CNAME; RFC 2181 §10.3 forbids it")
    _check_spf(domain, lookup, addresses, report, syntax)
    _check_dmarc(domain, lookup, report, syntax)
    for selector in dkim_selectors:
        _check_dkim(domain, selector, lookup, report, syntax)
    helos = [fqdn(h) for h in helo_names] if helo_names is not None else list(hosts)
    for helo in helos:
        _check_helo(helo, lookup, addresses.get(helo) or _addresses(helo, lookup), report)
    for host, found in addresses.items():
        for address in found or []:
            _check_fcrdns(host, address, lookup, report)
    return report


def _mx_hosts(domain: str, lookup: Lookup, report: MailReport) -> list[str]:
    mx = lookup.get(domain, "MX")
    if mx is None:
        return []
    if not mx:
        report.add("error", f"{domain} has no MX record")
        return []
    hosts = []
    for value in sorted(mx, key=lambda v: int(v.split()[0])):
        exchange = fqdn(value.split()[1])
        if exchange == ".":
            report.add("info", f"{domain} publishes a null MX (RFC 7505): it accepts no mail")
            continue
        hosts.append(exchange)
    return hosts


def _addresses(host: str, lookup: Lookup) -> list[str] | None:
    a, aaaa = lookup.get(host, "A"), lookup.get(host, "AAAA")
    if a is None and aaaa is None:
        return None
    return [*(a or []), *(aaaa or [])]


def _check_spf(domain: str, lookup: Lookup, addresses: dict[str, list[str] | None], report: MailReport,
               syntax: bool) -> None:
    record, problem = spf_record(lookup, domain)
    if problem == "unknown":
        return
    if record is None:
        report.add("error", f"{domain} has no SPF record" if problem == "none" else f"SPF of {domain}: {problem}")
        return
    if syntax:
        for severity, message in mailchecks.check_spf(record):
            report.add(severity, f"SPF of {domain}: {message}")
    count = spf_lookup_count(lookup, domain)
    if count is not None:
        if count > SPF_LIMIT:
            report.add("error", f"SPF of {domain} needs {count} DNS-querying terms through include/redirect; "
                                f"the limit is {SPF_LIMIT} (RFC 7208 §4.6.4)")
        else:
            report.add("info", f"SPF of {domain}: {count} DNS-querying term(s) of {SPF_LIMIT}")
    for host, found in addresses.items():
        for address in found or []:
            outcome = SpfEvaluator(lookup).check_host(address, domain)
            if outcome.result == "unknown":
                continue
            if outcome.result != "pass":
                report.add("error", f"SPF of {domain} does not authorise MX host {host} ({address}): "
                                    f"{outcome.result} ({outcome.reason})")


def _check_dmarc(domain: str, lookup: Lookup, report: MailReport, syntax: bool) -> None:
    values = lookup.get(f"_dmarc.{domain}", "TXT")
    if values is None:
        return
    records = [v for v in values if v.replace(" ", "").upper().startswith("V=DMARC1")]
    if not records:
        report.add("error", f"{domain} has no DMARC record at _dmarc.{domain}")
        return
    if len(records) > 1:
        report.add("error", f"_dmarc.{domain} has {len(records)} DMARC records (RFC 7489 §6.6.3: none applies)")
        return
    record = records[0]
    if syntax:
        for severity, message in mailchecks.check_dmarc(record):
            report.add(severity, f"DMARC of {domain}: {message}")
    for rua in dict.fromkeys(mailchecks.dmarc_report_domains(record)):
        rua_fqdn = fqdn(rua)
        receives = _receives_mail(rua_fqdn, lookup)
        if receives is False:
            report.add("error", f"DMARC report domain {rua} has no MX or address record: reports cannot arrive")
        if _same_domain(rua_fqdn, domain):
            continue
        auth_name = f"{domain.rstrip('.')}._report._dmarc.{rua_fqdn}"
        auth = lookup.get(auth_name, "TXT")
        if auth is None:
            continue
        if not any(v.replace(" ", "").upper().startswith("V=DMARC1") for v in auth):
            report.add("error", f"DMARC reports for {domain} go to {rua}, which has not agreed to receive them: "
                                f"no 'v=DMARC1' TXT at {auth_name} (RFC 7489 §7.1)")


def _same_domain(a: str, b: str) -> bool:
    # Without the public suffix list: a report domain equal to, above or below the domain is "internal".
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _receives_mail(domain: str, lookup: Lookup) -> bool | None:
    mx = lookup.get(domain, "MX")
    found = _addresses(domain, lookup)
    if mx or found:
        return True
    if mx is None or found is None:
        return None
    return False


def _check_dkim(domain: str, selector: str, lookup: Lookup, report: MailReport, syntax: bool) -> None:
    name = f"{selector}._domainkey.{domain}"
    values = lookup.get(name, "TXT")
    if values is None:
        return
    if not values:
        report.add("error", f"DKIM selector {selector}: no TXT record at {name}")
        return
    for value in values:
        try:
            algorithm, bits = mailchecks.dkim_key_bits(value)
        except ValueError as exc:
            report.add("error", f"DKIM selector {selector} ({name}): the key does not parse: {exc}")
            continue
        report.add("info", f"DKIM selector {selector}: {algorithm.upper()} key of {bits} bits")
        if syntax:
            for severity, message in mailchecks.check_dkim(value):
                report.add(severity, f"DKIM selector {selector}: {message}")


def _check_helo(helo: str, lookup: Lookup, addresses: list[str] | None, report: MailReport) -> None:
    record, problem = spf_record(lookup, helo)
    if problem == "unknown":
        return
    if record is None:
        report.add("error", f"HELO name {helo} has no SPF record (RFC 7208 §2.3: checked for the HELO identity)"
                   if problem == "none" else f"SPF of HELO name {helo}: {problem}")
        return
    for address in addresses or []:
        outcome = SpfEvaluator(lookup).check_host(address, helo)
        if outcome.result not in ("pass", "unknown"):
            report.add("error", f"SPF of HELO name {helo} does not authorise its own address {address}: "
                                f"{outcome.result} ({outcome.reason})")


def _check_fcrdns(host: str, address: str, lookup: Lookup, report: MailReport) -> None:
    reverse = dns.reversename.from_address(address).to_text()
    names = lookup.get(reverse, "PTR")
    if names is None:
        return
    if not names:
        report.add("error", f"{address} (MX host {host}) has no PTR record at {reverse}")
        return
    confirmed = []
    for name in names:
        found = _addresses(fqdn(name), lookup)
        if found is None:
            return
        if address in found:
            confirmed.append(fqdn(name))
    if not confirmed:
        report.add("error", f"reverse DNS of {address} is not forward-confirmed: its PTR name(s) "
                            f"{', '.join(names)} do not resolve back to {address}")
    elif host not in confirmed:
        report.add("error", f"reverse DNS of {address} names {', '.join(confirmed)}, not the mail host {host}")
    else:
        report.add("info", f"reverse DNS of {address}: {host} (forward-confirmed)")


# --------------------------------------------------------------------------------------- offline

class DesiredLookup:
    """Answers from desired/: declared values, None for anything git does not declare."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.data: dict[tuple[str, str], list[str]] = {}
        for res in resources:
            if res.kind != m.KIND:
                continue
            zone, name, rtype = res.key
            values = [v for v in res.data.get("values", []) if isinstance(v, str)]
            if len(values) != len(res.data.get("values", [])):
                continue  # a value from another system (DKIM from Stalwart) is only known online
            self.data[(m.absolute_name(name, zone), rtype)] = values

    def get(self, name: str, rtype: str) -> list[str] | None:
        return self.data.get((fqdn(name), rtype))


def mail_domains(resources: Iterable[Resource]) -> list[tuple[Resource, str]]:
    """(MX RRset, its owner as a domain) for every declared MX: the domains that receive mail."""
    return [(r, m.absolute_name(r.key[1], r.key[0]).rstrip("."))
            for r in resources if r.kind == m.KIND and r.key[2] == "MX"]


def dkim_selectors(resources: Iterable[Resource], domain: str) -> list[str]:
    return _selector_index(resources).get(fqdn(domain), [])


def _selector_index(resources: Iterable[Resource]) -> dict[str, list[str]]:
    """domain → DKIM selectors declared under <selector>._domainkey.<domain>, in one pass."""
    out: dict[str, set[str]] = {}
    for res in resources:
        if res.kind == m.KIND and res.key[2] == "TXT" and "._domainkey" in f".{res.key[1]}":
            name = m.absolute_name(res.key[1], res.key[0])
            selector, sep, domain = name.partition("._domainkey.")
            if sep:
                out.setdefault(domain, set()).add(selector)
    return {d: sorted(s) for d, s in out.items()}


def check_desired(resources: Sequence[Resource]) -> list[tuple[Resource, str]]:
    """Offline mail health of every declared mail domain, for `validate`: (MX resource, warning)."""
    lookup = DesiredLookup(resources)
    selectors = _selector_index(resources)
    out: list[tuple[Resource, str]] = []
    for mx, domain in mail_domains(resources):
        report = check_domain(domain, lookup, dkim_selectors=selectors.get(fqdn(domain), []), syntax=False)
        for severity, message in report.findings:
            if severity != "info":
                out.append((mx, f"mail health of {domain}: {message}"))
    return out

