"""Target options: transports, TLS validation on by default, no unprotected Basic (winrm-protocol.md §7)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.providers.windows_dns.session import RemoteError, parse_result, stderr_text
from reconciler.providers.windows_dns.settings import SettingsError, parse

BASE = {"address": "https://dc1.namgun.or.kr:5986/wsman", "transport": "ntlm", "username": "NAMGUN\\svc",
        "password": "env:RECONCILER_WINRM_PASSWORD", "zones": ["namgun.or.kr"]}


def opts(**changes: Any) -> dict[str, Any]:
    out = dict(BASE)
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def test_defaults_validate_certificates_and_read_dns_from_the_host() -> None:
    s = parse("dc1", opts())
    assert s.verify_tls is True and s.ca_file is None
    assert (s.dns_host, s.dns_port) == ("dc1.namgun.or.kr", 53)
    assert s.long_txt == ("dnscmd", "wmi") and s.transport == "ntlm"
    assert "RECONCILER_WINRM_PASSWORD" in repr(s.password)


@pytest.mark.parametrize("transport", ["ntlm", "kerberos", "credssp", "basic"])
def test_the_four_transports_over_https(transport: str) -> None:
    assert parse("dc1", opts(transport=transport)).transport == transport


@pytest.mark.parametrize("transport", ["basic", "credssp"])
def test_unprotected_transports_over_http_are_refused(transport: str) -> None:
    with pytest.raises(SettingsError, match="unprotected"):
        parse("dc1", opts(transport=transport, address="http://dc1:5985/wsman"))
    assert parse("dc1", opts(transport=transport, address="http://dc1:5985/wsman", allow_unencrypted=True))


def test_ntlm_over_http_uses_message_encryption_and_is_allowed() -> None:
    assert parse("dc1", opts(address="http://dc1:5985/wsman")).transport == "ntlm"


@pytest.mark.parametrize(("change", "message"), [
    ({"password": "hunter2"}, "inline secrets are refused"),
    ({"transport": "telnet"}, "transport must be one of"),
    ({"zones": []}, "zones must list"),
    ({"colour": "blue"}, "unknown option"),
    ({"long_txt": ["fax"]}, "long_txt lists paths"),
    ({"address": "dc1:5986"}, "address must be the WinRM endpoint URL"),
    ({"operation_timeout": 40, "read_timeout": 30}, "operation_timeout < read_timeout"),
])
def test_bad_options_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse("dc1", opts(**change))


def test_result_parsing_ignores_bom_and_noise_and_reports_clixml() -> None:
    doc = parse_result(b'\xef\xbb\xbfnoise\r\n#RESULT {"ok":true}\r\n', b"#< CLIXML\r\n<Objs/>", 0)
    assert doc == {"ok": True}
    clixml = (b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
              b'<S S="Error">boom &amp; bust_x000D__x000A_</S></Objs>')
    assert stderr_text(clixml) == "boom & bust"
    with pytest.raises(RemoteError, match=r"printed no result \(exit code 1\): boom & bust") as err:
        parse_result(b"", clixml, 1)
    assert err.value.unknown
