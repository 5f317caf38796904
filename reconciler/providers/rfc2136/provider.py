"""RFC 2136 provider: read zones by AXFR with TSIG, write with prerequisite-guarded UPDATE over TCP.

Works with any server that implements RFC 2136 and zone transfers (BIND, Knot, PowerDNS; Windows
DNS on zones that accept non-secure updates). What it never does:

- touch SOA (the server maintains it; reported as unmanaged);
- delete the apex NS RRset, or change it without --force (the plan marks it, plan._mark_force);
- delete or change AD-managed names unless git declares them (model.dns.is_guarded_name, the same
  rule as the Windows provider, windows-dns.md §8 guard rule (c));
- manage types it does not model (DNSSEC records, DNAME, SSHFP …): listed as unmanaged;
- overwrite a record set somebody changed since the read (RFC 2136 §2.4 prerequisites).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import dns.name
import dns.rcode
import dns.rdatatype

from ... import dnswire
from ...model import dns as m
from ...model.resource import GUARD, Resource
from ..base import BaseProvider, ChangeResult, LiveState, Progress, ProviderError, Scope, Unmanaged, no_progress
from . import errors, records, updates
from .client import Client
from .settings import Settings, SettingsError, parse
from .zonedata import ZoneData

if TYPE_CHECKING:
    from ...config import Target
    from ...plan import Change

SOA_REASON = m.SOA_REASON


class Rfc2136Provider(BaseProvider):
    kinds = (m.KIND,)

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        try:
            self.settings: Settings = parse(target.name, target.options)
        except SettingsError as exc:
            raise ProviderError(target.name, f"{target.origin}: {exc}") from None
        self._client: Client | None = None
        self.zones: dict[str, ZoneData] = {}
        self._steps: dict[str, updates.Step] = {}  # change id → step made by check(), reused by apply()

    # -------------------------------------------------------------------------------- helpers
    @property
    def client(self) -> Client:
        if self._client is None:
            try:
                self._client = Client(self.settings)
            except Exception as exc:  # SecretError, bad base64: the message names the reference only
                raise ProviderError(self.name, str(exc)) from None
        return self._client

    @property
    def stats(self) -> dict[str, Any]:
        return self._client.stats.as_dict() if self._client else {}

    def _where(self, zone: str) -> str:
        return f"{self.settings.where} zone {zone}"

    def serves(self, resource: Resource) -> bool:
        return resource.kind == m.KIND and resource.key[0] in self.settings.zones

    # ----------------------------------------------------------------------------------- read
    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState:
        zones = sorted(scope.zones & set(self.settings.zones)) if scope.zones else list(self.settings.zones)
        live = LiveState(self.name)
        client = self.client
        for i, zone in enumerate(zones):
            progress(f"transferring {zone}", i, len(zones))
            try:
                data = client.transfer(zone, self.zones.get(zone))
            except errors.Failure as exc:
                self.zones.pop(zone, None)
                raise ProviderError(self.name, f"{self._where(zone)}: {exc}",
                                    retryable=exc.scope == "server") from None
            self.zones[zone] = data
            self._steps.clear()  # made against the data read before
            self._to_live(data, live)
        progress("transferred", len(zones), len(zones))
        live.facts = {"server": self.settings.where,
                      "zones": ", ".join(f"{z} (serial {self.zones[z].serial})" for z in zones)}
        return live

    def _to_live(self, data: ZoneData, live: LiveState) -> None:
        zone = data.zone
        if data.soa is not None:
            soa = Resource(m.KIND, (zone, "@", "SOA"), {"ttl": 0, "values": [data.soa.to_text()]},
                           {GUARD: SOA_REASON})
            live.unmanaged.append(Unmanaged(soa, SOA_REASON))
        guard_ad = self.settings.guard_ad_names
        for (name, rdtype), rrset in data.rrsets.items():
            rtype = records.MODELLED.get(rdtype)
            if rtype is None:
                text = dns.rdatatype.to_text(rdtype)
                res = Resource(m.KIND, (zone, name, text),
                               {"ttl": rrset.ttl, "values": sorted(r.to_text() for r in rrset.rdatas)},
                               {GUARD: f"type {text} is not modelled"})
                live.unmanaged.append(Unmanaged(res, f"type {text} is not modelled; left as it is"))
                continue
            if rrset.resource is None:  # else unchanged since the last read (an IXFR touched others)
                meta: dict[str, Any] = {}
                if (reason := m.guard_reason(name, rtype, ad_names=guard_ad)) is not None:
                    meta[GUARD] = reason
                values = [dnswire.canonical(rdtype, w) for w in rrset.wires]
                rrset.resource = Resource(m.KIND, (zone, name, rtype), m.rrset_data(rrset.ttl, values), meta)
            live.add(rrset.resource)

    # ---------------------------------------------------------------------------------- check
    def check(self, changes: Sequence[Change]) -> dict[str, str]:
        out: dict[str, str] = {}
        for change in changes:
            if change.kind != m.KIND:
                continue
            zone = change.key[0]
            data = self.zones.get(zone) or ZoneData(zone, dns.name.from_text(zone))
            problem = self._refuse(change)
            if problem is None:
                try:
                    step = self._steps[change.id] = updates.make_step(change, data)
                except updates.StepError as exc:
                    problem = str(exc)
                else:
                    limit = self.settings.max_message_size - self._overhead(data.origin)
                    if step.size > limit:
                        problem = (f"this record set needs {step.size} octets in one UPDATE, over the "
                                   f"{self.settings.max_message_size}-octet message limit (max_message_size)")
            if problem:
                out[change.id] = f"{change.ident}: {problem}"
        return out

    def _refuse(self, change: Change) -> str | None:
        if change.key[0] not in self.settings.zones:
            return f"zone {change.key[0]} is not among this target's zones"
        if change.key[2] == "SOA":
            return SOA_REASON
        if change.op == "delete" and change.before is not None and change.before.guard:
            return f"refusing to delete: {change.before.guard}"
        if change.key[2] not in m.TYPES:
            return f"type {change.key[2]} is not modelled"
        if change.op == "delete" and change.key[2] in ("A", "AAAA"):
            return self._name_server_address(change)
        return None

    def _name_server_address(self, change: Change) -> str | None:
        """BIND refuses an update that leaves an in-zone name server without address ("post update
        name server sanity check failed"); say so before sending instead of after."""
        zone, name, _ = change.key
        data = self.zones.get(zone)
        if data is None:
            return None
        owner = data.name_servers().get(m.absolute_name(name, zone))
        if owner is None:
            return None
        return (f"{name} is a name server of {owner} (NS); deleting its address is refused "
                "(BIND: 'post update name server sanity check failed'); change the NS record first")

    def _overhead(self, origin: dns.name.Name) -> int:
        tsig = self.settings.tsig
        return updates.overhead(origin, tsig.name if tsig else None, tsig.algorithm if tsig else None)

    # ---------------------------------------------------------------------------------- apply
    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        results: dict[str, ChangeResult] = {}
        total = len(changes)
        done = 0
        stop_all: str | None = None
        by_zone: dict[str, list[Change]] = {}
        for change in changes:
            by_zone.setdefault(change.key[0], []).append(change)
        for zone, zone_changes in by_zone.items():
            where = self._where(zone)
            if stop_all is not None:
                for change in zone_changes:
                    results[change.id] = ChangeResult(change.id, False, error=f"{where}: {stop_all}", skipped=True)
                continue
            data = self.zones.get(zone) or ZoneData(zone, dns.name.from_text(zone))
            steps: list[updates.Step] = []
            for change in zone_changes:
                problem = self._refuse(change)
                step = None
                if problem is None:
                    try:
                        step = self._steps.pop(change.id, None) or updates.make_step(change, data)
                    except updates.StepError as exc:
                        problem = str(exc)
                if step is None:
                    results[change.id] = ChangeResult(change.id, False, error=f"{where}: {problem}; not sent")
                    continue
                steps.append(step)
            fixed = self._overhead(data.origin)
            batches = updates.pack(steps, self.settings.max_message_size, fixed)
            stop_zone: str | None = None
            for index, batch in enumerate(batches, 1):
                if stop_all or stop_zone:
                    reason = f"{where}: {stop_all or stop_zone}"
                    for step in batch:
                        results[step.change.id] = ChangeResult(step.change.id, False, error=reason, skipped=True)
                    continue
                label = f"{where}: UPDATE {index}/{len(batches)}"
                outcome = self._send_batch(data, batch, label)
                results.update(outcome.results)
                if outcome.stop == "server":
                    stop_all = (f"not sent: an earlier UPDATE to {self.settings.where} (zone {zone}) failed "
                                f"({outcome.reason})")
                elif outcome.stop == "zone":
                    stop_zone = f"not sent: an earlier UPDATE in this zone failed ({outcome.reason})"
                done += len(batch)
                progress(f"{zone}: {index}/{len(batches)} messages", done, total)
        return [results.get(c.id) or ChangeResult(c.id, False, error="not attempted", skipped=True)
                for c in changes]

    def _send_batch(self, data: ZoneData, batch: list[updates.Step], label: str) -> _Outcome:
        outcome = _Outcome()
        pending = list(batch)
        for attempt in (1, 2):
            message = updates.render(data.origin, pending, secrets.randbelow(65536))
            try:
                rcode = self.client.send_update(message)
            except errors.Failure as exc:
                note = "the next run re-reads the zone and converges" if exc.unknown else "not applied"
                for step in pending:
                    outcome.results[step.change.id] = ChangeResult(
                        step.change.id, False, error=f"{label}: {exc}; {note}",
                        detail={"unknown": exc.unknown})
                outcome.stop, outcome.reason = exc.scope if exc.scope != "message" else None, str(exc)
                return outcome
            if rcode == dns.rcode.NOERROR:
                for step in pending:
                    outcome.results[step.change.id] = ChangeResult(step.change.id, True,
                                                                   detail={"message": label.rsplit(" ", 1)[-1]})
                return outcome
            failure = errors.update_rcode(rcode)
            if rcode not in errors.PREREQ_RCODES or attempt == 2:
                for step in pending:
                    outcome.results[step.change.id] = ChangeResult(
                        step.change.id, False, error=f"{label}: {failure}", detail={"rcode": dns.rcode.to_text(rcode)})
                outcome.stop = failure.scope if failure.scope != "message" else None
                outcome.reason = str(failure)
                return outcome
            # A prerequisite failed: find which record sets moved, report those, send the rest again.
            try:
                moved = self._moved(pending)
            except errors.Failure as exc:
                for step in pending:
                    outcome.results[step.change.id] = ChangeResult(step.change.id, False,
                                                                   error=f"{label}: {failure}; {exc}")
                return outcome
            for step, now in moved:
                outcome.results[step.change.id] = ChangeResult(
                    step.change.id, False,
                    error=(f"{label}: {updates.relative_key(step.change)} was changed on the server since it was "
                           f"read (expected {updates.describe_values(step.rdtype, step.present)}, now "
                           f"{updates.describe_values(step.rdtype, now)}); not overwritten, nothing in this change was "
                           "applied; the next run re-reads and plans again"),
                    detail={"rcode": dns.rcode.to_text(rcode), "conflict": True})
            moved_ids = {s.change.id for s, _ in moved}
            pending = [s for s in pending if s.change.id not in moved_ids]
            if not pending:
                return outcome
            if not moved:  # nothing visibly moved (a race): report the whole message
                for step in pending:
                    outcome.results[step.change.id] = ChangeResult(step.change.id, False, error=f"{label}: {failure}")
                return outcome
        return outcome

    def _moved(self, steps: list[updates.Step]) -> list[tuple[updates.Step, list[bytes] | None]]:
        """Steps whose prerequisite no longer holds, with what the server holds now (rdata octets)."""
        def current(step: updates.Step) -> tuple[updates.Step, list[Any] | None]:
            return step, self.client.query_rrset(step.owner, step.rdtype)

        with ThreadPoolExecutor(max_workers=8) as pool:
            states = list(pool.map(current, steps))
        moved: list[tuple[updates.Step, list[bytes] | None]] = []
        for step, now in states:
            held = None if now is None else [r.to_wire() for r in now]
            # compared as the server compares rdata (dnspython's equality: names without letter case)
            expected = {dnswire.to_rdata(step.rdtype, w) for w in step.present or []}
            if (step.absent and now) or (step.present is not None and set(now or []) != expected):
                moved.append((step, held))
        return moved

    # --------------------------------------------------------------------------------- verify
    def verify_published(self, changes: Sequence[Change]) -> list[str]:
        """Ask the server itself, over DNS, whether every applied change is what it answers now."""
        from ...verify import published

        server = published.Server(self.settings.server, self.settings.port)
        return published.verify_changes(server, changes, timeout=self.settings.timeout)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class _Outcome:
    def __init__(self) -> None:
        self.results: dict[str, ChangeResult] = {}
        self.stop: str | None = None
        self.reason = ""

