"""The v0.16+ adapter: JMAP at `/jmap` with the `urn:stalwart:jmap` objects.

Method names and shapes from stalwartlabs/website ``docs/ref/object/{account,domain,mailing-list,
dkim-signature}.md`` and ``crates/jmap/src/registry/*`` at v0.16.18; wire notes from
flungo/terraform-provider-stalwart ``docs/stalwart-api.md``:
- ``x:<Object>/get|set|query``; ``x:`` methods need no capability in ``using`` but clients send
  ``urn:stalwart:jmap`` with core;
- an account is ``name`` (local part) + ``domainId``; other addresses are ``aliases``
  (``List<EmailAlias>`` = ``{"0": {...}}``); sets such as ``memberGroupIds`` are ``{"<id>": true}``;
- ``get`` with ``ids: null`` silently stops at 500: the adapter queries ids (≤ 500 a page) and gets
  them through result references, all in one HTTP request of ≤ 16 method calls;
- the server hashes passwords and reads them back as ``"****"``.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from .model import LiveAccount, LiveDkim, LiveDomain, Snapshot, canonical_emails
from .transport import StalwartHTTPError, Transport, json_body

USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
PAGE = 500  # getMaxResults default
MAX_CALLS = 16
DKIM_TYPES = {"Dkim1RsaSha256": "rsa", "Dkim1Ed25519Sha256": "ed25519"}


class ApiError(Exception):
    """A refused JMAP operation (method error or SetError); the message is safe to print."""


def _set_error_text(err: dict[str, Any], what: str) -> str:
    kind = err.get("type")
    text = f"{what}: {kind}"
    if err.get("description"):
        text += f": {err['description']}"
    if err.get("properties"):
        text += f" (properties: {', '.join(map(str, err['properties']))})"
    if kind == "invalidForeignKey" and isinstance(err.get("objectId"), dict):
        text += f" ({err['objectId'].get('object')} {err['objectId'].get('id')} does not exist)"
    if kind == "forbidden" and "external directory" in str(err.get("description", "")):
        text += (" — this server's default directory is external (LDAP), and v0.16 keeps no passwords for its "
                 "accounts: drop `secret:` for them or give their domain an internal directory")
    if kind == "objectIsLinked":
        text += f" (still used by {len(err.get('linkedObjects') or [])} object(s))"
    return text


class Jmap016:
    generation = "v0.16"

    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self.domain_ids: dict[str, str] = {}
        self.account_ids: dict[str, tuple[str, str]] = {}  # name -> (object type, id)
        self.group_ids: dict[str, str] = {}
        self.dkim_ids: dict[str, str] = {}
        self._accounts_raw: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------------------ transport
    def call(self, calls: list[list[Any]], what: str) -> list[list[Any]]:
        response = self.t.call("POST", "/jmap", body={"using": USING, "methodCalls": calls})
        body = json_body(response, what)
        if response.status_code == 404:
            raise StalwartHTTPError(f"{what}: no JMAP endpoint (HTTP 404)", status=404)
        if response.status_code != 200:
            detail = body.get("detail") if isinstance(body, dict) else None
            raise StalwartHTTPError(f"{what}: HTTP {response.status_code}" + (f": {detail}" if detail else ""),
                                    status=response.status_code)
        out = body.get("methodResponses") if isinstance(body, dict) else None
        if not isinstance(out, list):
            raise StalwartHTTPError(f"{what}: not a JMAP response")
        for name, args, _ in out:
            if name == "error":
                raise ApiError(f"{what}: {args.get('type')}" + (f": {args['description']}" if args.get("description")
                                                                else ""))
        return out

    def _set(self, obj: str, args: dict[str, Any], what: str) -> dict[str, Any]:
        (_, result, _), = self.call([[f"x:{obj}/set", args, "s"]], what)
        for bucket in ("notCreated", "notUpdated", "notDestroyed"):
            for err in (result.get(bucket) or {}).values():
                raise ApiError(_set_error_text(err, what))
        return result

    # ------------------------------------------------------------------------------ read
    def probe_read(self) -> list[list[Any]] | None:
        """The first read request doubles as the probe: a server without the x: objects answers
        unknownMethod (or 404), which means this is not v0.16+."""
        calls = [
            ["x:Domain/query", {}, "dq"],
            ["x:Domain/get", {"#ids": {"resultOf": "dq", "name": "x:Domain/query", "path": "/ids"},
                              "properties": ["name", "description", "aliases"]}, "dg"],
            ["x:DkimSignature/query", {}, "kq"],
            ["x:DkimSignature/get", {"#ids": {"resultOf": "kq", "name": "x:DkimSignature/query", "path": "/ids"},
                                     "properties": ["@type", "domainId", "selector", "stage"]}, "kg"],
            ["x:MailingList/query", {}, "lq"],
            ["x:MailingList/get", {"#ids": {"resultOf": "lq", "name": "x:MailingList/query", "path": "/ids"}}, "lg"],
        ]
        calls += self._account_pages(0, (MAX_CALLS - len(calls)) // 2)
        try:
            return self.call(calls, "read")
        except ApiError as exc:
            if "unknownMethod" in str(exc):
                return None
            raise
        except StalwartHTTPError as exc:
            if exc.status in (404, 400):
                return None
            raise

    @staticmethod
    def _account_pages(start_page: int, pages: int) -> list[list[Any]]:
        calls: list[list[Any]] = []
        for page in range(start_page, start_page + pages):
            q = f"aq{page}"
            calls.append(["x:Account/query", {"position": page * PAGE, "limit": PAGE, "calculateTotal": True}, q])
            calls.append(["x:Account/get", {"#ids": {"resultOf": q, "name": "x:Account/query", "path": "/ids"}},
                          f"ag{page}"])
        return calls

    def read(self, responses: list[list[Any]]) -> Snapshot:
        snap = Snapshot(generation=self.generation)
        by_id = {call_id: args for _, args, call_id in responses}
        domains = {d["id"]: d for d in by_id["dg"]["list"]}
        self.domain_ids = {d["name"]: d["id"] for d in domains.values()}
        for d in domains.values():
            snap.domains[d["name"]] = LiveDomain(d["name"], d.get("description"), d["id"])
        accounts: list[dict[str, Any]] = []
        page = 0
        while f"ag{page}" in by_id:
            accounts.extend(by_id[f"ag{page}"]["list"])
            page += 1
        total = by_id["aq0"].get("total", len(accounts))
        while len(accounts) < total:  # more than the first request's pages: fetch the rest
            more = self.call(self._account_pages(page, MAX_CALLS // 2), "read accounts")
            got = {call_id: args for _, args, call_id in more}
            added = 0
            while f"ag{page}" in got:
                accounts.extend(got[f"ag{page}"]["list"])
                added += len(got[f"ag{page}"]["list"])
                page += 1
            if not added:
                break
        self.group_ids = {a["name"]: a["id"] for a in accounts if a.get("@type") == "Group"}
        group_names = {v: k for k, v in self.group_ids.items()}
        names_by_email: dict[str, str] = {}
        for a in accounts:
            emails = self._emails(a, domains)
            if emails:
                names_by_email[emails[0]] = a["name"]
            self.account_ids[a["name"]] = ("Account", a["id"])
            self._accounts_raw[a["name"]] = a
            roles = a.get("roles") or {}
            role_names = {"User": ["user"], "Admin": ["admin"]}.get(roles.get("@type", ""),
                                                                    sorted(roles.get("roleIds") or {}))
            creds = a.get("credentials") or {}
            snap.accounts[a["name"]] = LiveAccount(
                name=a["name"], type="individual" if a.get("@type") == "User" else "group",
                description=a.get("description"), emails=emails, roles=role_names,
                member_of=sorted(group_names.get(g, g) for g in (a.get("memberGroupIds") or {})), members=[],
                quota=(a.get("quotas") or {}).get("maxDiskQuota"), server_id=a["id"],
                has_password=any(c.get("@type") == "Password" for c in creds.values()))
        for lst in by_id["lg"]["list"]:
            self.account_ids[lst["name"]] = ("MailingList", lst["id"])
            self._accounts_raw[lst["name"]] = lst
            members = sorted(names_by_email.get(addr, addr) for addr in (lst.get("recipients") or {}))
            snap.accounts[lst["name"]] = LiveAccount(
                name=lst["name"], type="list", description=lst.get("description"), emails=self._emails(lst, domains),
                roles=[], member_of=[], members=members, quota=None, server_id=lst["id"])
        domain_names = {v: k for k, v in self.domain_ids.items()}
        for sig in by_id["kg"]["list"]:
            algorithm = DKIM_TYPES.get(sig.get("@type", ""))
            domain = domain_names.get(sig.get("domainId", ""))
            if algorithm is None or domain is None:
                continue
            name = f"{algorithm}-{domain}"  # the v0.15 id Stalwart's default signing rule expects
            current = snap.dkim.get(name)
            if current is not None and current.stage == "active":
                snap.notes.append(f"DKIM: several {algorithm} keys for {domain} (rotation); the active one is used")
                continue
            snap.dkim[name] = LiveDkim(id=name, algorithm=algorithm, domain=domain, selector=sig.get("selector", ""),
                                       server_id=sig["id"], stage=sig.get("stage", "active"))
            self.dkim_ids[name] = sig["id"]
        return snap

    @staticmethod
    def _emails(obj: dict[str, Any], domains: dict[str, dict[str, Any]]) -> list[str]:
        primary = obj.get("emailAddress")
        if not primary and obj.get("domainId") in domains:
            primary = f"{obj['name']}@{domains[obj['domainId']]['name']}"
        aliases = [f"{a['name']}@{domains[a['domainId']]['name']}" for a in (obj.get("aliases") or {}).values()
                   if a.get("domainId") in domains and a.get("enabled", True)]
        return canonical_emails([primary, *aliases]) if primary else []

    # ------------------------------------------------------------------------------ writes
    def _address(self, email: str) -> tuple[str, str]:
        local, domain = email.rsplit("@", 1)
        domain_id = self.domain_ids.get(domain)
        if domain_id is None:
            raise ApiError(f"the domain {domain} of {email} does not exist on the server")
        return local, domain_id

    def create_domain(self, name: str, description: str) -> None:
        # DKIM stays manual: reconciler declares signatures itself (automatic management would
        # generate keys with other selectors than git's).
        result = self._set("Domain", {"create": {"d": {"name": name, "description": description,
                                                        "dkimManagement": {"@type": "Manual"}}}},
                           f"create domain {name}")
        self.domain_ids[name] = result["created"]["d"]["id"]

    def update_domain(self, live: LiveDomain, description: str) -> None:
        self._set("Domain", {"update": {live.server_id: {"description": description}}}, f"update domain {live.name}")

    def delete_domain(self, live: LiveDomain) -> None:
        self._set("Domain", {"destroy": [live.server_id]}, f"delete domain {live.name}")

    def _fields(self, spec: dict[str, Any], fields: list[str] | None, secret: str | None,
                existing: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        want = set(fields) if fields is not None else {"description", "emails", "roles", "member_of", "members",
                                                         "quota", "secret"}
        is_list = spec["type"] == "list"
        if "description" in want or spec.get("adopt"):
            out["description"] = spec["description"]
        if "emails" in want:
            local, domain_id = self._address(spec["emails"][0])
            out["name"], out["domainId"] = local, domain_id
            out["aliases"] = {str(i): {"name": a[0], "domainId": a[1]}
                              for i, a in enumerate(self._address(e) for e in spec["emails"][1:])}
        if "members" in want and is_list:
            recipients: dict[str, bool] = {}
            for member in spec.get("members") or []:
                raw = self._accounts_raw.get(member)
                address = member if "@" in member else (raw and raw.get("emailAddress"))
                if not address:
                    raise ApiError(f"list member {member!r} has no address on the server")
                recipients[address] = True
            out["recipients"] = recipients
        if not is_list:
            if "roles" in want:
                roles = spec.get("roles") or []
                out["roles"] = {"@type": "Admin"} if "admin" in roles else {"@type": "User"}
            if "quota" in want:
                out["quotas"] = {"maxDiskQuota": spec["quota"]} if spec.get("quota") else {}
            if "member_of" in want:
                missing = [g for g in spec.get("member_of") or [] if g not in self.group_ids]
                if missing:
                    raise ApiError(f"groups {', '.join(missing)} do not exist on the server")
                out["memberGroupIds"] = {self.group_ids[g]: True for g in spec.get("member_of") or []}
            if "secret" in want and secret is not None:
                creds = (existing or {}).get("credentials") or {}
                index = next((k for k, c in creds.items() if c.get("@type") == "Password"), None)
                if existing is None:
                    out["credentials"] = {"0": {"@type": "Password", "secret": secret}}
                elif index is None:  # add a Password entry to the List<Credential> by pointer
                    out[f"credentials/{len(creds)}"] = {"@type": "Password", "secret": secret}
                else:
                    out[f"credentials/{index}/secret"] = secret
        return out

    def create_account(self, spec: dict[str, Any], secret: str | None) -> None:
        obj = self._fields(spec, None, secret, None)
        if spec["type"] == "list":
            obj_type = "MailingList"
        else:
            obj_type = "Account"
            obj["@type"] = "User" if spec["type"] == "individual" else "Group"
            obj.setdefault("credentials", {})
        result = self._set(obj_type, {"create": {"a": obj}}, f"create account {spec['name']}")
        created = result["created"]["a"]
        self.account_ids[spec["name"]] = (obj_type, created["id"])
        self._accounts_raw[spec["name"]] = {"id": created["id"], "emailAddress": spec["emails"][0]}

    def update_account(self, live: LiveAccount, spec: dict[str, Any], fields: list[str], secret: str | None) -> None:
        obj_type, oid = self.account_ids[live.name]
        patch = self._fields(spec, fields, secret, self._accounts_raw.get(live.name))
        if patch:
            self._set(obj_type, {"update": {oid: patch}}, f"update account {live.name}")

    def delete_account(self, live: LiveAccount) -> None:
        obj_type, oid = self.account_ids[live.name]
        self._set(obj_type, {"destroy": [oid]}, f"delete account {live.name}")

    def create_dkim(self, sig_id: str, algorithm: str, domain: str, selector: str) -> None:
        # v0.16 does not generate a key on create: reconciler makes one, sends it and forgets it.
        if algorithm == "rsa":
            key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
            kind = "Dkim1RsaSha256"
        else:
            key = ed25519.Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
            kind = "Dkim1Ed25519Sha256"
        domain_id = self.domain_ids.get(domain)
        if domain_id is None:
            raise ApiError(f"create DKIM signature {sig_id}: the domain {domain} does not exist on the server")
        result = self._set("DkimSignature", {"create": {"k": {"@type": kind, "domainId": domain_id,
                                                              "selector": selector,
                                                              "privateKey": {"@type": "Text", "secret": pem}}}},
                           f"create DKIM signature {sig_id}")
        del pem, key
        self.dkim_ids[sig_id] = result["created"]["k"]["id"]

    def update_dkim(self, live: LiveDkim, selector: str) -> None:
        self._set("DkimSignature", {"update": {live.server_id: {"selector": selector}}},
                  f"update DKIM signature {live.id}")

    def dkim_public_key(self, sig_id: str) -> str:
        oid = self.dkim_ids.get(sig_id)
        if oid is None:
            raise ApiError(f"DKIM signature {sig_id!r} does not exist on the server (v0.16 keys are found by "
                           "algorithm and domain)")
        (_, result, _), = self.call([["x:DkimSignature/get", {"ids": [oid], "properties": ["publicKey"]}, "g"]],
                                    f"DKIM signature {sig_id}")
        if not result.get("list") or not result["list"][0].get("publicKey"):
            raise ApiError(f"DKIM signature {sig_id!r}: the server returned no public key")
        return str(result["list"][0]["publicKey"])

    def reload(self) -> None:
        return None  # v0.16 applies registry changes without a reload
