"""Validation findings that point at a file, line and column, in the `file:line:col: message` form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    col: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "col": self.col, "severity": self.severity,
                "message": self.message}


class Diagnostics(list[Diagnostic]):
    """An ordered collection with helpers; errors block everything, warnings are shown."""

    def error(self, file: str, line: int, col: int, message: str) -> None:
        self.append(Diagnostic(file, line, col, "error", message))

    def warning(self, file: str, line: int, col: int, message: str) -> None:
        self.append(Diagnostic(file, line, col, "warning", message))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self if d.severity == "warning"]


class DesiredStateError(Exception):
    """Raised when desired state has errors; carries every finding, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else None
        super().__init__(str(first) if first else "invalid desired state")
