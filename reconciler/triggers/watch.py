"""`reconciler watch`: while someone edits desired/, every save re-validates and re-diffs.

watchfiles reports a batch of changes once the folder has been quiet for ``debounce`` milliseconds
(an editor's save is often several events: temp file, rename, chmod), so one save gives one check.
Each check validates the whole tree (file:line:col messages) and, when it is valid and ``offline``
is off, reads the configured targets and prints the plan — read-only, no lock, no audit entries.
Point the config at the lab (`reconciler lab` prints one) to try edits without touching anything real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from .. import runs
from ..audit import AuditLog
from ..config import Config
from ..desired import loader
from ..engine import Engine, EngineError
from ..providers.base import ProviderError
from ..render import render_plan
from ..runs import Console

# Editors' scratch files that even end in .yaml: emacs locks (.#x.yaml) and autosaves (#x.yaml#).
# Everything else that is not *.yaml / *.yml — vim's .swp and 4913 probe, `sed -i`'s sedXXXXXX,
# backups ending in ~ — is ignored by its name alone, whether added, modified or deleted.
YAML_SUFFIXES = (".yaml", ".yml")


def is_yaml(path: str) -> bool:
    name = Path(path).name
    return name.endswith(YAML_SUFFIXES) and not name.startswith((".#", "#"))


class TreeFilter:
    """What counts as a change of desired/: a YAML file, or a folder (a folder moved in or out
    carries its YAML files without an event for each). Folders are recognised while they exist,
    and by the list of known folders once they are gone."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dirs: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        try:
            self.dirs = {str(p) for p in self.folder.rglob("*") if p.is_dir()}
        except OSError:
            self.dirs = set()

    def is_dir(self, path: str) -> bool:
        return path in self.dirs or Path(path).is_dir()

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        return is_yaml(path) or self.is_dir(path)


@dataclass
class WatchResult:
    valid: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changes: int | None = None  # None when not diffed (invalid, offline, or a target failed)
    problem: str | None = None
    elapsed: float = 0.0
    changed_files: list[str] = field(default_factory=list)


def yaml_filter(change: watchfiles.Change, path: str) -> bool:
    """YAML files only (kept for callers that need no folder tracking)."""
    return is_yaml(path)


def check(cfg: Config, console: Console, *, offline: bool, changed: list[str] | None = None) -> WatchResult:
    start = time.monotonic()
    result = WatchResult(valid=False, changed_files=list(changed or []))
    state = loader.load(cfg.desired, base=cfg.desired.parent, check_secrets=not offline,
                        controller_refs=runs.controller_refs(cfg))
    result.valid = state.ok
    result.errors = [str(d) for d in state.diagnostics.errors]
    result.warnings = [str(d) for d in state.diagnostics.warnings]
    stamp = time.strftime("%H:%M:%S")
    if changed:
        console.say(f"── {stamp} {', '.join(changed)}")
    else:
        console.say(f"── {stamp} watching {cfg.desired}")
    for line in result.errors + result.warnings:
        console.say(line)
    if not state.ok:
        console.say(f"invalid: {len(result.errors)} error(s); not diffed")
    elif offline:
        console.say(f"valid: {len(state.files)} file(s), {len(state.resources)} object(s)")
    else:
        engine = Engine(cfg, state, trigger="watch", audit=AuditLog(cfg.audit_log))
        try:
            plan, _ = engine.plan()
            result.changes = len(plan.changes)
            console.say(render_plan(plan, color=console.color))
        except (EngineError, ProviderError) as exc:
            result.problem = str(exc)
            console.say(f"cannot diff: {exc}")
        finally:
            engine.close()
    result.elapsed = time.monotonic() - start
    return result


def run_watch(cfg: Config, console: Console, *, offline: bool = False, debounce_ms: int = 150,
              stop: threading.Event | None = None, on_result: Callable[[WatchResult], None] | None = None) -> int:
    folder = cfg.desired
    if not folder.is_dir():
        console.error(f"{folder}: desired-state folder does not exist")
        return 1
    first = check(cfg, console, offline=offline)
    if on_result:
        on_result(first)
    console.note(f"watch: re-checking on every save under {folder} (Ctrl-C to stop)")
    tree = TreeFilter(folder)
    try:
        for changes in watchfiles.watch(folder, watch_filter=tree, debounce=debounce_ms, step=30,
                                        stop_event=stop, rust_timeout=500, yield_on_timeout=False,
                                        raise_interrupt=False):
            names = sorted({_rel(Path(p), folder) + ("/" if tree.is_dir(p) else "") for _, p in changes})
            tree.refresh()
            result = check(cfg, console, offline=offline, changed=names)
            if on_result:
                on_result(result)
    except KeyboardInterrupt:
        pass
    return 0


def _rel(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path)
