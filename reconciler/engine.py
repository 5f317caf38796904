"""read → plan → apply → verify → audit, the same for every provider.

The engine owns the order of work and the audit trail; providers own their systems; the plan owns
the comparison. Nothing is applied unless every target was read and the plan passed its checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import plan as planmod
from .audit import AuditLog, actor, new_run_id
from .config import Config, Target
from .desired.loader import DesiredState
from .model.resource import Ref, Resource, fingerprint
from .plan import Change, Plan, Refusal
from .providers import base
from .providers.base import ChangeResult, LiveState, Provider, ProviderError, Scope
from .secrets import referenced_values, scrub


class EngineError(Exception):
    """A run-level failure whose message is safe to print (names the target, never a secret)."""


Reporter = Callable[[str, int, int], None]


@dataclass
class ApplyReport:
    results: list[ChangeResult] = field(default_factory=list)
    verify_failures: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def applied(self) -> list[ChangeResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[ChangeResult]:
        return [r for r in self.results if not r.ok and not r.skipped]

    @property
    def skipped(self) -> list[ChangeResult]:
        return [r for r in self.results if r.skipped]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.verify_failures and not self.refused


def desired_digest(resources: Sequence[Resource]) -> str:
    return fingerprint(list(resources))


class Engine:
    def __init__(self, config: Config, desired: DesiredState, *, audit: AuditLog | None = None,
                 trigger: str = "cli", source: dict[str, Any] | None = None,
                 progress: Reporter | None = None,
                 provider_factory: Callable[[Target], Provider] = base.create) -> None:
        self.config = config
        self.desired = desired
        self.audit = audit or AuditLog(config.audit_log)
        self.trigger = trigger
        self.source = dict(source or {})
        self.progress: Reporter = progress or (lambda what, done, total: None)
        self.run_id = new_run_id()
        self._factory = provider_factory
        self._providers: dict[str, Provider] = {}
        self._started = False
        self._secrets: list[str] | None = None

    def scrub(self, text: str) -> str:
        """Error text with the value of every configured secret removed (a second line of defence)."""
        if self._secrets is None:
            self._secrets = [v for t in self.config.targets.values() for v in referenced_values(t.options)]
        return scrub(text, self._secrets)

    # ------------------------------------------------------------------------------------ providers
    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            target = self.config.targets[name]
            try:
                self._providers[name] = self._factory(target)
            except ProviderError as exc:
                raise ProviderError(name, self.scrub(str(exc)).removeprefix(f"{name}: ")) from None
            except Exception as exc:  # config errors inside a provider constructor
                raise ProviderError(name, self.scrub(f"{type(exc).__name__}: {exc}")) from None
        return self._providers[name]

    def close(self) -> None:
        for provider in self._providers.values():
            try:
                provider.close()
            except Exception:  # noqa: S110 - closing must not hide the run's real outcome
                pass
        self._providers.clear()

    def assign(self) -> dict[str, list[Resource]]:
        """Which target serves each desired resource; exactly one, or it is a configuration error."""
        out: dict[str, list[Resource]] = {name: [] for name in self.config.targets}
        problems: list[str] = []
        for res in self.desired.resources:
            owners = [name for name in self.config.targets if self.provider(name).serves(res)]
            if not owners and res.meta.get("verify_only"):
                continue  # e.g. the ISP's PTR: checked by `reconciler verify`, never written by anyone
            if not owners:
                where = f" ({res.origin})" if res.origin else ""
                problems.append(f"no target in {self.config.path.name} serves {res.ident}{where}")
            elif len(owners) > 1:
                problems.append(f"{res.ident} is served by several targets: {', '.join(owners)}")
            else:
                out[owners[0]].append(res)
        if problems:
            raise EngineError("\n".join(sorted(set(problems))))
        return out

    # ------------------------------------------------------------------------------------- audit
    def start(self, command: str) -> None:
        if self._started:
            return
        self._started = True
        self.audit.append("run_start", self.run_id, trigger=self.trigger, command=command, user=actor(),
                          source=self.source, targets=sorted(self.config.targets))

    def end(self, status: str, exit_code: int, **fields: Any) -> None:
        if self._started:
            self.audit.append("run_end", self.run_id, status=status, exit_code=exit_code, **fields)

    # -------------------------------------------------------------------------------------- read
    def read(self, assignment: dict[str, list[Resource]], names: Sequence[str] | None = None
             ) -> tuple[dict[str, LiveState], dict[str, str]]:
        """Read targets in parallel. Returns live states and per-target errors (never raises for one)."""
        names = list(names if names is not None else assignment)
        lives: dict[str, LiveState] = {}
        errors: dict[str, str] = {}

        def read_one(name: str) -> tuple[str, LiveState | None, str | None]:
            res = assignment.get(name, [])
            scope = Scope(desired=res, zones={r.key[0] for r in res if r.kind == "dns.rrset"})
            try:
                provider = self.provider(name)
                self.progress(f"reading {name}", 0, 1)
                live = provider.read(scope, lambda what, d, t, n=name: self.progress(f"{n}: {what}", d, t))
                self.progress(f"reading {name}", 1, 1)
                return name, live, None
            except ProviderError as exc:
                return name, None, self.scrub(str(exc))
            except Exception as exc:
                return name, None, self.scrub(f"{name}: unexpected {type(exc).__name__}: {exc}")

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            for name, live, error in pool.map(read_one, names):
                if live is not None:
                    lives[name] = live
                if error is not None:
                    errors[name] = error
        return lives, errors

    def _with_ref_sources(self, assignment: dict[str, list[Resource]], names: Sequence[str]) -> list[str]:
        """``names`` plus the targets their Refs point at: a DKIM value is needed even when only the
        DNS target is diffed or verified (``--target dc1``)."""
        kinds = {v.source for n in names for r in assignment.get(n, [])
                 for v in (r.data.get("values") or []) if isinstance(v, Ref)}
        extra = [n for n, t in self.config.targets.items() if t.kind in kinds and n not in names]
        return [*names, *sorted(extra)]

    def resolve(self, assignment: dict[str, list[Resource]], lives: dict[str, LiveState]) -> list[str]:
        """Replace Ref values (e.g. a DKIM key held by Stalwart) with what their provider reports."""
        problems: list[str] = []
        by_kind = {self.config.targets[n].kind: n for n in lives}
        for resources in assignment.values():
            for i, res in enumerate(resources):
                values = res.data.get("values")
                if not isinstance(values, list) or not any(isinstance(v, Ref) for v in values):
                    continue
                new_values: list[Any] = []
                for value in values:
                    if not isinstance(value, Ref):
                        new_values.append(value)
                        continue
                    source = by_kind.get(value.source)
                    if source is None:
                        problems.append(f"{res.ident} ({res.origin}): refers to {value} but no {value.source} "
                                        "target was read")
                        continue
                    try:
                        new_values.append(self.provider(source).resolve(value))  # type: ignore[attr-defined]
                    except ProviderError as exc:
                        problems.append(self.scrub(f"{res.ident} ({res.origin}): {exc}"))
                data = {**res.data, "values": sorted(set(new_values))}
                resources[i] = Resource(res.kind, res.key, data, {**res.meta, "resolved_from": [
                    str(v) for v in values if isinstance(v, Ref)]}, res.origin)
        return problems

    # -------------------------------------------------------------------------------------- plan
    def plan(self, names: Sequence[str] | None = None, *, partial: bool = False
             ) -> tuple[Plan, dict[str, LiveState]]:
        """Read and diff. With ``partial`` (diff/drift: show what can be shown), a target that cannot
        be read is reported in ``plan.errors`` and the others are still planned; without it (apply)
        any read error stops the run before anything is planned."""
        assignment = self.assign()
        names = [n for n in (names or assignment) if n in assignment]
        lives, errors = self.read(assignment, self._with_ref_sources(assignment, names))
        if errors and not partial:
            raise EngineError("\n".join(errors[n] for n in sorted(errors)))
        names = [n for n in names if n not in errors]
        problems = self.resolve(assignment, lives)
        if problems:
            raise EngineError("\n".join(problems))
        result = Plan(source={**self.source, "desired_digest": desired_digest(self.desired.resources)},
                      errors=dict(errors))
        for name in names:
            provider = self.provider(name)
            target = self.config.targets[name]
            live = lives[name]
            changes, unmanaged = planmod.diff_target(provider, assignment[name], live, target.policies)
            result.changes.extend(changes)
            result.unmanaged.extend((name, u) for u in unmanaged)
            result.refusals.extend(planmod.check_safety(name, changes, live, target.policies))
            for change_id, message in provider.check(changes).items():
                result.refusals.append(Refusal(name, message, [change_id], forceable=False))
            result.fingerprints[name] = fingerprint(list(live.resources.values()))
            result.facts[name] = {"kind": target.kind, **live.facts}
            result.notes.extend(f"{name}: {note}" for note in live.notes)
        return result, lives

    # ------------------------------------------------------------------------------------- apply
    def apply(self, plan: Plan, *, force: bool = False, verify: bool = True) -> ApplyReport:
        """Apply a plan whose refusals were already shown. Audits every intent and every result."""
        report = ApplyReport()
        blocking = plan.blocking(force)
        if blocking:
            report.refused = blocking
            for refusal in blocking:
                self.audit.append("refusal", self.run_id, **refusal.to_json())
            return report
        for refusal in plan.refusals:  # forced through: still on the record
            self.audit.append("forced", self.run_id, **refusal.to_json())
        by_target: dict[str, list[Change]] = {}
        for change in plan.changes:
            by_target.setdefault(change.target, []).append(change)
        total = len(plan.changes)
        done = 0
        for name, changes in by_target.items():
            self.audit.append_many(self.run_id, [
                ("change_intended", {"target": name, "change": change.id, "op": change.op,
                                     "resource": change.ident,
                                     "before": change.before.data if change.before else None,
                                     "after": change.after.data if change.after else None,
                                     "fields": change.fields})
                for change in changes])

            def step(what: str, d: int, t: int, offset: int = done) -> None:
                self.progress(f"applying: {what}", offset + d, total)

            try:
                results = self.provider(name).apply(changes, step)
            except ProviderError as exc:
                results = [ChangeResult(c.id, False, error=str(exc), skipped=True) for c in changes]
            except Exception as exc:  # raised mid-batch: what went in is unknown until the next read
                results = [ChangeResult(c.id, False, error=f"{name}: outcome unknown, the provider failed with "
                                        f"{type(exc).__name__}: {exc}; the next diff shows what is live")
                           for c in changes]
            for result in results:
                if result.error:
                    result.error = self.scrub(result.error)
            known = {r.change_id for r in results}
            results += [ChangeResult(c.id, False, error="provider returned no result", skipped=True)
                        for c in changes if c.id not in known]
            self.audit.append_many(self.run_id, [
                ("change_result", {"target": name, "change": r.change_id, "ok": r.ok, "skipped": r.skipped,
                                   "error": r.error, "detail": r.detail})
                for r in results])
            report.results.extend(results)
            done += len(changes)
            self.progress("applying", done, total)
        if verify and report.applied:
            report.verify_failures = self.verify_applied(plan, report)
        return report

    def verify_applied(self, plan: Plan, report: ApplyReport) -> list[str]:
        """Read back every target that changed; anything still differing on an applied key failed."""
        ok_ids = {r.change_id for r in report.applied}
        applied = [c for c in plan.changes if c.id in ok_ids]
        names = sorted({c.target for c in applied})
        assignment = self.assign()
        readers = self._with_ref_sources(assignment, names)
        fresh = {n: list(assignment[n]) for n in readers}
        lives, errors = self.read(fresh, readers)
        failures = [f"verify: {errors[n]}" for n in sorted(errors)]
        failures += [f"verify: {p}" for p in self.resolve(fresh, lives)]
        for name in [n for n in names if n in lives]:
            provider = self.provider(name)
            target = self.config.targets[name]
            remaining, _ = planmod.diff_target(provider, fresh[name], lives[name], target.policies)
            keys = {(c.kind, c.key) for c in applied if c.target == name}
            for change in remaining:
                if (change.kind, change.key) in keys:
                    what = " ".join([change.op, *change.fields])  # e.g. "update values", or just "create"
                    failures.append(f"verify: {name}: {change.ident} still differs after apply ({what})")
            extra = getattr(provider, "verify_published", None)
            if callable(extra):
                failures.extend(f"verify: {name}: {m}" for m in extra([c for c in applied if c.target == name]))
        self.audit.append("verify", self.run_id, ok=not failures, failures=failures, targets=names)
        return failures

    def check_plan(self, plan: Plan) -> tuple[list[str], list[str], Plan | None]:
        """For `apply plan.json`: (errors, reasons the saved plan is stale, the plan made afresh).

        The saved plan is only a promise of what will be applied: it is planned again from git and
        the live state, and used only if that yields exactly the same changes. A hand-edited plan
        (even one whose checksum was recomputed), a plan made under other policies or another
        config, or one whose live or desired state moved, is refused instead of applied.
        """
        unknown = sorted(set(plan.fingerprints) - set(self.config.targets))
        unknown += sorted({c.target for c in plan.changes} - set(plan.fingerprints) - set(unknown))
        if unknown:
            return [f"{n}: the plan names a target that this config does not define" for n in unknown], [], None
        names = sorted(plan.fingerprints)
        try:
            fresh, _ = self.plan(names, partial=True)
        except EngineError as exc:
            return [str(exc)], [], None
        if fresh.errors:
            return [fresh.errors[n] for n in sorted(fresh.errors)], [], None
        stale = [f"{name}: the live state changed since the plan was made; make a new plan" for name in names
                 if fresh.fingerprints.get(name) != plan.fingerprints[name]]
        if plan.source.get("desired_digest") != fresh.source.get("desired_digest"):
            stale.append("the desired state changed since the plan was made; make a new plan")
        if not stale and sorted(c.id for c in plan.changes) != sorted(c.id for c in fresh.changes):
            stale.append("the plan file's changes are not what git and the live state give under this config "
                         "(edited by hand, or made with other policies or another config); make a new plan")
        return [], stale, fresh
