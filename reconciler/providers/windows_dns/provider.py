"""Windows Server DNS provider: fixed PowerShell programs over one WinRM shell (issue 2 part 7).

read: one command per zone (``read.ps1``) returns every record projected field by field; TXT record
sets are then re-read over DNS from ``dns_server``, because the cmdlet may show only the first string
of a multi-string TXT (windows-dns.md §3.1). apply: all changes of the run in as few commands as the
payload limit allows (``apply.ps1``), each change's failure returned as data. verify: over DNS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dns.name
import dns.rcode
import dns.rdatatype

from ... import dnswire
from ...model import dns as m
from ...model.resource import Resource
from ..base import BaseProvider, ChangeResult, LiveState, Progress, ProviderError, Scope, Unmanaged, no_progress
from . import ops as opsmod
from . import records
from .session import RemoteError, WinRMRunner, program_text
from .settings import Settings, SettingsError, parse

if TYPE_CHECKING:
    from ...config import Target
    from ...plan import Change

READ = "read"
APPLY = "apply"


class WindowsDnsProvider(BaseProvider):
    kinds = (m.KIND,)

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        try:
            self.settings: Settings = parse(target.name, target.options)
        except SettingsError as exc:
            raise ProviderError(target.name, f"{target.origin}: {exc}") from None
        self.runner = WinRMRunner(self.settings)
        self.planner = opsmod.Planner(self.settings.long_txt, self.settings.computer_name)
        self.zone_facts: dict[str, dict[str, Any]] = {}

    def serves(self, resource: Resource) -> bool:
        return resource.kind == m.KIND and resource.key[0] in self.settings.zones

    def _payload_base(self) -> dict[str, Any]:
        return {"computer": self.settings.computer_name, "resolver": self.settings.resolver}

    def _run(self, program: str, payload: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        try:
            return self.runner.run(program_text(program), payload, deadline=deadline)
        except RemoteError as exc:
            raise ProviderError(self.name, str(exc)) from None
        except Exception as exc:  # a missing secret, a transport library error
            raise ProviderError(self.name, f"{type(exc).__name__}: {exc}") from None

    # ---------------------------------------------------------------------------------------- read
    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState:
        zones = sorted(scope.zones & set(self.settings.zones)) if scope.zones else list(self.settings.zones)
        live = LiveState(self.name)
        for i, zone in enumerate(zones):
            progress(f"reading {zone}", i, len(zones))
            doc = self._run(READ, {**self._payload_base(), "zone": zone})
            if not doc.get("ok"):
                raise ProviderError(self.name, _zone_error(zone, doc.get("error") or {}))
            facts = doc.get("zone") or {}
            if str(facts.get("type")) != "Primary" or facts.get("auto"):
                raise ProviderError(self.name, f"zone {zone} is a {facts.get('type')} zone"
                                    f"{' created automatically' if facts.get('auto') else ''}; reconciler "
                                    "manages only primary zones (windows-dns.md §7)")
            self.zone_facts[zone] = facts
            read = records.zone_read(zone, list(doc.get("records") or []))
            resources = self._txt_from_dns(zone, read)
            for res in resources:
                live.add(res)
            for res, reason in read.unmanaged:
                live.unmanaged.append(Unmanaged(res, reason))
            live.notes.extend(read.notes)
        progress("read", len(zones), len(zones))
        live.facts = {"server": self.settings.address, "round_trips": self.runner.stats.commands,
                      "zones": ", ".join(f"{z} ({f.get('type')}{', AD-integrated' if f.get('ds') else ''}, "
                                         f"dynamic update {f.get('dynamic_update')})"
                                         for z, f in sorted(self.zone_facts.items()))}
        return live

    def _txt_from_dns(self, zone: str, read: records.ZoneRead) -> list[Resource]:
        from ...verify.query import Server, ask_many

        by_name = {r.key[1]: r for r in read.resources if r.key[2] == "TXT" and r.key[1] in read.txt_names}
        if not by_name:
            return read.resources
        server = Server(self.settings.dns_host, self.settings.dns_port)
        questions = {n: dns.name.from_text(m.absolute_name(n, zone)) for n in by_name}
        answers = ask_many(server, [(q, dns.rdatatype.TXT) for q in questions.values()], timeout=3.0)
        replaced: dict[str, Resource] = {}
        for name, qname in questions.items():
            answer = answers[(qname, dns.rdatatype.TXT)]
            if answer.error or answer.rcode != dns.rcode.NOERROR or not answer.authoritative or not answer.wires:
                raise ProviderError(self.name, (
                    f"cannot read TXT {m.absolute_name(name, zone)} over DNS from {server} ({answer.status}"
                    f"{'' if answer.authoritative or answer.error else ', not authoritative'}); the cmdlet may "
                    "show only the first string of a multi-string TXT (windows-dns.md §3.1), so the provider "
                    "does not guess: check dns_server"))
            replaced[name] = records.with_dns_txt(by_name[name], [dnswire.txt_strings(w) for w in answer.wires])
        return [replaced.get(r.key[1], r) if r.key[2] == "TXT" else r for r in read.resources]

    # --------------------------------------------------------------------------------------- check
    def _refuse(self, change: Change) -> str | None:
        zone, _, rtype = change.key
        if zone not in self.settings.zones:
            return f"zone {zone} is not among this target's zones"
        if rtype == "SOA":
            return records.SOA_REASON
        if rtype not in m.TYPES:
            return f"type {rtype} is not modelled"
        if change.op == "delete" and change.before is not None and change.before.guard:
            return f"refusing to delete: {change.before.guard}"
        return None

    def check(self, changes: Sequence[Change]) -> dict[str, str]:
        out: dict[str, str] = {}
        for change in changes:
            if change.kind != m.KIND:
                continue
            problem = self._refuse(change)
            if problem is None:
                try:
                    self.planner.ops(change)
                except opsmod.OpError as exc:
                    problem = str(exc)
            if problem:
                where = f" ({change.after.origin})" if change.after is not None and change.after.origin else ""
                out[change.id] = f"{change.ident}{where}: {problem}"
        return out

    # --------------------------------------------------------------------------------------- apply
    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        results: dict[str, ChangeResult] = {}
        planned: list[tuple[Change, list[dict[str, Any]]]] = []
        for change in changes:
            problem = self._refuse(change)
            try:
                ops = self.planner.ops(change) if problem is None else []
            except opsmod.OpError as exc:
                problem = str(exc)
            if problem is not None:
                results[change.id] = ChangeResult(change.id, False, error=f"{change.ident}: {problem}; not sent")
            elif not ops:
                results[change.id] = ChangeResult(change.id, True, detail={"ops": 0})
            else:
                planned.append((change, ops))
        batches = _batches(planned, self.settings.max_payload)
        stop: str | None = None
        done = 0
        for index, batch in enumerate(batches, 1):
            if stop is not None:
                for change, _ in batch:
                    results[change.id] = ChangeResult(change.id, False, error=stop, skipped=True)
                continue
            payload = {**self._payload_base(), "changes": [
                {"id": change.id, "zone": change.key[0], "ops": ops} for change, ops in batch]}
            deadline = self.settings.timeout
            try:
                doc = self.runner.run(program_text(APPLY), payload, deadline=deadline)
            except RemoteError as exc:
                label = f"{self.name}: apply command {index}/{len(batches)}"
                for change, _ in batch:
                    results[change.id] = ChangeResult(
                        change.id, False, skipped=not exc.unknown,
                        error=(f"{label}: {exc}; " + ("outcome unknown: the next diff shows what is live"
                                                       if exc.unknown else "not applied")),
                        detail={"unknown": exc.unknown})
                stop = f"not sent: an earlier apply command to {self.settings.address} failed ({exc})"
                continue
            except Exception as exc:  # a missing secret and the like: nothing was sent
                stop = f"{self.name}: {type(exc).__name__}: {exc}"
                for change, _ in batch:
                    results[change.id] = ChangeResult(change.id, False, error=stop, skipped=True)
                continue
            by_id = {str(r.get("id")): r for r in doc.get("results") or []}
            for change, ops in batch:
                results[change.id] = _result(change, ops, by_id.get(change.id))
            done += len(batch)
            progress(f"apply command {index}/{len(batches)}", done, len(planned))
        return [results.get(c.id) or ChangeResult(c.id, False, error="not attempted", skipped=True)
                for c in changes]

    # -------------------------------------------------------------------------------------- verify
    def verify_published(self, changes: Sequence[Change]) -> list[str]:
        from ...verify import published

        server = published.Server(self.settings.dns_host, self.settings.dns_port)
        return published.verify_changes(server, changes)

    @property
    def round_trips(self) -> int:
        return self.runner.stats.commands

    def close(self) -> None:
        self.runner.close()


def _batches(planned: list[tuple[Change, list[dict[str, Any]]]], limit: int) -> list[list[tuple[Change, Any]]]:
    """Changes in payloads of at most ``limit`` JSON characters (a change is never split)."""
    out: list[list[tuple[Change, Any]]] = []
    size = 0
    for item in planned:
        cost = len(json.dumps({"id": item[0].id, "zone": item[0].key[0], "ops": item[1]}, ensure_ascii=True)) + 1
        if not out or size + cost > limit:
            out.append([])
            size = 0
        out[-1].append(item)
        size += cost
    return out


def _zone_error(zone: str, err: dict[str, Any]) -> str:
    fqid = str(err.get("id") or "")
    message = str(err.get("message") or "unknown error")
    if fqid.startswith("WIN32 9601"):
        return f"zone {zone} does not exist on the server ({fqid}: {message})"
    if fqid.startswith("WIN32 1722"):
        return f"the DNS server could not be reached from the WinRM host ({fqid}: {message}); check computer_name"
    return f"reading zone {zone} failed: {message} ({fqid})"


def _result(change: Change, ops: list[dict[str, Any]], doc: dict[str, Any] | None) -> ChangeResult:
    if doc is None:
        return ChangeResult(change.id, False, error=f"{change.ident}: the apply program returned no result for "
                            "this change; outcome unknown", detail={"unknown": True})
    done = int(doc.get("done") or 0)
    notes = [str(n) for n in doc.get("notes") or []]
    detail: dict[str, Any] = {"ops_done": done, "ops_total": len(ops)}
    if notes:
        detail["notes"] = notes
    if doc.get("ok"):
        return ChangeResult(change.id, True, detail=detail)
    err = doc.get("error") or {}
    fqid = str(err.get("id") or "")
    code = re.match(r"WIN32 (\d+)", fqid)
    if code:
        detail["win32"] = int(code.group(1))
    detail.update({"error_id": fqid, "category": err.get("category")})
    partly = (f"partly applied ({done} of {len(ops)} record operations done, the rest not attempted): "
              if done else "not applied: ")
    failed = ops[done] if done < len(ops) else {}
    what = f"{failed.get('op', '?')} {failed.get('name', '')} {failed.get('type', '')}".strip()
    return ChangeResult(change.id, False, error=f"{change.ident}: {partly}{what} failed: "
                        f"{err.get('message') or 'error'} ({fqid or 'no error id'})", detail=detail)
