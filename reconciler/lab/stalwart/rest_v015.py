"""HTTP routes of a v0.15.5 server: `/api/...` management plus the (mail-only) JMAP session.

Router per stalwart-api.md §12 and ``crates/http/src/management/mod.rs`` / ``request.rs`` at v0.15.5.
The server object (:class:`reconciler.lab.stalwart.server.StalwartState`) supplies the directory,
settings and authentication; this module turns requests into the v0.15 wire answers.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from . import dkim, dns_records
from . import principals_v015 as principals
from .auth import check_secret, decode_api_key
from .identity import FALLBACK_ADMIN_PERMISSIONS, Identity
from .ldap import copy_in
from .problems import JSON, PROBLEM, MgmtError, Problem, already_exists, forbidden, invalid_parameters, not_found

if TYPE_CHECKING:
    from .server import StalwartState

Answer = tuple[int, bytes, list[tuple[str, str]]]


def _data(value: Any) -> Answer:
    return 200, json.dumps({"data": value}, ensure_ascii=False).encode(), [("Content-Type", JSON)]


def problem_answer(problem: Problem) -> Answer:
    return problem.status, problem.body(), [("Content-Type", PROBLEM), *problem.headers]


def basic_lookup(state: StalwartState, on_api: bool):
    """Order of checks: default directory (LDAP), fallback admin, then on `/api` apiKey principals."""
    def lookup(username: str, secret: str) -> Identity | None:
        cfg = state.config
        if cfg.ldap_default_directory:
            user = state.ldap.bind(username, secret)
            if user is not None:
                mirror = copy_in(state.directory, user)
                return Identity(mirror.name, principals.identity_permissions(state.directory, mirror), "account")
        if username == cfg.fallback_admin_user and check_secret(cfg.fallback_admin_secret, secret):
            return Identity(username, FALLBACK_ADMIN_PERMISSIONS, "fallback-admin")
        with state.directory.lock:
            found = state.directory.get(username)
            if found is None:
                return None
            if found.type == "apiKey" and on_api and check_secret(found.password, secret):
                return Identity(found.name, principals.identity_permissions(state.directory, found), "api-key")
            if (not cfg.ldap_default_directory and found.type == "individual"
                    and check_secret(found.password, secret)):
                return Identity(found.name, principals.identity_permissions(state.directory, found), "account")
        return None
    return lookup


def bearer_lookup(state: StalwartState, on_api: bool):
    def lookup(token: str) -> Identity | None:
        decoded = decode_api_key(token) if on_api else None
        if decoded is None:
            return None  # any other Bearer value is an OAuth token; the lab issues none
        name, secret = decoded
        with state.directory.lock:
            found = state.directory.get(name)
            if found is not None and found.type == "apiKey" and check_secret(found.password, secret):
                return Identity(found.name, principals.identity_permissions(state.directory, found), "api-key")
        return None
    return lookup


def handle(state: StalwartState, method: str, path: str, query: str, headers: Any, body: bytes,
           client_ip: str) -> Answer:
    try:
        if path == "/.well-known/jmap" and method == "GET":
            return 307, b"", [("Location", "/jmap/session"), ("Cache-Control", "no-store, no-cache")]
        if path == "/jmap/session" and method == "GET":
            return _session(state, headers, client_ip)
        if path.startswith("/api/") or path == "/api":
            if method == "OPTIONS":
                # JsonProblemResponse(NO_CONTENT) in v0.15.5 request.rs
                doc = {"type": "about:blank", "title": "No Content", "status": 204, "detail": "No Content"}
                return 204, json.dumps(doc).encode(), [("Content-Type", PROBLEM)]
            identity = state.auth.authenticate(headers.get("Authorization"), client_ip,
                                               basic_lookup(state, True), bearer_lookup(state, True),
                                               challenges_on_failed=False, v016=False)
            if len(body) > 1024 * 1024:
                raise Problem(400, "Invalid parameters", "Request body too large")
            return _route_api(state, identity, method, path, dict(parse_qsl(query)), body)
        raise not_found()
    except MgmtError as err:
        return 200, json.dumps(err.body, ensure_ascii=False).encode(), [("Content-Type", JSON)]
    except Problem as problem:
        return problem_answer(problem)


def _route_api(state: StalwartState, caller: Identity, method: str, path: str, params: dict[str, str],
               body: bytes) -> Answer:
    parts = [unquote(p) for p in path.split("/")[2:]]
    head = parts[0] if parts else ""
    options = state.principal_options()
    if head == "principal":
        with state.directory.lock:
            if len(parts) == 1:
                if method == "GET":
                    return _data(principals.list_principals(state.directory, caller, params))
                if method == "POST":
                    return _data(principals.create(state.directory, caller, body, options))
                if method == "DELETE":
                    targets = principals.bulk_delete_targets(state.directory, caller, params)
                    _delete_later(state, [t.name for t in targets])  # asynchronous (§5.5)
                    return _data(bool(targets))
            elif len(parts) == 2 and parts[1] == "deploy" and method == "POST":
                return _data(principals.create(state.directory, caller, body, options, deploy=True))
            elif len(parts) == 2:
                if method == "GET":
                    return _data(principals.get(state.directory, caller, parts[1]))
                if method == "PATCH":
                    principals.patch(state.directory, caller, parts[1], body, options)
                    return _data(None)
                if method == "DELETE":
                    principals.delete(state.directory, caller, parts[1])
                    return _data(None)
        raise not_found()
    if head == "dkim":
        return _dkim(state, caller, method, parts, body)
    if head == "dns" and len(parts) == 3 and parts[1] == "records" and method == "GET":
        if not caller.has("domain-get"):
            raise forbidden()
        with state.directory.lock:
            sigs = state.directory.signatures()
        return _data(dns_records.build_records(parts[2], state.config.hostname, sigs))
    if head == "reload" and method == "GET":
        if not caller.has("settings-reload"):
            raise forbidden()
        state.reloaded_at = time.time()
        return _data({"warnings": {}, "errors": {}})
    if head == "settings":
        return _settings(state, caller, method, parts, params, body)
    raise not_found()


def _delete_later(state: StalwartState, names: list[str]) -> None:
    def run() -> None:
        time.sleep(0.05)
        with state.directory.lock:
            for name in names:
                found = state.directory.get(name)
                if found is not None:
                    state.directory.remove(found)
    threading.Thread(target=run, daemon=True).start()


def _dkim(state: StalwartState, caller: Identity, method: str, parts: list[str], body: bytes) -> Answer:
    if method == "GET":
        if not caller.has("dkim-signature-get"):
            raise forbidden()
        if len(parts) < 2:
            raise not_found()
        with state.directory.lock:
            sub = state.directory.signatures().get(parts[1], {})
        if "private-key" not in sub or sub.get("algorithm") not in ("rsa-sha256", "ed25519-sha256"):
            raise not_found()
        try:
            return _data(dkim.public_key_b64(sub["private-key"]))
        except ValueError:
            raise MgmtError({"error": "other", "details": "Failed to read RSA DER", "reason": None}) from None
    if method == "POST":
        if not caller.has("dkim-signature-create"):
            raise forbidden()
        try:
            req = json.loads(body or b"null")
            algo = {"Rsa": "rsa", "Ed25519": "ed25519"}[req["algorithm"]]  # case-sensitive
            domain = req["domain"]
            if not isinstance(domain, str) or set(req) - {"id", "algorithm", "domain", "selector"}:
                raise ValueError
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid_parameters() from exc
        sig_id = req.get("id") or f"{algo}-{domain}"
        selector = req.get("selector") or dkim.default_selector(algo)
        with state.directory.lock:
            existing = state.directory.settings.get(f"signature.{sig_id}.private-key")
            if existing is not None:
                # Leaks the existing private key, exactly as the server does (§10.2).
                raise already_exists(f"signature.{sig_id}.private-key", existing)
            state.directory.settings.update(signature_settings(sig_id, algo, domain, selector,
                                                               dkim.generate_private_key(algo)))
        return _data(None)
    raise not_found()


def signature_settings(sig_id: str, algo: str, domain: str, selector: str, pem: str) -> dict[str, str]:
    prefix = f"signature.{sig_id}."
    out = {prefix + "private-key": pem, prefix + "domain": domain, prefix + "selector": selector,
           prefix + "algorithm": f"{algo}-sha256", prefix + "canonicalization": "relaxed/relaxed",
           prefix + "report": "false"}
    for i, header in enumerate(("From", "To", "Date", "Subject", "Message-ID")):
        out[f"{prefix}headers.{i}"] = header
    return out


def _settings(state: StalwartState, caller: Identity, method: str, parts: list[str], params: dict[str, str],
              body: bytes) -> Answer:
    if method == "GET" and len(parts) == 2 and parts[1] == "list":
        if not caller.has("settings-list"):
            raise forbidden()
        prefix = params.get("prefix", "")
        with state.directory.lock:
            items = {k[len(prefix) + 1:] if prefix else k: v for k, v in sorted(state.directory.settings.items())
                     if not prefix or k.startswith(prefix + ".")}
        return _data({"total": len(items), "items": items})
    if method == "POST" and len(parts) == 1:
        if not caller.has("settings-update"):
            raise forbidden()
        try:
            ops = json.loads(body or b"null")
            assert isinstance(ops, list)
        except (ValueError, AssertionError) as exc:
            raise invalid_parameters() from exc
        with state.directory.lock:
            for op in ops:
                if op.get("type") == "delete":
                    for key in op.get("keys", []):
                        state.directory.settings.pop(key, None)
                elif op.get("type") == "clear":
                    prefix, text = op.get("prefix", ""), op.get("filter")
                    for key in [k for k in state.directory.settings if k.startswith(prefix)]:
                        if text is None or text in key:  # substring filter (thunderbird-accounts #1270)
                            del state.directory.settings[key]
                elif op.get("type") == "insert":
                    for key, value in op.get("values", []):
                        state.directory.settings[(op.get("prefix") or "") + key] = value
        return _data(None)
    raise not_found()


def _session(state: StalwartState, headers: Any, client_ip: str) -> Answer:
    """The v0.15 JMAP session: mail capabilities only, no `urn:stalwart:jmap` (§8: no JMAP admin API)."""
    caps = {"urn:ietf:params:jmap:core": {"maxSizeUpload": 50000000, "maxConcurrentUpload": 4,
                                          "maxSizeRequest": 10000000, "maxConcurrentRequests": 4,
                                          "maxCallsInRequest": 16, "maxObjectsInGet": 500,
                                          "maxObjectsInSet": 500,
                                          "collationAlgorithms": ["i;ascii-numeric", "i;ascii-casemap",
                                                                  "i;unicode-casemap"]},
            "urn:ietf:params:jmap:mail": {}, "urn:ietf:params:jmap:submission": {}}
    doc: dict[str, Any] = {"capabilities": caps, "accounts": {}, "primaryAccounts": {}, "username": "",
                           "apiUrl": f"{state.base_url}/jmap/", "state": "0"}
    if headers.get("Authorization"):
        identity = state.auth.authenticate(headers.get("Authorization"), client_ip,
                                           basic_lookup(state, False), bearer_lookup(state, False),
                                           challenges_on_failed=True, v016=False)
        doc["username"] = identity.name
    return 200, json.dumps(doc).encode(), [("Content-Type", JSON)]
