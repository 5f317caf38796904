"""``authentik-client``, imported on first use instead of when this package is imported.

The client defines ~1,000 pydantic models; importing it costs several seconds. The engine builds
every target's provider up front (``Engine.assign`` asks each one ``serves()``), so an eager import
made every command pay for it, even ``diff --target mail``. Only the provider's reads and writes call
``ak()``; the first ``read()`` runs in the engine's thread pool, next to the other targets' reads.
"""

from __future__ import annotations

import gc
import importlib
import threading
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers only; at run time the import waits for ak()
    from authentik_client.exceptions import ApiException
    from pydantic import ValidationError

_lock = threading.Lock()
_module: ModuleType | None = None


def ak() -> ModuleType:
    """The ``authentik_client`` module, imported (once, thread-safely) on the first call."""
    global _module
    if _module is None:
        with _lock:
            if _module is None:
                module = importlib.import_module("authentik_client")
                # With the client's models on the heap every full garbage collection walks them all
                # (0.2–0.3 s pauses in bench/bench_authentik.py). They live as long as the process:
                # move what exists now out of the collector's sight, once, right after the import.
                gc.freeze()
                _module = module
    return _module


def api_exception() -> type[ApiException]:
    """``authentik_client.exceptions.ApiException`` (the base of every error the client raises)."""
    ak()
    exceptions = importlib.import_module("authentik_client.exceptions")
    cls: type[ApiException] = exceptions.ApiException
    return cls


def validation_error() -> type[ValidationError]:
    """``pydantic.ValidationError``, what the client's models raise for an object they cannot parse."""
    ak()  # pydantic comes with the client
    cls: type[ValidationError] = importlib.import_module("pydantic").ValidationError
    return cls


def loaded() -> bool:
    """Whether ``ak()`` has imported the client yet (for tests and diagnostics)."""
    return _module is not None
