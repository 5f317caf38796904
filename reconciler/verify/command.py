"""`reconciler verify`: ask DNS whether it publishes what git declares; exit 1 on any difference.

Every declared record set (including `verify_only` ones, which are checked and never written) is
asked of its zone's authoritative server: for an rfc2136 target its `server`/`port`, for a
windows_dns target its `dns_server: host:port` (default: the host of its WinRM address, port 53).
`--resolver ADDR[:PORT]` asks that resolver instead (propagation). `--mail DOMAIN` adds the mail DNS
health checks (desired/mailhealth.py). The outcome is recorded in the audit log.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any
from urllib.parse import urlsplit

from .. import runs
from ..audit import AuditLog
from ..config import Config, Target
from ..desired import mailhealth
from ..desired.loader import DesiredState
from ..engine import Engine
from ..model import dns as m
from ..model.resource import Ref, Resource
from ..providers.base import ProviderError
from ..runs import Console, UserError
from .compare import Expected
from .dnslookup import DnsLookup, router
from .published import expected_from_resource, verify
from .query import Server, ServerError, parse_server

DNS_KINDS = ("rfc2136", "windows_dns")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "verify", help="ask DNS servers whether they publish what git declares (exit 1 on a difference)",
        description="Query the authoritative server of every declared record set (or --resolver) and compare "
                    "each answer with desired/: truncated or mis-split TXT, missing records, stale values and "
                    "TTLs fail. --mail DOMAIN adds the mail DNS health checks. Never writes; the outcome is "
                    "recorded in the audit log. Exit 0 all published, 1 any failure.")
    p.add_argument("--resolver", metavar="ADDR[:PORT]", help="ask this resolver instead of the authoritative servers")
    p.add_argument("--mail", metavar="DOMAIN", action="append", default=[],
                   help="also check the mail DNS health of DOMAIN (repeatable)")
    p.add_argument("--helo", metavar="NAME", action="append",
                   help="with --mail: the mail host's HELO name (repeatable; default: each MX host)")
    p.add_argument("--target", action="append", help="only the zones of this DNS target (repeatable)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds per DNS question (default 3)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(handler=run)


def target_server(target: Target) -> Server:
    """Where a DNS target's zones are published (its authoritative server's DNS port)."""
    options = target.options
    try:
        if target.kind == "rfc2136":
            return Server(str(options["server"]), int(options.get("port", 53)))
        if options.get("dns_server"):
            return parse_server(str(options["dns_server"]))
        host = urlsplit(str(options.get("address", ""))).hostname
        if not host:
            raise ServerError("no dns_server and no address")
        return parse_server(host)
    except (KeyError, ValueError, ServerError) as exc:
        raise UserError(f"{target.name} ({target.origin}): cannot tell which DNS server publishes its zones "
                        f"({exc}); set dns_server: host:port") from None


def zone_servers(cfg: Config, only: list[str] | None) -> dict[str, tuple[str, Server]]:
    out: dict[str, tuple[str, Server]] = {}
    for name, target in cfg.targets.items():
        if target.kind not in DNS_KINDS or (only and name not in only):
            continue
        server = target_server(target)
        zones = target.options.get("zones") or ([target.options["zone"]] if target.options.get("zone") else [])
        for zone in zones:
            out.setdefault(m.zone_name(str(zone)), (name, server))
    return out


def run(args: argparse.Namespace, console: Console) -> int:
    cfg = runs.load_config(args.config)
    if args.target:
        for name in args.target:
            if name not in cfg.targets or cfg.targets[name].kind not in DNS_KINDS:
                raise UserError(f"{name!r} is not a DNS target of {cfg.path.name}")
    desired = runs.load_desired(cfg.desired, console, cfg=cfg)
    resolver = None
    if args.resolver:
        try:
            resolver = parse_server(args.resolver, recursive=True)
        except ServerError as exc:
            raise UserError(f"--resolver {exc}") from None
    served = zone_servers(cfg, args.target)
    engine = Engine(cfg, desired, audit=AuditLog(cfg.audit_log), trigger="cli", progress=console.progress)
    command = "verify" + (f" --resolver {resolver}" if resolver else "") + "".join(f" --mail {d}" for d in args.mail)
    engine.start(command)
    code = runs.EXIT_ERROR
    try:
        result = _verify(engine, desired, served, resolver, args, console)
        failures = result["failures"]
        if args.json:
            console.say(json.dumps(result, ensure_ascii=False, indent=1))
        else:
            for line in result["notes"]:
                console.note(line)
            for failure in failures:
                console.say(f"FAIL {failure}")
            for domain, findings in result["mail"].items():
                for severity, message in findings:
                    label = {"error": "FAIL", "warning": "warn", "info": "  ok"}[severity]
                    console.say(f"{label} mail {domain}: {message}")
        mail_errors = sum(1 for f in result["mail"].values() for sev, _ in f if sev == "error")
        engine.audit.append("verify", engine.run_id, ok=not failures and not mail_errors, failures=failures,
                            checked=result["checked"], servers=result["servers"], resolver=result["resolver"],
                            mail={d: [list(f) for f in v] for d, v in result["mail"].items()})
        summary = (f"verify: {result['checked']} record set(s) at {len(result['servers'])} server(s) in "
                   f"{result['seconds']:.2f}s: {len(failures)} failure(s)")
        if args.mail:
            summary += f"; mail health of {', '.join(args.mail)}: {mail_errors} failure(s)"
        console.note(summary)
        code = runs.EXIT_ERROR if failures or mail_errors else runs.EXIT_OK
        return code
    except UserError as exc:
        engine.audit.append("error", engine.run_id, message=str(exc))
        raise
    finally:
        engine.end("ok" if code == runs.EXIT_OK else "failed", code)
        engine.close()


def _verify(engine: Engine, desired: DesiredState, served: dict[str, tuple[str, Server]],
            resolver: Server | None, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    start = time.monotonic()
    notes: list[str] = []
    resources = [r for r in desired.resources if r.kind == m.KIND]
    if args.target:
        resources = [r for r in resources if r.key[0] in served]
    resources = _resolve_refs(engine, resources, notes)
    groups: dict[Server, list[Expected]] = {}
    fallback = None
    for res in resources:
        server = resolver or (served[res.key[0]][1] if res.key[0] in served else None)
        if server is None:
            fallback = fallback or router({}, None)("invalid.")
            if fallback is None:
                notes.append(f"{res.ident}: zone served by no target and no resolver configured; use --resolver")
                continue
            server = fallback
        groups.setdefault(server, []).append(expected_from_resource(res))
    failures: list[str] = []
    for server, expected in groups.items():
        console.progress(f"asking {server}", 0, len(expected))
        failures.extend(verify(server, expected, timeout=args.timeout))
    console.clear()
    mail: dict[str, list[tuple[str, str]]] = {}
    if args.mail:
        lookup = DnsLookup(router({z: s for z, (_, s) in served.items()}, resolver), timeout=args.timeout)
        for domain in args.mail:
            name = m.zone_name(domain)
            report = mailhealth.check_domain(name, lookup, dkim_selectors=mailhealth.dkim_selectors(resources, name),
                                             helo_names=args.helo)
            mail[name] = report.findings + [("error", f"lookup failed: {p}") for p in lookup.problems]
            lookup.problems.clear()
    return {"ok": not failures, "checked": sum(len(v) for v in groups.values()), "failures": failures,
            "servers": sorted(str(s) for s in groups), "resolver": str(resolver) if resolver else None,
            "mail": mail, "notes": notes, "seconds": time.monotonic() - start}


def _resolve_refs(engine: Engine, resources: list[Resource], notes: list[str]) -> list[Resource]:
    """Replace DKIM references with the value their system reports; where that fails the reference
    stays, and the published key is still checked to parse (Expected.dkim_unresolved)."""
    kinds = {v.source for r in resources for v in r.data.get("values", []) if isinstance(v, Ref)}
    if not kinds:
        return resources
    sources = {t.kind: n for n, t in engine.config.targets.items() if t.kind in kinds}
    scope = {n: [r for r in engine.desired.resources if engine.provider(n).serves(r)] for n in sources.values()}
    lives, errors = engine.read(scope, list(sources.values()))
    for error in errors.values():
        notes.append(f"cannot read {error}; the DKIM keys it supplies are only checked to parse")
    out = []
    for res in resources:
        values = res.data.get("values", [])
        refs = [v for v in values if isinstance(v, Ref)]
        if not refs:
            out.append(res)
            continue
        try:
            resolved = [engine.provider(sources[v.source]).resolve(v)  # type: ignore[attr-defined]
                        if isinstance(v, Ref) else v for v in values]
        except (KeyError, ProviderError) as exc:
            if sources.get(refs[0].source) in lives:
                notes.append(f"{res.ident}: {exc}; the published key is only checked to parse")
            out.append(res)
            continue
        out.append(Resource(res.kind, res.key, {**res.data, "values": sorted(set(resolved))}, res.meta, res.origin))
    return out
