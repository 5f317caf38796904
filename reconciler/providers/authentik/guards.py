"""What reconciler never changes in Authentik, even when git declares it, and where a recovery email
may go. Pure functions over one read (``live.Snapshot``) and the planned changes.

Never changed (a plan-time refusal that ``--force`` cannot override, AuthentikProvider.check; the
Applier asks again right before a request, so a refused change never reaches Authentik):
- Authentik's own accounts: API service accounts (``type: service_account``, path
  ``goauthentik.io/service-accounts``) and outpost accounts (``internal_service_account``,
  ``goauthentik.io/outposts``) (authentik-api.md §2.4);
- the owner of the target's API token (``GET /core/users/me/``, authentik-observed.md §11): whoever
  declares it could rewrite the account reconciler itself acts as;
- superuser groups, and groups that grant superuser through a parent (membership is inherited
  upward, authentik-api.md §2.6), and the users who are superusers: git must not decide who is an
  administrator. A change that would make a group or a user superuser is refused the same way.

Recovery email on an account reconciler did not create (no ownership marker): it goes only to the
address the account already had in Authentik. Refused when the same change sets a new address, and
on every later run while the address is still the one reconciler wrote (the ``reconciler/email-set``
attribute the Applier records): otherwise a commit could redirect a person's recovery email to an
address nobody has verified, in one run or in two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ...plan import Change
from . import live as L

# Attribute recording the address reconciler wrote on an account it did not create (recovery rule).
EMAIL_SET = "reconciler/email-set"
NEVER = "never managed by reconciler"


# ---- live objects -----------------------------------------------------------------------------

def superuser_source(snap: L.Snapshot, group: L.LiveGroup) -> str | None:
    """The group (``group`` itself or an ancestor) whose ``is_superuser`` makes ``group``'s members
    superusers, or None."""
    seen: set[str] = set()
    todo = [group]
    while todo:
        current = todo.pop()
        if current.uuid in seen:
            continue
        seen.add(current.uuid)
        if current.raw.get("is_superuser"):
            return current.name
        todo.extend(snap.groups_by_uuid[p] for p in current.parents if p in snap.groups_by_uuid)
    return None


def group_reason(snap: L.Snapshot, group: L.LiveGroup) -> str | None:
    """Why a live group is never managed, or None."""
    source = superuser_source(snap, group)
    if source is None:
        return None
    if source == group.name:
        return "superuser group (is_superuser: true)"
    return f"grants superuser through its parent group {source}"


def is_owner(snap: L.Snapshot, user: L.LiveUser) -> bool:
    return snap.token_owner is not None and user.pk == snap.token_owner


def user_reason(snap: L.Snapshot, user: L.LiveUser) -> str | None:
    """Why a live user is never managed, or None."""
    raw = user.raw
    kind, path = raw.get("type"), str(raw.get("path") or "")
    if is_owner(snap, user):
        return "owner of this target's API token (the account reconciler acts as)"
    if kind == "internal_service_account" or path.startswith(L.SERVICE_PATH + "outposts"):
        return f"outpost service account (type {kind}, path {path})"
    if L.is_service_account(raw):
        return f"service account (type {kind}, path {path})"
    for group_uuid in raw.get("groups") or []:
        group = snap.groups_by_uuid.get(str(group_uuid))
        source = superuser_source(snap, group) if group else None
        if group and source:
            via = "" if source == group.name else f", which inherits superuser from {source}"
            return f"superuser (member of {group.name}{via})"
    if raw.get("is_superuser"):  # Authentik computes it; a group this read could not see
        return "superuser"
    return None


def hidden(snap: L.Snapshot, user: L.LiveUser) -> bool:
    """Authentik's own accounts and the token owner: left out of the live state unless declared."""
    return is_owner(snap, user) or L.is_service_account(user.raw)


# ---- the state after a plan -------------------------------------------------------------------

def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


class PlannedGroups:
    """Groups as they will be once ``changes`` are applied: which of them grant superuser."""

    def __init__(self, snap: L.Snapshot, changes: Iterable[Change]) -> None:
        self.model: dict[str, tuple[bool, list[str]]] = {}
        for name, group in snap.groups.items():
            parents = [snap.groups_by_uuid[p].name for p in group.parents if p in snap.groups_by_uuid]
            self.model[name] = (bool(group.raw.get("is_superuser")), parents)
        for change in changes:
            if change.kind != "authentik.group":
                continue
            name = change.key[0]
            if change.after is None:
                self.model.pop(name, None)
                continue
            old = self.model.get(name, (False, []))
            data = change.after.data
            superuser = bool(data["is_superuser"]) if "is_superuser" in data else old[0]
            parents = _names(data["parent"]) if "parent" in data else old[1]
            self.model[name] = (superuser, parents)

    def source(self, name: str) -> str | None:
        seen: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            if current in seen or current not in self.model:
                continue
            seen.add(current)
            superuser, parents = self.model[current]
            if superuser:
                return current
            todo.extend(parents)
        return None


