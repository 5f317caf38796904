"""Start the lab's emulators together and write a reconciler.yaml that points at them.

The lab is an emulator, not the real systems: see README "The lab" for what each part reproduces.
Every service binds to 127.0.0.1 on a free port. Lab credentials are generated per start and written
to files (mode 0600) under the lab folder; the config refers to them with `file:`, and the values the
desired state needs (Stalwart account secrets) go to `lab.env`, never to the terminal.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..desired.writer import dump_yaml
from .service import LabService

SYSTEMS = ("windows_dns", "authentik", "stalwart")


@dataclass
class Lab:
    workdir: Path
    services: list[LabService] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for service in self.services:
            out.update(service.env)
        return out

    def config(self, desired: Path) -> dict[str, Any]:
        return {
            "desired": str(desired.resolve()),
            "state_dir": str((self.workdir / "state").resolve()),
            "targets": {service.name: service.target for service in self.services},
        }

    def write_config(self, desired: Path) -> Path:
        path = self.workdir / "reconciler.yaml"
        header = ("# Written by `reconciler lab`: targets are the lab's loopback emulators, not real systems.\n"
                  "# Credentials are lab-only and live in files under secrets/ (mode 0600).\n")
        path.write_text(header + dump_yaml(self.config(desired)), "utf-8")
        env_path = self.workdir / "lab.env"
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for key, value in sorted(self.env.items()):
                fh.write(f"{key}={value}\n")
        return path

    def stop(self) -> None:
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                service.stop()
        self.services.clear()


def start(workdir: Path, *, latency: float = 0.0, seed: bool = True, desired: Path | None = None,
          systems: tuple[str, ...] = SYSTEMS) -> Lab:
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    lab = Lab(workdir)
    try:
        for system in systems:
            module = importlib.import_module(f"reconciler.lab.{system}")
            lab.services.append(module.start_lab(workdir / system, latency=latency, seed=seed, desired=desired))
    except BaseException:
        lab.stop()
        raise
    return lab


@contextlib.contextmanager
def running(workdir: Path, **kwargs: Any) -> Iterator[Lab]:
    lab = start(workdir, **kwargs)
    try:
        yield lab
    finally:
        lab.stop()


def _claim(workdir: Path) -> int:
    """One running lab per folder: a second one would overwrite the first one's config and secrets."""
    workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir / "lab.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "another process"
        os.close(fd)
        from ..runs import UserError

        raise UserError(f"a lab is already running in {workdir} (pid {holder}); stop it or use --dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def run_lab(workdir: Path, *, latency: float, seed: bool, console: Any, desired: Path = Path("desired")) -> int:
    claim = _claim(workdir)
    try:
        return _run_lab(workdir, latency=latency, seed=seed, console=console, desired=desired)
    finally:
        os.close(claim)


def _run_lab(workdir: Path, *, latency: float, seed: bool, console: Any, desired: Path) -> int:
    with running(workdir, latency=latency, seed=seed, desired=desired) as lab:
        path = lab.write_config(desired)
        console.say("The lab is running (loopback emulators, not the real systems):")
        for service in lab.services:
            console.say(f"  {service.name:<8} {service.describe()}")
        console.say("")
        console.say(f"Config written to {path}. In another shell:")
        console.say(f"  set -a; . {workdir / 'lab.env'}; set +a")
        console.say(f"  reconciler -c {path} diff")
        console.say("")
        console.say(path.read_text("utf-8"))
        console.say("Press Ctrl-C to stop.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    console.note("lab stopped")
    return 0
