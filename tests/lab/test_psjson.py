"""Windows PowerShell 5.1 ConvertTo-Json emulation (winrm-protocol.md §6)."""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.lab.windows_dns.psjson import (
    ConvertToJsonError,
    NetObject,
    PSObject,
    convert_to_json,
    dotnet_double,
    pipeline_to_json,
    ps_to_string,
    stdout_line,
    timespan_string,
)

pytestmark = pytest.mark.timeout(60)


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def test_docs_example_1_calendar_layout() -> None:
    # PowerShell-Docs 5.1 ConvertTo-Json Example 1: (Get-UICulture).Calendar | ConvertTo-Json
    calendar = NetObject(
        {
            "MinSupportedDateTime": dt.datetime(1, 1, 1),
            "MaxSupportedDateTime": dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            "AlgorithmType": 1,
            "CalendarType": 1,
            "Eras": [1],
            "TwoDigitYearMax": 2029,
            "IsReadOnly": False,
        },
        "System.Globalization.GregorianCalendar",
    )
    assert pipeline_to_json([calendar]) == crlf(
        "{\n"
        '    "MinSupportedDateTime":  "\\/Date(-62135596800000)\\/",\n'
        '    "MaxSupportedDateTime":  "\\/Date(253402300799999)\\/",\n'
        '    "AlgorithmType":  1,\n'
        '    "CalendarType":  1,\n'
        '    "Eras":  [\n'
        "                 1\n"
        "             ],\n"
        '    "TwoDigitYearMax":  2029,\n'
        '    "IsReadOnly":  false\n'
        "}"
    )


def test_docs_example_2_compress() -> None:
    table = {"Domain": "Domain01", "Account": "User01", "Admin": "True"}
    assert (
        pipeline_to_json([table], compress=True) == '{"Domain":"Domain01","Account":"User01","Admin":"True"}'
    )


def test_nested_values_align_under_their_value_column() -> None:
    record = {"hostname": "@", "RecordData": {"IPv4Address": "192.0.2.1"}, "list": [1, {"a": True}]}
    assert pipeline_to_json([record]) == crlf(
        "{\n"
        '    "hostname":  "@",\n'
        '    "RecordData":  {\n'
        '                       "IPv4Address":  "192.0.2.1"\n'
        "                   },\n"
        '    "list":  [\n'
        "                 1,\n"
        "                 {\n"
        '                     "a":  true\n'
        "                 }\n"
        "             ]\n"
        "}"
    )


def test_array_of_objects_layout_and_crlf_only() -> None:
    text = pipeline_to_json([{"a": 1}, {"a": 2}])
    assert text == crlf('[\n    {\n        "a":  1\n    },\n    {\n        "a":  2\n    }\n]')
    assert "\n" not in text.replace("\r\n", "")


def test_empty_collections_print_a_blank_line() -> None:
    # ConvertToPrettyJsonString appends CRLF on '[' and again before ']'.
    assert convert_to_json([]) == "[\r\n\r\n]"
    assert pipeline_to_json([{"e": [], "o": {}}]) == crlf(
        '{\n    "e":  [\n\n          ],\n    "o":  {\n\n          }\n}'
    )


def test_single_object_bare_input_object_forces_array() -> None:
    # Pode#845: piped "x" is bare; -InputObject @("x") stays an array. 5.1 has no -AsArray.
    assert pipeline_to_json(["x"], compress=True) == '"x"'
    assert convert_to_json(["x"], compress=True) == '["x"]'
    assert pipeline_to_json(["x", "y"], compress=True) == '["x","y"]'
    assert pipeline_to_json(["x"]) == '"x"'  # scalars are never pretty-printed


def test_empty_pipeline_and_null_input_print_nothing() -> None:
    assert pipeline_to_json([]) is None
    assert pipeline_to_json([None]) is None  # null pipeline input is skipped
    assert pipeline_to_json([None, 1, None]) == "1"  # …so one object remains, bare
    assert convert_to_json(None) is None
    assert stdout_line(None) == ""
    assert stdout_line('"x"') == '"x"\r\n'


