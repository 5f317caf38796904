"""v0.16 registry objects: x:Domain, x:Account (User/Group), x:MailingList, x:DkimSignature.

Shapes from stalwartlabs/website ``docs/ref/object/{domain,account,mailing-list,dkim-signature}.md``
and behaviour from ``crates/jmap/src/registry/{get,set,query}.rs``,
``crates/jmap/src/registry/mapping/{principal,domain,dkim}.rs`` and ``crates/store/src/registry/write.rs``
at v0.16.18 (commit d72608f3):

- collections are JSON objects: ``Map<T>`` = ``{"<value>": true}``, ``List<T>`` = ``{"0": item}``;
  an array is ``invalidPatch`` "Invalid value for object property";
- an account is ``name`` (local part) + ``domainId``; ``emailAddress`` is server-set;
- e-mail addresses (accounts, their aliases, mailing lists) are one global primary key:
  ``primaryKeyViolation`` with ``properties: ["email"]`` and the holder's ``objectId``;
- a missing referenced object is ``invalidForeignKey``; destroying a referenced one is ``objectIsLinked``;
- passwords are hashed by the server (argon2id) after a zxcvbn check, unless already a hash; they read
  back as ``"****"``; under an external default directory they are refused (``forbidden``);
- ``get`` with ``ids: null`` silently stops at ``getMaxResults`` (500).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import dkim, dns_records
from .identity import Identity
from .names import id_to_str, sanitize_domain, sanitize_email, sanitize_email_local, str_to_id
from .passwords import hash_v016, is_password_hash, strength_error

MASKED = "****"
GET_MAX = 500
SET_MAX = 500
QUERY_MAX = 5000
STORAGE_QUOTAS = frozenset((
    "maxEmails", "maxMailboxes", "maxEmailSubmissions", "maxEmailIdentities", "maxParticipantIdentities",
    "maxSieveScripts", "maxPushSubscriptions", "maxCalendars", "maxCalendarEvents",
    "maxCalendarEventNotifications", "maxAddressBooks", "maxContactCards", "maxFiles", "maxFolders",
    "maxMaskedAddresses", "maxAppPasswords", "maxApiKeys", "maxPublicKeys", "maxDiskQuota"))
DKIM_TYPES = {"Dkim1RsaSha256": "rsa", "Dkim1Ed25519Sha256": "ed25519", "Dkim2RsaSha256": "rsa",
              "Dkim2Ed25519Sha256": "ed25519"}
OBJECT_TYPES = ("Domain", "Account", "MailingList", "DkimSignature")
PERMISSION = {"get": "Get", "query": "Query", "create": "Create", "update": "Update", "destroy": "Destroy"}


Existing = tuple[int, dict[str, Any]] | None  # (id, stored object) of an update, None on create


class SetErr(Exception):
    """One failed create/update/destroy (RFC 8620 §5.3 SetError with Stalwart's extra members)."""

    def __init__(self, type_: str, description: str | None = None, properties: list[str] | None = None,
                 **extra: Any) -> None:
        super().__init__(type_)
        self.doc: dict[str, Any] = {"type": type_}
        if description is not None:
            self.doc["description"] = description
        if properties is not None:
            self.doc["properties"] = properties
        self.doc.update(extra)


class MethodErr(Exception):
    """A whole-method error: ``["error", {...}, callId]``."""

    def __init__(self, type_: str, description: str | None = None) -> None:
        super().__init__(type_)
        self.doc: dict[str, Any] = {"type": type_}
        if description:
            self.doc["description"] = description


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_id(obj_type: str, oid: int) -> dict[str, str]:
    return {"object": obj_type, "id": id_to_str(oid)}


def _clean_set(values: Any, sanitize: Callable[[Any], str | None], path: str, problem: str) -> dict[str, bool]:
    """A JMAP set property (``{value: true}``) from a list, each value sanitised as the server does."""
    out: dict[str, bool] = {}
    for value in values:
        clean = sanitize(value)
        if clean is None:
            raise _bad_patch(path, problem)
        out[clean] = True
    return out


def _bad_patch(path: str, message: str = "Invalid property") -> SetErr:
    return SetErr("invalidPatch", message, [path])


@dataclass
class RegistryOptions:
    external_directory: bool = True  # storage.directory is LDAP: passwords refused
    hostname: str = "mail.namgun.or.kr"


@dataclass
class RegistryWrite:
    op: str
    obj_type: str
    oid: int
    label: str
    via: str


@dataclass
class Registry:
    options: RegistryOptions = field(default_factory=RegistryOptions)
    objects: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {t: {} for t in OBJECT_TYPES})
    origin: dict[tuple[str, int], str] = field(default_factory=dict)
    writes: list[RegistryWrite] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OBJECT_TYPES, 0))
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ------------------------------------------------------------------------------ lookups
    def domain_name(self, oid: int) -> str | None:
        found = self.objects["Domain"].get(oid)
        return found["name"] if found else None

    def domain_by_name(self, name: str) -> int | None:
        for oid, obj in self.objects["Domain"].items():
            if obj["name"] == name or name in obj.get("aliases", {}):
                return oid
        return None

    def email_of(self, obj: dict[str, Any]) -> str | None:
        oid = str_to_id(obj.get("domainId", ""))
        domain = self.domain_name(oid) if oid is not None else None
        return f"{obj['name']}@{domain}" if domain else None

    def _email_keys(self, obj_type: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
        keys = [(obj.get("name", ""), obj.get("domainId", ""))]
        keys += [(a.get("name", ""), a.get("domainId", "")) for a in obj.get("aliases", {}).values()
                 if isinstance(a, dict)] if obj_type != "Domain" else []
        return keys

    def email_owner(self, local: str, domain_id: str, skip: tuple[str, int] | None = None) -> tuple[str, int] | None:
        for obj_type in ("Account", "MailingList"):
            for oid, obj in self.objects[obj_type].items():
                if (obj_type, oid) == skip:
                    continue
                if (local, domain_id) in self._email_keys(obj_type, obj):
                    return obj_type, oid
        return None

    def account_by_email(self, email: str) -> tuple[int, dict[str, Any]] | None:
        for oid, obj in self.objects["Account"].items():
            if self.email_of(obj) == email:
                return oid, obj
        return None

    def insert(self, obj_type: str, obj: dict[str, Any], via: str, origin: str = "internal") -> int:
        oid = self.counters[obj_type]
        self.counters[obj_type] += 1
        self.objects[obj_type][oid] = obj
        self.origin[(obj_type, oid)] = origin
        self.writes.append(RegistryWrite("create", obj_type, oid, obj.get("name", obj.get("selector", "")), via))
        return oid

    def writes_to(self, obj_type: str, oid: int, via: str = "api") -> list[RegistryWrite]:
        return [w for w in self.writes if w.obj_type == obj_type and w.oid == oid and w.via == via]

    # ------------------------------------------------------------------------------ render
    def render(self, obj_type: str, oid: int, properties: list[str] | None = None) -> dict[str, Any]:
        obj = copy.deepcopy(self.objects[obj_type][oid])
        if obj_type == "Account":
            for cred in obj.get("credentials", {}).values():
                cred["secret"] = MASKED
                if cred.get("otpAuth"):
                    cred["otpAuth"] = MASKED
            obj["emailAddress"] = self.email_of(obj)
            obj["usedDiskQuota"] = 0
        elif obj_type == "MailingList":
            obj["emailAddress"] = self.email_of(obj)
        elif obj_type == "DkimSignature":
            pem = obj["privateKey"].get("secret", "")
            obj["privateKey"] = {"@type": obj["privateKey"].get("@type", "Text"), "secret": MASKED}
            try:
                obj["publicKey"] = dkim.public_key_b64(pem)
            except ValueError:
                pass
        elif obj_type == "Domain":
            obj["dnsZoneFile"] = dns_records.zone_file(self.dns_records(obj["name"], oid))
        obj["id"] = id_to_str(oid)
        if properties:
            keep = set(properties) | {"id"}
            obj = {k: v for k, v in obj.items() if k in keep}
        return obj

    def dns_records(self, domain: str, domain_oid: int) -> list[dict[str, str]]:
        sigs = {}
        for oid, sig in self.objects["DkimSignature"].items():
            if sig["domainId"] == id_to_str(domain_oid):
                algo = "rsa-sha256" if DKIM_TYPES[sig["@type"]] == "rsa" else "ed25519-sha256"
                sigs[id_to_str(oid)] = {"domain": domain, "selector": sig["selector"], "algorithm": algo,
                                        "private-key": sig["privateKey"].get("secret", "")}
        return dns_records.build_records(domain, self.options.hostname, sigs)

    # ------------------------------------------------------------------------------ get / query
    def get(self, obj_type: str, ids: list[str] | None, properties: list[str] | None) -> dict[str, Any]:
        if ids is not None and len(ids) > GET_MAX:
            raise MethodErr("requestTooLarge")
        with self.lock:
            if ids is None:
                wanted = sorted(self.objects[obj_type])[:GET_MAX]  # silently capped (get.rs)
                listed = [self.render(obj_type, oid, properties) for oid in wanted]
                return {"accountId": None, "state": None, "list": listed, "notFound": []}
            listed, not_found = [], []
            for raw in ids:
                oid = str_to_id(raw) if isinstance(raw, str) else None
                if oid is None or oid not in self.objects[obj_type]:
                    not_found.append(raw)
                else:
                    listed.append(self.render(obj_type, oid, properties))
            return {"accountId": None, "state": None, "list": listed, "notFound": not_found}

    def query(self, obj_type: str, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            matched = [oid for oid in sorted(self.objects[obj_type])
                       if self._matches(obj_type, oid, args.get("filter"))]
        position = args.get("position") or 0
        limit = min(args.get("limit") or QUERY_MAX, QUERY_MAX)
        anchor = args.get("anchor")
        if anchor is not None:
            anchor_id = str_to_id(anchor)
            if anchor_id not in matched:
                raise MethodErr("anchorNotFound")
            position = matched.index(anchor_id) + (args.get("anchorOffset") or 0)
        if position < 0:
            position = max(len(matched) + position, 0)
        window = matched[position:position + limit]
        out: dict[str, Any] = {"accountId": None, "queryState": "0", "canCalculateChanges": False,
                               "position": position, "ids": [id_to_str(i) for i in window]}
        if args.get("calculateTotal"):
            out["total"] = len(matched)
        if limit < len(matched) - position:
            out["limit"] = limit
        return out

    def _matches(self, obj_type: str, oid: int, flt: Any) -> bool:
        if not flt:
            return True
        if "operator" in flt:
            results = [self._matches(obj_type, oid, c) for c in flt.get("conditions", [])]
            op = flt["operator"]
            if op == "AND":
                return all(results)
            if op == "OR":
                return any(results)
            if op == "NOT":
                return not any(results)
            raise MethodErr("unsupportedFilter", f"Unknown operator {op}")
        obj = self.objects[obj_type][oid]
        for key, value in flt.items():
            if key in ("text", "name"):
                tokens = _tokens(str(value))
                haystack = _tokens(obj.get("name", ""))
                if key == "text":
                    haystack |= _tokens(obj.get("description") or "")
                    if obj_type == "Account":
                        haystack |= _tokens(self.email_of(obj) or "")
                    for alias in obj.get("aliases", {}):
                        haystack |= _tokens(alias if isinstance(alias, str) else "")
                if not tokens <= haystack:
                    return False
            elif key == "domainId" and obj_type in ("Account", "MailingList", "DkimSignature"):
                if obj.get("domainId") != value:
                    return False
            elif key == "@type" and obj_type == "Account":
                if obj.get("@type") != value:
                    return False
            elif key == "memberGroupIds" and obj_type == "Account":
                if value not in obj.get("memberGroupIds", {}):
                    return False
            else:
                raise MethodErr("unsupportedFilter", f"Unsupported filter property {key}")
        return True

    # ------------------------------------------------------------------------------ set
    def set(self, obj_type: str, args: dict[str, Any], caller: Identity, created_ids: dict[str, str],
            via: str = "api") -> dict[str, Any]:
        create = args.get("create") or {}
        update = args.get("update") or {}
        destroy = args.get("destroy") or []
        if len(create) + len(update) + len(destroy) > SET_MAX:
            raise MethodErr("requestTooLarge")
        resp: dict[str, Any] = {"accountId": None, "oldState": None, "newState": None, "created": {},
                                "updated": {}, "destroyed": [], "notCreated": {}, "notUpdated": {},
                                "notDestroyed": {}}
        with self.lock:
            for cid, value in create.items():
                try:
                    self._check_perm(caller, obj_type, "create")
                    obj = self._build(obj_type, _resolve_refs(value, created_ids), None, caller)
                    oid = self.insert(obj_type, obj, via)
                    self._after_create(obj_type, oid, obj, via)
                    created_ids[cid] = id_to_str(oid)
                    extra = {"id": id_to_str(oid)}
                    if obj_type == "Account":
                        extra["emailAddress"] = self.email_of(obj)
                    resp["created"][cid] = extra
                except SetErr as err:
                    resp["notCreated"][cid] = err.doc
            for raw_id, patch in update.items():
                oid = str_to_id(raw_id)
                try:
                    self._check_perm(caller, obj_type, "update")
                    if raw_id in destroy:
                        raise SetErr("willDestroy", "ID will be destroyed.")
                    if oid is None or oid not in self.objects[obj_type]:
                        raise SetErr("notFound")
                    old = self.objects[obj_type][oid]
                    new = self._build(obj_type, _resolve_refs(patch, created_ids), (oid, old), caller)
                    if new != old:
                        self.objects[obj_type][oid] = new
                        self.writes.append(RegistryWrite("update", obj_type, oid, new.get("name", ""), via))
                    resp["updated"][raw_id] = None
                except SetErr as err:
                    resp["notUpdated"][raw_id] = err.doc
            for raw_id in destroy:
                oid = str_to_id(raw_id)
                try:
                    self._check_perm(caller, obj_type, "destroy")
                    if oid is None or oid not in self.objects[obj_type]:
                        raise SetErr("notFound")
                    linked = self._linked(obj_type, oid)
                    if linked:
                        raise SetErr("objectIsLinked", objectId=object_id(obj_type, oid), linkedObjects=linked)
                    obj = self.objects[obj_type].pop(oid)
                    self.writes.append(RegistryWrite("delete", obj_type, oid, obj.get("name", ""), via))
                    resp["destroyed"].append(raw_id)
                except SetErr as err:
                    resp["notDestroyed"][raw_id] = err.doc
        return resp

    def _check_perm(self, caller: Identity, obj_type: str, verb: str) -> None:
        if not caller.has(f"sys{obj_type}{PERMISSION[verb]}"):
            raise SetErr("forbidden", f"You do not have permission to {verb} {obj_type} objects.")

    def _linked(self, obj_type: str, oid: int) -> list[dict[str, str]]:
        if obj_type != "Domain" and obj_type != "Account":
            return []
        ref = id_to_str(oid)
        linked = []
        for other_type in ("Account", "MailingList", "DkimSignature"):
            for other_id, obj in self.objects[other_type].items():
                refs = {obj.get("domainId")} | {a.get("domainId") for a in obj.get("aliases", {}).values()
                                                if isinstance(a, dict)}
                if obj_type == "Account":
                    refs = set(obj.get("memberGroupIds", {}))
                if ref in refs:
                    linked.append(object_id(other_type, other_id))
        return linked

    # ------------------------------------------------------------------------------ build + validate
    def _build(self, obj_type: str, value: Any, existing: tuple[int, dict[str, Any]] | None,
               caller: Identity) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SetErr("invalidPatch", "Invalid object")
        if existing is None or ("@type" in value and value["@type"] != existing[1].get("@type")):
            base = _defaults(obj_type, value.get("@type"))
            if existing is not None and obj_type == "Account":
                raise SetErr("invalidProperties", "Cannot change the type of an existing account.", ["@type"])
            for key, val in value.items():
                _patch_path(base, obj_type, key, val, create=True)
            new = base
        else:
            new = copy.deepcopy(existing[1])
            for key, val in value.items():
                if key == "@type":
                    continue
                _patch_path(new, obj_type, key, val, create=False)
        new = _normalise(obj_type, new)
        validate = {"Domain": self._validate_domain, "Account": self._validate_account,
                    "MailingList": self._validate_list, "DkimSignature": self._validate_dkim}[obj_type]
        validate(new, existing, caller)
        return new

    def _require(self, obj: dict[str, Any], props: tuple[str, ...]) -> None:
        missing = [{"type": "Required", "property": p} for p in props if not obj.get(p)]
        if missing:
            raise SetErr("validationFailed", validationErrors=missing)

    def _foreign(self, obj_type: str, raw: str, type_filter: str | None = None) -> int:
        oid = str_to_id(raw) if isinstance(raw, str) else None
        target = self.objects[obj_type].get(oid) if oid is not None else None
        if target is None or (type_filter and target.get("@type") != type_filter):
            raise SetErr("invalidForeignKey", objectId={"object": obj_type, "id": raw})
        return oid  # type: ignore[return-value]

    def _validate_domain(self, obj: dict[str, Any], existing: tuple[int, dict[str, Any]] | None,
                         caller: Identity) -> None:
        self._require(obj, ("name",))
        skip = existing[0] if existing else None
        for oid, other in self.objects["Domain"].items():
            if oid == skip:
                continue
            if obj["name"] == other["name"] or obj["name"] in other.get("aliases", {}):
                raise SetErr("primaryKeyViolation", properties=["name"], objectId=object_id("Domain", oid))
            for alias in obj.get("aliases", {}):
                if alias == other["name"] or alias in other.get("aliases", {}):
                    raise SetErr("primaryKeyViolation", properties=["aliases"], objectId=object_id("Domain", oid))

    def _validate_addresses(self, obj_type: str, obj: dict[str, Any], existing: Existing) -> None:
        self._require(obj, ("name", "domainId"))
        self._foreign("Domain", obj["domainId"])
        for alias in obj.get("aliases", {}).values():
            self._foreign("Domain", alias.get("domainId", ""))
        skip = (obj_type, existing[0]) if existing else None
        seen: set[tuple[str, str]] = set()
        for key in self._email_keys(obj_type, obj):
            holder = self.email_owner(key[0], key[1], skip)
            if holder is not None or key in seen:
                held = holder or (obj_type, existing[0] if existing else -1)
                raise SetErr("primaryKeyViolation", properties=["email"], objectId=object_id(*held))
            seen.add(key)

    def _validate_account(self, obj: dict[str, Any], existing: tuple[int, dict[str, Any]] | None,
                          caller: Identity) -> None:
        self._validate_addresses("Account", obj, existing)
        for group in obj.get("memberGroupIds", {}):
            self._foreign("Account", group, "Group")
        roles = obj.get("roles", {})
        if roles.get("@type") == "Admin" and not caller.is_admin:
            raise SetErr("forbidden", "You are not authorized to grant permissions: impersonate and more")
        for role_id in roles.get("roleIds", {}):
            raise SetErr("invalidForeignKey", objectId={"object": "Role", "id": role_id})
        if obj["@type"] != "User":
            return
        old_creds = existing[1].get("credentials", {}) if existing else {}
        old_by_id = {c.get("credentialId"): c for c in old_creds.values()}
        max_id = max((int(c["credentialId"]) for c in old_creds.values() if "credentialId" in c), default=-1)
        passwords = 0
        for cred in obj.get("credentials", {}).values():
            kind = cred.get("@type")
            if kind in ("AppPassword", "ApiKey") and cred.get("credentialId") not in old_by_id:
                raise SetErr("invalidProperties", "Secondary credentials cannot be set directly.", ["credentials"])
            if kind != "Password":
                raise SetErr("invalidPatch", "Invalid credential type", ["credentials"])
            passwords += 1
            if passwords > 1:
                raise SetErr("invalidProperties", "Only one password credential is allowed.", ["credentials"])
            previous = old_by_id.get(cred.get("credentialId"))
            if cred.get("secret") == MASKED and previous is not None:
                cred["secret"] = previous["secret"]  # the client echoed the mask back
                continue
            if previous is not None and cred.get("secret") == previous.get("secret"):
                continue
            if self.options.external_directory:
                verb = "change" if previous is not None else "set"
                raise SetErr("forbidden", f"Cannot {verb} credentials for accounts in an external directory.")
            secret = cred.get("secret")
            if not isinstance(secret, str) or not secret:
                raise SetErr("validationFailed", validationErrors=[{"type": "Required", "property": "secret"}])
            if not (secret[:1] in "${" and is_password_hash(secret)):
                problem = strength_error(secret)
                if problem:
                    raise SetErr("invalidProperties", problem, ["secret"])
                cred["secret"] = hash_v016(secret)
            if previous is None:
                max_id += 1
                cred["credentialId"] = str(max_id)
        # Store credentials keyed by position again (List<T> encoding).
        obj["credentials"] = {str(i): c for i, c in enumerate(obj.get("credentials", {}).values())}

    def _validate_list(self, obj: dict[str, Any], existing: Existing, caller: Identity) -> None:
        self._validate_addresses("MailingList", obj, existing)

    def _validate_dkim(self, obj: dict[str, Any], existing: Existing, caller: Identity) -> None:
        self._require(obj, ("domainId", "selector"))
        self._foreign("Domain", obj["domainId"])
        secret = obj.get("privateKey", {}).get("secret")
        if obj.get("privateKey", {}).get("@type") != "Text" or not isinstance(secret, str):
            raise SetErr("validationFailed", validationErrors=[{"type": "Required", "property": "privateKey"}])
        if existing is None or existing[1]["privateKey"].get("secret") != secret:
            try:
                if dkim.key_algorithm(secret) != DKIM_TYPES[obj["@type"]]:
                    raise ValueError("key type does not match the signature algorithm")
            except (ValueError, TypeError) as exc:
                raise SetErr("invalidProperties", f"Failed to validate DKIM signature: {exc}") from None

    def _after_create(self, obj_type: str, oid: int, obj: dict[str, Any], via: str) -> None:
        """A new domain with automatic DKIM gets keys generated (DkimManagement task, domain.rs)."""
        if obj_type != "Domain" or obj.get("dkimManagement", {}).get("@type") != "Automatic":
            return
        algorithms = obj["dkimManagement"].get("algorithms") or {"Dkim1Ed25519Sha256": True, "Dkim1RsaSha256": True}
        template = obj["dkimManagement"].get("selectorTemplate", "v{version}-{algorithm}-{date-%Y%m%d}")
        today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        for sig_type in algorithms:
            algo = DKIM_TYPES[sig_type]
            selector = (template.replace("{version}", "2" if sig_type.startswith("Dkim2") else "1")
                        .replace("{algorithm}", algo).replace("{hash}", "sha256")
                        .replace("{date-%Y%m%d}", today))
            sig = _defaults("DkimSignature", sig_type)
            sig.update({"domainId": id_to_str(oid), "selector": selector,
                        "privateKey": {"@type": "Text", "secret": dkim.generate_private_key(algo)}})
            self.insert("DkimSignature", sig, via="server")


# ---------------------------------------------------------------------------------- helpers
def _tokens(text: str) -> set[str]:
    out, word = set(), []
    for ch in text:
        if ch.isalnum():
            word.append(ch.lower())
        else:
            if len(word) > 1:
                out.add("".join(word))
            word = []
    if len(word) > 1:
        out.add("".join(word))
    return out


def _resolve_refs(value: Any, created: dict[str, str]) -> Any:
    """`#creationId` references inside a create/update (RFC 8620 §5.3, used by migrate_v016.py)."""
    if isinstance(value, str) and value.startswith("#") and value[1:] in created:
        return created[value[1:]]
    if isinstance(value, dict):
        return {_resolve_refs(k, created) if isinstance(k, str) else k: _resolve_refs(v, created)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, created) for v in value]
    return value


def _defaults(obj_type: str, variant: str | None) -> dict[str, Any]:
    now = _now()
    if obj_type == "Domain":
        return {"name": "", "aliases": {}, "isEnabled": True, "createdAt": now, "description": None, "logo": None,
                "certificateManagement": {"@type": "Manual"},
                "dkimManagement": {"@type": "Automatic"}, "dnsManagement": {"@type": "Manual"},
                "memberTenantId": None, "directoryId": None, "catchAllAddress": None,
                "subAddressing": {"@type": "Enabled"}, "allowRelaying": False,
                "reportAddressUri": "mailto:postmaster", "allowScimProvisioning": False}
    if obj_type == "Account":
        if variant not in ("User", "Group"):
            raise SetErr("invalidPatch", "Invalid or missing @type", ["@type"])
        base: dict[str, Any] = {"@type": variant, "name": "", "domainId": "", "createdAt": now,
                                "memberTenantId": None, "roles": {"@type": "User" if variant == "User" else "Default"},
                                "permissions": {"@type": "Inherit"}, "quotas": {}, "aliases": {},
                                "description": None, "locale": "en_US", "timeZone": None, "externalId": None}
        if variant == "User":
            base.update({"credentials": {}, "memberGroupIds": {}, "encryptionAtRest": {"@type": "Disabled"}})
        return base
    if obj_type == "MailingList":
        return {"name": "", "domainId": "", "description": None, "aliases": {}, "memberTenantId": None,
                "recipients": {}}
    if variant not in DKIM_TYPES:
        raise SetErr("invalidPatch", "Invalid or missing @type", ["@type"])
    sig: dict[str, Any] = {"@type": variant, "domainId": "", "memberTenantId": None, "selector": "",
                           "privateKey": {"@type": "Text", "secret": ""}, "createdAt": now,
                           "nextTransitionAt": None, "stage": "active"}
    if variant.startswith("Dkim1"):
        sig.update({"auid": None, "canonicalization": "relaxed/relaxed", "expire": None,
                    "headers": {"From": True, "To": True, "Date": True, "Subject": True, "Message-ID": True},
                    "report": True, "thirdParty": None, "thirdPartyHash": None})
    else:
        sig["flags"] = {}
    return sig


_SERVER_SET = {"id", "createdAt", "emailAddress", "usedDiskQuota", "publicKey", "dnsZoneFile"}
_MAP_FIELDS = {"aliases", "memberGroupIds", "recipients", "headers"}  # Map<T> (Domain aliases) or List<T>
_OBJECT_FIELDS = {"credentials", "quotas", "roles", "permissions", "certificateManagement", "dkimManagement",
                  "dnsManagement", "subAddressing", "encryptionAtRest", "privateKey"}


def _patch_path(obj: dict[str, Any], obj_type: str, path: str, value: Any, create: bool) -> None:
    """Apply one property or JSON-pointer patch (``"credentials/0/secret"``) to the object."""
    parts = path.split("/")
    top = parts[0]
    if top in _SERVER_SET:
        raise _bad_patch(path, "Property is server-set")
    if top not in obj and top != "@type":
        raise _bad_patch(path)
    if len(parts) == 1:
        if top in _MAP_FIELDS | _OBJECT_FIELDS and value is not None and not isinstance(value, dict):
            raise _bad_patch(path, "Invalid value for object property")
        obj[top] = _clean(obj_type, top, value, path)
        return
    target: Any = obj
    for part in parts[:-1]:
        if not isinstance(target, dict) or part not in target:
            raise _bad_patch(path, "Invalid path")
        target = target[part]
    if not isinstance(target, dict):
        raise _bad_patch(path, "Invalid path")
    if value is None and top in _MAP_FIELDS | {"credentials"}:
        target.pop(parts[-1], None)  # removing a Map/List entry
    else:
        target[parts[-1]] = value


def _clean(obj_type: str, prop: str, value: Any, path: str) -> Any:
    if prop == "name" and obj_type == "Domain":
        out = sanitize_domain(value) if isinstance(value, str) else None
        if out is None:
            raise _bad_patch(path, "Invalid domain name")
        return out
    if prop == "name":
        out = sanitize_email_local(value) if isinstance(value, str) else None
        if out is None:
            raise _bad_patch(path, "Invalid email local part")
        return out
    if prop == "aliases" and obj_type == "Domain":
        return _clean_set(value, sanitize_domain, path, "Invalid domain name")
    if prop == "aliases":
        out_list = {}
        for key, alias in value.items():
            if not isinstance(alias, dict):
                raise _bad_patch(path, "Invalid value for object property")
            local = sanitize_email_local(alias.get("name", ""))
            if local is None:
                raise _bad_patch(f"{path}/{key}/name", "Invalid email local part")
            out_list[str(len(out_list))] = {"enabled": alias.get("enabled", True), "name": local,
                                            "domainId": alias.get("domainId", ""),
                                            "description": alias.get("description")}
        return out_list
    if prop == "recipients":
        return _clean_set(value, sanitize_email, path, "Invalid email address")
    if prop == "quotas":
        for key, amount in value.items():
            if key not in STORAGE_QUOTAS:
                raise _bad_patch(path, "Invalid key for object property")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise _bad_patch(path, "Invalid value")
        return dict(value)
    if prop == "credentials":
        return {str(i): dict(c) for i, c in enumerate(v for v in value.values() if isinstance(v, dict))}
    return copy.deepcopy(value)


def _normalise(obj_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    if obj_type in ("Account", "MailingList") and "aliases" in obj:
        obj["aliases"] = {str(i): a for i, a in enumerate(obj["aliases"].values())}
    return obj
