"""Secrets by reference: `env:NAME` or `file:/path`. The value never reaches output or logs.

A `Secret` prints as `Secret(env:NAME)`; only `.reveal()` hands out the value, and callers pass it
straight to the client library that needs it. Error messages name the reference, never a value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


class SecretError(Exception):
    pass


def check_reference(ref: str) -> None:
    """Raise SecretError if the reference is malformed or resolves to nothing (reads no content out)."""
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        if not name:
            raise SecretError("secret reference 'env:' names no variable")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SecretError("secret reference env:… must name an environment variable (letters, digits, _)")
        if not os.environ.get(name):
            raise SecretError(f"secret env:{name} is not set (export {name}=… or use file:PATH)")
    elif scheme == "file":
        path = Path(name).expanduser()
        if not name:
            raise SecretError("secret reference 'file:' names no file")
        if not path.exists():
            raise SecretError(f"secret file:{name} does not exist")
        if not path.is_file():
            raise SecretError(f"secret file:{name} is not a regular file")
        if path.stat().st_size == 0:
            raise SecretError(f"secret file:{name} is empty")
    else:
        raise SecretError(f"secret reference must be env:NAME or file:PATH, got a value starting with "
                          f"{scheme[:8]!r}; secrets never live in config or git")


# Which secrets desired state may name. Whoever can commit to git chooses these references, and a
# reference to a value they know (env:HOME, file:/etc/hostname) would set a password they know on an
# account. So git may name only variables that are plainly secrets, and files in a secrets folder.
DESIRED_ENV = re.compile(r"[A-Z][A-Z0-9_]*_(SECRET|PASSWORD|PASSPHRASE)")
DESIRED_DIRS_ENV = "RECONCILER_DESIRED_SECRETS_DIRS"  # extra folders, separated by ':'
DESIRED_DIRS = ("/run/secrets", "/etc/reconciler/secrets")


def desired_secret_dirs() -> list[Path]:
    extra = [d for d in os.environ.get(DESIRED_DIRS_ENV, "").split(":") if d]
    return [Path(d).expanduser().resolve() for d in (*DESIRED_DIRS, *extra)]


def check_desired_reference(ref: str) -> None:
    """Raise SecretError if desired state may not name this reference (see DESIRED_ENV/DESIRED_DIRS)."""
    scheme, _, name = ref.partition(":")
    if scheme == "env" and not DESIRED_ENV.fullmatch(name):
        raise SecretError(f"env:{name[:40]} is not a secret variable desired state may name: use a name in "
                          "capitals ending in _SECRET, _PASSWORD or _PASSPHRASE")
    if scheme == "file":
        path = Path(name).expanduser()
        dirs = desired_secret_dirs()
        resolved = path.resolve() if path.is_absolute() else None
        if resolved is None or not any(resolved.is_relative_to(d) for d in dirs):
            raise SecretError(f"file:{name[:80]} is outside the folders desired state may name secrets in "
                              f"({', '.join(map(str, dirs))}; add more with {DESIRED_DIRS_ENV})")


def normalise_reference(ref: str) -> str:
    scheme, _, name = ref.partition(":")
    if scheme == "file" and name:
        return f"file:{Path(name).expanduser().resolve()}"
    return ref


def references_in(value: object) -> set[str]:
    """Every env:/file: reference in a config value (normalised), e.g. the controller's own credentials."""
    if isinstance(value, str):
        return {normalise_reference(value)} if value.startswith(("env:", "file:")) else set()
    if isinstance(value, dict):
        return set().union(*(references_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(references_in(v) for v in value)) if value else set()
    return set()


@dataclass(frozen=True)
class Secret:
    ref: str

    def reveal(self) -> str:
        check_reference(self.ref)
        scheme, _, name = self.ref.partition(":")
        if scheme == "env":
            return os.environ[name]
        try:
            return Path(name).expanduser().read_text("utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"secret file:{name} cannot be read ({type(exc).__name__})") from None

    def __repr__(self) -> str:
        return f"Secret({self.ref})"

    __str__ = __repr__


def secret(value: object, where: str) -> Secret:
    """A Secret from a config value, refusing anything that looks like an inline secret."""
    if not isinstance(value, str) or not value.startswith(("env:", "file:")):
        raise SecretError(f"{where}: must be a secret reference env:NAME or file:PATH (inline secrets are refused)")
    return Secret(value)


def referenced_values(options: object) -> list[str]:
    """The values behind every secret reference in a target's options (unset ones are skipped).

    Only for ``scrub``: a provider's error text that quotes a secret (a library that prints a URL with
    credentials, say) is cleaned before it reaches output or the audit log. Never printed itself.
    """
    out: list[str] = []
    if isinstance(options, dict):
        for value in options.values():
            out.extend(referenced_values(value))
    elif isinstance(options, list | tuple):
        for value in options:
            out.extend(referenced_values(value))
    elif isinstance(options, str) and options.startswith(("env:", "file:")):
        try:
            out.append(Secret(options).reveal())
        except SecretError:
            pass
    return [v for v in out if v]


def scrub(text: str, values: list[str] | tuple[str, ...] | set[str]) -> str:
    """``text`` with every known secret value replaced (longest first, so no fragment survives)."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        text = text.replace(value, "[secret]")
    return text
