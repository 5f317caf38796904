"""The Stalwart provider: mail domains, internal accounts and DKIM signatures of one Stalwart.

Rules it keeps (issue 4):
- two adapters, v0.15 REST and v0.16+ JMAP, chosen by probing (``api: auto``) or by config
  (``api: v0.15`` / ``api: v0.16``); the probe costs nothing extra: the first read request is it;
- ownership: reconciler changes only accounts that carry the marker it writes into their description
  (it created or adopted them) or that the target adopts by name (``adopt: [system, postmaster]``).
  Declaring an existing unmarked account in git is not enough: on the wire a hand-made account and
  an LDAP user that Stalwart copied into its store on first login look the same, and changing the
  latter removes that person's address and password, so ``check()`` refuses it until the target
  adopts it by name. Unmarked principals are never deleted. An owned account removed from git is
  deleted only with ``removal: delete``, and the plan warns that its mail is destroyed;
- secrets come from ``env:``/``file:`` references only; see ``passwords.py`` for drift and rotation;
- changes run in dependency order: domains, DKIM, accounts (individuals before lists); deletions in
  reverse (accounts before their domain), whatever order the plan lists them in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...config import Target
from ...model.resource import GUARD, Ref, Resource
from ...plan import Change
from ...secrets import Secret, SecretError, secret
from ..base import BaseProvider, ChangeResult, LiveState, Progress, ProviderError, Scope, no_progress
from . import jmap016, rest015
from .model import LiveAccount, Snapshot, split_marker, with_marker
from .passwords import DIFFERS, IN_SYNC, MISSING, UNAVAILABLE, RotationRecord, hash_secret, verifies
from .transport import Credentials, StalwartHTTPError, Transport

MAIL_DESTROYED = ("deletes the account and ALL its stored mail, calendars and contacts (irreversible); "
                  "removal: delete is set for this target")
DOMAIN_DELETED = "deletes the mail domain; addresses still using it stop receiving mail"
GUARDED = ("not created by reconciler and not declared in git (no ownership marker): e.g. an LDAP user that "
           "Stalwart copied into its store on first login, whose deletion destroys their mailbox; never changed")
NEVER_ADOPT_LDAP = ("never adopt an LDAP user that Stalwart copied into its store on first login: changing it "
                    "removes that person's own address and replaces their password; take it out of "
                    "desired/stalwart instead")
API_CHOICES = {"auto": "auto", "v0.15": "v0.15", "rest": "v0.15", "0.15": "v0.15", "v0.16": "v0.16",
               "jmap": "v0.16", "0.16": "v0.16"}


def _order(change: Change) -> tuple[int, int]:
    kind_rank = {"stalwart.domain": 0, "stalwart.dkim": 1, "stalwart.account": 2}[change.kind]
    data = (change.after or change.before).data if (change.after or change.before) else {}
    list_last = 1 if data.get("type") == "list" else 0
    if change.op == "delete":  # reverse: lists, individuals, DKIM, domains
        return 10 + (2 - kind_rank), 1 - list_last
    return kind_rank, list_last


class StalwartProvider(BaseProvider):
    kinds = ("stalwart.domain", "stalwart.account", "stalwart.dkim")

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        opts = target.options
        address = str(opts.get("address") or "")
        if not address.startswith(("http://", "https://")):
            raise ProviderError(self.name, "address must be the Stalwart base URL (https://…)")
        api = str(opts.get("api", "auto")).lower()
        if api not in API_CHOICES:
            raise ProviderError(self.name, f"api must be auto, v0.15 or v0.16 (got {api!r})")
        self.api = API_CHOICES[api]
        try:
            creds = Credentials(
                username=str(opts["username"]) if opts.get("username") else None,
                password=secret(opts["password"], f"{self.name}: password") if opts.get("password") else None,
                api_key_name=str(opts.get("api_key_name", "reconciler")) if opts.get("api_key") else None,
                api_key=secret(opts["api_key"], f"{self.name}: api_key") if opts.get("api_key") else None)
        except SecretError as exc:
            raise ProviderError(self.name, str(exc)) from None
        if creds.api_key is None and creds.password is None:
            raise ProviderError(self.name, "set api_key (env:/file:) or username + password (env:/file:)")
        tls = opts.get("tls") or {}
        verify: bool | str = tls.get("ca_file") or bool(tls.get("verify", True))
        self.transport = Transport(address, creds, timeout=float(opts.get("timeout", 30)), verify=verify)
        adopt = opts.get("adopt") or []
        if not isinstance(adopt, list) or not all(isinstance(n, str) and n.strip() for n in adopt):
            raise ProviderError(self.name, "adopt must be a list of account names, e.g. adopt: [system, postmaster]")
        # Existing accounts without reconciler's marker that it may change (and `import` writes out).
        self.adopt_names = [n.strip().lower() for n in adopt]
        self.adopt = set(self.adopt_names)
        state_file = opts.get("state_file") or Path(os.environ.get("RECONCILER_STATE_DIR", ".reconciler")) / \
            f"stalwart-{self.name}-secrets.json"
        self.rotations = RotationRecord(Path(state_file))
        self.adapter: rest015.Rest015 | jmap016.Jmap016 | None = None
        self.snapshot: Snapshot | None = None
        self.desired: dict[tuple[str, tuple[str, ...]], Resource] = {}

    # ------------------------------------------------------------------------------------ errors
    def _fail(self, exc: StalwartHTTPError | rest015.ApiError | jmap016.ApiError) -> ProviderError:
        return ProviderError(self.name, str(exc), retryable=getattr(exc, "retryable", False))

    # -------------------------------------------------------------------------------------- read
    def _fetch(self, want_dkim: bool) -> Snapshot:
        try:
            if self.api in ("auto", "v0.15"):
                rest = rest015.Rest015(self.transport)
                status, listing = rest.list_principals()
                if status == 200:
                    self.adapter = rest
                    return rest.read(listing, want_dkim)
                if self.api == "v0.15":
                    raise ProviderError(self.name, "api: v0.15 is configured but /api/principal does not exist "
                                                   "(404): is this server v0.16 or newer? (api: auto probes)")
            jmap = jmap016.Jmap016(self.transport)
            responses = jmap.probe_read()
            if responses is None:
                raise ProviderError(self.name, "the server answers neither the v0.15 REST API (/api/principal) "
                                               "nor the v0.16+ JMAP objects (x:Account at /jmap): is the address "
                                               "a Stalwart mail server?")
            self.adapter = jmap
            return jmap.read(responses)
        except (StalwartHTTPError, rest015.ApiError, jmap016.ApiError) as exc:
            raise self._fail(exc) from None

    def read(self, scope: Scope, progress: Progress = no_progress) -> LiveState:
        progress("domains, accounts and DKIM", 0, 1)
        self.desired = {(r.kind, r.key): r for r in scope.desired}
        importing = not scope.desired
        # The DKIM settings cost one more request on v0.15: read them only when they are managed
        # (resolve() needs only the public key and infers the algorithm from the id).
        want_dkim = importing or any(r.kind == "stalwart.dkim" for r in scope.desired)
        snap = self._fetch(want_dkim)
        self.snapshot = snap
        state = LiveState(target=self.name, notes=list(snap.notes))
        for domain in snap.domains.values():
            desc, owned = split_marker(domain.description)
            res = Resource("stalwart.domain", (domain.name,), {"description": desc},
                           self._meta(owned, domain.server_id, ("stalwart.domain", (domain.name,))))
            state.add(res)
        for account in snap.accounts.values():
            if account.type not in ("individual", "list"):
                continue  # groups are not declarable (stalwart.schema.json)
            state.add(self._account_resource(account))
        for sig in snap.dkim.values():
            data = {"algorithm": sig.algorithm, "domain": sig.domain, "selector": sig.selector}
            state.add(Resource("stalwart.dkim", (sig.id,), data, {"server_id": sig.server_id}))
        state.facts = {"api": snap.generation, "accounts": len(snap.accounts), "domains": len(snap.domains),
                       "requests": self.transport.requests}
        progress("domains, accounts and DKIM", 1, 1)
        return state

    def _meta(self, owned: bool, server_id: str, key: tuple[str, tuple[str, ...]]) -> dict[str, Any]:
        meta: dict[str, Any] = {"owned": owned, "server_id": server_id}
        if not owned and key not in self.desired and key[1][0] not in self.adopt:
            meta[GUARD] = GUARDED
        return meta

    def _account_resource(self, account: LiveAccount) -> Resource:
        desc, owned = split_marker(account.description)
        data: dict[str, Any] = {"type": account.type, "description": desc, "emails": account.emails,
                                "roles": account.roles, "member_of": account.member_of, "quota": account.quota}
        if account.type == "list":
            data["members"] = account.members
        key = ("stalwart.account", (account.name,))
        desired = self.desired.get(key)
        if desired is not None and desired.meta.get("secret"):
            data["secret"] = self._secret_status(account, str(desired.meta["secret"]))
        return Resource("stalwart.account", (account.name,), data, self._meta(owned, account.server_id, key))

    def _secret_status(self, account: LiveAccount, ref: str) -> str:
        try:
            value = Secret(ref).reveal()
        except SecretError:
            return UNAVAILABLE
        if self.snapshot is not None and self.snapshot.generation == "v0.15":
            if account.password_hash is None:
                return MISSING
            if not verifies(value, account.password_hash):
                return DIFFERS
            if self.rotations.status(account.name, value, True) != IN_SYNC:
                # Baseline for a later upgrade to v0.16, where the server no longer shows the hash.
                self.rotations.remember(account.name, value)
            return IN_SYNC
        return self.rotations.status(account.name, value, account.has_password)

    # -------------------------------------------------------------------------------------- refs
    def resolve(self, ref: Ref) -> str:
        if ref.what != "dkim":
            raise ProviderError(self.name, f"cannot resolve {ref}: only DKIM public keys are provided")
        if self.adapter is None:
            self._fetch(True)
        assert self.adapter is not None
        snap = self.snapshot
        sig = snap.dkim.get(ref.id) if snap else None
        algorithm = sig.algorithm if sig else ("ed25519" if ref.id.startswith("ed25519-") else "rsa")
        try:
            public = self.adapter.dkim_public_key(ref.id)
        except (StalwartHTTPError, rest015.ApiError, jmap016.ApiError) as exc:
            raise self._fail(exc) from None
        # The record Stalwart itself recommends (dns.rs `build_dns_records`).
        return f"v=DKIM1; k={algorithm}; h=sha256; p={public}"

    # -------------------------------------------------------------------------------------- plan
    def absent(self, live: Resource, policies: dict[str, Any]) -> Change | None:
        if live.kind == "stalwart.dkim" or not live.meta.get("owned"):
            return None  # a DKIM key is never removed by omission; unowned principals never
        if str(policies.get("removal", "deactivate")) != "delete":
            return None
        warning = MAIL_DESTROYED if live.kind == "stalwart.account" else DOMAIN_DELETED
        return Change.delete(self.name, live, [warning])

    def absent_reason(self, live: Resource, policies: dict[str, Any]) -> str | None:
        """Why a live object git does not declare is kept, when ``absent()`` returns None (for the plan's
        list of unmanaged objects; the core shows a generic text until it asks the provider)."""
        if live.kind == "stalwart.dkim":
            return ("not declared in git; DKIM signatures are never removed by reconciler (mail from the domain "
                    "would go unsigned): remove it in Stalwart once DNS no longer publishes it")
        if not live.meta.get("owned"):
            return ("not declared in git and not created by reconciler (no ownership marker; adopt: only lets "
                    "it be changed or imported): reported, never deleted")
        removal = str(policies.get("removal", "deactivate"))
        if removal == "delete":
            return None
        what = "an account (with all its mail)" if live.kind == "stalwart.account" else "a mail domain"
        purge = "; purge: true does not delete Stalwart objects" if policies.get("purge") else ""
        return (f"not declared in git; kept: Stalwart deletes {what} only under removal: delete and has no "
                f"deactivated state (this target has removal: {removal}{purge})")

    def _adoption_refusal(self, change: Change, live: LiveAccount | None) -> str | None:
        """The adoption gate: an existing account without the marker is changed only when adopted."""
        name = change.key[0]
        owned = split_marker(live.description)[1] if live is not None else bool(
            change.before and change.before.meta.get("owned"))
        if owned or (live is None and change.before is None):
            return None
        if name not in self.adopt:
            names = ", ".join([*self.adopt_names, name])
            how = (f"add {name} to its adopt: list (adopt: [{names}])" if self.adopt_names
                   else f"add the line `adopt: [{name}]`")
            where = self.target.origin or "reconciler.yaml"
            return (f"{change.ident}: {name} already exists on {self.name} but reconciler did not create it (no "
                    f"ownership marker), so git alone may not change it. If it is an account made by hand in "
                    f"Stalwart's internal directory, adopt it: in reconciler.yaml, under the target {self.name} "
                    f"({where}), {how}. But {NEVER_ADOPT_LDAP}")
        if live is not None and live.type not in ("individual", "list"):
            return (f"{change.ident}: {name} exists on {self.name} as a {live.type}, which desired/stalwart "
                    "cannot declare; rename the account in git")
        return None

    def check(self, changes: Sequence[Change]) -> dict[str, str]:
        refusals: dict[str, str] = {}
        snap = self.snapshot
        live_domains = set(snap.domains) if snap else set()
        created_domains = {c.key[0] for c in changes if c.kind == "stalwart.domain" and c.op == "create"}
        deleted_domains = {c.key[0] for c in changes if c.kind == "stalwart.domain" and c.op == "delete"}
        for change in changes:
            after, before = change.after, change.before
            if change.kind == "stalwart.account" and after is not None:
                # A create whose name is taken by a principal the read left out (e.g. a group) is
                # gated like an update: Stalwart's names are unique across principal types.
                live = snap.accounts.get(change.key[0]) if snap else None
                refusal = self._adoption_refusal(change, live)
                if refusal:
                    refusals[change.id] = refusal
                    continue
                if before is not None and before.data.get("type") != after.data.get("type"):
                    refusals[change.id] = (f"{change.ident}: the type cannot change from {before.data.get('type')} "
                                           f"to {after.data.get('type')}; remove it from git (with removal: delete) "
                                           "and add it again")
                    continue
                for email in after.data.get("emails", []):
                    domain = email.rsplit("@", 1)[-1]
                    if ("@" in email and domain not in created_domains
                            and (domain not in live_domains or domain in deleted_domains)):
                        refusals[change.id] = (f"{change.ident}: the domain of {email} does not exist on {self.name} "
                                               "and is not declared under stalwart domains:")
                if snap and snap.generation == "v0.16" and after.data.get("emails"):
                    local = after.data["emails"][0].split("@", 1)[0]
                    if local != change.key[0]:
                        refusals[change.id] = (f"{change.ident}: on Stalwart v0.16+ an account's name is the local "
                                               f"part of its primary address ({local}); rename it in git")
                if "secret" in (change.fields if change.op == "update" else after.data):
                    try:
                        Secret(str(after.meta.get("secret"))).reveal()
                    except SecretError as exc:
                        refusals[change.id] = f"{change.ident}: {exc}"
            if change.kind == "stalwart.dkim" and change.op == "update" and before is not None and after is not None:
                fixed = [f for f in ("algorithm", "domain") if f in change.fields]
                if fixed:
                    refusals[change.id] = (f"{change.ident}: {' and '.join(fixed)} of a DKIM signature cannot change; "
                                           "declare a new signature id")
        return refusals

    # ------------------------------------------------------------------------------------- apply
    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        if self.adapter is None or self.snapshot is None:
            self.snapshot = self._fetch(True)
        results: dict[str, ChangeResult] = {}
        ordered = sorted(changes, key=_order)
        dkim_created = False
        stop: str | None = None
        for done, change in enumerate(ordered):
            if stop:
                results[change.id] = ChangeResult(change.id, False, error=stop, skipped=True)
                continue
            progress(change.ident, done, len(ordered))
            try:
                self._apply_one(change)
                results[change.id] = ChangeResult(change.id, True)
                dkim_created |= change.kind == "stalwart.dkim"
            except (rest015.ApiError, jmap016.ApiError, SecretError) as exc:
                results[change.id] = ChangeResult(change.id, False, error=f"{self.name}: {exc}")
            except StalwartHTTPError as exc:
                results[change.id] = ChangeResult(change.id, False, error=f"{self.name}: {exc}")
                if exc.fatal or exc.retryable:
                    stop = f"{self.name}: not attempted after an earlier failure ({exc})"
        if dkim_created and not stop:
            try:
                self.adapter.reload()  # type: ignore[union-attr]
            except (StalwartHTTPError, rest015.ApiError):
                pass  # the keys exist; they sign after the next reload
        progress("done", len(ordered), len(ordered))
        return [results[c.id] for c in changes]

    def _spec(self, change: Change, adopt: bool) -> dict[str, Any]:
        assert change.after is not None
        data = change.after.data
        spec = {"name": change.key[0], "type": data.get("type", "individual"),
                "description": with_marker(str(data.get("description") or "")), "emails": data.get("emails", []),
                "roles": data.get("roles", []), "member_of": data.get("member_of", []),
                "members": data.get("members", []), "quota": data.get("quota"), "adopt": adopt}
        return spec

    def _apply_one(self, change: Change) -> None:
        adapter = self.adapter
        snap = self.snapshot
        assert adapter is not None and snap is not None
        name = change.key[0]
        if change.kind == "stalwart.domain":
            description = with_marker(str(change.after.data.get("description") or "")) if change.after else ""
            if change.op == "create":
                adapter.create_domain(name, description)
            elif change.op == "update":
                adapter.update_domain(snap.domains[name], description)
            else:
                adapter.delete_domain(snap.domains[name])
            return
        if change.kind == "stalwart.dkim":
            data = (change.after or change.before).data  # type: ignore[union-attr]
            if change.op == "create":
                adapter.create_dkim(name, data["algorithm"], data["domain"], data["selector"])
            elif change.op == "update":
                adapter.update_dkim(snap.dkim[name], data["selector"])
            else:
                raise rest015.ApiError("DKIM signatures are never deleted by reconciler")
            return
        if change.op == "delete":
            adapter.delete_account(snap.accounts[name])
            return
        assert change.after is not None
        live = snap.accounts.get(name)
        refusal = self._adoption_refusal(change, live)
        if refusal:  # check() refused it already; a plan that skipped check() still writes nothing
            raise rest015.ApiError(refusal)
        owned = bool(change.before and change.before.meta.get("owned"))
        spec = self._spec(change, adopt=change.op == "update" and not owned)
        ref = change.after.meta.get("secret")
        needs_secret = bool(ref) and (change.op == "create" or "secret" in change.fields)
        plain = Secret(str(ref)).reveal() if needs_secret else None
        v015 = snap.generation == "v0.15"
        payload = (hash_secret(plain) if v015 else plain) if plain is not None else None
        if change.op == "create":
            adapter.create_account(spec, payload)
        else:
            assert live is not None
            adapter.update_account(live, spec, list(change.fields), payload)
        if plain is not None and not v015:
            self.rotations.remember(name, plain)
        del plain, payload

    # ------------------------------------------------------------------------------------- drift
    def drift_findings(self) -> list[str]:
        snap = self.snapshot
        if snap is None:
            return []
        out = []
        for sig in sorted(snap.dkim.values(), key=lambda s: s.id):
            expected = f"{sig.algorithm}-{sig.domain}"
            if snap.generation == "v0.15" and sig.id != expected:
                out.append(f"DKIM signature {sig.id} does not follow the {{algorithm}}-{{domain}} naming of "
                           f"Stalwart's default signing rule (expected {expected}): mail from {sig.domain} is not "
                           "signed with it")
        return out

    def close(self) -> None:
        self.transport.close()
