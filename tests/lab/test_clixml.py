"""CLIXML stderr records (winrm-protocol.md §4, windows-dns.md §5), checked against captured real output."""

from __future__ import annotations

import re
import warnings

import pytest
import winrm

from reconciler.lab.windows_dns.clixml import (
    CLIXML_HEADER,
    ErrorRecordView,
    category_info,
    clixml_document,
    encode_clixml_string,
    error_elements,
    error_stderr,
    format_error_view,
    insert_progress,
    position_message,
    progress_elements,
    progress_stderr,
    stream_elements,
    wrap_host_lines,
)

pytestmark = pytest.mark.timeout(30)

# pywinrm 0.5.0 winrm/tests/conftest.py get_ps_output_response: `Write-Error "Error"` on a host whose
# console buffer is 80 wide (base64-decoded stderr after the header chunk).
WRITE_ERROR_CAPTURE = (
    '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">Wri'
    'te-Error "Error" : Error_x000D__x000A_</S><S S="Error">    + CategoryInfo          : NotSpecifie'
    'd: (:) [Write-Error], WriteErrorExcep _x000D__x000A_</S><S S="Error">   tion_x000D__x000A_</S><S'
    ' S="Error">    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorExceptio _x000D'
    '__x000A_</S><S S="Error">   n_x000D__x000A_</S><S S="Error"> _x000D__x000A_</S></Objs>'
)

# pywinrm 0.5.0 winrm/tests/test_session.py test_decode_clixml_error: progress + a command-not-found error,
# buffer 120 wide.
FAKE_CAPTURE = (
    b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj '
    b'S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System'
    b'.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.'
    b"</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj"
    b'><Obj S="progress" RefId="1"><TNRef RefId="0" /><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>'
    b"Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>"
    b"-1</SR><SD> </SD></PR></MS></Obj><S S=\"Error\">fake : The term 'fake' is not recognized as the na"
    b'me of a cmdlet, function, script file, or operable program. Check _x000D__x000A_</S><S S="Error"'
    b">the spelling of the name, or if a path was included, verify that the path is correct and try ag"
    b'ain._x000D__x000A_</S><S S="Error">At line:1 char:1_x000D__x000A_</S><S S="Error">+ fake cmdlet_'
    b'x000D__x000A_</S><S S="Error">+ ~~~~_x000D__x000A_</S><S S="Error">    + CategoryInfo          :'
    b' ObjectNotFound: (fake:String) [], CommandNotFoundException_x000D__x000A_</S><S S="Error">    + '
    b'FullyQualifiedErrorId : CommandNotFoundException_x000D__x000A_</S><S S="Error"> _x000D__x000A_</'
    b"S></Objs>"
)


def clean(stderr: bytes) -> bytes:
    return winrm.Session("windows-host", auth=("u", "p"))._clean_error_msg(stderr)


def test_reproduces_the_write_error_capture_at_buffer_width_80() -> None:
    record = ErrorRecordView(
        message="Error",
        prefix='Write-Error "Error" : ',
        fully_qualified_error_id="Microsoft.PowerShell.Commands.WriteErrorException",
        category_info=category_info("NotSpecified", activity="Write-Error", reason="WriteErrorException"),
    )
    document = clixml_document(error_elements([record], buffer_width=80))
    assert document == CLIXML_HEADER + WRITE_ERROR_CAPTURE


def test_reproduces_the_progress_and_command_not_found_capture() -> None:
    record = ErrorRecordView(
        message="The term 'fake' is not recognized as the name of a cmdlet, function, script file, or "
        "operable "
        "program. Check the spelling of the name, or if a path was included, verify that the path is "
        "correct and try again.",
        prefix="fake : ",
        position=position_message("fake cmdlet", 1, 1, 4),
        fully_qualified_error_id="CommandNotFoundException",
        category_info=category_info("ObjectNotFound", "fake", "String", "", "CommandNotFoundException"),
    )
    assert error_stderr([record], 437, buffer_width=120, progress=True) == FAKE_CAPTURE


def test_gow_fixture_split_of_the_cmdlet_name_at_width_120() -> None:
    # windows-dns.md §5: "[Add-DnsServerResourceReco rdA]" in the GOW fixture.
    record = ErrorRecordView(
        message='Failed to create resource record "terratest" in zone "test.local" on server "DC-01".',
        fully_qualified_error_id="WIN32 9711,Add-DnsServerResourceRecordA",
        category_info=category_info(
            "ResourceExists",
            "terratest",
            "root/Microsoft/Windows/DNS/DnsServerResourceRecordA",
            "Add-DnsServerResourceRecordA",
            "CimException",
        ),
    )
    lines = wrap_host_lines(format_error_view(record))
    assert lines[1] == (
        "    + CategoryInfo          : ResourceExists: (terratest:root/Microsoft/...ResourceRecordA) "
        "[Add-DnsServerResourceReco "
    )
    assert lines[2] == "   rdA], CimException"
    assert all(len(line) <= 119 for line in lines)
    cleaned = clean(error_stderr([record])).decode()
    assert "FullyQualifiedErrorId : WIN32 9711,Add-DnsServerResourceRecordA" in cleaned


