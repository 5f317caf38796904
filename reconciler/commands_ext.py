"""Subcommands contributed by other parts of the product (triggers, verification).

Each module listed here has `register(subparsers)`, which adds its subcommands and sets
`handler=callable(args, console) -> exit code` on them with `set_defaults`.
"""

from __future__ import annotations

import argparse
import importlib

EXTENSIONS: list[str] = ["reconciler.triggers.commands", "reconciler.verify.command"]


def add_extension_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name in EXTENSIONS:
        importlib.import_module(name).register(sub)