def test_timespan_has_eleven_keys_in_order() -> None:
    # GOW fixture (recordAJson) for a TTL of 3600 s.
    assert convert_to_json(dt.timedelta(hours=1), compress=True) == (
        '{"Ticks":36000000000,"Days":0,"Hours":1,"Milliseconds":0,"Minutes":0,"Seconds":0,'
        '"TotalDays":0.041666666666666664,"TotalHours":1,"TotalMilliseconds":3600000,"TotalMinutes":60,'
        '"TotalSeconds":3600}'
    )
    negative = json.loads(convert_to_json(-dt.timedelta(days=1, seconds=1), compress=True) or "")
    assert (negative["Days"], negative["Seconds"], negative["TotalSeconds"]) == (-1, -1, -86401)


def test_gow_record_in_forced_array_truncates_cim_properties_to_strings() -> None:
    # GOW record_a_test.go recordAJson: the record is level 1 inside the array, RecordData level 2, its
    # properties level 3 = ToString().
    cim_property = NetObject({"Name": "IPv4Address", "Value": "2.2.2.2"}, 'IPv4Address = "2.2.2.2"')
    record_data = NetObject(
        {
            "CimClass": NetObject({}, "root/Microsoft/Windows/DNS:DnsServerResourceRecordA"),
            "CimInstanceProperties": [cim_property],
            "CimSystemProperties": NetObject({}, "Microsoft.Management.Infrastructure.CimSystemProperties"),
        },
        "DnsServerResourceRecordA",
    )
    record = PSObject(
        None,
        {
            "DistinguishedName": "DC=test,DC=test.local,cn=MicrosoftDNS,DC=DomainDnsZones,DC=test,DC=local",
            "Hostname": "test",
            "RecordType": "A",
            "Timestamp": None,
            "timetolive": dt.timedelta(seconds=3600),
            "RecordData": record_data,
            "Type": 1,
        },
    )
    assert convert_to_json([record], compress=True) == (
        '[{"DistinguishedName":"DC=test,DC=test.local,cn=MicrosoftDNS,DC=DomainDnsZones,DC=test,DC=local",'
        '"Hostname":"test","RecordType":"A","Timestamp":null,"timetolive":{"Ticks":36000000000,"Days":0,'
        '"Hours":1,"Milliseconds":0,"Minutes":0,"Seconds":0,"TotalDays":0.041666666666666664,"TotalHours":1,'
        '"TotalMilliseconds":3600000,"TotalMinutes":60,"TotalSeconds":3600},"RecordData":{"CimClass":'
        '"root/Microsoft/Windows/DNS:DnsServerResourceRecordA","CimInstanceProperties":"IPv4Address = '
        '\\"2.2.2.2\\"","CimSystemProperties":"Microsoft.Management.Infrastructure.CimSystemProperties"},'
        '"Type":1}]'
    )
    # -Depth 4 expands CimInstanceProperties into objects with Name/Value (windows-dns.md §2.4).
    deep = json.loads(convert_to_json([record], depth=4, compress=True) or "")
    assert deep[0]["RecordData"]["CimInstanceProperties"] == [{"Name": "IPv4Address", "Value": "2.2.2.2"}]


def test_depth_truncation_is_silent_tostring() -> None:
    custom = PSObject(None, {"x": PSObject(None, {"y": 1})})
    nested = {"a": {"b": {"c": {"d": 1}}, "list": [[1, [2, 3]]], "obj": custom}}
    assert json.loads(pipeline_to_json([nested], compress=True) or "") == {
        "a": {
            "b": {"c": "System.Collections.Hashtable"},
            "list": ["1 System.Object[]"],
            "obj": {"x": "@{y=1}"},
        }
    }
    assert json.loads(pipeline_to_json([nested], depth=3, compress=True) or "")["a"]["b"] == {"c": {"d": 1}}
    assert json.loads(
        pipeline_to_json([{"t": {"u": {"ttl": dt.timedelta(hours=1)}}}], compress=True) or ""
    ) == {"t": {"u": {"ttl": "01:00:00"}}}


def test_depth_limits() -> None:
    with pytest.raises(ConvertToJsonError) as too_deep:
        pipeline_to_json([1], depth=101)
    assert too_deep.value.fully_qualified_error_id == "ReachedMaximumDepthAllowed"
    assert str(too_deep.value) == "The maximum depth allowed for serialization is 100."
    with pytest.raises(ConvertToJsonError):
        pipeline_to_json([1], depth=0)
    assert pipeline_to_json([1], depth=100) == "1"


