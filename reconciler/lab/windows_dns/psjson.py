"""Windows PowerShell 5.1 ``ConvertTo-Json``, as far as the lab needs it (winrm-protocol.md §6).

Source: PowerShell's ``ConvertToJsonCommand.cs`` in its Full-CLR form (the ``#else`` branch using
``System.Web.Script.Serialization.JavaScriptSerializer``, as shipped before 6.0 switched to
Newtonsoft): ``ProcessValue`` pre-processing, then ``JavaScriptSerializer.Serialize``, then — unless
``-Compress`` — ``ConvertToPrettyJsonString`` (4-space indent, two spaces after the colon, nested values
aligned under their value column, CRLF). String escaping is .NET 4.x ``HttpEncoder.JavaScriptStringEncode``
(``< > ' &`` as ``\\u003c``…, PowerShell#7693); doubles use ``ToString("r")`` (G15, else G17).

Python values stand for .NET ones: None, bool, int, float, Decimal, str, datetime (DateTime),
timedelta (TimeSpan), UUID (Guid), IntEnum (enum → number), dict (Hashtable, Python order),
list/tuple (object[]), :class:`NetObject` (any other .NET object, e.g. a CimInstance) and
:class:`PSObject` (a PSObject wrapper, incl. ``[pscustomobject]``).
"""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "ConvertToJsonError",
    "NetObject",
    "PSObject",
    "convert_to_json",
    "dotnet_double",
    "pipeline_to_json",
    "ps_to_string",
    "stdout_line",
    "timespan_string",
]

MAX_DEPTH = 100  # maxDepthAllowed
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_TICKS_PER_SECOND = 10_000_000


class ConvertToJsonError(Exception):
    """A terminating error of ConvertTo-Json (``fully_qualified_error_id`` as PowerShell names it)."""

    def __init__(self, message: str, fully_qualified_error_id: str, category: str = "InvalidOperation"):
        super().__init__(message)
        self.fully_qualified_error_id = fully_qualified_error_id
        self.category = category


@dataclass
class NetObject:
    """A .NET object that is neither a dictionary nor a list.

    ``properties``: its public fields and properties in declaration order (what ProcessCustomObject
    reads); ``to_string``: its ``ToString()`` — used instead when the object sits deeper than -Depth
    (e.g. ``Microsoft.Management.Infrastructure.CimSystemProperties``).
    """

    properties: dict[str, Any]
    to_string: str


@dataclass
class PSObject:
    """A PSObject wrapper around ``base``.

    ``base=None`` is a pure PSObject (``[pscustomobject]@{…}``): its ``extended`` note properties are
    its content, and beyond -Depth it becomes ``@{a=1; b=2}``. For a wrapped custom object
    (``NetObject``), ``extended`` and ``adapted`` properties (e.g. a CimInstance's CIM properties,
    PSComputerName) follow its .NET properties; for any other wrapped value only ``extended`` ones
    count and, if any, produce ``{"value": <base>, …}`` (PowerShell#3153).
    """

    base: Any = None
    extended: dict[str, Any] = field(default_factory=dict)
    adapted: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# ToString() with invariant culture, as LanguagePrimitives.ConvertTo(obj, typeof(string)) gives it.


