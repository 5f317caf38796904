"""Bad input is caught offline (nothing contacted); `import` writes YAML that diffs clean."""

from __future__ import annotations

import pytest

from .support import Setup


def _validate_errors(setup: Setup, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    setup.write_desired(text)
    setup.lab.control.reset_counters()
    assert setup.run("validate") == 1
    assert setup.lab.control.total == 0  # nothing contacted
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_bad_input_is_a_validate_error_with_file_and_line(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    out = _validate_errors(v015, """\
domains:
  - name: namgun.or.kr
accounts:
  - name: system
    emails: [system@namgun.or.kr]
  - name: big
    emails: [big@namgun.or.kr]
    quota: two gigabytes
  - name: stray
    emails: [stray@elsewhere.org]
  - name: twice
    emails: [system@namgun.or.kr]
  - name: secretless
    emails: [sl@namgun.or.kr]
    secret: env:STALWART_NOT_SET_ANYWHERE_SECRET
""", capsys)
    assert "accounts.yaml:8:12: error: account big: quota 'two gigabytes' is not a size" in out
    assert "the domain of stray@elsewhere.org is not declared" in out
    assert "system@namgun.or.kr is also an address of account" in out
    assert "STALWART_NOT_SET_ANYWHERE_SECRET is not set" in out


def test_dkim_id_outside_the_naming_rule_warns(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v015.write_desired("""\
domains:
  - name: namgun.or.kr
dkim:
  - id: rsa-namgun-or-kr
    algorithm: rsa
    domain: namgun.or.kr
    selector: default
""")
    assert v015.run("validate") == 0
    out = capsys.readouterr()
    assert "does not follow Stalwart's default signing rule naming" in out.out + out.err


def test_import_then_diff_is_clean(v015: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    v015.set_policies(max_change_share=1.0)
    assert v015.run("apply", "--yes") == 0
    out_dir = v015.root / "imported"
    assert v015.run("import", "--target", "mail", "--out", str(out_dir)) == 0
    text = (out_dir / "stalwart" / "accounts.yaml").read_text("utf-8")
    assert "name: git" in text and "quota: 512 MiB" in text
    assert "tsha" not in text and "namgun18" not in text  # LDAP copies are never imported
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "secret" not in body  # the server never gives a password out: the user adds references
    # point the config at the imported tree: nothing to do (accounts without secret: are not checked)
    (v015.desired / "stalwart" / "accounts.yaml").write_text(text, "utf-8")
    capsys.readouterr()
    assert v015.run("diff") == 0