# ---- refusals ---------------------------------------------------------------------------------

def _remove(change: Change) -> str:
    if change.after is None or change.after.origin is None:
        return "it is left as it is"
    return f"remove it from {change.after.origin.file} (line {change.after.origin.line})"


def never_managed(snap: L.Snapshot, change: Change, planned: PlannedGroups) -> str | None:
    """The refusal for a change that would touch what reconciler never manages, or None."""
    name = change.key[0]
    if change.kind == "authentik.group":
        live_group = snap.groups.get(name)
        reason = group_reason(snap, live_group) if live_group is not None else None
        if reason is None and change.before is not None:
            reason = change.before.meta.get("never_managed")
        if reason:
            return f"{change.ident}: {reason}: {NEVER} — {_remove(change)}"
        source = planned.source(name) if change.after is not None else None
        if source is not None:
            how = "is_superuser: true" if source == name else f"through its parent group {source}"
            verb = "create a group that grants" if change.op == "create" else "make this group grant"
            return (f"{change.ident}: would {verb} superuser ({how}); superuser groups are {NEVER} — "
                    f"{_remove(change)} and manage administrators in Authentik by hand")
        return None
    live_user = snap.users.get(name)
    reason = user_reason(snap, live_user) if live_user is not None else None
    if reason is None and change.before is not None:
        reason = change.before.meta.get("never_managed")
    if reason:
        return f"{change.ident}: {reason}: {NEVER} — {_remove(change)}"
    if change.after is None:
        return None
    before = set((change.before.data if change.before else {}).get("groups") or [])
    for group in sorted(set(change.after.data.get("groups") or []) - before):
        source = planned.source(group)
        if source is not None:
            via = "" if source == group else f", which inherits superuser from {source},"
            origin = change.after.origin
            where = f"{origin.file} (line {origin.line})" if origin else "git"
            return (f"{change.ident}: joining group {group}{via} would make this user a superuser; superuser "
                    f"groups and their members are {NEVER} — remove {group} from the user's groups in "
                    f"{where} and grant it in Authentik by hand")
    return None


def email_record(address: str) -> dict[str, str]:
    """The ``reconciler/email-set`` value the Applier writes with an address change."""
    return {"address": address, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def recorded_email(user: L.LiveUser) -> str | None:
    record = user.attributes.get(EMAIL_SET)
    address = record.get("address") if isinstance(record, dict) else None
    return str(address) if address else None


def recovery_refusal(snap: L.Snapshot, change: Change) -> str | None:
    """The recovery rule (module docstring) for one update of an existing user, or None."""
    if change.kind != "authentik.user" or change.op != "update" or change.after is None:
        return None
    if change.after.data.get("enrollment") != "recovery_email" or "enrollment" not in change.fields:
        return None
    user = snap.users.get(change.key[0])
    if user is None or user.attributes.get(L.MARKER):
        return None  # reconciler created it from git: git chose its first address
    advice = ("a recovery email for an account reconciler did not create goes only to the address it already "
              "had in Authentik. Use enrollment: recovery_link (the link goes to the operator, who hands it "
              "over in person) or initial_password, or remove the enrollment and let an Authentik "
              "administrator send the recovery email after checking the address")
    live_email = str(user.raw.get("email") or "")
    if "email" in change.fields:
        new = str(change.after.data.get("email") or "")
        return (f"{change.ident}: enrollment recovery_email refused: the same change sets a new email "
                f"address ({live_email or '(none)'} → {new}) that nobody has verified; {advice}")
    written = recorded_email(user)
    if written and written.lower() == live_email.lower():
        return (f"{change.ident}: enrollment recovery_email refused: the address {live_email} was set by "
                f"reconciler, not by the person or an Authentik administrator; {advice}")
    return None


def refusals(snap: L.Snapshot, changes: Sequence[Change]) -> dict[str, str]:
    """Change id → refusal, for every change these rules forbid."""
    planned = PlannedGroups(snap, changes)
    out: dict[str, str] = {}
    for change in changes:
        if change.kind not in ("authentik.user", "authentik.group"):
            continue
        message = never_managed(snap, change, planned) or recovery_refusal(snap, change)
        if message:
            out[change.id] = message
    return out
