"""Mail DNS health checks over an in-memory lookup, and offline through `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.desired import loader, mailhealth
from reconciler.desired.mailhealth import SpfEvaluator, check_domain, spf_lookup_count

from .helpers import dkim_value


class Table:
    """A Lookup from a dict; names not in ``known`` zones are unknown (None)."""

    def __init__(self, data: dict[tuple[str, str], list[str]], known: tuple[str, ...] = ("",)) -> None:
        self.data = {(n.lower(), t): v for (n, t), v in data.items()}
        self.known = known

    def get(self, name: str, rtype: str) -> list[str] | None:
        name = name.lower()
        if (name, rtype) in self.data:
            return self.data[(name, rtype)]
        return [] if any(name.endswith(k) for k in self.known) else None


DKIM = dkim_value()

HEALTHY = {
    ("namgun.or.kr.", "MX"): ["10 mail.namgun.or.kr."],
    ("namgun.or.kr.", "TXT"): ["v=spf1 mx -all"],
    ("mail.namgun.or.kr.", "A"): ["192.0.2.25"],
    ("mail.namgun.or.kr.", "TXT"): ["v=spf1 a -all"],
    ("_dmarc.namgun.or.kr.", "TXT"): ["v=DMARC1; p=quarantine; rua=mailto:dmarc@reports.example"],
    ("rsa._domainkey.namgun.or.kr.", "TXT"): [DKIM],
    ("25.2.0.192.in-addr.arpa.", "PTR"): ["mail.namgun.or.kr."],
    ("reports.example.", "MX"): ["10 mx.reports.example."],
    ("namgun.or.kr._report._dmarc.reports.example.", "TXT"): ["v=DMARC1"],
}


def errors(data: dict, **kw: object) -> list[str]:
    return check_domain("namgun.or.kr", Table(data), dkim_selectors=["rsa"], **kw).errors  # type: ignore[arg-type]


def test_healthy_domain_has_no_errors_and_reports_key_size() -> None:
    report = check_domain("namgun.or.kr", Table(HEALTHY), dkim_selectors=["rsa"])
    assert report.errors == []
    infos = [m for s, m in report.findings if s == "info"]
    assert "DKIM selector rsa: RSA key of 2048 bits" in infos
    assert "reverse DNS of 192.0.2.25: mail.namgun.or.kr. (forward-confirmed)" in infos


@pytest.mark.parametrize("change,expected", [
    ({("mail.namgun.or.kr.", "A"): []}, "MX target mail.namgun.or.kr. does not resolve"),
    ({("namgun.or.kr.", "TXT"): ["v=spf1 ip4:198.51.100.0/24 -all"]},
     "SPF of namgun.or.kr. does not authorise MX host mail.namgun.or.kr. (192.0.2.25): fail"),
    ({("namgun.or.kr.", "TXT"): []}, "namgun.or.kr. has no SPF record"),
    ({("namgun.or.kr.", "TXT"): ["v=spf1 -all", "v=spf1 mx -all"]}, "2 SPF records"),
    ({("namgun.or.kr._report._dmarc.reports.example.", "TXT"): []},
     "has not agreed to receive them: no 'v=DMARC1' TXT at namgun.or.kr._report._dmarc.reports.example."),
    ({("reports.example.", "MX"): []}, "DMARC report domain reports.example has no MX or address record"),
    ({("_dmarc.namgun.or.kr.", "TXT"): []}, "has no DMARC record"),
    ({("_dmarc.namgun.or.kr.", "TXT"): ["v=DMARC1; rua=mailto:x@namgun.or.kr"]}, "DMARC has no p= policy"),
    ({("rsa._domainkey.namgun.or.kr.", "TXT"): [DKIM[:255]]}, "DKIM selector rsa (rsa._domainkey.namgun.or.kr.): "
                                                               "the key does not parse"),
    ({("mail.namgun.or.kr.", "TXT"): []}, "HELO name mail.namgun.or.kr. has no SPF record"),
    ({("mail.namgun.or.kr.", "TXT"): ["v=spf1 ip4:198.51.100.1 -all"]},
     "SPF of HELO name mail.namgun.or.kr. does not authorise its own address 192.0.2.25"),
    ({("25.2.0.192.in-addr.arpa.", "PTR"): []}, "192.0.2.25 (MX host mail.namgun.or.kr.) has no PTR record"),
    ({("25.2.0.192.in-addr.arpa.", "PTR"): ["smtp.isp.example."], ("smtp.isp.example.", "A"): ["198.51.100.9"]},
     "is not forward-confirmed"),
    ({("25.2.0.192.in-addr.arpa.", "PTR"): ["smtp.isp.example."], ("smtp.isp.example.", "A"): ["192.0.2.25"]},
     "names smtp.isp.example., not the mail host mail.namgun.or.kr."),
    ({("mail.namgun.or.kr.", "CNAME"): ["host.namgun.or.kr."]}, "is a CNAME"),
])
def test_each_problem_is_reported(change: dict, expected: str) -> None:
    found = errors({**HEALTHY, **change})
    assert any(expected in e for e in found), found


def test_spf_lookup_limit_counts_through_includes() -> None:
    data = dict(HEALTHY)
    data[("namgun.or.kr.", "TXT")] = ["v=spf1 mx include:a.example include:b.example -all"]
    data[("a.example.", "TXT")] = ["v=spf1 " + " ".join(f"a:h{i}.example" for i in range(5)) + " -all"]
    data[("b.example.", "TXT")] = ["v=spf1 " + " ".join(f"exists:e{i}.example" for i in range(4)) + " -all"]
    table = Table(data)
    assert spf_lookup_count(table, "namgun.or.kr") == 12
    assert any("needs 12 DNS-querying terms" in e for e in errors(data))


def test_spf_evaluator_mechanisms() -> None:
    data = {
        ("d.example.", "TXT"): ["v=spf1 ip4:203.0.113.0/28 a:web.d.example/24 mx//64 include:i.example "
                                "redirect=r.example"],
        ("web.d.example.", "A"): ["198.51.100.200"],
        ("d.example.", "MX"): ["10 mx.d.example."],
        ("mx.d.example.", "AAAA"): ["2001:db8::1"],
        ("i.example.", "TXT"): ["v=spf1 ip4:192.0.2.77 -all"],
        ("r.example.", "TXT"): ["v=spf1 ~all"],
        ("loop.example.", "TXT"): ["v=spf1 include:loop.example -all"],
        ("macro.example.", "TXT"): ["v=spf1 exists:%{i}.bl.example -all"],
    }
    t = Table(data)
    assert SpfEvaluator(t).check_host("203.0.113.5", "d.example").result == "pass"
    assert SpfEvaluator(t).check_host("198.51.100.7", "d.example").result == "pass"  # a/24
    assert SpfEvaluator(t).check_host("2001:db8::ffff", "d.example").result == "pass"  # mx//64
    assert SpfEvaluator(t).check_host("192.0.2.77", "d.example").result == "pass"  # include
    assert SpfEvaluator(t).check_host("192.0.2.78", "d.example").result == "softfail"  # redirect ~all
    assert SpfEvaluator(t).check_host("192.0.2.1", "loop.example").result == "permerror"
    assert SpfEvaluator(t).check_host("192.0.2.1", "macro.example").result == "unknown"


def test_unknown_answers_skip_checks_instead_of_failing() -> None:
    report = check_domain("namgun.or.kr", Table({("namgun.or.kr.", "MX"): ["10 mail.namgun.or.kr."]},
                                                known=()), dkim_selectors=["rsa"])
    assert report.errors == []


def test_null_mx_is_noted() -> None:
    report = check_domain("namgun.or.kr", Table({("namgun.or.kr.", "MX"): ["0 ."]}))
    assert ("info", "namgun.or.kr. publishes a null MX (RFC 7505): it accepts no mail") in report.findings


def write_desired(root: Path, records: dict) -> Path:
    (root / "dns").mkdir(parents=True)
    (root / "dns" / "namgun.or.kr.yaml").write_text(
        yaml.safe_dump({"zone": "namgun.or.kr", "records": records}, allow_unicode=True, width=10_000), "utf-8")
    return root


def test_validate_runs_the_offline_checks_as_warnings(tmp_path: Path) -> None:
    root = write_desired(tmp_path / "desired", {
        "@": [{"type": "MX", "value": "10 mail"}, {"type": "TXT", "value": "v=spf1 ip4:198.51.100.1 -all"}],
        "mail": {"type": "A", "value": "192.0.2.25"},
    })
    state = loader.load(root)
    assert state.ok  # warnings only: the server may hold what git does not declare
    warnings = [str(d) for d in state.diagnostics.warnings]
    assert any("mail health of namgun.or.kr: SPF of namgun.or.kr. does not authorise MX host mail.namgun.or.kr. "
               "(192.0.2.25)" in w for w in warnings), warnings
    assert all("namgun.or.kr.yaml:" in w for w in warnings)


def test_validate_says_nothing_about_what_git_does_not_declare(tmp_path: Path) -> None:
    root = write_desired(tmp_path / "desired", {"@": {"type": "MX", "value": "10 mail"}})
    assert [d for d in loader.load(root).diagnostics.warnings if "mail health" in d.message] == []


def test_desired_lookup_skips_unresolved_references() -> None:
    from reconciler.model.resource import Ref, Resource

    res = Resource("dns.rrset", ("namgun.or.kr", "rsa._domainkey", "TXT"),
                   {"ttl": 3600, "values": [Ref("stalwart", "dkim", "rsa-namgun.or.kr")]})
    assert mailhealth.DesiredLookup([res]).get("rsa._domainkey.namgun.or.kr.", "TXT") is None
