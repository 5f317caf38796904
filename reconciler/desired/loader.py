"""Load and validate the whole `desired/` tree: every file, every section, the cross-checks.

Layout: `desired/dns/<zone>.yaml`, `desired/authentik/*.yaml`, `desired/stalwart/*.yaml`. Each file
is read with positions, checked against its JSON Schema, turned into Resources; then checks that
span files run (duplicates, addresses in undeclared domains, an address that is both an Authentik
user and a Stalwart account, usernames that differ only by case, secret references that resolve to
nothing). Nothing here contacts a live system.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.resource import Origin, Resource
from ..secrets import SecretError, check_desired_reference, check_reference, normalise_reference
from . import schema
from .authentik import check_authentik, load_authentik
from .diagnostics import Diagnostics
from .dns import load_zone
from .stalwart import load_stalwart
from .yamlsource import YamlError, YMap, load_file

SectionLoader = Callable[[YMap, Path, str, Diagnostics], list[Resource]]
SECTIONS: dict[str, SectionLoader] = {"dns": load_zone, "authentik": load_authentik, "stalwart": load_stalwart}


# Like the controller's git export (triggers/gitsource.py): a link could point anywhere on the host,
# and reading it would print that file's contents in error messages.
_SYMLINK = "is a symbolic link; desired-state files and folders must be regular files in the repository"


@dataclass
class DesiredState:
    root: Path
    resources: list[Resource] = field(default_factory=list)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diagnostics.errors

    def of_kind(self, prefix: str) -> list[Resource]:
        return [r for r in self.resources if r.kind == prefix or r.kind.startswith(prefix + ".")]

    def zones(self) -> set[str]:
        return {r.key[0] for r in self.of_kind("dns.rrset")}


def load(root: Path, *, base: Path | None = None, check_secrets: bool = True,
         controller_refs: frozenset[str] = frozenset()) -> DesiredState:
    """Load every desired-state file below ``root``; ``base`` makes file names in messages relative.
    ``controller_refs``: the secret references reconciler.yaml uses for its own credentials, which
    desired state must never copy into an account (a committer could otherwise set a mailbox password
    to the domain service account's password)."""
    state = DesiredState(root=root)
    base = base or root.parent
    if not root.is_dir():
        state.diagnostics.error(str(root), 1, 1, "desired-state folder does not exist")
        return state
    broken: list[str] = []
    for section, loader in SECTIONS.items():
        folder = root / section
        if folder.is_symlink():
            state.diagnostics.error(_display(folder, base), 1, 1, _SYMLINK)
            continue
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_dir() and not path.name.startswith("."):
                state.diagnostics.warning(_display(path, base), 1, 1,
                                          f"folder is not read: files go directly in {section}/")
                continue
            if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
                continue
            display = _display(path, base)
            if path.is_symlink() or not path.is_file():
                state.diagnostics.error(display, 1, 1, _SYMLINK if path.is_symlink() else "not a regular file")
                broken.append(display)
                continue
            state.files.append(display)
            if not _load_one(state, section, loader, path, display):
                broken.append(display)
    for path in sorted(root.iterdir()):
        if path.is_dir() and path.name not in SECTIONS and not path.name.startswith("."):
            state.diagnostics.warning(_display(path, base), 1, 1,
                                      f"folder {path.name}/ is not read (known: {', '.join(SECTIONS)})")
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            state.diagnostics.warning(_display(path, base), 1, 1,
                                      "file is outside dns/, authentik/ or stalwart/ and is ignored")
    _check_duplicates(state)
    if broken:
        # Checks across files would only add noise about what the broken file failed to declare
        # (e.g. "domain not declared" because the zone file did not parse).
        state.diagnostics.warning(broken[0], 1, 1, "checks across files skipped until this file loads")
    else:
        _cross_checks(state, check_secrets, controller_refs)
        _mail_health(state)
    state.diagnostics.sort(key=lambda d: (d.file, d.line, d.col))
    return state


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _load_one(state: DesiredState, section: str, loader: SectionLoader, path: Path, display: str) -> bool:
    """Load one file into ``state``; False when it could not be read as a whole (syntax or schema)."""
    try:
        doc: Any = load_file(path, display)
    except YamlError as exc:
        state.diagnostics.error(exc.file, exc.line, exc.col, exc.message)
        return False
    if doc is None:
        state.diagnostics.warning(display, 1, 1, "file is empty")
        return True
    if not isinstance(doc, YMap):
        state.diagnostics.error(display, 1, 1, "top level must be a mapping")
        return False
    if not schema.validate(doc, section, display, state.diagnostics):
        return False
    state.resources.extend(loader(doc, path, display, state.diagnostics))
    return True


def _check_duplicates(state: DesiredState) -> None:
    seen: dict[tuple[str, tuple[str, ...]], Resource] = {}
    keep: list[Resource] = []
    for res in state.resources:
        key = (res.kind, res.key)
        if key in seen:
            first = seen[key].origin
            o = res.origin or Origin("?", 1)
            state.diagnostics.error(o.file, o.line, o.col, f"{res.ident} is declared twice (first at {first})")
            continue
        seen[key] = res
        keep.append(res)
    state.resources = keep


def _err(state: DesiredState, res: Resource, message: str, warning: bool = False) -> None:
    o = res.origin or Origin("?", 1)
    (state.diagnostics.warning if warning else state.diagnostics.error)(o.file, o.line, o.col, message)


def _cross_checks(state: DesiredState, check_secrets: bool, controller_refs: frozenset[str] = frozenset()) -> None:
    zones = state.zones()
    mail_domains = zones | {r.key[0] for r in state.of_kind("stalwart.domain")}

    def in_declared(address: str, domains: set[str]) -> bool:
        domain = address.rsplit("@", 1)[-1]
        return any(domain == z or domain.endswith("." + z) for z in domains)

    check_authentik(state.resources, state.diagnostics)
    groups = {r.key[0] for r in state.of_kind("authentik.group")}
    users = state.of_kind("authentik.user")
    by_folded: dict[str, Resource] = {}
    for user in users:
        name = user.key[0]
        if not in_declared(user.data["email"], zones):
            _err(state, user, f"user {name}: email {user.data['email']} is not in a domain declared under "
                              f"desired/dns/ ({', '.join(sorted(zones)) or 'none declared'})")
        for group in user.data["groups"]:
            if group not in groups:
                _err(state, user, f"user {name}: unknown group {group!r} (declare it under groups:)")
        other = by_folded.get(name.casefold())
        if other is not None and other.key[0] != name:
            _err(state, user, f"usernames {other.key[0]!r} and {name!r} differ only by case; Authentik would "
                              "keep both (it compares case-sensitively), which is almost always a mistake")
        by_folded.setdefault(name.casefold(), user)
        method = user.meta.get("enrollment", {})
        if method.get("method") == "initial_password" and not method.get("password"):
            _err(state, user, f"user {name}: enrollment initial_password needs password: env:NAME or file:PATH")
        if method.get("password"):
            _check_secret(state, user, method["password"], f"user {name} initial password", check_secrets,
                          controller_refs)

    authentik_emails = {u.data["email"]: u for u in users}
    seen_addresses: dict[str, Resource] = {}
    for account in state.of_kind("stalwart.account"):
        for address in account.data["emails"]:
            if "@" not in address:
                _err(state, account, f"account {account.key[0]}: {address!r} is not an email address")
                continue
            if not in_declared(address, mail_domains):
                _err(state, account, f"account {account.key[0]}: the domain of {address} is not declared "
                                     "(add it under stalwart domains: or desired/dns/)")
            if address in authentik_emails:
                _err(state, account, f"{address} is both a Stalwart internal account and the Authentik user "
                                     f"{authentik_emails[address].key[0]}; an address has one owner")
            if address in seen_addresses and seen_addresses[address] is not account:
                _err(state, account, f"{address} is also an address of account {seen_addresses[address].key[0]}")
            seen_addresses[address] = account
        if account.meta.get("secret"):
            _check_secret(state, account, account.meta["secret"], f"account {account.key[0]} secret", check_secrets,
                          controller_refs)
    for dkim in state.of_kind("stalwart.dkim"):
        expected = f"{dkim.data['algorithm']}-{dkim.data['domain']}"
        if dkim.key[0] != expected:
            _err(state, dkim, f"DKIM signature id {dkim.key[0]!r} does not follow Stalwart's default signing "
                              f"rule naming {{algorithm}}-{{domain}} (expected {expected!r}); mail would go "
                              "unsigned", warning=True)


def _mail_health(state: DesiredState) -> None:
    """Offline mail DNS health of every declared mail domain (mailhealth.py), as warnings: git may not
    declare everything the server holds, so what cannot be known offline is skipped, not failed."""
    from .mailhealth import check_desired

    for res, message in check_desired(state.resources):
        _err(state, res, message, warning=True)


def _check_secret(state: DesiredState, res: Resource, ref: str, what: str, resolve: bool,
                  controller_refs: frozenset[str] = frozenset()) -> None:
    try:
        check_desired_reference(ref)  # always: which secrets git may point at is a policy, not a lookup
        if normalise_reference(ref) in controller_refs:
            raise SecretError(f"{ref} is a credential reconciler itself uses (reconciler.yaml); desired state "
                              "may not give it to an account")
        if resolve:
            check_reference(ref)
    except SecretError as exc:
        _err(state, res, f"{what}: {exc}")
