"""Desired-state loading and validation: every finding names file:line:col at the offending node."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler import cli
from reconciler.desired import loader, mailchecks, schema
from reconciler.desired.diagnostics import Diagnostic
from reconciler.model import dns as m

from .conftest import REPO, WriteTree

ZONE_FILE = "dns/namgun.or.kr.yaml"
SHOWN = "desired/dns/namgun.or.kr.yaml"
MAIL_A = "records:\n  mail: {type: A, value: 211.244.144.69}\n"


def load(write_tree: WriteTree, files: dict[str, str], *, check_secrets: bool = False) -> loader.DesiredState:
    return loader.load(write_tree(files), check_secrets=check_secrets)


def only(state: loader.DesiredState, severity: str = "error") -> Diagnostic:
    found = [d for d in state.diagnostics if d.severity == severity]
    assert len(found) == 1, [str(d) for d in state.diagnostics]
    return found[0]


def at(diag: Diagnostic, file: str, line: int, col: int | None = None) -> None:
    assert (diag.file, diag.line) == (file, line), str(diag)
    if col is not None:
        assert diag.col == col, str(diag)


# --------------------------------------------------------------------------------- YAML structure

def test_malformed_yaml(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail:
            type: A
           value: 1.2.3.4
        """})
    assert not state.ok and not state.resources
    at(only(state), SHOWN, 4)


def test_unclosed_flow_mapping(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail: {type: A, value: 1.2.3.4
          www: {type: A, value: 1.2.3.5}
        """})
    diag = only(state)
    assert diag.file == SHOWN and diag.line in (3, 4)


def test_not_utf8(write_tree: WriteTree) -> None:
    root = write_tree({ZONE_FILE: "records:\n  mail: {type: TXT, value: ok}\n"})
    (root / ZONE_FILE).write_bytes(b"records:\n  mail: {type: TXT, value: \xff}\n")
    at(only(loader.load(root)), SHOWN, 2)


def test_unknown_top_level_key_points_at_the_key(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        zone: namgun.or.kr
        records:
          mail: {type: A, value: 1.2.3.4}
        recrods: {}
        """})
    diag = only(state)
    at(diag, SHOWN, 4, 1)
    assert "unknown key 'recrods'" in diag.message


def test_unknown_record_key_points_at_the_key(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail:
            type: A
            value: 1.2.3.4
            tll: 300
        """})
    diag = only(state)
    at(diag, SHOWN, 5, 5)
    assert "unknown key 'tll'" in diag.message and "ttl" in diag.message  # names the allowed keys


def test_unknown_key_in_a_record_list(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail:
            - type: A
              value: 1.2.3.4
            - type: TXT
              valeu: v=spf1 a -all
        """})
    messages = {d.line: d.message for d in state.diagnostics}
    assert "unknown key 'valeu'" in messages[6]
    assert "needs one of: value / values" in messages[5]
    assert all("not valid under any" not in d.message for d in state.diagnostics)


def test_unknown_key_in_authentik_user(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "authentik/users.yaml": """
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            emial: kkb@namgun.or.kr
        """})
    diag = only(state)
    at(diag, "desired/authentik/users.yaml", 5, 5)
    assert "unknown key 'emial'" in diag.message


def test_duplicate_yaml_key(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail: {type: A, value: 1.2.3.4}
          www: {type: A, value: 1.2.3.5}
          mail: {type: A, value: 1.2.3.6}
        """})
    diag = only(state)
    at(diag, SHOWN, 4, 3)
    assert "duplicate key 'mail'" in diag.message and "line 2" in diag.message


def test_record_declared_twice(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail:
            - type: A
              value: 1.2.3.4
            - type: TXT
              value: v=spf1 a -all
            - type: A
              value: 1.2.3.5
        """})
    diag = only(state)
    at(diag, SHOWN, 7)
    assert "declared twice" in diag.message and "line 3" in diag.message