def test_escaping_of_html_sensitive_characters_but_not_hangul() -> None:
    # PowerShell#7693: < > ' & become \u003c \u003e \u0027 \u0026 in 5.1 (HttpEncoder.JavaScriptStringEncode).
    value = "<a href='x'>&</a> \"q\" \\ \t\n\x01 남근 \u2028"
    assert convert_to_json(value) == (
        '"\\u003ca href=\\u0027x\\u0027\\u003e\\u0026\\u003c/a\\u003e '
        '\\"q\\" \\\\ \\t\\n\\u0001 남근 \\u2028"'
    )
    assert json.loads(convert_to_json(value) or "") == value


def test_quotes_inside_strings_do_not_confuse_the_pretty_printer() -> None:
    data = {'k"{': 'v\\"}]', "n": ["[", "{", ",", ":"]}
    pretty = pipeline_to_json([data]) or ""
    assert json.loads(pretty) == data
    assert '    "k\\"{":  "v\\\\\\"}]",' in pretty


def test_numbers_use_dotnet_round_trip_format() -> None:
    assert [dotnet_double(x) for x in (3600.0, 0.1 + 0.2, 1e15, 1e-5, 0.0001, -2.5, 1 / 3)] == [
        "3600",
        "0.30000000000000004",
        "1E+15",
        "1E-05",
        "0.0001",
        "-2.5",
        "0.33333333333333331",
    ]
    assert (
        convert_to_json({"d": Decimal("1.50"), "i": 2**40, "f": 1.0}, compress=True)
        == '{"d":1.50,"i":1099511627776,"f":1}'
    )


def test_dates_guids_enums_and_wrapped_arrays() -> None:
    class Hint(enum.IntEnum):
        DateTime = 2

    import uuid

    guid = uuid.UUID("0a6e6a01-8ab2-4037-86cc-bfc826a1244e")
    when = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))  # 00:00 UTC
    assert convert_to_json({"when": when, "id": guid, "hint": Hint.DateTime}, compress=True) == (
        '{"when":"\\/Date(1704067200000)\\/","id":"0a6e6a01-8ab2-4037-86cc-bfc826a1244e","hint":2}'
    )
    # A Get-Date result: DateTime wrapped with note properties → {"value": …, extras} (invictus-ir #76).
    get_date = PSObject(
        dt.datetime(2024, 1, 1), {"DisplayHint": Hint.DateTime, "DateTime": "Monday, January 1, 2024"}
    )
    assert convert_to_json(get_date, compress=True) == (
        '{"value":"\\/Date(1704067200000)\\/","DisplayHint":2,"DateTime":"Monday, January 1, 2024"}'
    )
    # PowerShell#3153: an array wrapped in a PSObject with Count.
    assert convert_to_json(PSObject([1, 2], {"Count": 2}), compress=True) == '{"value":[1,2],"Count":2}'
    # A wrapped non-custom value without extra properties stays itself.
    assert convert_to_json(PSObject("x"), compress=True) == '"x"'


def test_wrapped_custom_object_takes_adapted_and_extended_properties() -> None:
    cim = NetObject({"CimClass": NetObject({}, "root/Microsoft/Windows/DNS:DnsServerResourceRecordA")}, "A")
    record = PSObject(
        cim, extended={"PSComputerName": "WIN-LAB01"}, adapted={"HostName": "www", "CimClass": "dup"}
    )
    assert json.loads(convert_to_json(record, compress=True) or "") == {
        "CimClass": {},
        "HostName": "www",
        "PSComputerName": "WIN-LAB01",
    }


def test_non_string_dictionary_keys_are_an_error() -> None:
    with pytest.raises(ConvertToJsonError) as info:
        convert_to_json({1: "x"})
    assert info.value.fully_qualified_error_id == "NonStringKeyInDictionary"


def test_to_string_helpers() -> None:
    assert timespan_string(dt.timedelta(days=2, hours=3, seconds=4, microseconds=5)) == "2.03:00:04.0000050"
    assert timespan_string(-dt.timedelta(minutes=5)) == "-00:05:00"
    assert ps_to_string(PSObject(None, {"a": 1, "b": None, "c": [1, 2]})) == "@{a=1; b=; c=1 2}"
    assert ps_to_string(True) == "True"


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_tree = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_tree)
def test_pretty_and_compressed_output_parse_to_the_same_value(value: object) -> None:
    compressed = convert_to_json(value, depth=100, compress=True)
    pretty = convert_to_json(value, depth=100)
    if value is None:
        assert compressed is None and pretty is None
        return
    assert compressed is not None and pretty is not None
    assert json.loads(compressed) == json.loads(pretty) == value
    assert "\n" not in pretty.replace("\r\n", "")