def dotnet_double(value: float) -> str:
    """``double.ToString("r", InvariantCulture)`` on .NET Framework: G15 if it round-trips, else G17."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{value:.15G}"
    if float(text) != value:
        text = f"{value:.17G}"
    return text


def timespan_string(value: _dt.timedelta) -> str:
    """``TimeSpan.ToString()`` ("c"): ``[-][d.]hh:mm:ss[.fffffff]``."""
    ticks = _timedelta_ticks(value)
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    days, rem = divmod(ticks, 86_400 * _TICKS_PER_SECOND)
    hours, rem = divmod(rem, 3_600 * _TICKS_PER_SECOND)
    minutes, rem = divmod(rem, 60 * _TICKS_PER_SECOND)
    seconds, fraction = divmod(rem, _TICKS_PER_SECOND)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{fraction:07d}" if fraction else "")


def ps_to_string(value: Any) -> str:
    """What ``[string]$value`` gives in PowerShell (invariant culture), for the types above."""
    if value is None:
        return ""
    if isinstance(value, PSObject):
        if value.base is None:
            members = {**value.adapted, **value.extended}
            inner = "; ".join(f"{k}={ps_to_string(v)}" for k, v in members.items())
            return "@{" + inner + "}"
        return ps_to_string(value.base)
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, float):
        return f"{value:.15G}"  # double.ToString() is G15 on .NET Framework
    if isinstance(value, str | int | Decimal):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, _dt.timedelta):
        return timespan_string(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, NetObject):
        return value.to_string
    if isinstance(value, Mapping):
        return "System.Collections.Hashtable"
    if isinstance(value, list | tuple):
        # Arrays convert to their elements joined by $OFS (a space); a nested array is not flattened.
        return " ".join("System.Object[]" if isinstance(item, list | tuple) else ps_to_string(item)
                        for item in value)
    return str(value)


# ---------------------------------------------------------------------------------------------------
# ProcessValue: the pre-processing that decides depth truncation and PSObject properties.


def _timedelta_ticks(value: _dt.timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * _TICKS_PER_SECOND + value.microseconds * 10


def _timespan_properties(value: _dt.timedelta) -> dict[str, Any]:
    # TimeSpan's public properties in declaration order (CTJ 5.1 docs Example 3; GOW fixture).
    ticks = _timedelta_ticks(value)
    sign = -1 if ticks < 0 else 1
    whole = abs(ticks)

    def part(unit: int, modulo: int | None) -> int:
        quotient = whole // unit
        return sign * (quotient % modulo if modulo else quotient)

    return {
        "Ticks": ticks,
        "Days": part(86_400 * _TICKS_PER_SECOND, None),
        "Hours": part(3_600 * _TICKS_PER_SECOND, 24),
        "Milliseconds": part(10_000, 1000),
        "Minutes": part(60 * _TICKS_PER_SECOND, 60),
        "Seconds": part(_TICKS_PER_SECOND, 60),
        "TotalDays": ticks / (86_400 * _TICKS_PER_SECOND),
        "TotalHours": ticks / (3_600 * _TICKS_PER_SECOND),
        "TotalMilliseconds": ticks / 10_000,
        "TotalMinutes": ticks / (60 * _TICKS_PER_SECOND),
        "TotalSeconds": ticks / _TICKS_PER_SECOND,
    }


class _Raw(str):
    """An already-serialised JSON fragment (used for DateTime's ``"\\/Date(…)\\/"``)."""


def _is_verbatim(value: Any) -> bool:
    # null, string, char, bool, DateTime, Guid, Uri, double, float, decimal and primitives.
    return value is None or isinstance(value, str | bool | int | float | Decimal | _dt.datetime | uuid.UUID)


def _process(value: Any, depth: int, max_depth: int) -> Any:
    pso = value if isinstance(value, PSObject) else None
    obj = pso.base if pso is not None else value
    is_pure = False
    is_custom = False

    if isinstance(obj, enum.Enum):
        rv: Any = obj.value  # enums → their number (Int64-based ones would be strings; not modelled)
    elif _is_verbatim(obj) and not (pso is not None and obj is None):
        rv = obj
    elif depth > max_depth:
        if pso is not None and pso.base is None:
            rv, is_pure = ps_to_string(pso), True
        else:
            rv = ps_to_string(obj)
    elif pso is not None and obj is None:
        rv, is_custom = {}, True  # PSCustomObject has no .NET properties of its own
    elif isinstance(obj, Mapping):
        rv = {}
        for key, item in obj.items():
            if not isinstance(key, str):
                raise ConvertToJsonError(
                    f"The type '{type(obj).__name__}' is not supported for serialization or "
                    "deserialization of a dictionary. Keys must be strings.", "NonStringKeyInDictionary")
            rv[key] = _process(item, depth + 1, max_depth)
    elif isinstance(obj, list | tuple):
        rv = [_process(item, depth + 1, max_depth) for item in obj]
    elif isinstance(obj, _dt.timedelta):
        rv = {k: _process(v, depth + 1, max_depth) for k, v in _timespan_properties(obj).items()}
        is_custom = True
    elif isinstance(obj, NetObject):
        rv = {k: _process(v, depth + 1, max_depth) for k, v in obj.properties.items()}
        is_custom = True
    else:
        raise TypeError(f"no .NET equivalent modelled for {type(obj).__name__}")

    if pso is None or is_pure:
        return rv
    # AddPsProperties: custom objects take extended + adapted properties, others extended only.
    extra = {**pso.adapted, **pso.extended} if is_custom else dict(pso.extended)
    target = rv if isinstance(rv, dict) else {"value": rv}
    for name, item in extra.items():
        if name not in target:
            target[name] = _process(item, depth + 1, max_depth)
    if not isinstance(rv, dict) and len(target) == 1:
        return rv
    return target


# ---------------------------------------------------------------------------------------------------
# JavaScriptSerializer.Serialize (compact) and ConvertToPrettyJsonString.

_NAMED_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_HEX_ESCAPED = {"'", "<", ">", "&", "\u0085", "\u2028", "\u2029"}


def _js_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif ord(char) < 0x20 or char in _HEX_ESCAPED:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)  # non-ASCII stays as is: its bytes then depend on the console code page
    out.append('"')
    return "".join(out)


def _date_json(value: _dt.datetime) -> str:
    # "\/Date(<ms since epoch, UTC>)\/"; a naive datetime is taken as UTC (the lab's clock is UTC).
    aware = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
    delta = aware - _EPOCH
    ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return f'"\\/Date({ms})\\/"'


