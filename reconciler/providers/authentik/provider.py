"""The Authentik provider: users and groups of one Authentik, through ``authentik-client``.

Rules it keeps (issue 3; authentik-api.md §6):
- reads follow ``pagination`` whatever page size the server serves; one odd object is read from raw
  JSON with a note instead of failing the read;
- updates are PATCH only (PUT empties groups/roles left out); ``attributes`` are merged with the
  live dict before the PATCH (Authentik replaces the whole dict);
- only memberships of groups declared in git are compared and changed; other memberships (the
  admins group) are carried over untouched in every PATCH of ``groups``;
- objects reconciler creates carry the ``reconciler/managed`` attribute; nothing without it is ever
  deactivated or deleted; a user removed from git is deactivated by default, deleted only with
  ``removal: delete`` (the plan warns: pk and LDAP uidNumber are never reused);
- some objects are never changed even when git declares them (guards.py): Authentik's service and
  outpost accounts, the API token's owner, superuser groups (also through a parent) and superusers;
  ``check()`` refuses such a change and a recovery email to an address nobody has verified.

Target options besides address/token/tls: page_size, concurrency, timeout, retries, email_stage,
token_duration, and ``recovery_link_dir`` (where recovery links go when stderr is not a terminal;
default ``$XDG_STATE_HOME/reconciler/recovery-links`` = ``~/.local/state/reconciler/recovery-links``).
Building the provider contacts nothing and does not import authentik-client (_sdk.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ... import plan as planmod
from ...config import Target
from ...model.resource import Resource
from ...plan import Change
from ...secrets import SecretError, secret
from ..base import BaseProvider, ChangeResult, LiveState, Progress, ProviderError, Scope, Unmanaged, no_progress
from . import guards as G
from . import live as L
from .apply import Applier
from .client import AuthentikError, Connection
from .handover import OPTION as LINK_DIR_OPTION
from .handover import Announce, LinkHandover, directory_option, stderr_is_terminal, to_stderr

DEFAULT_PAGE_SIZE = 500  # 2025.10 serves it; 2025.12+ silently caps at 100 (authentik-api.md §2.3)
DEFAULT_CONCURRENCY = 8

IRREVERSIBLE = ("deletion is irreversible: Authentik never reuses the pk, so the LDAP uidNumber and uid "
                "derived from it change if the person is created again (mail storage ownership)")


class AuthentikProvider(BaseProvider):
    kinds = ("authentik.user", "authentik.group")

    def __init__(self, target: Target, *, announce: Announce = to_stderr,
                 interactive: Callable[[], bool] = stderr_is_terminal) -> None:
        """``announce`` prints a line for the operator; ``interactive`` says whether that line reaches a
        person at a terminal (then a recovery link is printed) or a log (then it goes to a file)."""
        super().__init__(target)
        opts = target.options
        address = str(opts.get("address") or "")
        if not address.startswith(("http://", "https://")):
            raise ProviderError(self.name, "address must be the Authentik base URL (https://…)")
        try:
            token = secret(opts.get("token"), f"{self.name}: token").reveal()
        except SecretError as exc:
            raise ProviderError(self.name, str(exc)) from None
        tls = opts.get("tls") or {}
        self.page_size = int(opts.get("page_size", DEFAULT_PAGE_SIZE))
        self.concurrency = max(1, int(opts.get("concurrency", DEFAULT_CONCURRENCY)))
        self.email_stage = str(opts["email_stage"]) if opts.get("email_stage") else None
        self.token_duration = str(opts["token_duration"]) if opts.get("token_duration") else None
        try:
            link_dir = directory_option(opts.get(LINK_DIR_OPTION))
        except ValueError as exc:
            raise ProviderError(self.name, str(exc)) from None
        self.links = LinkHandover(link_dir, announce, interactive)
        self.conn = Connection(self.name, address, token, timeout=float(opts.get("timeout", 30)),
                               verify_tls=bool(tls.get("verify", True)), ca_file=tls.get("ca_file"),
                               retries=int(opts.get("retries", 2)), pool_size=self.concurrency + 2)
        self.snapshot: L.Snapshot | None = None
        self._lock = threading.Lock()

    # ---- read ----------------------------------------------------------------------------------

    def _fail(self, exc: AuthentikError) -> ProviderError:
        return ProviderError(self.name, str(exc), retryable=exc.retryable)

    def fetch(self) -> L.Snapshot:
        """Users, groups and the token's owner, all at once (none depends on another)."""
        try:
            with ThreadPoolExecutor(max_workers=3) as pool:
                users_f = pool.submit(self.conn.list_all, "users", self.page_size, self.concurrency)
                groups_f = pool.submit(self.conn.list_all, "groups", self.page_size, self.concurrency)
                owner_f = pool.submit(self.conn.token_owner)
                raw_users, raw_groups, owner = users_f.result(), groups_f.result(), owner_f.result()
        except AuthentikError as exc:
            raise self._fail(exc) from None
        return L.build_snapshot(raw_users, raw_groups, owner)

    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState:
        progress("users and groups", 0, 1)
        snap = self.fetch()
        with self._lock:
            self.snapshot = snap
        state = LiveState(target=self.name, notes=list(snap.notes))
        desired_users = {r.key[0]: r for r in scope.desired if r.kind == "authentik.user"}
        desired_groups = {r.key[0]: r for r in scope.desired if r.kind == "authentik.group"}
        groups_filter = set(desired_groups) if scope.desired else None  # import: every group
        for group in snap.groups.values():
            never = G.group_reason(snap, group)
            resource = L.group_resource(snap, group, never)
            state.add(resource)
            self._note_declared(state, desired_groups.get(group.name), resource, never)
        for user in snap.users.values():
            desired = desired_users.get(user.username)
            enrollment = desired.data.get("enrollment") if desired else None
            never = G.user_reason(snap, user)
            resource = L.user_resource(snap, user, groups_filter, enrollment, never)
            if never and desired is None and G.hidden(snap, user):
                state.unmanaged.append(Unmanaged(resource, f"{never}: never managed by reconciler"))
                continue
            state.add(resource)
            self._note_declared(state, desired, resource, never)
        state.facts = {"api": "2025.12+" if snap.parents_many else "2025.10", "users": len(snap.users),
                       "groups": len(snap.groups)}
        progress("users and groups", 1, 1)
        return state

    @staticmethod
    def _note_declared(state: LiveState, desired: Resource | None, live: Resource, never: str | None) -> None:
        """A never-managed object that git declares exactly as it is (e.g. the organisation's
        administrator, a superuser): nothing to refuse, but say that git only checks it here."""
        if desired is None or not never:
            return
        if any(planmod.differs(v, live.data.get(f)) for f, v in desired.data.items()):
            return  # a change: check() refuses it
        where = f" ({desired.origin.file})" if desired.origin else ""
        state.notes.append(f"{desired.ident} is declared in git{where} and matches; reconciler only checks it "
                           f"and would refuse to change it ({never})")

    # ---- plan ----------------------------------------------------------------------------------

    def absent(self, live: Resource, policies: dict[str, Any]) -> Change | None:
        removal = str(policies.get("removal", "deactivate"))
        if live.kind == "authentik.group":
            if removal == "delete":
                return Change.delete(self.name, live, ["deletes the group; its members lose the membership"])
            return None
        if removal == "delete":
            return Change.delete(self.name, live, [IRREVERSIBLE])
        if removal == "deactivate" and live.data.get("is_active"):
            after = Resource(live.kind, live.key, {**live.data, "is_active": False}, live.meta, live.origin)
            change = Change.update(self.name, live, after, ["is_active"])
            change.warnings.append("removed from git: deactivated (is_active: false), not deleted; "
                                   "set removal: delete to delete")
            return change
        return None

    def check(self, changes: Sequence[Change]) -> dict[str, str]:
        """Refusals no --force overrides (the engine makes them non-forceable): what reconciler never
        manages and the recovery-email rule (guards.py), and a recovery_email without an email stage."""
        # The engine always reads first; without a read only the resources' own meta can say what is
        # never managed (an empty snapshot): the Applier asks again with a fresh read anyway.
        refusals = G.refusals(self.snapshot or L.Snapshot(), changes)
        for change in changes:
            if (change.kind == "authentik.user" and change.op == "update" and "email" in change.fields
                    and change.before is not None and change.before.guard):
                # Not refusable (moving a person's address is ordinary), but a reviewer must see it:
                # Authentik's own "forgot password" flow mails the reset link to the new address.
                change.warnings.append(
                    "moves the address of an account reconciler did not create: Authentik's own password reset "
                    "will mail the new address; make sure it belongs to this person")
            if change.kind != "authentik.user" or change.id in refusals:
                continue
            after = change.after
            if after is None:
                continue
            method = after.data.get("enrollment")
            if method == "recovery_email" and not self.email_stage and change.op in ("create", "update") \
                    and (change.op == "create" or "enrollment" in change.fields):
                refusals[change.id] = (f"{change.ident}: enrollment recovery_email needs `email_stage:` (uuid of "
                                       f"an Authentik email stage) in the options of target {self.name}")
            if change.op == "create" and method is None:
                change.warnings.append("no enrollment: this person has no way to log in until someone sets a "
                                       "password (add enrollment: recovery_email, recovery_link or "
                                       "initial_password)")
        return refusals

    # ---- apply ---------------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        snap = self.snapshot
        if snap is None:  # `apply plan.json` re-reads through the engine first; be safe anyway
            try:
                snap = self.fetch()
            except ProviderError:
                raise
        applier = Applier(self.conn, snap, concurrency=self.concurrency, email_stage=self.email_stage,
                          token_duration=self.token_duration, links=self.links)
        return applier.run(list(changes), progress)

    # ---- drift ---------------------------------------------------------------------------------

    def drift_findings(self) -> list[str]:
        """People who never set a password (the organisation's own incident): Authentik has no flag
        for it, but ``password_change_date`` stays at the creation time (authentik-observed.md §7)."""
        snap = self.snapshot
        if snap is None:
            return []
        out = []
        for user in sorted(snap.users.values(), key=lambda u: u.username):
            raw = user.raw
            if L.is_service_account(raw) or not raw.get("is_active", True):
                continue
            if L.password_never_set(raw):
                joined = str(raw.get("date_joined") or "?")[:10]
                line = (f"user {user.username} ({raw.get('name') or ''}) has never set a password "
                        f"(created {joined}; password_change_date is still the creation time)")
                record = user.attributes.get(L.ENROLLMENT)
                if isinstance(record, dict):
                    line += f"; enrollment {record.get('method')} done {record.get('at')}, still waiting for them"
                out.append(line)
        return out

    def close(self) -> None:
        self.conn.close()
