"""`reconciler diff/apply` against the Windows DNS lab, and the random-TXT property (issue 2 part 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.lab.windows_dns.service import WindowsDnsService
from reconciler.model import dns as m
from reconciler.model.resource import Resource
from reconciler.plan import diff_target
from reconciler.providers.base import Scope
from tests.windows_dns.conftest import KEY, ZONE, ProviderFactory


def write_config(tmp_path: Path, lab: WindowsDnsService, records: dict[str, object]) -> Path:
    desired = tmp_path / "cli" / "desired" / "dns"
    desired.mkdir(parents=True)
    (desired / f"{ZONE}.yaml").write_text(yaml.safe_dump({"zone": ZONE, "defaults": {"ttl": 3600},
                                                          "records": records}, allow_unicode=True), "utf-8")
    config = tmp_path / "cli" / "reconciler.yaml"
    config.write_text(json.dumps({"desired": "desired", "state_dir": "state", "targets": {"dc1": lab.target}}))
    return config


ORGANISATION = {
    "@": [{"type": "MX", "value": {"preference": 10, "exchange": "mail.namgun.or.kr."}},
          {"type": "TXT", "value": "v=spf1 ip4:211.244.144.69 mx ~all"}],
    "mail": [{"type": "A", "value": "211.244.144.69"}, {"type": "TXT", "value": "v=spf1 a -all"}],
    "_dmarc": {"type": "TXT", "value": "v=DMARC1; p=quarantine; rua=mailto:postmaster@namgun.or.kr"},
    "default._domainkey": {"type": "TXT", "value": KEY},
}


def test_diff_apply_diff_against_the_lab(tmp_path: Path, lab: WindowsDnsService,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, lab, ORGANISATION)
    run = ["-c", str(config), "--no-color"]
    assert main([*run, "diff"]) == 2
    out = capsys.readouterr().out
    assert "+ create dns.rrset namgun.or.kr/mail/TXT" in out
    assert "~ update dns.rrset namgun.or.kr/default._domainkey/TXT" in out
    assert main([*run, "diff", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    unmanaged = {tuple(u["resource"]["key"]): u["reason"] for u in doc["unmanaged"]}
    assert "not declared in git" in unmanaged[(ZONE, "printer", "A")]  # added by hand: reported, kept
    assert "dynamic record" in unmanaged[(ZONE, "desktop-7k2m9qa", "A")]
    assert main([*run, "apply", "--yes"]) == 0
    assert "2 change(s) applied and verified" in capsys.readouterr().err
    assert main([*run, "diff"]) == 0
    audit = (config.parent / "state" / "audit.jsonl").read_text("utf-8")
    assert lab.lab.password not in audit
    names = {r.name for r in lab.lab.model.zone_records(ZONE)}
    assert {"printer", "DESKTOP-7K2M9QA", "_ldap._tcp.dc._msdcs"} <= names  # nothing unmanaged was touched


def test_wrong_zone_is_one_clear_error(tmp_path: Path, lab: WindowsDnsService,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, lab, ORGANISATION)
    doc = json.loads(config.read_text())
    doc["targets"]["dc1"]["zones"] = ["namgun.or.kr", "other.kr"]
    config.write_text(json.dumps(doc))
    (config.parent / "desired" / "dns" / "other.kr.yaml").write_text("records:\n  www: {type: A, value: 10.0.0.1}\n")
    assert main(["-c", str(config), "--no-color", "diff"]) == 1
    err = capsys.readouterr().err
    assert "zone other.kr does not exist on the server (WIN32 9601" in err


# Random TXT values: quotes, $, backticks, ;, backslashes, newlines, non-ASCII, 1 to 2,000 characters.
TXT_CHARS = st.sampled_from([*'"$`;\\\n\r\t\'{}()@ aZ09=+/', "남", "근", "김", "é", "€", "😀", "\xa0"])
TXT_VALUES = st.one_of(
    st.text(TXT_CHARS, min_size=1, max_size=40),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=300),
    st.builds(lambda a, n: (a * n)[:2000], st.text(TXT_CHARS, min_size=1, max_size=30), st.integers(1, 200)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TXT_VALUES)
def test_random_txt_values_round_trip_or_are_refused(lab: WindowsDnsService, provider: ProviderFactory,
                                                     value: str) -> None:
    prov = provider()
    name = f"p{abs(hash(value)) % 10**9}"
    desired = [Resource(m.KIND, (ZONE, name, "TXT"), m.rrset_data(3600, [value]))]
    live = prov.read(Scope(desired, {ZONE}))
    changes, _ = diff_target(prov, desired, live, {"purge": False})
    refusals = prov.check(changes)
    if refusals:  # refused up front, with a message that says why
        assert all("TXT value" in msg for msg in refusals.values())
        return
    results = prov.apply(changes)
    assert all(r.ok for r in results), [r.error for r in results]
    again = prov.read(Scope(desired, {ZONE}))
    assert again.resources[(m.KIND, (ZONE, name, "TXT"))].data["values"] == [value]
    assert diff_target(prov, desired, again, {"purge": False})[0] == []
    assert prov.verify_published(changes) == []