def _serialize(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return dotnet_double(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, _dt.datetime):
        return _date_json(value)
    if isinstance(value, uuid.UUID):
        return _js_string(str(value))
    if isinstance(value, dict):
        return "{" + ",".join(_js_string(k) + ":" + _serialize(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_serialize(v) for v in value) + "]"
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _quoted_end(json: str, index: int, out: list[str]) -> int:
    # ConvertQuotedString: copy up to the closing quote that is not escaped.
    i = index
    while i < len(json):
        out.append(json[i])
        if json[i] == '"':
            j, escaped = i, False
            while j > 0 and json[j - 1] == "\\":
                escaped = not escaped
                j -= 1
            if not escaped:
                return i
        i += 1
    raise ConvertToJsonError("The JSON string is in bad format.", "JsonStringInBadFormat")


def _pretty_list(json: str, index: int, out: list[str], pad: str, spaces: int) -> int:
    out.append("\r\n")
    new_pad = pad + " " * spaces + " " * 4
    head = True
    i = index
    while i < len(json):
        char = json[i]
        if char == "{":
            out.append(new_pad + char)
            i = _pretty_dict(json, i + 1, out, new_pad, 0)
            head = False
        elif char == "[":
            out.append(new_pad + char)
            i = _pretty_list(json, i + 1, out, new_pad, 0)
            head = False
        elif char == "]":
            out.append("\r\n" + pad + " " * spaces + char)
            return i
        elif char == '"':
            if head:
                out.append(new_pad)
            out.append(char)
            i = _quoted_end(json, i + 1, out)
            head = False
        elif char == ",":
            out.append(",\r\n")
            head = True
        else:
            if head:
                out.append(new_pad)
            out.append(char)
            head = False
        i += 1
    raise ConvertToJsonError("The JSON string is in bad format.", "JsonStringInBadFormat")


def _pretty_dict(json: str, index: int, out: list[str], pad: str, spaces: int) -> int:
    out.append("\r\n")
    new_pad = pad + " " * spaces + " " * 4
    head = True
    before_quote = True
    new_spaces = 0
    i = index
    while i < len(json):
        char = json[i]
        if char == "{":
            out.append(char)
            i = _pretty_dict(json, i + 1, out, new_pad, new_spaces)
            head = False
        elif char == "[":
            out.append(char)
            i = _pretty_list(json, i + 1, out, new_pad, new_spaces)
            head = False
        elif char == "}":
            out.append("\r\n" + pad + " " * spaces + char)
            return i
        elif char == '"':
            if head:
                out.append(new_pad)
            out.append(char)
            end = _quoted_end(json, i + 1, out)
            if before_quote:
                new_spaces += end - i + 1
            i = end
            head = False
        elif char == ":":
            out.append(":  ")  # spaceCountAfterQuoteMark = 2
            new_spaces += 3
            head = False
            before_quote = False
        elif char == ",":
            out.append(",\r\n")
            head = True
            before_quote = True
            new_spaces = 0
        else:
            if head:
                out.append(new_pad)
            out.append(char)
            if before_quote:
                new_spaces += 1
            head = False
        i += 1
    raise ConvertToJsonError("The JSON string is in bad format.", "JsonStringInBadFormat")


def _pretty(json: str) -> str:
    if json.startswith("{"):
        out = ["{"]
        _pretty_dict(json, 1, out, "", 0)
        return "".join(out)
    if json.startswith("["):
        out = ["["]
        _pretty_list(json, 1, out, "", 0)
        return "".join(out)
    return json


# ---------------------------------------------------------------------------------------------------
# The cmdlet.


def _check_depth(depth: int) -> None:
    if depth < 1:
        raise ConvertToJsonError(
            f"Cannot validate argument on parameter 'Depth'. The {depth} argument is less than the minimum "
            "allowed range of 1. Supply an argument that is greater than or equal to 1 and then try the "
            "command again.", "ParameterArgumentValidationError,Microsoft.PowerShell.Commands."
            "ConvertToJsonCommand", "InvalidData")
    if depth > MAX_DEPTH:
        raise ConvertToJsonError(f"The maximum depth allowed for serialization is {MAX_DEPTH}.",
                                 "ReachedMaximumDepthAllowed")


def _convert(inputs: list[Any], depth: int, compress: bool) -> str | None:
    _check_depth(depth)
    kept = [item for item in inputs if item is not None]  # ProcessRecord skips null input
    if not kept:
        return None  # empty pipeline: no output at all (PowerShell#23837)
    target = kept if len(kept) > 1 else kept[0]
    compact = _serialize(_process(target, 0, depth))
    return compact if compress else _pretty(compact)


def pipeline_to_json(items: Iterable[Any], *, depth: int = 2, compress: bool = False) -> str | None:
    """``items | ConvertTo-Json``: one object is emitted bare, several as an array, none as nothing.

    ``items`` are the pipeline objects after PowerShell unrolled any array written to the pipeline.
    """
    return _convert(list(items), depth, compress)


def convert_to_json(input_object: Any, *, depth: int = 2, compress: bool = False) -> str | None:
    """``ConvertTo-Json -InputObject $x``: a list stays an array even with one element (Pode#845).

    ``$null`` gives no output (ProcessRecord drops null InputObject).
    """
    return _convert([input_object], depth, compress)


def stdout_line(json_text: str | None) -> str:
    """What the console prints for the cmdlet's output string: the text plus CRLF, or nothing."""
    return "" if json_text is None else json_text + "\r\n"
