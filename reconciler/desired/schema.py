"""JSON Schema validation of desired-state files, reported at the YAML line of the offending node."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from .diagnostics import Diagnostics
from .yamlsource import position

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


def schema_path(section: str) -> str:
    return str(resources.files("reconciler.desired.schemas").joinpath(SCHEMAS[section]))


def _message(error: ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        msg = f"unknown key: {error.message.split('(')[-1].rstrip(')')}" if "(" in error.message \
            else error.message
        msg = msg.replace("were unexpected", "").replace("was unexpected", "").strip()
    else:
        msg = error.message
    return f"{where}: {msg}" if where else msg


def validate(doc: Any, section: str, file: str, diags: Diagnostics) -> bool:
    """Validate a loaded document; add one diagnostic per problem. True when the document is valid."""
    validator = jsonschema.Draft202012Validator(load_schema(section),
                                                format_checker=jsonschema.FormatChecker())
    ok = True
    for error in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        ok = False
        chosen = best_match([error]) if error.context else error
        pos = position(doc, list(chosen.absolute_path))
        diags.error(file, pos.line, pos.col, _message(chosen))
    return ok