def test_same_name_spelled_two_ways(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail: {type: A, value: 1.2.3.4}
          Mail.NamGun.or.kr: {type: A, value: 1.2.3.5}
        """})
    diag = only(state)
    at(diag, SHOWN, 3)
    assert "declared twice" in diag.message and "'mail'" in diag.message


def test_same_rrset_in_two_files(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "dns/extra.yaml": """
        zone: namgun.or.kr
        records:
          mail.namgun.or.kr.: {type: A, value: 1.2.3.5}
        """})
    diag = only(state)  # files load in name order: extra.yaml first, so the zone file holds the repeat
    at(diag, SHOWN, 2)
    assert "declared twice" in diag.message and "desired/dns/extra.yaml:3" in diag.message


def test_cname_beside_other_data(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          www:
            - type: A
              value: 1.2.3.4
          www.namgun.or.kr:
            type: CNAME
            value: mail
        """})
    diag = only(state)
    at(diag, SHOWN, 6)  # the CNAME record, under its second spelling
    assert "CNAME" in diag.message and "beside other data (A)" in diag.message


def test_cname_at_apex_and_multiple_cname_values(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          '@': {type: CNAME, value: other.example.com.}
          www: {type: CNAME, values: [a.example.com., b.example.com.]}
        """})
    lines = sorted(d.line for d in state.diagnostics.errors)
    assert lines == [2, 3]


def test_bad_ip_points_at_the_bad_value(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          mail:
            type: A
            values:
              - 211.244.144.69
              - 211.244.144.690
          v6: {type: AAAA, value: '2001:db8::zz'}
        """})
    errors = state.diagnostics.errors
    assert [(d.line, d.col) for d in errors] == [(6, 9), (7, 27)]
    assert "211.244.144.690" in errors[0].message and "IPv4" in errors[0].message
    assert "IPv6" in errors[1].message


def test_mx_preference_out_of_range(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          '@':
            type: MX
            values:
              - {preference: 10, exchange: mail}
              - {preference: 70000, exchange: mail2}
        """})
    diag = only(state)
    at(diag, SHOWN, 6)
    assert "preference must be 0..65535" in diag.message


@pytest.mark.parametrize(("value", "expect"), [
    ("{priority: 1, weight: 2, port: 99999, target: sip}", "port must be 0..65535"),
    ("{priority: 1, weight: 2, target: sip}", "'port' is a required property"),
    ("{priority: 1, weight: 2, port: 5060, target: sip, extra: 1}", "unknown key 'extra'"),
    ("'1 2 5060'", "expected 4 fields"),
    ("'x 2 5060 sip'", "priority must be an integer"),
])
def test_bad_srv(write_tree: WriteTree, value: str, expect: str) -> None:
    state = load(write_tree, {ZONE_FILE: f"records:\n  _sip._tcp:\n    type: SRV\n    value: {value}\n"})
    diag = only(state)
    assert diag.line == 4 and expect in diag.message, str(diag)


def test_value_and_values_together(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: "records:\n  mail:\n    type: A\n    value: 1.2.3.4\n    values: [1.2.3.5]\n"})
    diag = only(state)
    at(diag, SHOWN, 3)
    assert "only one of: value / values" in diag.message


def test_record_that_is_not_a_mapping(write_tree: WriteTree) -> None:
    diag = only(load(write_tree, {ZONE_FILE: "records:\n  mail: 1.2.3.4\n"}))
    at(diag, SHOWN, 2)
    assert "must be a mapping or a list" in diag.message


# ------------------------------------------------------------------------------------ mail checks

def test_dkim_cut_at_255_characters_is_an_error(write_tree: WriteTree, dkim2048: str) -> None:
    cut = dkim2048[:255]  # what the live Windows server holds today (issue 2)
    state = load(write_tree, {ZONE_FILE: f"records:\n  default._domainkey:\n    type: TXT\n    value: '{cut}'\n"})
    diag = only(state)
    at(diag, SHOWN, 4)
    assert "DKIM key does not parse" in diag.message


def test_dkim_cut_at_a_base64_boundary_is_an_error(dkim2048: str) -> None:
    head = dkim2048.index("p=") + 2
    cut = dkim2048[: head + 236]  # 236 base64 characters: decodes, but is not a whole key
    assert [s for s, _ in mailchecks.check_dkim(cut)] == ["error"]


def test_dkim_1024_bit_key_is_a_warning(write_tree: WriteTree, dkim1024: str) -> None:
    state = load(write_tree, {ZONE_FILE: f"records:\n  default._domainkey:\n    type: TXT\n    value: '{dkim1024}'\n"})
    assert state.ok
    diag = only(state, "warning")
    at(diag, SHOWN, 4)
    assert "1024 bits" in diag.message


def test_dkim_2048_bit_key_is_clean(write_tree: WriteTree, dkim2048: str) -> None:
    state = load(write_tree, {ZONE_FILE: f"records:\n  default._domainkey:\n    type: TXT\n    value: '{dkim2048}'\n"})
    assert state.ok and not state.diagnostics
    assert mailchecks.dkim_key_bits(dkim2048) == ("rsa", 2048)


def test_spf_over_ten_lookups(write_tree: WriteTree) -> None:
    includes = " ".join(f"include:s{i}.example.com" for i in range(9))
    value = f"v=spf1 a mx {includes} -all"  # 11 DNS-querying terms
    state = load(write_tree, {ZONE_FILE: f"records:\n  '@':\n    type: TXT\n    value: {value}\n"})
    diag = only(state)
    at(diag, SHOWN, 4)
    assert "11 DNS-querying terms" in diag.message
    assert mailchecks.check_spf(f"v=spf1 mx {includes} -all") == []  # exactly 10 is fine


def test_spf_bad_ip4(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          '@':
            type: TXT
            value: v=spf1 ip4:211.244.144.690 mx ~all
        """})
    diag = only(state)
    at(diag, SHOWN, 4)
    assert "ip4:211.244.144.690" in diag.message
    assert any("wrong address family" in msg for _, msg in mailchecks.check_spf("v=spf1 ip4:2001:db8::1 -all"))


