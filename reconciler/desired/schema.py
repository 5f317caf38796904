"""JSON Schema validation of desired-state files, reported at the YAML line of the offending node."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from .diagnostics import Diagnostics
from .fastcheck import FAST_CHECKS
from .yamlsource import YMap, position

SCHEMAS = {
    "dns": "dns-zone.schema.json",
    "authentik": "authentik.schema.json",
    "stalwart": "stalwart.schema.json",
    "config": "config.schema.json",
}


@cache
def load_schema(section: str) -> dict[str, Any]:
    text = resources.files("reconciler.desired.schemas").joinpath(SCHEMAS[section]).read_text("utf-8")
    return json.loads(text)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local `#/$defs/x` reference replaced by its target (the schemas are not
    recursive). Validation then skips jsonschema's reference resolution on every record, which was a
    third of the time on a 10,000-record zone; the shipped files keep their $refs for editors."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@cache
def _validator(section: str) -> jsonschema.Draft202012Validator:
    raw = load_schema(section)
    return jsonschema.Draft202012Validator(_inline(raw, raw.get("$defs", {})),
                                           format_checker=jsonschema.FormatChecker())


def schema_path(section: str) -> str:
    return str(resources.files("reconciler.desired.schemas").joinpath(SCHEMAS[section]))


# Fields whose value is a secret reference: never echo what the user wrote there (it may be an
# inline secret by mistake, and validation output lands in CI logs).
_SECRET_FIELDS = {"password", "secret", "token", "api_key", "key_secret"}


def _path(error: ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path)


def _is_secret(error: ValidationError) -> bool:
    return any(str(p).lower() in _SECRET_FIELDS for p in error.absolute_path)


def _message(error: ValidationError) -> str:
    where = _path(error)
    if _is_secret(error):
        msg = ("must be a secret reference env:NAME or file:PATH (the value is not shown; inline secrets are "
               "refused)")
    else:
        msg = error.message
    return f"{where}: {msg}" if where else msg


_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true/false", "null": "empty"}


def _type_name(value: Any) -> str:
    for json_type, py in (("boolean", bool), ("object", dict), ("array", list), ("string", str),
                          ("integer", int), ("number", float)):
        if isinstance(value, py):
            return _TYPE_NAMES[json_type]
    return _TYPE_NAMES["null"] if value is None else type(value).__name__


def _required_choice(error: ValidationError) -> list[str] | None:
    """For `oneOf: [{required: [a]}, {required: [b]}]`: the alternatives, else None."""
    branches = error.validator_value
    if error.validator != "oneOf" or not isinstance(branches, list):
        return None
    if not all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
        return None
    return [", ".join(b["required"]) for b in branches]


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors worth showing for one error: for oneOf/anyOf, those of the branch that fits best.

    jsonschema reports a failed oneOf as "X is not valid under any of the given schemas". The useful
    message is inside the branch meant for this value: drop branches that fail on the value's own
    type, then take the branch with the fewest errors, recursively.
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context or _required_choice(error):
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    fitting = [errs for errs in branches.values()
               if not any(e.validator == "type" and not e.relative_path for e in errs)]
    if not fitting:
        return [error]
    best = min(fitting, key=len)
    return [leaf for sub in best for leaf in _leaves(sub)]


def _diagnose(error: ValidationError) -> list[tuple[Any, str]]:
    """(position, message) pairs for one leaf error."""
    choice = _required_choice(error)
    where = _path(error)
    prefix = f"{where}: " if where else ""
    if choice is not None:
        verb = "needs one of" if error.context else "takes only one of"
        return [(error.instance, f"{prefix}{verb}: {' / '.join(choice)}")]
    if error.validator in ("oneOf", "anyOf") and error.context:
        types = [e.validator_value for e in error.context if e.validator == "type" and not e.relative_path]
        if types and len(types) == len(error.validator_value):
            flat = [t for ts in types for t in ([ts] if isinstance(ts, str) else ts)]
            names = " or ".join(dict.fromkeys(_TYPE_NAMES.get(t, t) for t in flat))
            return [(None, f"{prefix}must be {names}, not {_type_name(error.instance)}")]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extras = [k for k in error.instance
                  if k not in allowed and not any(re.search(p, str(k)) for p in patterns)]
        if extras:
            hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
            return [(("key", k), f"{prefix}unknown key {k!r}{hint}") for k in extras]
    return [(None, _message(error))]


def validate(doc: Any, section: str, file: str, diags: Diagnostics) -> bool:
    """Validate a loaded document; add one diagnostic per problem. True when the document is valid."""
    fast = FAST_CHECKS.get(section)
    if fast is not None and fast(doc):
        return True
    validator = _validator(section)
    ok = True
    seen: set[tuple[int, int, str]] = set()
    for error in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        ok = False
        for leaf in _leaves(error):
            pos = position(doc, list(leaf.absolute_path))
            for where, message in _diagnose(leaf):
                if isinstance(where, tuple) and isinstance(leaf.instance, YMap):
                    pos = leaf.instance.key_pos.get(where[1], pos)  # point at the unknown key itself
                if (pos.line, pos.col, message) not in seen:
                    seen.add((pos.line, pos.col, message))
                    diags.error(file, pos.line, pos.col, message)
    return ok
