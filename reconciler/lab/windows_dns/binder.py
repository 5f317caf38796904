"""PowerShell parameter binding for the lab's emulated cmdlets (names, prefixes, sets, conversions).

The cmdlets' behaviour depends on which parameter set PowerShell picks, so the emulation binds
arguments the way PowerShell does: exact name or alias, else a unique prefix; positional arguments
by position within the candidate sets; the set chosen from the parameters given; mandatory
parameters checked; values converted to the declared type. Errors carry the PowerShell
FullyQualifiedErrorIds (``NamedParameterNotFound,<cmdlet>`` …) so a caller sees what a real
console shows.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

ALL = "*"


@dataclass(frozen=True)
class Param:
    """One cmdlet parameter. ``sets`` = the parameter sets it belongs to (ALL = every set)."""

    name: str
    kind: str = "string"  # switch string string[] uint16 uint32 int timespan object object[] ip[] enum
    sets: tuple[str, ...] = (ALL,)
    mandatory: tuple[str, ...] = ()  # sets in which it is mandatory (ALL = all of its sets)
    position: int | None = None
    aliases: tuple[str, ...] = ()
    pipeline: bool = False
    choices: tuple[str, ...] = ()  # ValidateSet (case-insensitive)


# Common parameters every cmdlet accepts (about_CommonParameters) and the risk-mitigation pair.
COMMON = (
    Param("ErrorAction", aliases=("ea",)), Param("WarningAction", aliases=("wa",)),
    Param("InformationAction", aliases=("infa",)), Param("ErrorVariable", aliases=("ev",)),
    Param("WarningVariable", aliases=("wv",)), Param("InformationVariable", aliases=("iv",)),
    Param("OutVariable", aliases=("ov",)), Param("OutBuffer", "int", aliases=("ob",)),
    Param("PipelineVariable", aliases=("pv",)), Param("Verbose", "switch", aliases=("vb",)),
    Param("Debug", "switch", aliases=("db",)),
)
SHOULD_PROCESS = (Param("WhatIf", "switch", aliases=("wi",)), Param("Confirm", "switch", aliases=("cf",)))


@dataclass(frozen=True)
class CmdletSpec:
    name: str
    params: tuple[Param, ...]
    default_set: str
    sets: tuple[str, ...]
    should_process: bool = False

    def all_params(self) -> tuple[Param, ...]:
        return self.params + COMMON + (SHOULD_PROCESS if self.should_process else ())


class BindingError(Exception):
    """A ParameterBindingException: the command never runs."""

    def __init__(self, message: str, fqid: str, category: str = "InvalidArgument",
                 target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fqid = fqid
        self.category = category
        self.target = target
        self.exception_type = "ParameterBindingException"


@dataclass
class Bound:
    """The result of binding: canonical parameter names → converted values, and the chosen set."""

    cmdlet: str
    set_name: str
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.values

    def switch(self, name: str) -> bool:
        return bool(self.values.get(name, False))


def _resolve(spec: CmdletSpec, given: str) -> Param:
    params = spec.all_params()
    low = given.lower()
    for p in params:
        if p.name.lower() == low or low in (a.lower() for a in p.aliases):
            return p
    matches = [p for p in params if p.name.lower().startswith(low)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join("-" + p.name for p in matches)
        raise BindingError(
            f"Parameter cannot be processed because the parameter name '{given}' is ambiguous. "
            f"Possible matches include: {names}.", f"AmbiguousParameter,{spec.name}")
    raise BindingError(f"A parameter cannot be found that matches parameter name '{given}'.",
                       f"NamedParameterNotFound,{spec.name}")


def _sets_of(spec: CmdletSpec, p: Param) -> set[str]:
    return set(spec.sets) if ALL in p.sets else set(p.sets)


def bind(spec: CmdletSpec, named: Sequence[tuple[str, Any]], positional: Sequence[Any],
         pipeline_input: bool = False) -> Bound:
    """Bind like PowerShell: named, then positional, then choose the parameter set."""
    values: dict[str, Any] = {}
    chosen: dict[str, Param] = {}
    for given, value in named:
        p = _resolve(spec, given)
        if p.name in values:
            raise BindingError(f"Cannot bind parameter because parameter '{p.name}' is specified more "
                               "than once. To provide multiple values to parameters that can accept "
                               "multiple values, use the array syntax. For example, \"-parameter "
                               "value1,value2,value3\".", f"ParameterAlreadyBound,{spec.name}")
        values[p.name] = value
        chosen[p.name] = p
    candidates = set(spec.sets)
    for p in chosen.values():
        candidates &= _sets_of(spec, p)
    # positional arguments fill the lowest free positions valid in the remaining candidate sets
    for arg in positional:
        slots = sorted((p for p in spec.params if p.position is not None and p.name not in values
                        and _sets_of(spec, p) & candidates), key=lambda p: p.position or 0)
        if not slots:
            raise BindingError(f"A positional parameter cannot be found that accepts argument '{_show(arg)}'.",
                               f"PositionalParameterNotFound,{spec.name}")
        p = slots[0]
        values[p.name] = arg
        chosen[p.name] = p
        candidates &= _sets_of(spec, p)
    if not candidates:
        raise BindingError("Parameter set cannot be resolved using the specified named parameters.",
                           f"AmbiguousParameterSet,{spec.name}")
    set_name = _choose_set(spec, candidates, values, pipeline_input)
    missing = [p.name for p in spec.params
               if set_name in _sets_of(spec, p) and p.name not in values
               and (ALL in p.mandatory or set_name in p.mandatory)
               and not (p.pipeline and pipeline_input)]
    if missing:
        raise BindingError("Cannot process command because of one or more missing mandatory parameters: "
                           f"{' '.join(missing)}.", f"MissingMandatoryParameter,{spec.name}")
    converted = {name: convert(spec, chosen[name], value) for name, value in values.items()}
    return Bound(spec.name, set_name, converted)


def _choose_set(spec: CmdletSpec, candidates: set[str], values: dict[str, Any], pipeline_input: bool) -> str:
    if len(candidates) == 1:
        return next(iter(candidates))

    def satisfied(set_name: str) -> bool:
        return all(p.name in values or (p.pipeline and pipeline_input) for p in spec.params
                   if set_name in _sets_of(spec, p) and (ALL in p.mandatory or set_name in p.mandatory))

    full = [s for s in spec.sets if s in candidates and satisfied(s)]
    if spec.default_set in full:
        return spec.default_set
    if len(full) == 1:
        return full[0]
    if spec.default_set in candidates:
        return spec.default_set
    raise BindingError("Parameter set cannot be resolved using the specified named parameters.",
                       f"AmbiguousParameterSet,{spec.name}")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_show(v) for v in value)
    return str(value)


def _cannot_convert(spec: CmdletSpec, p: Param, value: Any, net_type: str, why: str) -> BindingError:
    return BindingError(
        f"Cannot process argument transformation on parameter '{p.name}'. Cannot convert value "
        f"\"{_show(value)}\" to type \"{net_type}\". Error: \"{why}\"",
        f"ParameterArgumentTransformationError,{spec.name}")


def convert(spec: CmdletSpec, p: Param, value: Any) -> Any:
    """PowerShell's argument conversion for the types the DNS cmdlets declare."""
    kind = p.kind
    if kind == "switch":
        return bool(value) if value is not None else True
    if kind.endswith("[]"):
        items = value if isinstance(value, list) else [value]
        scalar = Param(p.name, kind[:-2], choices=p.choices)
        return [convert(spec, scalar, item) for item in items]
    if isinstance(value, list):
        if len(value) == 1:
            value = value[0]
        elif kind not in ("object",):
            net = {"string": "System.String", "uint16": "System.UInt16", "uint32": "System.UInt32",
                   "int": "System.Int32", "timespan": "System.TimeSpan"}.get(kind, "System.Object")
            raise _cannot_convert(spec, p, value, net, f"Cannot convert the \"System.Object[]\" value of "
                                  f"type \"System.Object[]\" to type \"{net}\".")
    if kind in ("string", "enum"):
        text = _to_string(value)
        if p.choices:
            match = [c for c in p.choices if c.lower() == text.lower()]
            if not match:
                raise BindingError(
                    f"Cannot validate argument on parameter '{p.name}'. The argument \"{text}\" does not "
                    f"belong to the set \"{','.join(p.choices)}\" specified by the ValidateSet attribute. "
                    "Supply an argument that is in the set and then try the command again.",
                    f"ParameterArgumentValidationError,{spec.name}")
            return match[0]
        return text
    if kind in ("uint16", "uint32", "int"):
        limits = {"uint16": (0, 65535, "System.UInt16"), "uint32": (0, 2**32 - 1, "System.UInt32"),
                  "int": (-(2**31), 2**31 - 1, "System.Int32")}[kind]
        try:
            number = int(value) if not isinstance(value, str) else int(value.strip(), 0)
        except (TypeError, ValueError):
            raise _cannot_convert(spec, p, value, limits[2], "Input string was not in a correct format.") from None
        if not limits[0] <= number <= limits[1]:
            raise _cannot_convert(spec, p, value, limits[2], f"Value was either too large or too small for "
                                  f"a{'n' if kind == 'int' else ''} {limits[2].split('.')[-1]}.")
        return number
    if kind == "timespan":
        return to_timespan(spec, p, value)
    if kind == "ip":
        try:
            return ipaddress.ip_address(_to_string(value).strip())
        except ValueError:
            raise _cannot_convert(spec, p, value, "System.Net.IPAddress",
                                  "An invalid IP address was specified.") from None
    return value


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, timedelta):
        return format_timespan(value)
    return str(value)