def test_two_spf_records_at_one_name(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          '@':
            type: TXT
            values: [v=spf1 mx -all, v=spf1 a -all]
        """})
    assert "RFC 7208 §4.5" in only(state).message


def test_dmarc_without_policy(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          _dmarc:
            type: TXT
            value: v=DMARC1; rua=mailto:postmaster@namgun.or.kr
        """})
    diag = only(state)
    at(diag, SHOWN, 4)
    assert "no p= policy" in diag.message


def test_txt_value_with_special_characters_loads_verbatim(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        records:
          note:
            type: TXT
            value: 'say "hi"; cost $5 `x` \\ 남근'
        """})
    assert state.ok
    assert state.resources[0].data["values"] == ['say "hi"; cost $5 `x` \\ 남근']


# ------------------------------------------------------------------------------- identity checks

def test_authentik_email_in_undeclared_domain(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "authentik/users.yaml": """
        users:
          - username: namgun18
            name: 남근
            email: namgun18@namgun.or.kr
          - username: kkb
            name: 김경본
            email: kkb@gmail.com
        """})
    diag = only(state)
    at(diag, "desired/authentik/users.yaml", 5)
    assert "kkb@gmail.com" in diag.message and "not in a domain declared" in diag.message


def test_unknown_group(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "authentik/users.yaml": """
        groups:
          - name: mail-users
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
            groups: [mail-users, mial-users]
        """})
    diag = only(state)
    at(diag, "desired/authentik/users.yaml", 4)
    assert "unknown group 'mial-users'" in diag.message


def test_usernames_differing_only_by_case(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "authentik/users.yaml": """
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
          - username: KKB
            name: 김경본
            email: kkb2@namgun.or.kr
        """})
    diag = only(state)
    at(diag, "desired/authentik/users.yaml", 5)
    assert "differ only by case" in diag.message


def test_stalwart_account_domain_not_declared(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "stalwart/accounts.yaml": """
        accounts:
          - name: git
            emails: [git@namgun.or.kr, git@other.kr]
        """})
    diag = only(state)
    at(diag, "desired/stalwart/accounts.yaml", 2)
    assert "git@other.kr" in diag.message


def test_stalwart_domain_section_declares_a_domain(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "stalwart/accounts.yaml": """
        domains:
          - name: other.kr
        accounts:
          - name: git
            emails: [git@other.kr]
        """})
    assert state.ok, [str(d) for d in state.diagnostics]


def test_address_both_authentik_user_and_stalwart_account(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A,
                              "authentik/users.yaml": """
        users:
          - username: kkb
            name: 김경본
            email: kkb@namgun.or.kr
        """,
                              "stalwart/accounts.yaml": """
        accounts:
          - name: postmaster
            emails: [postmaster@namgun.or.kr]
          - name: kkb
            emails: [KKB@namgun.or.kr]
        """})
    diag = only(state)
    at(diag, "desired/stalwart/accounts.yaml", 4)
    assert "both a Stalwart internal account and the Authentik user kkb" in diag.message


@pytest.mark.parametrize("quota", ["lots", "-5 GiB", "2 GB GB", "true"])
def test_unparseable_quota(write_tree: WriteTree, quota: str) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "stalwart/accounts.yaml": f"""
        accounts:
          - name: git
            emails: [git@namgun.or.kr]
            quota: {quota}
        """})
    diag = only(state)
    at(diag, "desired/stalwart/accounts.yaml", 4)
    assert "quota" in diag.message


def test_quota_units(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "stalwart/accounts.yaml": """
        accounts:
          - {name: a, emails: [a@namgun.or.kr], quota: 2 GiB}
          - {name: b, emails: [b@namgun.or.kr], quota: 500MB}
          - {name: c, emails: [c@namgun.or.kr], quota: 1073741824}
        """})
    assert state.ok
    assert [r.data["quota"] for r in state.of_kind("stalwart.account")] == [2 * 1024**3, 500 * 1000**2, 1024**3]


def test_secret_reference_to_unset_env_var(write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORE_TEST_UNSET_SECRET", raising=False)
    files = {ZONE_FILE: MAIL_A, "stalwart/accounts.yaml": """
        accounts:
          - name: git
            emails: [git@namgun.or.kr]
            secret: env:CORE_TEST_UNSET_SECRET
        """}
    diag = only(load(write_tree, files, check_secrets=True))
    at(diag, "desired/stalwart/accounts.yaml", 2)
    assert "env:CORE_TEST_UNSET_SECRET is not set" in diag.message
    assert load(write_tree, files, check_secrets=False).ok  # --skip-secrets
    monkeypatch.setenv("CORE_TEST_UNSET_SECRET", "s3cr3t-값")
    state = load(write_tree, files, check_secrets=True)
    assert state.ok
    assert all("s3cr3t" not in str(d) for d in state.diagnostics)


def test_inline_secret_is_refused_without_echoing_it(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: MAIL_A, "stalwart/accounts.yaml": """
        accounts:
          - name: git
            emails: [git@namgun.or.kr]
            secret: Hunter2-inline-값
        """})
    diag = only(state)
    at(diag, "desired/stalwart/accounts.yaml", 4)
    assert "secret reference" in diag.message
    assert "Hunter2" not in str(diag)


# ------------------------------------------------------------------------------------ YAML typing

def test_record_names_keep_their_text(write_tree: WriteTree) -> None:
    """YAML 1.1 reads `on` as true, `1.10` as 1.1 and `010` as 8; a record name is text as written."""
    state = load(write_tree, {
        "dns/144.244.211.in-addr.arpa.yaml": """
            records:
              69: {type: PTR, value: mail.namgun.or.kr.}
              1.10: {type: PTR, value: a.namgun.or.kr.}
              010: {type: PTR, value: b.namgun.or.kr.}
            """,
        ZONE_FILE: "records:\n  on: {type: A, value: 1.2.3.4}\n  no: {type: A, value: 1.2.3.5}\n"})
    assert state.ok, [str(d) for d in state.diagnostics]
    names = sorted(r.key[1] for r in state.resources)
    assert names == ["010", "1.10", "69", "no", "on"]


def test_zone_name_from_file_and_field(write_tree: WriteTree) -> None:
    state = load(write_tree, {"dns/whatever.yaml": "zone: NamGun.or.kr.\n" + MAIL_A, "dns/한국.kr.yaml": MAIL_A})
    assert state.zones() == {"namgun.or.kr", "xn--3e0b707e.kr"}


def test_default_ttl_and_per_record_ttl(write_tree: WriteTree) -> None:
    state = load(write_tree, {ZONE_FILE: """
        defaults: {ttl: 600}
        records:
          a: {type: A, value: 1.2.3.4}
          b: {type: A, value: 1.2.3.5, ttl: 60}
        """})
    assert {r.key[1]: r.data["ttl"] for r in state.resources} == {"a": 600, "b": 60}


# --------------------------------------------------------------------------------- repo and schema

def test_committed_desired_validates_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--no-color", "-c", str(REPO / "no-such-config.yaml"), "validate",
                     "--desired", str(REPO / "desired"), "--skip-secrets", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["ok"] and out["diagnostics"] == []
    state = loader.load(REPO / "desired", check_secrets=False)
    kinds = sorted({r.kind for r in state.resources})
    assert kinds == ["authentik.group", "authentik.user", "dns.rrset", "stalwart.account", "stalwart.dkim",
                     "stalwart.domain"]
    users = {r.key[0] for r in state.of_kind("authentik.user")}
    assert users == {"namgun18", "tsha", "nahee14", "kkb", "administrator"}


def test_committed_dkim_record_is_410_characters_of_2048_bit_rsa() -> None:
    state = loader.load(REPO / "desired", check_secrets=False)
    dkim = next(r for r in state.resources if r.key == ("namgun.or.kr", "default._domainkey", "TXT"))
    (value,) = dkim.data["values"]
    assert len(value) == 410
    assert mailchecks.dkim_key_bits(value) == ("rsa", 2048)
    assert len(m.txt_chunks(value)) == 2


@pytest.mark.parametrize("section", sorted(schema.SCHEMAS))
def test_schemas_are_valid_draft_2020_12(section: str) -> None:
    body = schema.load_schema(section)
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(body)
    assert Path(schema.schema_path(section)).is_file()


def test_every_shipped_schema_file_is_listed() -> None:
    folder = Path(schema.schema_path("dns")).parent
    assert {p.name for p in folder.glob("*.json")} == set(schema.SCHEMAS.values())


def test_two_spellings_of_a_zone_load_to_the_same_resources(tmp_path: Path, dkim2048: str) -> None:
    """Case, IDNA, apex spelling, target dots, value order, dict vs text forms: one canonical result."""
    plain = f"""
records:
  '@':
    - {{type: MX, values: ['10 mail.namgun.or.kr.', '20 mx2.example.com.']}}
    - {{type: CAA, value: '0 issue "letsencrypt.org"'}}
  mail: {{type: A, values: [211.244.144.69, 211.244.144.70]}}
  xn--h32bq4v: {{type: CNAME, value: mail.namgun.or.kr.}}
  _sip._tcp: {{type: SRV, value: '0 5 5060 sip.namgun.or.kr.'}}
  default._domainkey: {{type: TXT, value: '{dkim2048}'}}
"""
    fancy = f"""
zone: NamGun.Or.KR.
records:
  namgun.or.kr.:
    - type: MX
      values:
        - {{preference: 20, exchange: MX2.Example.COM}}
        - '10 MAIL'
    - type: CAA
      value: {{flags: 0, tag: ISSUE, value: letsencrypt.org}}
  MAIL.namgun.or.kr: {{type: A, values: [211.244.144.70, 211.244.144.69]}}
  메일: {{type: CNAME, value: mail}}
  _SIP._TCP: {{type: SRV, value: {{priority: 0, weight: 5, port: 5060, target: sip}}}}
  Default._DomainKey: {{type: TXT, value: '{dkim2048}'}}
"""
    states = []
    for name, text in (("a", plain), ("b", fancy)):
        root = tmp_path / name / "desired"
        (root / "dns").mkdir(parents=True)
        (root / "dns" / "namgun.or.kr.yaml").write_text(text, "utf-8")
        state = loader.load(root)
        assert state.ok, [str(d) for d in state.diagnostics]
        states.append(sorted((r.key, r.data) for r in state.resources))
    assert states[0] == states[1]
    assert len(states[0]) == 6


def test_missing_desired_folder(tmp_path: Path) -> None:
    state = loader.load(tmp_path / "nope")
    assert not state.ok and "does not exist" in state.diagnostics[0].message


def test_txt_too_large_for_any_dns_message_and_absurd_quota_are_refused(tmp_path):
    from reconciler.desired import loader
    from reconciler.desired.identity import parse_size

    (tmp_path / "dns").mkdir()
    (tmp_path / "dns" / "namgun.or.kr.yaml").write_text(
        "records:\n  big:\n    type: TXT\n    value: '" + "x" * 100_000 + "'\n", "utf-8")
    state = loader.load(tmp_path, check_secrets=False)
    assert any("no server could publish" in d.message and d.line == 3 for d in state.diagnostics.errors)
    with pytest.raises(ValueError, match="largest size"):
        parse_size("99999999 TiB")
    assert parse_size("2 GiB") == 2 * 1024**3


@pytest.mark.parametrize(("ref", "ok"), [
    ("env:STALWART_SYSTEM_SECRET", True), ("env:KIM_INITIAL_PASSWORD", True),
    ("env:HOME", False), ("env:PATH", False), ("file:/etc/hostname", False),
    ("file:/run/secrets/../../etc/hostname", False), ("file:relative/secret", False),
    ("file:/run/secrets/reconciler/noreply", True),
])
def test_desired_state_may_only_name_secrets_that_look_like_secrets(ref, ok):
    """Whoever commits to git picks these references: env:HOME would set a password they know."""
    from reconciler.secrets import SecretError, check_desired_reference

    if ok:
        check_desired_reference(ref)
    else:
        with pytest.raises(SecretError):
            check_desired_reference(ref)


def test_yaml_aliases_are_refused_before_they_can_expand(tmp_path):
    """A 400-byte "billion laughs" file once took 35 s and 2.8 GB to validate."""
    from reconciler.desired import loader

    (tmp_path / "dns").mkdir()
    levels = ["a: &a [x,x,x,x,x,x,x,x,x]"] + [
        f"{n}: &{n} [{','.join(['*' + p] * 9)}]" for p, n in zip("abcdefg", "bcdefgh", strict=False)]
    (tmp_path / "dns" / "namgun.or.kr.yaml").write_text("\n".join(levels) + "\nrecords: {}\n", "utf-8")
    state = loader.load(tmp_path, check_secrets=False)  # before the fix this ran for minutes
    assert any("aliases" in d.message for d in state.diagnostics.errors)


def test_a_name_longer_than_dns_allows_is_refused_at_validate(tmp_path):
    from reconciler.desired import loader

    (tmp_path / "dns").mkdir()
    name = ".".join(["a" * 60] * 4)  # 243 + ".namgun.or.kr" > 253
    (tmp_path / "dns" / "namgun.or.kr.yaml").write_text(
        f"records:\n  {name}: {{type: A, value: 192.0.2.1}}\n", "utf-8")
    (tmp_path / "dns" / "sub").mkdir()
    state = loader.load(tmp_path, check_secrets=False)
    assert any("at most 253" in d.message and d.line == 2 for d in state.diagnostics.errors)
    assert any("folder is not read" in d.message for d in state.diagnostics.warnings)
