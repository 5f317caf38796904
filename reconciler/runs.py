"""The commands' work, apart from argument parsing: validate, diff, apply, drift, import.

Exit codes (the same for every command, documented in `reconciler --help`):
0 success / in sync · 1 error (nothing applied unless the output says which changes were) ·
2 changes pending or drift found · 3 refused by a safety policy (nothing applied).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import config as configmod
from .audit import AuditLog
from .desired import loader
from .desired.loader import DesiredState
from .engine import ApplyReport, Engine, EngineError
from .plan import Plan
from .providers.base import ProviderError, Scope
from .render import render_plan
from .secrets import references_in
from .text import safe

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED = 0, 1, 2, 3


class UserError(Exception):
    """A failure explained in the message; the CLI prints it and exits 1."""


@dataclass
class Console:
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    color: bool = False
    quiet: bool = False
    _last: float = 0.0
    _live: bool = False

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            self.clear()
            print(text, file=self.err, flush=True)

    def error(self, text: str) -> None:
        self.clear()
        prefix = "\033[31merror:\033[0m " if self.color else "error: "
        for line in text.splitlines() or [""]:
            # a diagnostic already says `file:line:col: error: …`; do not say "error:" twice
            print(line if ": error: " in line else prefix + line, file=self.err, flush=True)

    def progress(self, what: str, done: int, total: int) -> None:
        """A live status line on a terminal (throttled); silent in pipes and logs."""
        if self.quiet or not self.err.isatty():
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        bar = f" {done}/{total}" if total > 1 else ""
        self.err.write(f"\r\033[K{what}{bar}")
        self.err.flush()
        self._live = True

    def clear(self) -> None:
        if self._live:
            self.err.write("\r\033[K")
            self.err.flush()
            self._live = False


def _status(code: int) -> str:
    """The word a run ends with in the audit log, from its exit code."""
    return {EXIT_OK: "ok", EXIT_CHANGES: "declined", EXIT_REFUSED: "refused"}.get(code, "failed")


def load_config(path: Path) -> configmod.Config:
    try:
        return configmod.load(path)
    except configmod.ConfigError as exc:
        raise UserError(str(exc)) from None


def controller_refs(cfg: configmod.Config) -> frozenset[str]:
    """The secret references of reconciler.yaml itself (targets, notify, serve …)."""
    return frozenset(references_in({k: v for k, v in cfg.raw.items() if k != "targets"})
                     | references_in([t.options for t in cfg.targets.values()]))


def load_desired(cfg_desired: Path, console: Console, *, check_secrets: bool = True,
                 cfg: configmod.Config | None = None) -> DesiredState:
    state = loader.load(cfg_desired, base=Path.cwd() if _under_cwd(cfg_desired) else cfg_desired.parent,
                        check_secrets=check_secrets,
                        controller_refs=controller_refs(cfg) if cfg is not None else frozenset())
    for diag in state.diagnostics:
        console.note(str(diag))
    if not state.ok:
        raise UserError(f"desired state has {len(state.diagnostics.errors)} error(s); nothing was contacted")
    return state


def _under_cwd(path: Path) -> bool:
    try:
        path.resolve().relative_to(Path.cwd().resolve())
        return True
    except ValueError:
        return False


def validate(desired: Path, console: Console, as_json: bool, check_secrets: bool = True) -> int:
    state = loader.load(desired, base=Path.cwd() if _under_cwd(desired) else desired.parent,
                        check_secrets=check_secrets)
    if as_json:
        console.say(json.dumps({"ok": state.ok, "files": state.files,
                                "resources": len(state.resources),
                                "diagnostics": [d.to_json() for d in state.diagnostics]},
                               ensure_ascii=False, indent=2))
    else:
        for diag in state.diagnostics:
            console.say(str(diag))
        kinds: dict[str, int] = {}
        for res in state.resources:
            kinds[res.kind] = kinds.get(res.kind, 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
        verdict = "ok" if state.ok else f"{len(state.diagnostics.errors)} error(s)"
        console.note(f"validate: {len(state.files)} file(s), {counts}; {verdict}, "
                     f"{len(state.diagnostics.warnings)} warning(s)")
    return EXIT_OK if state.ok else EXIT_ERROR


def _engine(cfg: configmod.Config, desired: DesiredState, console: Console, trigger: str,
            source: dict[str, Any] | None = None) -> Engine:
    return Engine(cfg, desired, trigger=trigger, source=source, progress=console.progress,
                  audit=AuditLog(cfg.audit_log))


def make_plan(engine: Engine, console: Console, targets: list[str] | None, *, partial: bool = False) -> Plan:
    start = time.monotonic()
    try:
        plan, _ = engine.plan(targets, partial=partial)
    except (EngineError, ProviderError) as exc:
        raise UserError(str(exc)) from None
    finally:
        console.clear()
    console.note(f"read {len(plan.fingerprints)} target(s) in {time.monotonic() - start:.1f}s")
    return plan


def _check_targets(cfg: configmod.Config, targets: list[str] | None) -> None:
    for name in targets or []:
        if name not in cfg.targets:
            raise UserError(f"unknown target {name!r}; {cfg.path.name} defines: {', '.join(cfg.targets)}")


def diff(cfg: configmod.Config, console: Console, *, as_json: bool, out: Path | None,
         targets: list[str] | None, trigger: str = "cli", source: dict[str, Any] | None = None) -> int:
    _check_targets(cfg, targets)
    if out is not None and not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist (nothing was read)")
    desired = load_desired(cfg.desired, console, cfg=cfg)
    engine = _engine(cfg, desired, console, trigger, source)
    try:
        plan = make_plan(engine, console, targets, partial=True)
    finally:
        engine.close()
    if out is not None and plan.errors:
        console.error(f"plan not saved to {out}: {len(plan.errors)} target(s) could not be read")
    elif out is not None:
        try:
            out.write_text(json.dumps(plan.to_json(), ensure_ascii=False, indent=1) + "\n", "utf-8")
        except OSError as exc:
            raise UserError(f"--out {out}: cannot write the plan ({exc.strerror})") from None
        console.note(f"plan saved to {out} (apply it with: reconciler apply {out})")
    if as_json:
        console.say(json.dumps(plan.to_json(), ensure_ascii=False, indent=1))
    else:
        console.say(render_plan(plan, color=console.color))
    if plan.errors:
        for error in plan.errors.values():
            console.error(error)
        return EXIT_ERROR
    return EXIT_CHANGES if plan.changes else EXIT_OK


def report_apply(report: ApplyReport, plan: Plan, console: Console) -> int:
    by_id = {c.id: c for c in plan.changes}
    for result in report.results:
        change = by_id.get(result.change_id)
        ident = safe(f"{change.op} {change.ident}" if change else result.change_id)
        if result.ok:
            console.say(f"  applied  {ident}")
        elif result.skipped:
            console.say(f"  NOT applied {ident}: {safe(result.error or 'skipped after an earlier failure')}")
        else:
            console.say(f"  FAILED   {ident}: {safe(result.error or '')}")
    for failure in report.verify_failures:
        console.say(f"  {failure}")
    applied, failed, skipped = len(report.applied), len(report.failed), len(report.skipped)
    if report.refused:
        for refusal in report.refused:
            console.error(f"refused: {refusal.target}: {refusal.message}")
        console.note("nothing was applied")
        return EXIT_REFUSED
    if failed or skipped or report.verify_failures:
        console.error(f"apply incomplete: {applied} applied, {failed} failed, {skipped} not attempted"
                      + (f", {len(report.verify_failures)} verification failure(s)" if report.verify_failures else "")
                      + "; the audit log records each; the next run converges from the live state")
        return EXIT_ERROR
    console.note(f"apply complete: {applied} change(s) applied and verified")
    return EXIT_OK


def run_lock(cfg: configmod.Config, console: Console, command: str) -> contextlib.AbstractContextManager[Any]:
    """One apply/drift at a time (triggers/lock.py); a busy lock is a UserError naming its holder."""
    from .triggers import lock

    return lock.guard(cfg, command, console.note, UserError)


def apply(cfg: configmod.Config, console: Console, *, plan_file: Path | None, yes: bool, force: bool,
          targets: list[str] | None, confirm: Callable[[str], bool], trigger: str = "cli",
          source: dict[str, Any] | None = None) -> int:
    with run_lock(cfg, console, "apply" + (f" {plan_file}" if plan_file else "")):
        return _apply(cfg, console, plan_file=plan_file, yes=yes, force=force, targets=targets, confirm=confirm,
                      trigger=trigger, source=source)


def _apply(cfg: configmod.Config, console: Console, *, plan_file: Path | None, yes: bool, force: bool,
           targets: list[str] | None, confirm: Callable[[str], bool], trigger: str = "cli",
           source: dict[str, Any] | None = None) -> int:
    _check_targets(cfg, targets)
    desired = load_desired(cfg.desired, console, cfg=cfg)
    engine = _engine(cfg, desired, console, trigger, source)
    engine.start("apply" + (f" {plan_file}" if plan_file else ""))
    code = EXIT_ERROR
    try:
        if plan_file is not None:
            try:
                plan = Plan.from_json(json.loads(plan_file.read_text("utf-8")))
            except (OSError, ValueError, KeyError) as exc:
                raise UserError(f"{plan_file}: cannot use this plan: {exc}") from None
            errors, stale, fresh = engine.check_plan(plan)
            console.clear()
            if errors:
                raise UserError("\n".join(errors) + "\nnothing was applied")
            if stale:
                for p in stale:
                    engine.audit.append("refusal", engine.run_id, message=p, plan=str(plan_file))
                    console.error(f"refused: {p}")
                console.note("nothing was applied")
                code = EXIT_REFUSED
                return code
            assert fresh is not None
            plan = fresh  # the same changes, with this run's own safety checks and refusals
        else:
            plan = make_plan(engine, console, targets)
        engine.audit.append("plan", engine.run_id, summary=plan.summary(), fingerprints=plan.fingerprints,
                            refusals=[r.to_json() for r in plan.refusals])
        console.say(render_plan(plan, color=console.color))
        if plan.empty:
            console.note("nothing to do")
            code = EXIT_OK
            return code
        blocking = plan.blocking(force)
        if blocking:
            report = engine.apply(plan, force=force)
            code = report_apply(report, plan, console)
            return code
        if not yes and not confirm(f"Apply {len(plan.changes)} change(s)? [y/N] "):
            engine.audit.append("declined", engine.run_id, changes=len(plan.changes))
            console.note("not applied")
            code = EXIT_CHANGES
            return code
        report = engine.apply(plan, force=force)
        console.clear()
        code = report_apply(report, plan, console)
        return code
    except UserError as exc:
        engine.audit.append("error", engine.run_id, message=str(exc))
        raise
    finally:
        engine.end(_status(code), code)
        engine.close()


def drift(cfg: configmod.Config, console: Console, *, as_json: bool, targets: list[str] | None,
          trigger: str = "cli", source: dict[str, Any] | None = None) -> int:
    """Read-only: record drift in the audit log; exit 2 when live differs from git."""
    with run_lock(cfg, console, "drift"):
        return _drift(cfg, console, as_json=as_json, targets=targets, trigger=trigger, source=source)


def _drift(cfg: configmod.Config, console: Console, *, as_json: bool, targets: list[str] | None,
           trigger: str = "cli", source: dict[str, Any] | None = None) -> int:
    _check_targets(cfg, targets)
    desired = load_desired(cfg.desired, console, cfg=cfg)
    engine = _engine(cfg, desired, console, trigger, source)
    engine.start("drift")
    code = EXIT_ERROR
    try:
        try:
            plan = make_plan(engine, console, targets)
        except UserError as exc:
            engine.audit.append("error", engine.run_id, message=str(exc))
            raise
        extra = _drift_findings(engine, sorted(plan.fingerprints))
        for name in sorted(plan.fingerprints):
            items = [c.to_json() for c in plan.changes if c.target == name]
            found = extra.get(name, [])
            engine.audit.append("drift", engine.run_id, target=name, items=len(items) + len(found),
                                changes=[{"op": i["op"], "resource": f"{i['kind']} {'/'.join(i['key'])}",
                                          "fields": i["fields"]} for i in items], findings=found)
        findings = [f for v in extra.values() for f in v]
        if as_json:
            body = plan.to_json()
            body["findings"] = extra
            console.say(json.dumps(body, ensure_ascii=False, indent=1))
        else:
            console.say(render_plan(plan, color=console.color))
            for finding in findings:
                console.say(f"drift: {safe(finding)}")
        code = EXIT_CHANGES if plan.changes or findings else EXIT_OK
        return code
    finally:
        engine.end("drift" if code == EXIT_CHANGES else ("ok" if code == EXIT_OK else "failed"), code)
        engine.close()


def _drift_findings(engine: Engine, names: list[str]) -> dict[str, list[str]]:
    """Provider findings that are not changes (e.g. users who never set a password), for the targets
    this run read: the others have nothing to report from and must not be contacted."""
    out: dict[str, list[str]] = {}
    for name in names:
        provider = engine.provider(name)
        finder = getattr(provider, "drift_findings", None)
        if callable(finder):
            out[name] = list(finder())
    return out


def import_live(cfg: configmod.Config, console: Console, *, target: str, zones: list[str],
                out_dir: Path, overwrite: bool) -> int:
    from .desired import writer

    _check_targets(cfg, [target])
    served = cfg.targets[target].options.get("zones")
    if zones and isinstance(served, list):
        wanted = {z.lower().rstrip(".") for z in zones}
        unknown = sorted(wanted - {str(z).lower().rstrip(".") for z in served})
        if unknown:
            raise UserError(f"{target}: zone(s) {', '.join(unknown)} are not among this target's zones "
                            f"({', '.join(map(str, served))}) in {cfg.path.name}")
    provider = None
    try:
        from .providers import base

        provider = base.create(cfg.targets[target])
        live = provider.read(Scope(desired=[], zones=set(zones)), console.progress)
    except ProviderError as exc:
        raise UserError(str(exc)) from None
    finally:
        console.clear()
        if provider is not None:
            provider.close()
    # guarded objects stay out, unless the provider marks them importable (adoptable by declaring them)
    resources = [r for r in live.resources.values() if not r.guard or r.meta.get("importable")]
    if zones:
        resources = [r for r in resources if r.kind != "dns.rrset" or r.key[0] in zones]
    files = writer.write(resources)
    if not files:
        raise UserError(f"{target}: nothing to import")
    for rel in files:
        path = out_dir / rel
        if path.exists() and not overwrite:
            raise UserError(f"{path} exists; use --overwrite to replace it (nothing was written)")
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        console.say(f"wrote {path}")
    skipped = len(live.unmanaged) + sum(1 for r in live.resources.values() if r.guard)
    console.note(f"imported {len(resources)} object(s); {skipped} live object(s) left out because reconciler "
                 "does not manage them (see `reconciler diff` for each one and why). Once the files are under "
                 "the config's desired/ folder, `reconciler diff` should show no changes.")
    return EXIT_OK