def to_timespan(spec: CmdletSpec, p: Param, value: Any) -> timedelta:
    """[TimeSpan] conversion: a TimeSpan as is; a string parsed like TimeSpan.Parse
    (``hh:mm``, ``[d.]hh:mm:ss[.fffffff]``, ``d:hh:mm:ss``; ``01:00:00`` and ``0:1:0:0`` in MSD-Add and
    DC-MSDNS); an integer is **ticks** (100 ns), as PowerShell's conversion through the
    TimeSpan(Int64) constructor does (inferred), so ``-TimeToLive 300`` means 30 microseconds.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise _cannot_convert(spec, p, value, "System.TimeSpan", "Invalid cast from 'Boolean' to 'TimeSpan'.")
    if isinstance(value, int):
        return timedelta(microseconds=value / 10)
    parsed = parse_timespan(str(value))
    if parsed is None:
        raise _cannot_convert(spec, p, value, "System.TimeSpan",
                              "String was not recognized as a valid TimeSpan.")
    return parsed


def parse_timespan(text: str) -> timedelta | None:
    text = text.strip()
    neg = text.startswith("-")
    text = text.lstrip("-")
    if re.fullmatch(r"\d+", text):
        return timedelta(days=int(text)) * (-1 if neg else 1)  # TimeSpan.Parse("7") = 7 days
    parts = text.split(":")
    if not 2 <= len(parts) <= 4:
        return None
    days = 0
    if len(parts) == 4:
        days_text = parts.pop(0)
        if not days_text.isdigit():
            return None
        days = int(days_text)
    elif "." in parts[0]:
        days_text, parts[0] = parts[0].split(".", 1)
        if not days_text.isdigit():
            return None
        days = int(days_text)
    frac = "0"
    if len(parts) == 3 and "." in parts[2]:
        parts[2], frac = parts[2].split(".", 1)
    if not all(x.isdigit() for x in parts) or not frac.isdigit() or len(frac) > 7:
        return None
    hours, minutes = int(parts[0]), int(parts[1])
    seconds = int(parts[2]) if len(parts) == 3 else 0
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    td = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds,
                   microseconds=int(frac.ljust(7, "0")) / 10)
    return -td if neg else td


def format_timespan(td: timedelta) -> str:
    """TimeSpan.ToString(): [-][d.]hh:mm:ss[.fffffff]."""
    total_us = round(td.total_seconds() * 1_000_000)
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    secs, us = divmod(total_us, 1_000_000)
    days, secs = divmod(secs, 86400)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02}:{minutes:02}:{secs:02}"
    if us:
        text += f".{us * 10:07d}"
    return text