def test_category_info_ellipsizes_long_names_only() -> None:
    assert (
        category_info("ObjectNotFound", "x" * 40, "y" * 41, "Get-X", "E")
        == f"ObjectNotFound: ({'x' * 40}:{'y' * 15}...{'y' * 15}) [Get-X], E"
    )


def test_error_details_message_has_no_trailing_blank_line() -> None:
    record = ErrorRecordView("custom", "Id", category_info("NotSpecified"), details=True)
    assert format_error_view(record).endswith("+ FullyQualifiedErrorId : Id")
    assert format_error_view(ErrorRecordView("m", "Id", "c")).endswith("\n ")


def test_clixml_string_escaping() -> None:
    assert encode_clixml_string("a\tb\r\n") == "a_x0009_b_x000D__x000A_"
    assert encode_clixml_string("<&>") == "&lt;&amp;&gt;"
    assert encode_clixml_string("my_xvar _y") == "my_x005F_xvar _y"
    assert encode_clixml_string("\ud800") == "_xD800_"
    assert stream_elements(["w"], "warning") == ['<S S="warning">w_x000D__x000A_</S>']


def test_hard_wrap_for_non_word_wrap_cultures_and_wide_cells() -> None:
    line = "가" * 70
    assert wrap_host_lines(line, 120, word_wrap=False) == [line]
    assert wrap_host_lines(line, 120, word_wrap=False, cjk_cells=True) == ["가" * 59, "가" * 11]
    text = "word " * 30
    hard = wrap_host_lines(text, 40, word_wrap=False)
    assert [len(part) for part in hard] == [39, 39, 39, 33]
    soft = wrap_host_lines(text, 40)
    assert all(part.endswith(" ") and len(part) <= 39 for part in soft[:-1])
    assert "".join(soft) == text


def test_code_page_decides_whether_pywinrm_can_clean_hangul_errors() -> None:
    record = ErrorRecordView(
        "레코드 남근 이(가) 이미 있습니다.",
        "WIN32 9711,Add-DnsServerResourceRecordA",
        category_info("ResourceExists", "남근"),
    )
    # 437: Hangul becomes '?' but the XML still parses (pywinrm#288).
    assert clean(error_stderr([record], 437)).startswith(b"??? ?? ?(?) ?? ????.\n")
    # 65001: UTF-8 all the way.
    assert clean(error_stderr([record], 65001)).decode("utf-8").startswith("레코드 남근 이(가)")
    # 949 (Korean ANSI): not UTF-8, the parse fails and pywinrm returns the raw bytes with a warning
    # (pywinrm#333, #181).
    raw = error_stderr([record], 949)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert clean(raw) == raw
    assert any("problem converting the Powershell error" in str(w.message) for w in caught)


def test_progress_only_stderr_is_returned_raw_by_pywinrm() -> None:
    stderr = progress_stderr()
    assert stderr.startswith(b"#< CLIXML\r\n") and stderr.count(b'S="progress"') == 2
    assert clean(stderr) == stderr  # no S nodes: nothing to clean


def test_insert_progress_keeps_one_document_with_unique_ref_ids() -> None:
    record = ErrorRecordView("boom", "Id", category_info("NotSpecified"))
    merged = insert_progress(error_stderr([record]))
    assert merged.count(b"#< CLIXML") == 1 and merged.count(b"<Objs ") == 1
    assert merged.index(b'S="progress"') < merged.index(b'S="Error"')
    assert clean(merged).startswith(b"boom")
    twice = insert_progress(merged)
    ref_ids = re.findall(rb'<Obj S="progress" RefId="(\d+)"', twice)
    assert len(ref_ids) == 4 and len(set(ref_ids)) == 4
    assert insert_progress(b"") == progress_stderr()
    assert insert_progress(b"plain\r\n").endswith(b"</Objs>plain\r\n")


def test_progress_elements_shape() -> None:
    first, second = progress_elements("Loading 김경본")
    assert (
        first.startswith('<Obj S="progress" RefId="0"><TN RefId="0">') and "<AV>Loading 김경본</AV>" in first
    )
    assert second.startswith('<Obj S="progress" RefId="1"><TNRef RefId="0" />')
