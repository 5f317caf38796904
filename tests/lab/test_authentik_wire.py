"""Exact status codes, bodies and headers of the Authentik lab, over raw HTTP on 127.0.0.1.

Each expectation quotes authentik-observed.md (what a real 2025.10.4 answered) or authentik-api.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.lab.authentik_support import VERSIONS, Running, running


@pytest.fixture(params=VERSIONS)
def env(request: pytest.FixtureRequest) -> Iterator[Running]:
    with running(request.param) as r:
        yield r


@pytest.fixture
def old() -> Iterator[Running]:
    with running("2025.10.4") as r:
        yield r


def _pk(env: Running, username: str) -> int:
    user = env.lab.store.user_by_username(username)
    assert user is not None
    return user.pk


# ---- authentication (observed §11) -------------------------------------------------------------

@pytest.mark.parametrize(("header", "path", "detail"), [
    (None, "/core/users/", "Authentication credentials were not provided."),
    (None, "/core/groups/", "Authentication credentials were not provided."),
    (None, "/core/users/3/", "You do not have permission to perform this action."),
    (None, "/core/users/999999/", "You do not have permission to perform this action."),
    ("Bearer wrongtoken", "/core/users/", "Token invalid/expired"),
    ("Bearer", "/core/users/", "Authentication credentials were not provided."),
    ("Bearer ", "/core/users/", "Authentication credentials were not provided."),
    ("Token x", "/core/users/", "Unsupported authentication type"),
    ("Basic dXNlcjpwdw==", "/core/users/", "Unsupported authentication type"),
])
def test_auth_failures_are_403_with_the_real_body(env: Running, header: str | None, path: str,
                                                   detail: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = env.http("GET", path, who=None, headers=headers)
    assert response.status_code == 403
    assert response.content == json.dumps({"detail": detail}, separators=(",", ":")).encode()
    assert "WWW-Authenticate" not in response.headers


def test_bearer_scheme_is_case_insensitive_but_two_spaces_are_not(env: Running) -> None:
    key = env.seed.admin_token
    assert env.http("GET", "/core/users/", who=None, headers={"Authorization": f"bearer {key}"}).status_code == 200
    two = env.http("GET", "/core/users/", who=None, headers={"Authorization": f"Bearer  {key}"})
    assert two.status_code == 403 and two.json() == {"detail": "Token invalid/expired"}
    bare = env.http("GET", "/core/users/", who=None, headers={"Authorization": key})
    assert bare.json() == {"detail": "Authentication credentials were not provided."}


def test_token_of_inactive_user_is_invalid(env: Running) -> None:
    env.lab.store.user_by_username("reconciler").is_active = False  # type: ignore[union-attr]
    response = env.http("GET", "/core/users/", who=env.seed.reconciler_token)
    assert response.status_code == 403 and response.json() == {"detail": "Token invalid/expired"}


def test_token_without_permissions(env: Running) -> None:
    no_perm = env.seed.no_permission_token
    own = _pk(env, "namgun18")
    for method, path in [("GET", "/core/users/"), ("GET", f"/core/users/{own}/"),
                         ("PATCH", f"/core/users/{own}/"), ("DELETE", f"/core/users/{own}/"),
                         ("POST", f"/core/users/{own}/set_password/"), ("GET", "/core/groups/"),
                         ("POST", f"/core/groups/{env.seed.mail_group}/add_user/")]:
        response = env.http(method, path, who=no_perm, json={})
        assert response.status_code == 403, (method, path)
        assert response.json() == {"detail": "You do not have permission to perform this action."}
    me = env.http("GET", "/core/users/me/", who=no_perm)
    assert me.status_code == 200 and me.json()["user"]["username"] == "namgun18"


# ---- conventions (observed §0, §12) -------------------------------------------------------------

def test_headers_of_json_and_204_answers(env: Running) -> None:
    response = env.http("GET", "/core/users/")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Allow"] == "GET, POST, HEAD, OPTIONS"
    assert len(response.headers["X-Authentik-Id"]) == 32
    pk = _pk(env, "kkb")
    deleted = env.http("DELETE", f"/core/users/{pk}/")
    assert deleted.status_code == 204 and deleted.content == b""
    assert "Content-Type" not in deleted.headers and deleted.headers["Content-Length"] == "0"
    assert deleted.headers["Allow"] == "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"


def test_created_user_has_no_location_header_and_utf8_body(env: Running) -> None:
    response = env.http("POST", "/core/users/", json={"username": "gildong", "name": "홍길동"})
    assert response.status_code == 201 and "Location" not in response.headers
    assert "홍길동".encode() in response.content  # raw UTF-8, not \\u escapes


def test_trailing_slash_is_mandatory(env: Running) -> None:
    get = env.http("GET", "/core/users/7")
    assert get.status_code == 404 and get.headers["Content-Type"].startswith("text/html")
    post = env.http("POST", "/core/users", json={"username": "x", "name": "x"})
    assert post.status_code == 405 and post.content == b""
    assert post.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_methods_media_types_and_accept(env: Running) -> None:
    assert env.http("DELETE", "/core/users/").json() == {"detail": 'Method "DELETE" not allowed.'}
    assert env.http("PATCH", "/core/users/").status_code == 405
    assert env.http("GET", "/core/users/1/set_password/").json() == {"detail": 'Method "GET" not allowed.'}
    form = env.http("POST", "/core/users/", data={"username": "x", "name": "y"})
    assert form.status_code == 415
    assert form.json() == {"detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}
    plain = env.http("POST", "/core/users/", data=b'{"username":"x","name":"y"}',
                     headers={"Content-Type": "text/plain"})
    assert plain.json() == {"detail": 'Unsupported media type "text/plain" in request.'}
    bad = env.http("POST", "/core/users/", data=b"{bad json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json() == {"detail": "JSON parse error - unexpected character: line 1 column 2 (char 1)"}
    assert env.http("POST", "/core/users/", json=None, data=b"null",
                    headers={"Content-Type": "application/json"}).json() == \
        {"non_field_errors": ["No data provided"]}
    assert env.http("POST", "/core/users/", json=[]).json() == \
        {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    empty = env.http("POST", "/core/users/", headers={"Content-Type": "application/json"})
    assert empty.json() == {"username": ["This field is required."], "name": ["This field is required."]}
    html = env.http("GET", "/core/users/", headers={"Accept": "text/html"})
    assert html.status_code == 406
    assert html.json() == {"detail": "Could not satisfy the request Accept header."}


# ---- pagination (observed §1, authentik-api.md §2.3) -------------------------------------------

def test_pagination_edges(env: Running) -> None:
    for i in range(30):
        env.lab.store.new_user(f"p{i:02d}", "p")
    count = len(env.lab.store.users)
    page2 = env.http("GET", "/core/users/?page=2&page_size=1").json()["pagination"]
    assert page2 == {"next": 3, "previous": 1, "count": count, "current": 2, "total_pages": count,
                     "start_index": 2, "end_index": 2}
    last = env.http("GET", "/core/users/?page=last&page_size=10").json()["pagination"]
    assert last["next"] == 0 and last["current"] == last["total_pages"] == 4 and last["end_index"] == count
    for bad in ("999", "0", "-1", "abc"):
        response = env.http("GET", f"/core/users/?page={bad}")
        assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}
    nothing = env.http("GET", "/core/users/?username=nobody").json()
    assert nothing["pagination"] == {"next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1,
                                     "start_index": 0, "end_index": 0}
    assert nothing["results"] == [] and nothing["autocomplete"]["current_model"] == "authentik_core.user"
    assert env.http("GET", "/core/users/?username=nobody&page=2").status_code == 404


def test_invalid_page_size(env: Running) -> None:
    for i in range(120):
        env.lab.store.new_user(f"q{i:03d}", "q")
    sizes = {len(env.http("GET", f"/core/users/?page_size={v}").json()["results"]) for v in ("0", "-1", "abc")}
    # 2025.10: default 100 (observed); 2025.12+: DRF settings PAGE_SIZE 100 (switch default, unverified)
    assert sizes == {100}


# ---- filters (observed §2) ----------------------------------------------------------------------

def test_exact_case_sensitive_filters_and_search(env: Running) -> None:
    def names(query: str) -> list[str]:
        return [u["username"] for u in env.http("GET", f"/core/users/?{query}").json()["results"]]

    assert names("username=kkb") == ["kkb"]
    assert names("username=KKB") == [] and names("username=kk") == []
    assert names("username=") == names("")  # empty value: filter ignored
    assert names("search=KK") == ["kkb"]
    assert names("name=김경본") == ["kkb"]
    assert names("search=경본") == ["kkb"]
    assert names("path_startswith=goauthentik.io") == ["ak-outpost-ldap", "reconciler"]
    assert names("type=service_account&type=internal_service_account") == ["ak-outpost-ldap", "reconciler"]
    assert names("is_superuser=true") == ["administrator"]
    assert names("is_active=garbage") == names("")
    assert names("groups_by_name=authentik%20Admins") == ["administrator"]
    assert names("ordering=-username")[0] == "tsha"


def test_filter_errors(env: Running) -> None:
    unknown = env.http("GET", "/core/users/?groups_by_name=unknown")
    assert unknown.status_code == 400
    assert unknown.json() == {"groups_by_name": [
        "Select a valid choice. unknown is not one of the available choices."]}
    bad_pk = env.http("GET", "/core/users/?groups_by_pk=bad").json()
    assert bad_pk == {"groups_by_pk": ["\u201cbad\u201d is not a valid UUID."]}
    assert env.http("GET", "/core/users/?type=bogus").json() == {
        "type": ["Select a valid choice. bogus is not one of the available choices."]}
    assert env.http("GET", "/core/users/?uuid=bad").json() == {"uuid": ["Enter a valid UUID."]}
    assert env.http("GET", "/core/users/?date_joined__gt=bad").json() == {
        "date_joined__gt": ["Enter a valid date/time."]}
    not_json = env.http("GET", "/core/users/?attributes=notjson")
    assert not_json.status_code == 400 and not_json.content == b'["filter: failed to parse JSON"]'
    assert env.http("GET", "/core/users/?attributes=[1]").json() == ["filter: value must be key:value mapping"]
    regex = env.http("GET", '/core/users/?attributes={"k__regex":"("}')
    assert regex.status_code == 500 and regex.headers["Content-Type"].startswith("text/html")


def test_attributes_filter_lookups(env: Running) -> None:
    store = env.lab.store
    store.user_by_username("kkb").attributes = {"n": 1, "k": "v", "nested": {"a": "b"}}  # type: ignore[union-attr]

    def names(spec: str) -> list[str]:
        return [u["username"] for u in env.http("GET", "/core/users/", params={"attributes": spec}).json()["results"]]

    assert names('{"n":1}') == ["kkb"]
    assert names('{"n":"1"}') == [] and names('{"k":"V"}') == []
    assert names('{"nested__a":"b"}') == ["kkb"]
    assert names('{"k__icontains":"V"}') == ["kkb"]
    assert names('{"k__bogus":"v"}') == [] and names('{"missing":null}') == []
    assert len(names("{}")) == len(store.users)
    assert len(names('{"n__in":"notalist"}')) == len(store.users)  # ValueError: silently unfiltered


# ---- create / update bodies (observed §3, §5, §6) -------------------------------------------------

def test_create_validation_bodies(env: Running) -> None:
    def post(body: dict[str, object]) -> tuple[int, object]:
        response = env.http("POST", "/core/users/", json=body)
        return response.status_code, response.json()

    assert post({"username": "namgun18", "name": "x"}) == (400, {"username": ["This field must be unique."]})
    status, _ = post({"username": "NAMGUN18", "name": "x"})
    assert status == 201  # case-sensitive uniqueness
    assert post({"username": "", "email": "bad", "type": "nope", "path": "/x", "groups": ["zz"]}) == (400, {
        "username": ["This field may not be blank."], "name": ["This field is required."],
        "groups": ["\u201czz\u201d is not a valid UUID."], "email": ["Enter a valid email address."],
        "path": ["No leading or trailing slashes allowed."], "type": ['"nope" is not a valid choice.']})
    assert post({"username": "a" * 151, "name": "x"}) == (400, {
        "username": ["Ensure this field has no more than 150 characters."]})
    assert post({"username": "u1", "name": "x", "type": "internal_service_account"}) == (400, {
        "type": ["Setting a user to internal service account is not allowed."]})
    assert post({"username": "u1", "name": "x", "path": "a//b"}) == (400, {
        "path": ["No empty segments in user path allowed."]})
    zero = "00000000-0000-0000-0000-000000000000"
    assert post({"username": "u1", "name": "x", "groups": [zero]}) == (400, {
        "groups": [f'Invalid pk "{zero}" - object does not exist.']})
    assert post({"username": "u1", "name": "x", "groups": zero}) == (400, {
        "groups": ['Expected a list of items but got type "str".']})
    assert post({"username": "u1", "name": "x", "attributes": [1, 2]}) == (400, {
        "attributes": ["Value must be a dictionary, and not have any duplicate keys."]})
    assert post({"username": "u1", "name": None}) == (400, {"name": ["This field may not be null."]})
    assert post({"username": "u1", "name": "x", "is_active": "maybe"}) == (400, {
        "is_active": ["Must be a valid boolean."]})
    status, stripped = post({"username": " probe-ws ", "name": " x ", "password": "Secret123!", "pk": 1})
    assert status == 201 and stripped["username"] == "probe-ws" and stripped["name"] == "x"
    assert stripped["pk"] != 1
    assert not env.lab.store.check_password("probe-ws", "Secret123!")  # password ignored on create
    status, _ = post({"username": "u2", "name": "x", "email": "kkb@namgun.or.kr"})
    assert status == 201  # emails are not unique


def test_patch_and_put_semantics(env: Running) -> None:
    g1 = env.http("POST", "/core/groups/", json={"name": "g1"}).json()["pk"]
    g2 = env.http("POST", "/core/groups/", json={"name": "g2"}).json()["pk"]
    user = env.http("POST", "/core/users/", json={
        "username": "probe", "name": "P", "groups": [g1, g2], "attributes": {"keep": 1},
        "email": "p@namgun.or.kr", "path": "probe/put", "type": "external", "is_active": False}).json()
    pk = user["pk"]
    first = env.http("PATCH", f"/core/users/{pk}/", json={"attributes": {"a": 1}}).json()
    assert first["attributes"] == {"a": 1} and first["last_updated"] != user["last_updated"]
    assert env.http("PATCH", f"/core/users/{pk}/", json={"attributes": {"b": 2}}).json()["attributes"] == {"b": 2}
    assert env.http("PATCH", f"/core/users/{pk}/", json={"attributes": None}).json() == {
        "attributes": ["This field may not be null."]}
    renamed = env.http("PATCH", f"/core/users/{pk}/", json={"name": "renamed"}).json()
    assert sorted(renamed["groups"]) == sorted([g1, g2])
    assert env.http("PATCH", f"/core/users/{pk}/", json=[1, 2]).json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    put = env.http("PUT", f"/core/users/{pk}/", json={"username": "probe", "name": "Put2"}).json()
    assert put["groups"] == [] and put["attributes"] == {"b": 2} and put["path"] == "probe/put"
    assert put["type"] == "external" and put["is_active"] is False and put["email"] == "p@namgun.or.kr"
    assert env.http("PUT", f"/core/users/{pk}/", json={"name": "x"}).json() == {
        "username": ["This field is required."]}
    assert env.http("PATCH", "/core/users/999999/", json={}).json() == {"detail": "No User matches the given query."}
    emptied = env.http("PATCH", f"/core/users/{pk}/", json={"groups": [g1]}).json()
    assert emptied["groups"] == [g1]
    assert env.http("PATCH", f"/core/users/{pk}/", json={"groups": []}).json()["groups"] == []


def test_internal_service_account_rules(env: Running) -> None:
    pk = _pk(env, "ak-outpost-ldap")
    assert env.http("PATCH", f"/core/users/{pk}/", json={"type": "external"}).json() == {
        "type": ["Can't change internal service account to other user type."]}
    assert env.http("PATCH", f"/core/users/{pk}/", json={"name": "x"}).json() == {
        "non_field_errors": ["Can't modify internal service account users"]}
    assert env.http("POST", f"/core/users/{pk}/set_password/", json={"password": "x"}).status_code == 204


def test_retrieve_and_delete_not_found_bodies(env: Running) -> None:
    for raw, detail in [("999999", "No User matches the given query."), ("-1", "No User matches the given query."),
                        ("abc", "Not found."), (str(uuid.uuid4()), "Not found.")]:
        response = env.http("GET", f"/core/users/{raw}/")
        assert response.status_code == 404 and response.json() == {"detail": detail}
    pk = _pk(env, "olduser")
    assert env.http("DELETE", f"/core/users/{pk}/").status_code == 204
    assert env.http("DELETE", f"/core/users/{pk}/").json() == {"detail": "No User matches the given query."}
    assert env.http("GET", "/core/groups/notauuid/").json() == {"detail": "Not found."}
    assert env.http("GET", f"/core/groups/{uuid.uuid4()}/").json() == {"detail": "No Group matches the given query."}


def test_pk_is_never_reused(env: Running) -> None:
    a = env.http("POST", "/core/users/", json={"username": "once", "name": "x"}).json()["pk"]
    env.http("DELETE", f"/core/users/{a}/")
    b = env.http("POST", "/core/users/", json={"username": "once", "name": "x"}).json()["pk"]
    assert b == a + 1


# ---- passwords (observed §7) ---------------------------------------------------------------------

def test_password_change_date_only_moves_with_set_password(env: Running) -> None:
    created = env.http("POST", "/core/users/", json={"username": "fresh", "name": "새"}).json()
    # at creation password_change_date ≈ date_joined although no password was set
    assert created["password_change_date"][:19] == created["date_joined"][:19]
    pk = created["pk"]
    env.http("PATCH", f"/core/users/{pk}/", json={"name": "바뀜"})
    env.http("PUT", f"/core/users/{pk}/", json={"username": "fresh", "name": "바뀜"})
    assert env.http("GET", f"/core/users/{pk}/").json()["password_change_date"] == created["password_change_date"]
    assert env.http("POST", f"/core/users/{pk}/set_password/", json={"password": "a"}).status_code == 204
    after = env.http("GET", f"/core/users/{pk}/").json()
    assert after["password_change_date"] > created["password_change_date"]
    assert "password" not in after and "has_usable_password" not in after


def test_set_password_bodies(env: Running) -> None:
    pk = _pk(env, "kkb")

    def call(target: int, body: object) -> tuple[int, bytes]:
        response = env.http("POST", f"/core/users/{target}/set_password/", json=body)
        return response.status_code, response.content

    assert call(pk, {"password": ""}) == (400, b'{"password":["This field may not be blank."]}')
    assert call(pk, {"password": "   "}) == (400, b'{"password":["This field may not be blank."]}')
    assert call(pk, {}) == (400, b'{"password":["This field is required."]}')
    assert call(pk, {"password": None}) == (400, b'{"password":["This field may not be null."]}')
    assert call(999999, {}) == (400, b'{"password":["This field is required."]}')  # body first
    assert call(999999, {"password": "x"})[0] == 404
    assert call(pk, {"password": 12345}) == (204, b"")
    assert env.lab.store.check_password("kkb", "12345")


# ---- recovery (observed §8) ------------------------------------------------------------------------

def test_recovery_without_flow_and_order_of_checks(old: Running) -> None:
    store = old.lab.store
    store.recovery_flow_slug = None
    assert old.http("POST", "/core/users/999999/recovery/").content == \
        b'{"non_field_errors":"No recovery flow set."}'
    store.user_by_username("kkb").email = ""  # type: ignore[union-attr]
    kkb = _pk(old, "kkb")
    assert old.http("POST", f"/core/users/{kkb}/recovery_email/").json() == {
        "non_field_errors": "User does not have an email address set."}
    tsha = _pk(old, "tsha")
    assert old.http("POST", f"/core/users/{tsha}/recovery_email/").json() == {
        "non_field_errors": "No recovery flow set."}
    assert old.http("POST", "/core/users/999999/recovery_email/").status_code == 404


def test_recovery_with_flow(old: Running) -> None:
    tsha = _pk(old, "tsha")
    link = old.http("POST", f"/core/users/{tsha}/recovery/").json()["link"]
    host = old.lab.url.removeprefix("http://")
    assert link.startswith(f"http://{host}/if/flow/default-recovery-flow/?flow_token=")
    assert len(link.split("flow_token=")[1]) == 60
    assert old.http("POST", f"/core/users/{tsha}/recovery_email/").json() == {
        "non_field_errors": "Email stage does not exist."}
    bad = old.http("POST", f"/core/users/{tsha}/recovery_email/?email_stage=notauuid")
    assert bad.status_code == 405 and bad.content == b""
    ok = old.http("POST", f"/core/users/{tsha}/recovery_email/?email_stage={old.seed.email_stage}")
    assert ok.status_code == 204 and old.lab.store.outbox[-1].to == "tsha@namgun.or.kr"


def test_recovery_email_stage_in_body_from_2026_2() -> None:
    with running("2026.2.7") as new:
        tsha = _pk(new, "tsha")
        assert new.http("POST", f"/core/users/{tsha}/recovery_email/", json={}).json() == {
            "email_stage": ["This field is required."]}
        unknown = new.http("POST", f"/core/users/{tsha}/recovery_email/", json={"email_stage": str(uuid.uuid4())})
        assert unknown.json() == {"non_field_errors": "Email stage not found."}
        ok = new.http("POST", f"/core/users/{tsha}/recovery_email/", json={"email_stage": str(new.seed.email_stage)})
        assert ok.status_code == 204


# ---- groups (observed §10) -------------------------------------------------------------------------

def test_group_bodies_and_membership(env: Running) -> None:
    created = env.http("POST", "/core/groups/", json={"name": "probe-g1", "attributes": {"x": 1}})
    assert created.status_code == 201
    g = created.json()
    assert g["num_pk"] == int(str(uuid.UUID(g["pk"]).int)[:5]) and g["children"] == []
    assert env.http("POST", "/core/groups/", json={"name": "probe-g1"}).json() == {
        "name": ["This field must be unique."]}
    assert env.http("POST", "/core/groups/", json={"name": "PROBE-G1"}).status_code == 201
    assert env.http("POST", "/core/groups/", json={}).json() == {"name": ["This field is required."]}
    assert env.http("POST", "/core/groups/", json={"name": "x", "users": [999999]}).json() == {
        "users": ['Invalid pk "999999" - object does not exist.']}
    assert env.http("POST", "/core/groups/", json={"name": "x", "users": ["abc"]}).json() == {
        "users": ["Incorrect type. Expected pk value, received str."]}
    gpk = g["pk"]
    assert env.http("PATCH", f"/core/groups/{gpk}/", json={"attributes": {"y": 2}}).json()["attributes"] == {"y": 2}
    kkb, tsha = _pk(env, "kkb"), _pk(env, "tsha")
    assert env.http("PATCH", f"/core/groups/{gpk}/", json={"users": [kkb, kkb, tsha]}).json()["users"] == [kkb, tsha]
    put = env.http("PUT", f"/core/groups/{gpk}/", json={"name": "probe-g1"}).json()
    assert put["users"] == [] and put["attributes"] == {"y": 2}
    for action in ("add_user", "remove_user"):
        for body in ({"pk": kkb}, {"pk": kkb}, {"pk": str(kkb)}):
            response = env.http("POST", f"/core/groups/{gpk}/{action}/", json=body)
            assert response.status_code == 204 and response.content == b""
        assert env.http("POST", f"/core/groups/{gpk}/{action}/", json={"pk": 999999}).json() == {
            "detail": "Not found."}
        assert env.http("POST", f"/core/groups/{gpk}/{action}/", json={}).json() == {"detail": "Not found."}
        assert env.http("POST", f"/core/groups/{gpk}/{action}/", json={"pk": "abc"}).status_code == 405
    assert env.http("POST", f"/core/groups/{uuid.uuid4()}/add_user/", json={"pk": kkb}).json() == {
        "detail": "No Group matches the given query."}
    listed = env.http("GET", "/core/groups/?include_users=false").json()
    assert [x["name"] for x in listed["results"]] == ["PROBE-G1", "authentik Admins", "mail-users", "probe-g1"]
    assert all(x["users_obj"] is None for x in listed["results"])
    assert env.http("GET", "/core/groups/?members_by_pk=999999").json() == {
        "members_by_pk": ["Select a valid choice. 999999 is not one of the available choices."]}
    assert env.http("DELETE", f"/core/groups/{gpk}/").status_code == 204
    assert env.http("DELETE", f"/core/groups/{gpk}/").status_code == 404


def test_superuser_flag_needs_permission(env: Running) -> None:
    robot = env.seed.reconciler_token
    response = env.http("POST", "/core/groups/", who=robot, json={"name": "root", "is_superuser": True})
    assert response.status_code == 400
    assert response.json() == {"is_superuser": ["User does not have permission to set superuser status to True."]}
    assert env.http("POST", "/core/groups/", json={"name": "root", "is_superuser": True}).status_code == 201


def test_superuser_membership_is_inherited_from_parents(env: Running) -> None:
    child_field = "parents" if env.lab.store.version.group_parents_many else "parent"
    value: object = [str(env.seed.admins_group)] if child_field == "parents" else str(env.seed.admins_group)
    child = env.http("POST", "/core/groups/", json={"name": "ops", child_field: value}).json()
    kkb = _pk(env, "kkb")
    env.http("POST", f"/core/groups/{child['pk']}/add_user/", json={"pk": kkb})
    assert env.http("GET", f"/core/users/{kkb}/").json()["is_superuser"] is True
    admins = env.http("GET", f"/core/groups/{env.seed.admins_group}/?include_children=true").json()
    assert admins["children"] == [child["pk"]] and admins["children_obj"][0]["name"] == "ops"
    self_parent = env.http("PATCH", f"/core/groups/{child['pk']}/",
                           json={child_field: [child["pk"]] if child_field == "parents" else child["pk"]})
    assert self_parent.json() == {child_field: ["Cannot set group as parent of itself."]}
