"""HTTP routes of a v0.16+ server: JMAP at `/jmap` (RFC 8620) with the `urn:stalwart:jmap` objects.

Routing from ``crates/http/src/request.rs`` and ``crates/http/src/api/mod.rs`` at v0.16.18:

- ``POST /jmap`` authenticates first, then insists on ``Content-Type: application/json`` if given;
- ``GET /jmap/session`` without ``Authorization`` answers capabilities only; with it, the session
  lists the caller's account, whose ``accountCapabilities`` and ``primaryAccounts`` carry
  ``urn:stalwart:jmap`` (``crates/jmap/src/api/session.rs``); it is *not* a session-level capability;
- ``/api/principal``, ``/api/dkim``, ``/api/dns`` are gone: ``404`` problem+json, before any
  authentication (``handle_api_request``'s catch-all ``ResourceEvent::NotFound``);
- ``x:`` methods do not need their capability in ``using`` (``capability != Capability::Stalwart``
  in ``crates/jmap/src/api/request.rs``); an unknown capability in ``using`` is a request error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import permissions
from .auth import check_secret, decode_api_key
from .identity import FALLBACK_ADMIN_PERMISSIONS, Identity
from .problems import JSON, Problem, not_found
from .registry_v016 import OBJECT_TYPES, MethodErr, Registry
from .rest_v015 import Answer, problem_answer

if TYPE_CHECKING:
    from .server import StalwartState

CORE = "urn:ietf:params:jmap:core"
STALWART = "urn:stalwart:jmap"
KNOWN_CAPABILITIES = frozenset((CORE, STALWART, "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission",
                                "urn:ietf:params:jmap:principals", "urn:ietf:params:jmap:quota",
                                "urn:ietf:params:jmap:blob", "urn:ietf:params:jmap:websocket"))
MAX_CALLS = 16
USER_PERMISSIONS = permissions.USER


def _request_error(ptype: str, detail: str, status: int = 400, **extra: Any) -> Problem:
    # RequestError without a title for the RFC 8620 types (crates/jmap-proto/src/error/request.rs).
    return Problem(status, None, detail, ptype=f"urn:ietf:params:jmap:error:{ptype}", extra=extra)


def _account_identity(registry: Registry, oid: int, obj: dict[str, Any]) -> Identity:
    role = obj.get("roles", {}).get("@type")
    perms = FALLBACK_ADMIN_PERMISSIONS if role == "Admin" else USER_PERMISSIONS
    return Identity(registry.email_of(obj) or obj["name"], frozenset(perms), "account")


def basic_lookup(state: StalwartState):
    def lookup(username: str, secret: str) -> Identity | None:
        cfg, registry = state.config, state.registry
        if cfg.ldap_default_directory:
            user = state.ldap.bind(username.split("@", 1)[0], secret)
            if user is not None:
                found = _jit_account(state, user.uid, user.email)
                if found is not None:
                    return _account_identity(registry, *found)
        if username == cfg.fallback_admin_user and check_secret(cfg.fallback_admin_secret, secret):
            return Identity(username, FALLBACK_ADMIN_PERMISSIONS, "fallback-admin")
        with registry.lock:
            found = registry.account_by_email(username)
            if found is None or cfg.ldap_default_directory:
                return None
            oid, obj = found
            for cred in obj.get("credentials", {}).values():
                if cred.get("@type") == "Password" and check_secret(cred.get("secret"), secret):
                    return _account_identity(registry, oid, obj)
        return None
    return lookup


def bearer_lookup(state: StalwartState):
    def lookup(token: str) -> Identity | None:
        # API keys: the lab accepts the v0.15 `api_<base64(name:secret)>` form for keys configured on
        # the lab (the v0.16 bearer format of ApiKey credentials is unverified).
        decoded = decode_api_key(token)
        if decoded is None:
            return None
        name, secret = decoded
        stored = state.config.api_keys.get(name)
        if stored is not None and check_secret(stored, secret):
            return Identity(name, FALLBACK_ADMIN_PERMISSIONS, "api-key")
        return None
    return lookup


def _jit_account(state: StalwartState, uid: str, email: str) -> tuple[int, dict[str, Any]] | None:
    """Just-in-time copy of an LDAP user into the registry (lab-side write)."""
    registry = state.registry
    with registry.lock:
        found = registry.account_by_email(email.lower())
        if found is not None:
            return found
        domain_oid = registry.domain_by_name(email.rsplit("@", 1)[1].lower())
        if domain_oid is None:
            return None
        from .names import id_to_str
        from .registry_v016 import _defaults
        obj = _defaults("Account", "User")
        obj.update({"name": email.split("@", 1)[0].lower(), "domainId": id_to_str(domain_oid)})
        oid = registry.insert("Account", obj, via="lab", origin="ldap")
        return oid, obj


def handle(state: StalwartState, method: str, path: str, query: str, headers: Any, body: bytes,
           client_ip: str) -> Answer:
    try:
        if path == "/.well-known/jmap" and method == "GET":
            return 307, b"", [("Location", "/jmap/session"), ("Cache-Control", "no-store, no-cache")]
        if path.startswith("/jmap") and method == "OPTIONS":
            return 204, b"", []
        if path == "/jmap/session" and method == "GET":
            return _session(state, headers, client_ip)
        if path in ("/jmap", "/jmap/") and method == "POST":
            identity = state.auth.authenticate(headers.get("Authorization"), client_ip, basic_lookup(state),
                                               bearer_lookup(state), challenges_on_failed=True, v016=True)
            content_type = headers.get("Content-Type")
            if content_type and content_type.split(";", 1)[0].strip().lower() != "application/json":
                raise _request_error("notJSON", "The Content-Type header must be application/json.")
            return 200, json.dumps(process(state, identity, body), ensure_ascii=False).encode(), \
                [("Content-Type", JSON)]
        if path.startswith("/api/") or path == "/api":
            if method == "OPTIONS":
                return 204, b"", []
            head = path.split("/")[2] if path.count("/") >= 2 else ""
            if head == "account":
                identity = state.auth.authenticate(headers.get("Authorization"), client_ip, basic_lookup(state),
                                                   bearer_lookup(state), challenges_on_failed=True, v016=True)
                doc = {"name": identity.name, "permissions": sorted(identity.permissions & USER_PERMISSIONS)}
                return 200, json.dumps(doc).encode(), [("Content-Type", JSON)]
            raise not_found()  # principal, dkim, dns, settings, reload: removed in v0.16.0
        raise not_found()
    except Problem as problem:
        return problem_answer(problem)


def _session(state: StalwartState, headers: Any, client_ip: str) -> Answer:
    base = state.base_url
    caps: dict[str, Any] = {
        CORE: {"maxSizeUpload": 50000000, "maxConcurrentUpload": 4, "maxSizeRequest": 10000000,
               "maxConcurrentRequests": 4, "maxCallsInRequest": MAX_CALLS, "maxObjectsInGet": 500,
               "maxObjectsInSet": 500, "collationAlgorithms": ["i;ascii-numeric", "i;ascii-casemap",
                                                               "i;unicode-casemap"]},
        "urn:ietf:params:jmap:mail": {}, "urn:ietf:params:jmap:submission": {},
        "urn:ietf:params:jmap:websocket": {"url": base.replace("http", "ws", 1) + "/jmap/ws", "supportsPush": True},
    }
    doc: dict[str, Any] = {
        "capabilities": caps, "accounts": {}, "primaryAccounts": {}, "username": "", "apiUrl": f"{base}/jmap/",
        "downloadUrl": f"{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}",
        "uploadUrl": f"{base}/jmap/upload/{{accountId}}/",
        "eventSourceUrl": f"{base}/jmap/eventsource/?types={{types}}&closeafter={{closeafter}}&ping={{ping}}",
        "state": "0"}
    if headers.get("Authorization"):
        identity = state.auth.authenticate(headers.get("Authorization"), client_ip, basic_lookup(state),
                                           bearer_lookup(state), challenges_on_failed=True, v016=True)
        account_id = "a"
        account_caps = {CORE: {}, STALWART: {}, "urn:ietf:params:jmap:principals": {}}
        doc["username"] = identity.name
        doc["accounts"] = {account_id: {"name": identity.name, "isPersonal": True, "isReadOnly": False,
                                        "accountCapabilities": account_caps}}
        doc["primaryAccounts"] = {cap: account_id for cap in account_caps if cap != CORE}
    return 200, json.dumps(doc).encode(), [("Content-Type", JSON)]


def process(state: StalwartState, caller: Identity, body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _request_error("notJSON", "Failed to parse JSON request") from None
    if (not isinstance(request, dict) or not isinstance(request.get("using"), list)
            or not isinstance(request.get("methodCalls"), list)):
        raise _request_error("notRequest", "The request object is invalid.")
    for capability in request["using"]:
        if capability not in KNOWN_CAPABILITIES:
            # The server's text really lacks the space in "supportedby" (request.rs concat!).
            raise _request_error("unknownCapability", f"The Request object used capability '{capability}', "
                                                      "which is not supportedby this server.")
    calls = request["methodCalls"]
    if len(calls) > MAX_CALLS:
        raise _request_error("limit", "The maximum number of method calls was exceeded.", limit="maxCallsInRequest")
    created_ids: dict[str, str] = dict(request.get("createdIds") or {})
    responses: list[list[Any]] = []
    for call in calls:
        if not (isinstance(call, list) and len(call) == 3 and isinstance(call[0], str) and isinstance(call[1], dict)
                and isinstance(call[2], str)):
            raise _request_error("notRequest", "Invalid method call.")
        name, args, call_id = call
        try:
            args = _resolve_results(args, responses)
            responses.append([name, _dispatch(state, caller, name, args, request["using"], created_ids), call_id])
        except MethodErr as err:
            responses.append(["error", err.doc, call_id])
    out: dict[str, Any] = {"methodResponses": responses, "sessionState": "0"}
    if "createdIds" in request:
        out["createdIds"] = created_ids
    return out


def _resolve_results(args: dict[str, Any], responses: list[list[Any]]) -> dict[str, Any]:
    """Result references (RFC 8620 §3.7): ``"#ids": {"resultOf", "name", "path"}``."""
    out = {}
    for key, value in args.items():
        if not key.startswith("#"):
            out[key] = value
            continue
        if not isinstance(value, dict):
            raise MethodErr("invalidResultReference")
        source = next((r for r in responses if r[2] == value.get("resultOf")), None)
        if source is None or source[0] != value.get("name"):
            raise MethodErr("invalidResultReference")
        out[key[1:]] = _pointer(source[1], value.get("path", ""))
    return out


def _pointer(doc: Any, path: str) -> Any:
    parts = [p for p in path.split("/") if p]
    current: list[Any] = [doc]
    for part in parts:
        nxt: list[Any] = []
        for item in current:
            if part == "*" and isinstance(item, list):
                nxt.extend(item)
            elif isinstance(item, dict) and part in item:
                nxt.append(item[part])
            elif isinstance(item, list) and part.isdigit() and int(part) < len(item):
                nxt.append(item[int(part)])
            else:
                raise MethodErr("invalidResultReference")
        current = nxt
    if "*" in parts:
        flat: list[Any] = []
        for item in current:
            flat.extend(item if isinstance(item, list) else [item])
        return flat
    return current[0] if current else None


def _dispatch(state: StalwartState, caller: Identity, name: str, args: dict[str, Any], using: list[str],
              created_ids: dict[str, str]) -> dict[str, Any]:
    if name == "Core/echo":
        if CORE not in using:
            raise MethodErr("unknownMethod", f"Method {name} requires capability {CORE} which is not present "
                                             "in the \"using\" property.")
        return args
    if not name.startswith("x:") or "/" not in name:
        raise MethodErr("unknownMethod", f"Unknown method {name}")
    obj_type, verb = name[2:].split("/", 1)
    if obj_type not in OBJECT_TYPES or verb not in ("get", "set", "query"):
        raise MethodErr("unknownMethod", f"Unknown method {name}")
    registry = state.registry
    if verb == "get":
        if not caller.has(f"sys{obj_type}Get"):
            raise MethodErr("forbidden", "You do not have enough permissions to access this resource.")
        ids = args.get("ids")
        if ids is not None and not isinstance(ids, list):
            raise MethodErr("invalidArguments", "ids must be an array or null")
        return registry.get(obj_type, ids, args.get("properties"))
    if verb == "query":
        if not caller.has(f"sys{obj_type}Query"):
            raise MethodErr("forbidden", "You do not have enough permissions to access this resource.")
        return registry.query(obj_type, args)
    return registry.set(obj_type, args, caller, created_ids)
