"""The v0.15 adapter: REST `/api/principal`, `/api/dkim`, `/api/settings` (stalwart-api.md §1–§10).

Rules it keeps:
- success is decided from the body: management errors come back as HTTP 200 ``{"error": …}``;
- one list pass with the largest page (``limit`` unset = unlimited) restricted to the types managed;
- individuals are created through ``/api/principal/deploy`` (the only way under an LDAP default
  directory, §9); e-mail changes ``set`` the full list (remove + re-add in one PATCH fails, §5.4);
- passwords are sent as SHA-512-crypt hashes, added with ``addItem`` so app passwords and OTP
  secrets survive (a plain secret added replaces the password, §5.4);
- ``fieldAlreadyExists`` for a DKIM id carries the existing private key: never shown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .model import LiveAccount, LiveDkim, LiveDomain, Snapshot, canonical_emails
from .transport import StalwartHTTPError, Transport, json_body

TYPES = "individual,list,group,domain"


class ApiError(Exception):
    """A refused management operation; the message is safe to print."""


def _error_text(body: dict[str, Any], what: str) -> str:
    kind = body.get("error")
    if kind == "fieldAlreadyExists":
        field = str(body.get("field", ""))
        if field.startswith("signature."):
            return f"{what}: the DKIM signature already exists"  # `value` holds the private key
        return f"{what}: {field} {body.get('value')!r} already exists"
    if kind == "notFound":
        return f"{what}: {body.get('item')!r} does not exist on the server (create it first)"
    if kind == "fieldMissing":
        return f"{what}: the server requires {body.get('field')}"
    if kind == "unsupported":
        return f"{what}: not supported by this server: {body.get('details')}"
    details = body.get("details") or kind
    reason = body.get("reason")
    return f"{what}: {details}" + (f" ({reason})" if reason else "")


def _list(value: Any) -> list[str]:
    # v0.15 renders list fields as arrays; older docs show bare strings: accept both (MIG pv_list).
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if isinstance(v, str | int)]


class Rest015:
    generation = "v0.15"

    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self._types: dict[str, str] = {}  # principal name -> type, from the last read

    # ------------------------------------------------------------------------------ helpers
    def _data(self, response: Any, what: str) -> Any:
        body = json_body(response, what)
        if response.status_code == 404:
            raise StalwartHTTPError(f"{what}: not found (HTTP 404)", status=404)
        if response.status_code != 200:
            raise StalwartHTTPError(f"{what}: HTTP {response.status_code}", status=response.status_code)
        if isinstance(body, dict) and "error" in body and "data" not in body:
            raise ApiError(_error_text(body, what))
        if not isinstance(body, dict) or "data" not in body:
            raise StalwartHTTPError(f"{what}: unexpected answer (no data)")
        return body["data"]

    # ------------------------------------------------------------------------------ read
    def list_principals(self) -> tuple[int, Any]:
        """The probe and the list pass in one request: 404 means this is not a v0.15 server."""
        response = self.t.call("GET", "/api/principal", params={"types": TYPES})
        if response.status_code == 404:
            return 404, None
        return 200, self._data(response, "list principals")

    def read(self, listing: Any, want_dkim: bool) -> Snapshot:
        snap = Snapshot(generation=self.generation)
        items = listing.get("items", []) if isinstance(listing, dict) else []
        self._types = {str(p.get("name")): str(p.get("type")) for p in items}
        for p in items:
            name, ptype = str(p.get("name", "")), str(p.get("type", ""))
            if ptype == "domain":
                snap.domains[name] = LiveDomain(name, p.get("description"), str(p.get("id")))
                continue
            secrets = _list(p.get("secrets"))
            password = next((s for s in secrets if not s.startswith(("otpauth://", "$app$"))), None)
            # member_of = groups; being in a list is declared on the list (members), not here
            member_of = sorted(set(_list(p.get("memberOf"))))
            snap.accounts[name] = LiveAccount(
                name=name, type=ptype, description=p.get("description"),
                emails=canonical_emails(_list(p.get("emails"))), roles=sorted(_list(p.get("roles"))),
                member_of=member_of, members=sorted(m.lower() for m in _list(p.get("members"))),
                quota=p.get("quota") if isinstance(p.get("quota"), int) else None, server_id=str(p.get("id")),
                password_hash=password, has_password=password is not None)
        if want_dkim:
            self._read_dkim(snap)
        return snap

    def _read_dkim(self, snap: Snapshot) -> None:
        response = self.t.call("GET", "/api/settings/list", params={"prefix": "signature"})
        data = self._data(response, "list DKIM signatures")
        items: dict[str, str] = data.get("items", {}) if isinstance(data, dict) else {}
        sigs: dict[str, dict[str, str]] = {}
        for key, value in items.items():
            for suffix in ("domain", "selector", "algorithm"):  # private keys are ignored, never kept
                if key.endswith("." + suffix):
                    sigs.setdefault(key[: -len(suffix) - 1], {})[suffix] = str(value)
        for sig_id, sub in sorted(sigs.items()):
            algorithm = sub.get("algorithm", "")
            snap.dkim[sig_id] = LiveDkim(id=sig_id, algorithm="ed25519" if algorithm.startswith("ed25519") else "rsa",
                                         domain=sub.get("domain", "").lower(), selector=sub.get("selector", ""),
                                         server_id=sig_id)

    # ------------------------------------------------------------------------------ writes
    def create_domain(self, name: str, description: str) -> None:
        self._data(self.t.call("POST", "/api/principal",
                               body={"type": "domain", "name": name, "description": description}),
                   f"create domain {name}")

    def update_domain(self, live: LiveDomain, description: str) -> None:
        self._patch(live.name, [{"action": "set", "field": "description", "value": description}], f"domain {live.name}")

    def delete_domain(self, live: LiveDomain) -> None:
        self._data(self.t.call("DELETE", f"/api/principal/{quote(live.name, safe='')}"), f"delete domain {live.name}")

    def create_account(self, spec: dict[str, Any], secret_hash: str | None) -> None:
        body: dict[str, Any] = {"type": spec["type"], "name": spec["name"], "description": spec["description"],
                                "emails": spec["emails"]}
        if spec["type"] == "individual":
            body["roles"] = spec.get("roles") or []
        if spec.get("quota"):
            body["quota"] = spec["quota"]
        if spec.get("member_of"):
            body["memberOf"] = spec["member_of"]
        if spec.get("members"):
            body["members"] = spec["members"]
        if secret_hash is not None:
            body["secrets"] = [secret_hash]
        path = "/api/principal/deploy" if spec["type"] == "individual" else "/api/principal"
        self._data(self.t.call("POST", path, body=body), f"create account {spec['name']}")
        self._types[spec["name"]] = spec["type"]

    def update_account(self, live: LiveAccount, spec: dict[str, Any], fields: list[str],
                       secret_hash: str | None) -> None:
        actions: list[dict[str, Any]] = []
        for field in fields:
            if field == "description":
                actions.append({"action": "set", "field": "description", "value": spec["description"]})
            elif field == "emails":
                actions.append({"action": "set", "field": "emails", "value": spec["emails"]})
            elif field == "roles":
                actions.append({"action": "set", "field": "roles", "value": spec["roles"]})
            elif field == "member_of":
                actions.append({"action": "set", "field": "memberOf", "value": spec["member_of"]})
            elif field == "members":
                actions.append({"action": "set", "field": "members", "value": spec["members"]})
            elif field == "quota":
                actions.append({"action": "set", "field": "quota",
                                "value": spec["quota"] if spec.get("quota") is not None else ""})
            elif field == "secret" and secret_hash is not None:
                actions.append({"action": "addItem", "field": "secrets", "value": secret_hash})
        if "description" not in fields and spec.get("adopt"):
            actions.append({"action": "set", "field": "description", "value": spec["description"]})
        if actions:
            self._patch(live.name, actions, f"account {live.name}")

    def delete_account(self, live: LiveAccount) -> None:
        self._data(self.t.call("DELETE", f"/api/principal/{quote(live.name, safe='')}"),
                   f"delete account {live.name}")

    def _patch(self, name: str, actions: list[dict[str, Any]], what: str) -> None:
        self._data(self.t.call("PATCH", f"/api/principal/{quote(name, safe='')}", body=actions), f"update {what}")

    def create_dkim(self, sig_id: str, algorithm: str, domain: str, selector: str) -> None:
        body = {"id": sig_id, "algorithm": "Rsa" if algorithm == "rsa" else "Ed25519", "domain": domain,
                "selector": selector}
        self._data(self.t.call("POST", "/api/dkim", body=body), f"create DKIM signature {sig_id}")

    def update_dkim(self, live: LiveDkim, selector: str) -> None:
        body = [{"type": "insert", "prefix": None, "values": [[f"signature.{live.id}.selector", selector]],
                 "assert_empty": False}]
        self._data(self.t.call("POST", "/api/settings", body=body), f"update DKIM signature {live.id}")

    def dkim_public_key(self, sig_id: str) -> str:
        try:
            return str(self._data(self.t.call("GET", f"/api/dkim/{quote(sig_id, safe='')}"),
                                  f"DKIM signature {sig_id}"))
        except StalwartHTTPError as exc:
            if exc.status == 404:
                raise ApiError(f"DKIM signature {sig_id!r} does not exist on the server") from None
            raise

    def reload(self) -> None:
        # New DKIM keys sign only after a reload (thunderbird-accounts PR #1023, stalwart-api.md §10.2).
        self._data(self.t.call("GET", "/api/reload"), "reload configuration")
