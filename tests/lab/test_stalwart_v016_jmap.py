"""The lab's v0.16 JMAP management API (x:Domain, x:Account, x:MailingList, x:DkimSignature)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from reconciler.lab.stalwart import DOMAIN, SeedSecrets, StalwartLab, StalwartLabConfig, seeded_lab

TIMEOUT = 10
USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
STRONG = "Correct-Horse-배터리-Staple-2026"


@pytest.fixture()
def lab() -> Iterator[tuple[StalwartLab, SeedSecrets]]:
    lab, seeds = seeded_lab("0.16", config=StalwartLabConfig(ldap_default_directory=False))
    with lab:
        yield lab, seeds


def call(lab: tuple[StalwartLab, SeedSecrets], *calls: list[Any], using: list[str] | None = None) -> list[list[Any]]:
    r = requests.post(
        lab[0].url + "/jmap",
        json={"using": using or USING, "methodCalls": list(calls)},
        headers={"Authorization": "Bearer " + lab[1].bearer()},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    return r.json()["methodResponses"]


def domain_id(lab: tuple[StalwartLab, SeedSecrets], name: str = DOMAIN) -> str:
    res = call(lab, ["x:Domain/query", {"filter": {"name": name}}, "q"])
    return res[0][1]["ids"][0]


def test_rest_api_is_gone_without_authentication(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    r = requests.get(lab[0].url + "/api/principal", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json()["title"] == "Not Found"


def test_session_advertises_stalwart_capability_only_when_authenticated(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    anon = requests.get(lab[0].url + "/jmap/session", timeout=TIMEOUT).json()
    assert "urn:stalwart:jmap" not in anon["capabilities"] and anon["accounts"] == {}
    authed = requests.get(
        lab[0].url + "/jmap/session", headers={"Authorization": "Bearer " + lab[1].bearer()}, timeout=TIMEOUT
    ).json()
    assert "urn:stalwart:jmap" in authed["primaryAccounts"]
    r = requests.get(lab[0].url + "/.well-known/jmap", allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 307 and r.headers["Location"] == "/jmap/session"


def test_migrated_state(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    res = call(
        lab,
        ["x:Account/query", {"filter": {"text": "system"}}, "q"],
        ["x:Account/get", {"#ids": {"resultOf": "q", "name": "x:Account/query", "path": "/ids"}}, "g"],
    )
    (system,) = res[1][1]["list"]
    assert system["name"] == "system" and system["emailAddress"] == f"system@{DOMAIN}"
    assert system["credentials"]["0"]["secret"] == "****"
    res = call(lab, ["x:Account/get", {"ids": None, "properties": ["name"]}, "g"])
    names = {a["name"] for a in res[0][1]["list"]}
    assert {"system", "postmaster", "namgun18", "tsha", "jhlee"} == names
    pm = next(a for a in call(lab, ["x:Account/get", {"ids": None}, "g"])[0][1]["list"] if a["name"] == "postmaster")
    assert [a["name"] for a in pm["aliases"].values()] == ["abuse"]


def test_create_account_with_creation_reference_and_server_hashing(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    res = call(
        lab,
        ["x:Domain/set", {"create": {"d": {"name": "Example.ORG", "dkimManagement": {"@type": "Manual"}}}}, "c0"],
        [
            "x:Account/set",
            {
                "create": {
                    "u": {
                        "@type": "User",
                        "name": "Git",
                        "domainId": "#d",
                        "credentials": {"0": {"@type": "Password", "secret": STRONG}},
                        "description": "깃 서비스",
                    }
                }
            },
            "c1",
        ],
    )
    created = res[1][1]["created"]["u"]
    assert created["emailAddress"] == "git@example.org"
    stored = lab[0].state.registry.objects["Account"][
        next(oid for oid, a in lab[0].state.registry.objects["Account"].items() if a["name"] == "git")
    ]
    assert stored["credentials"]["0"]["secret"].startswith("$argon2id$")
    assert STRONG not in str(stored)
    got = call(lab, ["x:Account/get", {"ids": [created["id"]]}, "g"])[0][1]["list"][0]
    assert got["credentials"]["0"]["secret"] == "****" and got["description"] == "깃 서비스"


def test_account_errors(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    did = domain_id(lab)
    res = call(
        lab,
        [
            "x:Account/set",
            {
                "create": {
                    "dup": {"@type": "User", "name": "SYSTEM", "domainId": did},
                    "nodomain": {"@type": "User", "name": "x", "domainId": "zz"},
                    "weak": {
                        "@type": "User",
                        "name": "weak",
                        "domainId": did,
                        "credentials": {"0": {"@type": "Password", "secret": "password1"}},
                    },
                    "two": {
                        "@type": "User",
                        "name": "two",
                        "domainId": did,
                        "credentials": {
                            "0": {"@type": "Password", "secret": STRONG},
                            "1": {"@type": "Password", "secret": STRONG},
                        },
                    },
                    "arr": {"@type": "User", "name": "arr", "domainId": did, "aliases": []},
                    "badname": {"@type": "User", "name": "a..b", "domainId": did},
                    "alias": {
                        "@type": "User",
                        "name": "fresh",
                        "domainId": did,
                        "aliases": {"0": {"name": "abuse", "domainId": did}},
                    },
                }
            },
            "c",
        ],
    )
    nc = res[0][1]["notCreated"]
    assert nc["dup"]["type"] == "primaryKeyViolation" and nc["dup"]["properties"] == ["email"]
    assert nc["dup"]["objectId"]["object"] == "Account"
    assert nc["nodomain"] == {"type": "invalidForeignKey", "objectId": {"object": "Domain", "id": "zz"}}
    assert nc["weak"]["type"] == "invalidProperties" and nc["weak"]["properties"] == ["secret"]
    assert nc["two"]["description"] == "Only one password credential is allowed."
    assert nc["arr"] == {
        "type": "invalidPatch",
        "description": "Invalid value for object property",
        "properties": ["aliases"],
    }
    assert nc["badname"]["description"] == "Invalid email local part"
    assert nc["alias"]["type"] == "primaryKeyViolation"  # abuse@ is postmaster's alias: one global key


def test_external_directory_refuses_passwords() -> None:
    lab, seeds = seeded_lab("0.16")  # the organisation's LDAP default directory
    with lab:
        did = domain_id((lab, seeds))
        res = call(
            (lab, seeds),
            [
                "x:Account/set",
                {
                    "create": {
                        "u": {
                            "@type": "User",
                            "name": "git",
                            "domainId": did,
                            "credentials": {"0": {"@type": "Password", "secret": STRONG}},
                        }
                    }
                },
                "c",
            ],
        )
        assert res[0][1]["notCreated"]["u"] == {
            "type": "forbidden",
            "description": "Cannot set credentials for accounts in an external directory.",
        }


def test_password_rotation_and_masked_echo(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    acct = call(lab, ["x:Account/query", {"filter": {"name": "system"}}, "q"])[0][1]["ids"][0]
    registry = lab[0].state.registry
    oid = next(i for i, a in registry.objects["Account"].items() if a["name"] == "system")
    before = registry.objects["Account"][oid]["credentials"]["0"]["secret"]
    res = call(lab, ["x:Account/set", {"update": {acct: {"credentials/0/secret": "****"}}}, "u"])
    assert acct in res[0][1]["updated"]
    assert registry.objects["Account"][oid]["credentials"]["0"]["secret"] == before  # the mask keeps the old hash
    call(lab, ["x:Account/set", {"update": {acct: {"credentials/0/secret": STRONG}}}, "u"])
    after = registry.objects["Account"][oid]["credentials"]["0"]["secret"]
    assert after != before and after.startswith("$argon2id$")
    r = requests.get(
        lab[0].url + "/jmap/session",
        timeout=TIMEOUT,
        headers={
            "Authorization": "Basic " + __import__("base64").b64encode(f"system@{DOMAIN}:{STRONG}".encode()).decode()
        },
    )
    assert r.status_code == 200


def test_domain_rules(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    res = call(
        lab, ["x:Domain/set", {"create": {"bad": {"name": "corp.example"}, "dup": {"name": DOMAIN.upper()}}}, "c"]
    )
    assert res[0][1]["notCreated"]["bad"]["description"] == "Invalid domain name"
    assert res[0][1]["notCreated"]["dup"]["type"] == "primaryKeyViolation"
    res = call(lab, ["x:Domain/set", {"destroy": [domain_id(lab)]}, "d"])
    err = next(iter(res[0][1]["notDestroyed"].values()))
    assert err["type"] == "objectIsLinked" and {"object": "DkimSignature", "id": "a"} in err["linkedObjects"]
    # A new domain with automatic DKIM gets an RSA and an Ed25519 key.
    res = call(lab, ["x:Domain/set", {"create": {"n": {"name": "example.net"}}}, "c"])
    new_id = res[0][1]["created"]["n"]["id"]
    sigs = call(
        lab,
        ["x:DkimSignature/query", {"filter": {"domainId": new_id}}, "q"],
        ["x:DkimSignature/get", {"#ids": {"resultOf": "q", "name": "x:DkimSignature/query", "path": "/ids"}}, "g"],
    )
    assert sorted(s["@type"] for s in sigs[1][1]["list"]) == ["Dkim1Ed25519Sha256", "Dkim1RsaSha256"]


def test_dkim_signature_read_back_matches_v015(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    sig = call(lab, ["x:DkimSignature/get", {"ids": None}, "g"])[0][1]["list"][0]
    assert sig["@type"] == "Dkim1RsaSha256" and sig["selector"] == "202601r"
    assert sig["privateKey"] == {"@type": "Text", "secret": "****"}
    assert sig["publicKey"].startswith("MIIBIjAN")
    zone = call(lab, ["x:Domain/get", {"ids": [sig["domainId"]], "properties": ["dnsZoneFile"]}, "g"])[0][1]["list"][0]
    assert sig["publicKey"] in zone["dnsZoneFile"]


def test_get_with_null_ids_is_capped_at_500(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    did = domain_id(lab)
    for start in (0, 300):
        creates = {f"l{i}": {"name": f"list{i}", "domainId": did} for i in range(start, start + 300)}
        res = call(lab, ["x:MailingList/set", {"create": creates}, "c"])
        assert not res[0][1]["notCreated"]
    listed = call(lab, ["x:MailingList/get", {"ids": None, "properties": ["name"]}, "g"])[0][1]["list"]
    assert len(listed) == 500
    q = call(lab, ["x:MailingList/query", {"calculateTotal": True}, "q"])[0][1]
    assert q["total"] == 600 and len(q["ids"]) == 600
    res = call(lab, ["x:MailingList/get", {"ids": q["ids"]}, "g"])
    assert res[0][0] == "error" and res[0][1]["type"] == "requestTooLarge"


def test_request_level_errors(lab: tuple[StalwartLab, SeedSecrets]) -> None:
    url, auth = lab[0].url + "/jmap", {"Authorization": "Bearer " + lab[1].bearer()}
    r = requests.post(url, json={"using": ["urn:example:nope"], "methodCalls": []}, headers=auth, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["type"] == "urn:ietf:params:jmap:error:unknownCapability"
    r = requests.post(
        url,
        json={"using": USING, "methodCalls": [["Core/echo", {}, str(i)] for i in range(17)]},
        headers=auth,
        timeout=TIMEOUT,
    )
    assert r.status_code == 400 and r.json()["limit"] == "maxCallsInRequest"
    r = requests.post(url, data="{}", headers={**auth, "Content-Type": "text/plain"}, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["type"] == "urn:ietf:params:jmap:error:notJSON"
    res = call(
        lab,
        ["x:Principal/get", {}, "a"],
        ["x:Account/frobnicate", {}, "b"],
        ["x:Account/query", {"filter": {"colour": "red"}}, "c"],
        using=["urn:ietf:params:jmap:core"],
    )
    assert [m[1]["type"] for m in res] == ["unknownMethod", "unknownMethod", "unsupportedFilter"]
