"""`python -m tests.triggers.cli_with_filedns ARGS`: the reconciler CLI with the test provider installed.

Subprocesses (the git hook, concurrent runs for the lock) cannot see an in-process monkeypatch.
"""

from __future__ import annotations

import sys

from reconciler.cli import main
from tests.triggers import filedns

if __name__ == "__main__":
    filedns.install()
    sys.exit(main(sys.argv[1:]))
