"""Where a one-time recovery link (enrollment ``recovery_link``) goes: to the operator, never to a log.

At a terminal the link is printed once on stderr, as before. Under the controller (``reconciler
serve``, the git post-receive hook, systemd timers; reconciler/triggers/) stderr ends up in
journald, podman logs or the pusher's git client, so there the link is written to a file of its own
(mode 0600, in a folder of mode 0700) and only the file's path is printed. The link never reaches a
ChangeResult, hence never the audit log.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ...text import safe

Announce = Callable[[str], None]

OPTION = "recovery_link_dir"
_UNSAFE = re.compile(r"[^\w.@+-]")  # keeps Hangul (\w is Unicode); drops "/", spaces, control characters


class HandoverError(Exception):
    """The link could not be kept; the text names the folder and the reason, never the link."""


def to_stderr(text: str) -> None:
    print(safe(text), file=sys.stderr, flush=True)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def default_dir() -> Path:
    """``$XDG_STATE_HOME/reconciler/recovery-links``, i.e. ``~/.local/state/reconciler/recovery-links``
    when XDG_STATE_HOME is unset (XDG Base Directory spec: state that should survive restarts)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "reconciler" / "recovery-links"


def directory_option(value: object) -> Path:
    """The target option ``recovery_link_dir`` (absolute, or starting with ``~``), else the default.
    A relative folder is refused: the controller's working directory is not the operator's."""
    if value is None or value == "":
        return default_dir()
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{OPTION} must be an absolute path or start with ~ (got {value!r})")
    return path


def file_name(username: str, when: datetime) -> str:
    safe = _UNSAFE.sub("_", username).lstrip(".") or "user"
    return f"{safe}-{when.strftime('%Y%m%dT%H%M%SZ')}"


@dataclass
class LinkHandover:
    directory: Path
    announce: Announce = to_stderr
    interactive: Callable[[], bool] = field(default=stderr_is_terminal)

    def prepare(self) -> None:
        """Make sure a link can be kept before Authentik is asked for one (then no link is ever lost)."""
        if not self.interactive():
            self._folder()

    def hand_over(self, target: str, username: str, link: str) -> str:
        """Deliver ``link``; returns a line for the change's detail (the path, never the link)."""
        if self.interactive():
            self.announce(f"{target}: recovery link for {username} (hand it over privately; shown once, "
                          f"not logged):\n  {link}")
            return "recovery link shown once on the console"
        path = self._write(username, link)
        self.announce(f"{target}: recovery link for {username} written to {path} (readable only by this "
                      "account; hand it over privately, then delete the file)")
        return f"recovery link written to {path}"

    def _folder(self) -> Path:
        folder = self.directory
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if folder.stat().st_mode & 0o077:  # an existing folder others can enter: tighten it
                folder.chmod(0o700)
        except OSError as exc:
            raise HandoverError(f"cannot keep recovery links in {folder}: {exc.strerror or type(exc).__name__}"
                                ) from None
        return folder

    def _write(self, username: str, link: str) -> Path:
        folder = self._folder()
        stem = file_name(username, datetime.now(UTC))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        for n in range(1, 100):
            path = folder / (f"{stem}.txt" if n == 1 else f"{stem}-{n}.txt")
            try:
                fd = os.open(path, flags, 0o600)
            except FileExistsError:
                continue  # a second link for the same person within the same second
            except OSError as exc:
                raise HandoverError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(link + "\n")
                    out.flush()
                    os.fsync(out.fileno())  # the only copy of the link: make sure it is on disk
            except OSError as exc:
                path.unlink(missing_ok=True)  # no half-written link left behind
                raise HandoverError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
            return path
        raise HandoverError(f"cannot write a recovery link file for {username} in {folder}: too many "
                            "files of the same second")
