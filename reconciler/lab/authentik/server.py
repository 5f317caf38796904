"""HTTP front of the Authentik emulator: routing, auth, content negotiation, the ``/core/`` views.

Request order follows Django/DRF as observed (authentik-observed.md §0, §11, §12): URL resolution
(HTML 404/405 for unknown paths and missing trailing slashes) → Accept → authentication →
method → permission → the view (404 of the object, then the body, except where observed otherwise).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.lab.authentik import errors, render, validate
from reconciler.lab.authentik.errors import ApiError
from reconciler.lab.authentik.filters import InternalError, filter_groups, filter_users, flag
from reconciler.lab.authentik.pagination import paginate
from reconciler.lab.authentik.store import AuthentikStore, Group, User
from reconciler.lab.authentik.versions import AuthentikVersion, Switches
from reconciler.lab.common import Fault, LabControl, LabHandler, LabHTTPServer

JSON_TYPE = "application/json; charset=utf-8"  # authentik-observed.md §0

# Django's default error pages (DEBUG off): what the router answers outside the API views.
HTML_404 = (b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
            b"  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n"
            b"</html>\n")
HTML_500 = (b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n'
            b"<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n")

LIST_ALLOW = "GET, POST, HEAD, OPTIONS"
DETAIL_ALLOW = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
ACTION_ALLOW = "POST, OPTIONS"
ME_ALLOW = "GET, HEAD, OPTIONS"


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    view: str
    allow: str
    is_list: bool = False


ROUTES = [
    Route(re.compile(r"^/api/v3/core/users/$"), "users", LIST_ALLOW, True),
    Route(re.compile(r"^/api/v3/core/users/me/$"), "me", ME_ALLOW),
    Route(re.compile(r"^/api/v3/core/users/(?P<pk>[^/.]+)/$"), "user", DETAIL_ALLOW),
    Route(re.compile(r"^/api/v3/core/users/(?P<pk>[^/.]+)/(?P<action>set_password|set_password_hash|"
                     r"recovery|recovery_email)/$"), "user_action", ACTION_ALLOW),
    Route(re.compile(r"^/api/v3/core/groups/$"), "groups", LIST_ALLOW, True),
    Route(re.compile(r"^/api/v3/core/groups/(?P<pk>[^/.]+)/$"), "group", DETAIL_ALLOW),
    Route(re.compile(r"^/api/v3/core/groups/(?P<pk>[^/.]+)/(?P<action>add_user|remove_user)/$"),
          "group_action", ACTION_ALLOW),
]

# Global permission each view/method needs (DRF model permissions; authentik-observed.md §11).
PERMISSIONS: dict[tuple[str, str], str | None] = {
    ("users", "GET"): "view_user", ("users", "HEAD"): "view_user", ("users", "POST"): "add_user",
    ("user", "GET"): "view_user", ("user", "HEAD"): "view_user", ("user", "PATCH"): "change_user",
    ("user", "PUT"): "change_user", ("user", "DELETE"): "delete_user",
    ("set_password", "POST"): "reset_user_password", ("set_password_hash", "POST"): "reset_user_password",
    ("recovery", "POST"): "reset_user_password", ("recovery_email", "POST"): "reset_user_password",
    ("groups", "GET"): "view_group", ("groups", "HEAD"): "view_group", ("groups", "POST"): "add_group",
    ("group", "GET"): "view_group", ("group", "HEAD"): "view_group", ("group", "PATCH"): "change_group",
    ("group", "PUT"): "change_group", ("group", "DELETE"): "delete_group",
    ("add_user", "POST"): "add_user_to_group", ("remove_user", "POST"): "remove_user_from_group",
    ("me", "GET"): None, ("me", "HEAD"): None,
}


def _methods(allow: str) -> set[str]:
    return {m.strip() for m in allow.split(",")}


class AuthentikHandler(LabHandler):
    """One request against the emulated ``/api/v3``."""

    @property
    def store(self) -> AuthentikStore:
        return self.server.state  # type: ignore[no-any-return]

    def _dispatch(self, method: str) -> None:
        # LabHandler.read_body caches the body on the handler, and one handler serves every request
        # of a keep-alive connection: forget the previous request's body first.
        self._body = None  # type: ignore[assignment]
        super()._dispatch(method)

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        try:
            super().reply(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test): nothing to answer

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    # ---- plumbing ----------------------------------------------------------------------------

    def handle_request(self, method: str) -> None:
        split = urlsplit(self.path)
        self.query = parse_qs(split.query, keep_blank_values=True)
        path = split.path
        route, params = self._resolve(path)
        if route is None:
            self.read_body()
            if self._resolve(path + "/")[0] is not None and method not in {"GET", "HEAD"}:
                # authentik-observed.md §0: no APPEND_SLASH redirect; a write gets an empty 405 page.
                self._html(405, b"", allow="GET, HEAD, OPTIONS")
            else:
                self._html(404, HTML_404)
            return
        self.route = route
        try:
            self._serve(method, route, params)
        except ApiError as exc:
            self.read_body()
            if exc.html:
                self._html(exc.status, b"" if exc.status == 405 else HTML_404, allow=exc.allow)
            else:
                self._json(exc.status, exc.body)
        except InternalError:
            # authentik-observed.md §0: an unhandled error is a 500 page on GET, an empty 405 page on POST.
            self.read_body()
            if method in {"GET", "HEAD"}:
                self._html(500, HTML_500)
            else:
                self._html(405, b"", allow="GET, HEAD, OPTIONS")

    def _resolve(self, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in ROUTES:
            match = route.pattern.match(path)
            if match:
                params = match.groupdict()
                if params.get("action") == "set_password_hash" and not self.store.version.has_set_password_hash:
                    continue
                return route, params
        return None, {}

    def _headers(self, allow: str | None) -> dict[str, str]:
        return {"Allow": allow or self.route.allow, "X-Authentik-Id": uuid.uuid4().hex,
                "Vary": "Accept-Language, Cookie", "Content-Language": "en", "X-Frame-Options": "DENY"}

    def _json(self, status: int, body: Any) -> None:
        headers = {"Content-Type": JSON_TYPE, **self._headers(None)}
        self.reply(status, errors.dumps(body), headers)

    def _empty(self, status: int = 204) -> None:
        self.reply(status, b"", self._headers(None))  # authentik-observed.md §0: no Content-Type

    def _html(self, status: int, body: bytes, allow: str | None = None) -> None:
        headers = {"Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY"}
        if allow:
            headers["Allow"] = allow
        self.reply(status, body, headers)

    def _data(self) -> Any:
        """DRF request.data: JSON only (415 otherwise); an empty body is ``{}``."""
        raw = self.read_body()
        if not raw:
            return {}
        content_type = self.headers.get("Content-Type") or ""
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise ApiError.detail(415, errors.unsupported_media(content_type.split(";", 1)[0].strip()))
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            pos = getattr(exc, "pos", 0)
            line = getattr(exc, "lineno", 1)
            col = getattr(exc, "colno", pos + 1)
            what = "unexpected end of data" if pos >= len(raw) else "unexpected character"
            raise ApiError.detail(400, f"JSON parse error - {what}: line {line} column {col} (char {pos})"
                                  ) from None

    def _accept_ok(self) -> bool:
        accept = self.headers.get("Accept")
        if not accept:
            return True
        for item in accept.split(","):
            media = item.split(";", 1)[0].strip().lower()
            if media in {"application/json", "application/*", "*/*"}:
                return True
        return False

    def _authenticate(self, route: Route) -> User:
        """authentik-observed.md §11: always 403, never 401; texts depend on what was sent."""
        header = self.headers.get("Authorization")
        missing_text = errors.NOT_PROVIDED if route.is_list else errors.NO_PERMISSION
        if header is None:
            raise ApiError.detail(403, missing_text)
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer":
            if not key:  # a bare key, no scheme
                raise ApiError.detail(403, errors.NOT_PROVIDED)
            raise ApiError.detail(403, errors.UNSUPPORTED_AUTH)
        if key.strip() == "":
            raise ApiError.detail(403, errors.NOT_PROVIDED)
        user = self.store.token_user(key)  # "Bearer  <key>" keeps a leading space: invalid
        if user is None:
            raise ApiError.detail(403, errors.TOKEN_INVALID)
        return user

    # ---- dispatch ----------------------------------------------------------------------------

    def _serve(self, method: str, route: Route, params: dict[str, str]) -> None:
        if not self._accept_ok():
            raise ApiError.detail(406, errors.NOT_ACCEPTABLE)
        actor = self._authenticate(route)
        if method not in _methods(route.allow):
            raise ApiError.detail(405, errors.method_not_allowed(method))
        view = params.get("action") or route.view
        if method == "OPTIONS":
            self._json(200, self._metadata(route))
            return
        perm = PERMISSIONS.get((view, "GET" if method == "HEAD" else method))
        if perm is not None and not self.store.has_perm(actor, perm):
            raise ApiError.detail(403, errors.NO_PERMISSION)
        handler: Callable[..., None] = getattr(self, f"_v_{view}")
        with self.store.lock:
            handler(method, actor, params.get("pk"))

    def _metadata(self, route: Route) -> dict[str, Any]:
        kind = "User" if "/users/" in route.pattern.pattern else "Group"
        suffix = "List" if route.is_list else "Instance"
        return {"name": f"{kind} {suffix}", "description": f"{kind} Viewset",
                "renders": ["application/json"], "parses": ["application/json"],
                "actions": {"POST": {}} if route.is_list else {"PUT": {}}}

    # ---- users -------------------------------------------------------------------------------

    def _get_user(self, raw_pk: str | None) -> User:
        try:
            pk = int(raw_pk or "")
        except ValueError:
            raise ApiError.detail(404, errors.NOT_FOUND) from None  # observed §4: "abc", a UUID
        user = self.store.users.get(pk)
        if user is None:
            raise ApiError.detail(404, errors.USER_NOT_FOUND)
        return user

    def _v_users(self, method: str, actor: User, _pk: str | None) -> None:
        store = self.store
        if method == "POST":
            data = validate.user_body(store, self._data(), instance=None, partial=False, actor=actor)
            user = store.new_user(data.pop("username"), data.pop("name"))
            self._apply_user(user, data)
            self._json(201, render.user(store, user))  # observed §0: no Location header
            return
        users = filter_users(store, self.query)
        pagination, page = paginate(users, self.query, store.version, store.switches)
        include_groups = flag(self.query, "include_groups", True)
        include_roles = flag(self.query, "include_roles", True)
        results = [render.user(store, u, include_groups=include_groups, include_roles=include_roles)
                   for u in page]
        self._json(200, {"pagination": pagination, "results": results,
                         "autocomplete": render.USER_AUTOCOMPLETE})

    def _apply_user(self, user: User, data: dict[str, Any]) -> None:
        groups = data.pop("groups", None)
        for name, value in data.items():
            setattr(user, name, value)  # attributes: plain assignment, whole dict (observed §5)
        if groups is not None:
            self.store.set_user_groups(user, groups)
        self.store.touch(user)

    def _v_user(self, method: str, actor: User, raw_pk: str | None) -> None:
        store = self.store
        user = self._get_user(raw_pk)
        if method in {"GET", "HEAD"}:
            self._json(200, render.user(store, user,
                                        include_groups=flag(self.query, "include_groups", True),
                                        include_roles=flag(self.query, "include_roles", True)))
        elif method in {"PATCH", "PUT"}:
            data = validate.user_body(store, self._data(), instance=user, partial=method == "PATCH",
                                      actor=actor)
            self._apply_user(user, data)
            self._json(200, render.user(store, user))
        else:
            store.delete_user(user)
            self._empty()

    def _v_me(self, method: str, actor: User, _pk: str | None) -> None:
        self._json(200, render.user_self(self.store, actor))

    def _v_set_password(self, method: str, actor: User, raw_pk: str | None) -> None:
        # observed §7: the body is checked before the user is looked up.
        password = self._password_field()
        user = self._get_user(raw_pk)
        self.store.set_password(user, password)
        self._empty()

    def _v_set_password_hash(self, method: str, actor: User, raw_pk: str | None) -> None:
        hashed = self._password_field()
        user = self._get_user(raw_pk)
        self.store.set_password_hash(user, hashed)
        self._empty()

    def _password_field(self) -> str:
        data = validate.body_object(self._data())
        if "password" not in data:
            raise ApiError.fields({"password": [errors.REQUIRED]})
        value = data["password"]
        if value is None:
            raise ApiError.fields({"password": [errors.NULL]})
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ApiError.fields({"password": [errors.NOT_A_STRING]})
        text = str(value)
        if text.strip() == "":
            raise ApiError.fields({"password": [errors.BLANK]})
        return text

    def _v_recovery(self, method: str, actor: User, raw_pk: str | None) -> None:
        store = self.store
        if store.version.recovery_email_stage_in_body:
            validate.body_object(self._data())  # 2026.2+: optional {token_duration}
        else:
            self.read_body()  # observed §8: body ignored
        if store.recovery_flow_slug is None:
            # observed §8: checked before the user, and a *string*, not a list.
            raise ApiError.fields({"non_field_errors": errors.NO_RECOVERY_FLOW})
        user = self._get_user(raw_pk)
        self._json(200, {"link": self._recovery_link(user)})

    def _recovery_link(self, user: User) -> str:
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.port}"
        token = self.store.recovery_token(user)
        return f"http://{host}/if/flow/{self.store.recovery_flow_slug}/?flow_token={token}"

    def _v_recovery_email(self, method: str, actor: User, raw_pk: str | None) -> None:
        store = self.store
        stage_raw: Any
        if store.version.recovery_email_stage_in_body:
            data = validate.body_object(self._data())
            stage_raw = data.get("email_stage")
            if stage_raw is None:
                raise ApiError.fields({"email_stage": [errors.REQUIRED]})
            try:
                stage: uuid.UUID | None = uuid.UUID(str(stage_raw))
            except ValueError:
                raise ApiError.fields({"email_stage": ["Must be a valid UUID."]}) from None
        else:
            self.read_body()
            values = self.query.get("email_stage")
            stage_raw = values[-1] if values else None
            stage = None
        # observed §8 order: user (404) → email present → flow → stage.
        user = self._get_user(raw_pk)
        if not user.email:
            raise ApiError.fields({"non_field_errors": errors.NO_EMAIL})
        if store.recovery_flow_slug is None:
            raise ApiError.fields({"non_field_errors": errors.NO_RECOVERY_FLOW})
        if not store.version.recovery_email_stage_in_body and stage_raw:
            try:
                stage = uuid.UUID(stage_raw)
            except ValueError:
                raise InternalError("bad email_stage") from None  # observed §8: 405 text/html
        if stage is None or stage not in store.email_stages:
            raise ApiError.fields({"non_field_errors": store.version.email_stage_missing_text})
        store.outbox.append(_mail(user, self._recovery_link(user), stage))
        self._empty()

    # ---- groups ------------------------------------------------------------------------------

    def _get_group(self, raw_pk: str | None) -> Group:
        try:
            pk = uuid.UUID(raw_pk or "")
        except ValueError:
            raise ApiError.detail(404, errors.NOT_FOUND) from None
        group = self.store.groups.get(pk)
        if group is None:
            raise ApiError.detail(404, errors.GROUP_NOT_FOUND)
        return group

    def _render_group(self, group: Group) -> dict[str, Any]:
        return render.group(self.store, group,
                            include_users=flag(self.query, "include_users", True),
                            include_children=flag(self.query, "include_children", False),
                            include_parents=flag(self.query, "include_parents", False),
                            include_inherited_roles=flag(self.query, "include_inherited_roles", False))

    def _v_groups(self, method: str, actor: User, _pk: str | None) -> None:
        store = self.store
        if method == "POST":
            data = validate.group_body(store, self._data(), instance=None, partial=False, actor=actor)
            group = store.new_group(data.pop("name"))
            self._apply_group(group, data)
            self._json(201, render.group(store, group))
            return
        groups = filter_groups(store, self.query)
        pagination, page = paginate(groups, self.query, store.version, store.switches)
        self._json(200, {"pagination": pagination, "results": [self._render_group(g) for g in page],
                         "autocomplete": render.GROUP_AUTOCOMPLETE})

    def _apply_group(self, group: Group, data: dict[str, Any]) -> None:
        users = data.pop("users", None)
        for name, value in data.items():
            setattr(group, name, value)
        if users is not None:
            self.store.set_group_users(group, users)

    def _v_group(self, method: str, actor: User, raw_pk: str | None) -> None:
        store = self.store
        group = self._get_group(raw_pk)
        if method in {"GET", "HEAD"}:
            self._json(200, self._render_group(group))
        elif method in {"PATCH", "PUT"}:
            data = validate.group_body(store, self._data(), instance=group, partial=method == "PATCH",
                                       actor=actor)
            self._apply_group(group, data)
            self._json(200, render.group(store, group))
        else:
            store.delete_group(group)
            self._empty()

    def _member(self, actor: User, raw_pk: str | None) -> tuple[Group, User]:
        group = self._get_group(raw_pk)
        data = self._data()
        value = data.get("pk") if isinstance(data, dict) else None
        if value is None:
            raise ApiError.detail(404, errors.NOT_FOUND)  # observed §10: {} → 404 "Not found."
        try:
            pk = int(value)
        except (TypeError, ValueError):
            raise InternalError("bad pk") from None  # observed §10: {"pk":"abc"} → 405 text/html
        user = self.store.users.get(pk)
        if user is None or not self.store.has_perm(actor, "view_user"):
            raise ApiError.detail(404, errors.NOT_FOUND)  # #4252: invisible user is a 404 too
        if (group.is_superuser and self.store.switches.add_user_checks_superuser
                and self.store.version.superuser_group_check
                and not self.store.has_perm(actor, "enable_group_superuser")):
            raise ApiError.detail(403, errors.NO_PERMISSION)
        return group, user

    def _v_add_user(self, method: str, actor: User, raw_pk: str | None) -> None:
        group, user = self._member(actor, raw_pk)
        self.store.add_member(group, user)  # idempotent (observed §10)
        self._empty()

    def _v_remove_user(self, method: str, actor: User, raw_pk: str | None) -> None:
        group, user = self._member(actor, raw_pk)
        self.store.remove_member(group, user)
        self._empty()


def _mail(user: User, link: str, stage: uuid.UUID) -> Any:
    from reconciler.lab.authentik.store import SentMail
    return SentMail(user_pk=user.pk, to=user.email, link=link, stage=stage)


class _Server(LabHTTPServer):
    # socketserver listens with a backlog of 5: a burst of parallel page requests then loses SYNs and
    # the client waits a full 1 s TCP retransmit. A real server's backlog is far larger.
    request_queue_size = 128


class AuthentikLab:
    """A running emulator: ``with AuthentikLab("2026.2.7") as lab: lab.api_url ...``.

    ``lab.store`` is the state (seed it with ``seed.seed_today``), ``lab.control`` the shared
    latency/fault/counter knobs of ``reconciler.lab.common``.
    """

    def __init__(self, version: AuthentikVersion | str = "2025.10.4", *, latency: float = 0.0,
                 switches: Switches | None = None, store: AuthentikStore | None = None,
                 port: int = 0) -> None:
        self.store = store or AuthentikStore(version, switches)
        self.control = LabControl(latency=latency)
        self.server = _Server(AuthentikHandler, self.control, self.store, port=port)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        """What ``authentik_client.Configuration(host=...)`` needs: the base including ``/api/v3``."""
        return self.server.url + "/api/v3"

    def start(self) -> AuthentikLab:
        # serve_forever polls for shutdown; a short interval keeps stop() (and test teardown) quick.
        self.server._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                               name=f"lab-authentik-{self.server.port}", daemon=True)
        self.server._thread.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> AuthentikLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def html_fault(status: int, match: Callable[[str, str], bool], times: int = 1) -> Fault:
    """A fault answered the way a proxy or Django answers it: an HTML page, not JSON."""
    body = HTML_500 if status >= 500 else HTML_404
    return Fault(match=match, status=status, body=body,
                 headers={"Content-Type": "text/html; charset=utf-8"}, times=times)
