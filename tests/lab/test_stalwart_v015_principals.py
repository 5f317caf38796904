"""The lab's v0.15 `/api/principal`, over real HTTP on 127.0.0.1 (stalwart-api.md §1–§7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from reconciler.lab.stalwart import DOMAIN, SeedSecrets, StalwartLab, seeded_lab

TIMEOUT = 5


@pytest.fixture()
def lab() -> Iterator[tuple[StalwartLab, SeedSecrets]]:
    lab, seeds = seeded_lab("0.15")
    with lab:
        yield lab, seeds


class Api:
    def __init__(self, lab: StalwartLab, seeds: SeedSecrets) -> None:
        self.base = lab.url + "/api"
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + seeds.bearer()

    def get(self, path: str, **params: object) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=TIMEOUT)

    def post(self, path: str, body: object) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=TIMEOUT)

    def patch(self, path: str, body: object) -> requests.Response:
        return self.session.patch(self.base + path, json=body, timeout=TIMEOUT)

    def delete(self, path: str, **params: object) -> requests.Response:
        return self.session.delete(self.base + path, params=params, timeout=TIMEOUT)


@pytest.fixture()
def api(lab: tuple[StalwartLab, SeedSecrets]) -> Api:
    return Api(*lab)


def test_management_errors_are_http_200_with_error_body(api: Api) -> None:
    # §3: GET of an unknown principal is 200 {"error":"notFound"}, not 404.
    r = api.get("/principal/doesnotexist")
    assert r.status_code == 200
    assert r.json() == {"error": "notFound", "item": "doesnotexist"}
    assert "data" not in r.json()


def test_get_is_exact_so_upper_case_names_are_not_found(api: Api) -> None:
    assert api.get("/principal/system").json()["data"]["name"] == "system"
    assert api.get("/principal/System").json() == {"error": "notFound", "item": "System"}


def test_individual_needs_deploy_under_ldap_directory(api: Api) -> None:
    body = {"type": "individual", "name": "git", "emails": [f"git@{DOMAIN}"], "roles": ["user"]}
    r = api.post("/principal", body)
    assert r.status_code == 200
    assert r.json()["error"] == "unsupported"
    assert "LDAP directory cannot be managed" in r.json()["details"]
    r = api.post("/principal/deploy", body)
    assert isinstance(r.json()["data"], int)


def test_create_lower_cases_name_and_emails_and_keeps_first_password(api: Api) -> None:
    r = api.post(
        "/principal/deploy",
        {
            "type": "individual",
            "name": "NoReply",
            "emails": [f"NoReply@{DOMAIN.upper()}"],
            "secrets": ["$6$first", "$6$second", "$app$phone$x"],
            "roles": ["user"],
            "description": "알림 발송 (김경본)",
        },
    )
    assert isinstance(r.json()["data"], int)
    got = api.get("/principal/noreply").json()["data"]
    assert got["name"] == "noreply"
    assert got["emails"] == [f"noreply@{DOMAIN}"]
    assert got["secrets"] == ["$6$first", "$app$phone$x"]  # second plain secret silently dropped (#2826)
    assert got["description"] == "알림 발송 (김경본)"


def test_create_check_order_name_before_emails(api: Api) -> None:
    # Name taken (any type) is reported before a duplicate or domain-less address (§5.3 steps 5, 10).
    r = api.post("/principal", {"type": "list", "name": DOMAIN, "emails": ["x@unknown.example"]})
    assert r.json() == {"error": "fieldAlreadyExists", "field": "name", "value": DOMAIN}
    r = api.post("/principal", {"type": "list", "name": "ops", "emails": ["x@unknown.example"]})
    assert r.json() == {"error": "notFound", "item": "unknown.example"}
    r = api.post("/principal", {"type": "list", "name": "ops2", "emails": [f"NAMGUN18@{DOMAIN}"]})
    assert r.json() == {"error": "fieldAlreadyExists", "field": "emails", "value": f"namgun18@{DOMAIN}"}
    r = api.post("/principal", {"type": "list", "name": "ops3", "members": ["nobody"]})
    assert r.json() == {"error": "notFound", "item": "nobody"}
    r = api.post("/principal", {"type": "list"})
    assert r.json() == {"error": "fieldMissing", "field": "name"}


def test_address_without_at_sign_is_accepted(api: Api) -> None:
    r = api.post("/principal", {"type": "list", "name": "local-only", "emails": ["localonly"]})
    assert isinstance(r.json()["data"], int)


def test_unknown_field_wrong_type_and_unknown_route(api: Api) -> None:
    r = api.post("/principal", {"type": "list", "name": "x", "colour": "red"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["title"] == "Invalid parameters"
    r = api.session.put(api.base + "/principal/system", json={}, timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json()["detail"] == "The requested resource does not exist on this server."


def test_domain_creation_sets_report_domain_once(lab: tuple[StalwartLab, SeedSecrets], api: Api) -> None:
    settings = lab[0].state.directory.settings
    assert settings["report.domain"] == DOMAIN
    assert isinstance(api.post("/principal", {"type": "domain", "name": "example.org"}).json()["data"], int)
    assert settings["report.domain"] == DOMAIN
    dom = api.get("/principal/example.org").json()["data"]
    assert "quota" not in dom and dom["members"] == 0  # a domain's members is an address count


def test_patch_emails_matrix(api: Api) -> None:
    api.post("/principal/deploy", {"type": "individual", "name": "git", "emails": [f"git@{DOMAIN}"]})
    # addItem of a new alias, then `set` with the full list to change the primary (owned ones not re-checked)
    assert api.patch(
        "/principal/git", [{"action": "addItem", "field": "emails", "value": f"code@{DOMAIN}"}]
    ).json() == {"data": None}
    r = api.patch(
        "/principal/git", [{"action": "set", "field": "emails", "value": [f"code@{DOMAIN}", f"git@{DOMAIN}"]}]
    )
    assert r.json() == {"data": None}
    assert api.get("/principal/git").json()["data"]["emails"] == [f"code@{DOMAIN}", f"git@{DOMAIN}"]
    # emails `set` takes a list only
    r = api.patch("/principal/git", [{"action": "set", "field": "emails", "value": f"git@{DOMAIN}"}])
    assert r.json() == {
        "error": "other",
        "details": "Invalid parameter",
        "reason": f'Invalid value String("git@{DOMAIN}") for emails',
    }
    # remove + re-add in one PATCH fails against the stored index, and nothing is written
    r = api.patch(
        "/principal/git",
        [
            {"action": "removeItem", "field": "emails", "value": f"git@{DOMAIN}"},
            {"action": "addItem", "field": "emails", "value": f"git@{DOMAIN}"},
        ],
    )
    assert r.json() == {"error": "fieldAlreadyExists", "field": "emails", "value": f"git@{DOMAIN}"}
    assert api.get("/principal/git").json()["data"]["emails"] == [f"code@{DOMAIN}", f"git@{DOMAIN}"]
    # removing the primary promotes the first remaining alias
    api.patch("/principal/git", [{"action": "removeItem", "field": "emails", "value": f"code@{DOMAIN}"}])
    assert api.get("/principal/git").json()["data"]["emails"] == [f"git@{DOMAIN}"]
    # an address of another principal, and one in a missing domain
    r = api.patch("/principal/git", [{"action": "addItem", "field": "emails", "value": f"system@{DOMAIN}"}])
    assert r.json()["error"] == "fieldAlreadyExists"
    r = api.patch("/principal/git", [{"action": "addItem", "field": "emails", "value": "git@nowhere.org"}])
    assert r.json() == {"error": "notFound", "item": "nowhere.org"}


def test_patch_secrets_quota_and_bad_combinations(api: Api) -> None:
    api.post("/principal/deploy", {"type": "individual", "name": "git", "secrets": ["$6$a"]})
    api.patch(
        "/principal/git",
        [
            {"action": "addItem", "field": "secrets", "value": "$app$ci$h"},
            {"action": "addItem", "field": "secrets", "value": "$6$b"},
        ],
    )
    assert api.get("/principal/git").json()["data"]["secrets"] == ["$6$b", "$app$ci$h"]
    api.patch("/principal/git", [{"action": "set", "field": "secrets", "value": ["$6$c", "$6$d"]}])
    assert api.get("/principal/git").json()["data"]["secrets"] == ["$6$c"]
    api.patch("/principal/git", [{"action": "set", "field": "quota", "value": 0}])
    assert api.get("/principal/git").json()["data"]["quota"] == 0  # 0 after set, omitted when created as 0
    r = api.patch("/principal/git", [{"action": "addItem", "field": "quota", "value": 5}])
    assert r.json() == {"error": "other", "details": "Invalid parameter", "reason": "Invalid value Number(5) for quota"}
    r = api.patch("/principal/git", [{"action": "set", "field": "type", "value": "group"}])
    assert r.json()["reason"] == 'Invalid value String("group") for type'
    r = api.patch("/principal/nobody", [{"action": "set", "field": "description", "value": "x"}])
    assert r.json() == {"error": "notFound", "item": "nobody"}


def test_patch_membership_type_checks(api: Api) -> None:
    api.post("/principal", {"type": "list", "name": "staff"})
    api.post("/principal", {"type": "group", "name": "team"})
    api.post("/principal/deploy", {"type": "individual", "name": "git"})
    r = api.patch("/principal/git", [{"action": "set", "field": "memberOf", "value": ["staff"]}])
    assert r.json() == {"error": "other", "details": "Invalid memberOf value", "reason": None}
    assert api.patch("/principal/git", [{"action": "set", "field": "memberOf", "value": ["team"]}]).json() == {
        "data": None
    }
    assert api.patch(
        "/principal/staff", [{"action": "set", "field": "members", "value": ["git", "system"]}]
    ).json() == {"data": None}
    assert sorted(api.get("/principal/staff").json()["data"]["members"]) == ["git", "system"]
    assert api.get("/principal/git").json()["data"]["lists"] == ["staff"]
    assert api.get("/principal/git").json()["data"]["memberOf"] == ["team"]


def test_list_sorting_paging_and_total(api: Api) -> None:
    r = api.get("/principal", types="individual", limit=2, page=2).json()["data"]
    everyone = api.get("/principal", types="individual").json()["data"]
    names = [i["name"] for i in everyone["items"]]
    assert names == sorted(names, key=str.encode)
    assert r["total"] == everyone["total"] == 5
    assert [i["name"] for i in r["items"]] == names[2:4]
    assert api.get("/principal", types="individual", count="true").json()["data"] == {"items": [], "total": 5}
    slim = api.get("/principal", types="domain", fields="name").json()["data"]["items"]
    assert slim == [{"id": slim[0]["id"], "type": "domain", "name": DOMAIN}]


def test_list_filter_is_exact_tokens(api: Api) -> None:
    assert api.get("/principal", filter="sys").json()["data"] == {"items": [], "total": 0}
    found = [i["name"] for i in api.get("/principal", filter="system").json()["data"]["items"]]
    assert found == ["system"]
    by_domain = {i["name"] for i in api.get("/principal", filter=DOMAIN).json()["data"]["items"]}
    assert {DOMAIN, "system", "postmaster", "namgun18"} <= by_domain
    assert [i["name"] for i in api.get("/principal", filter="남근").json()["data"]["items"]] == ["namgun18"]


def test_list_permissions_per_type(lab: tuple[StalwartLab, SeedSecrets], api: Api) -> None:
    # An API key holding only a custom role without domain-list gets 403 for domains.
    api.post("/principal", {"type": "role", "name": "reader", "enabledPermissions": ["individual-list"]})
    api.post("/principal", {"type": "apiKey", "name": "limited", "roles": ["reader"], "secrets": ["s3cret-token"]})
    import base64

    token = "api_" + base64.b64encode(b"limited:s3cret-token").decode()
    r = requests.get(
        lab[0].url + "/api/principal",
        params={"types": "domain"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 403
    assert r.json()["detail"] == "You do not have enough permissions to access this resource."
    r = requests.get(
        lab[0].url + "/api/principal",
        params={"types": "individual"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200 and r.json()["data"]["total"] == 5


def test_delete_and_bulk_delete_confirmation(api: Api) -> None:
    api.post("/principal", {"type": "list", "name": "tmp"})
    assert api.delete("/principal/tmp").json() == {"data": None}
    assert api.get("/principal/tmp").json()["error"] == "notFound"
    r = api.delete("/principal", type="list")
    assert r.status_code == 400 and r.json()["detail"] == "Missing confirmation parameter"
    # deleting a domain leaves its addresses dangling (§5.5)
    api.post("/principal", {"type": "domain", "name": "example.org"})
    api.post("/principal", {"type": "list", "name": "ex", "emails": ["ex@example.org"]})
    api.delete("/principal/example.org")
    assert api.get("/principal/ex").json()["data"]["emails"] == ["ex@example.org"]
