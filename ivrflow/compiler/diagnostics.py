"""Diagnostics are data: a code, a severity, a message and where it happened.

How they are shown (text with carets, JSON, GitHub annotations, SARIF) lives
in report.py; the checks only create them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .ir import Span


class Severity(enum.IntEnum):
    """Ordered so that `max()` gives the worst; `info` never fails a check."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Rule:
    """A stable diagnostic code and what it means for the caller."""

    code: str
    severity: Severity
    title: str

    def at(self, span: Span, message: str, hint: str | None = None,
           related: tuple[tuple[Span, str], ...] = ()) -> Diagnostic:
        return Diagnostic(self.code, self.severity, message, span, hint, related)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None
    related: tuple[tuple[Span, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The shape of `check --format json` (DESIGN §5)."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "hint": self.hint,
        }

    def check_tuple(self) -> tuple[str, int, int]:
        """(code, line, column): what tests compare."""
        return (self.code, self.span.line, self.span.column)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


def _rules(*rules: tuple[str, Severity, str]) -> dict[str, Rule]:
    return {code: Rule(code, severity, title) for code, severity, title in rules}


E, W = Severity.ERROR, Severity.WARNING

#: Every code ivrflow can report. Codes are stable forever: add, never renumber.
#: Bands: IVR0xx syntax, names and values; IVR1xx graph and flow; IVR2xx target
#: support; IVR3xx deploy. docs/checks.md explains each one.
RULES: dict[str, Rule] = _rules(
    ("IVR001", E, "syntax error"),
    ("IVR002", E, "reference to an undefined name"),
    ("IVR003", E, "name defined twice"),
    ("IVR004", E, "invalid value"),
    ("IVR005", E, "setting given twice"),
    ("IVR006", W, "suppression that silences nothing"),
    ("IVR007", E, "included file that cannot be read"),
    ("IVR008", E, "include cycle"),
    ("IVR009", E, "unknown variable"),
    ("IVR010", E, "statement not allowed here"),
    ("IVR011", E, "language not in the flow's `languages`"),
    ("IVR012", E, "prompt variants that miss or repeat a language"),
    ("IVR013", E, "ranges or patterns of one menu that overlap"),
    ("IVR014", E, "key that the `end-key` takes away"),
    ("IVR015", E, "collect or lookup without a required handler"),
    ("IVR101", W, "not reachable from the start"),
    ("IVR102", E, "handler without a terminal action"),
    ("IVR103", E, "trap: nothing can end the call"),
    ("IVR104", W, "missing `on timeout` or `on invalid`: defaults to repeat"),
    ("IVR105", W, "missing `on exhausted`: defaults to hangup"),
    ("IVR106", E, "the same key twice in one menu"),
    ("IVR107", E, "actions after a terminal action never run"),
    ("IVR108", E, "`repeat` or `replay` outside a menu or collect"),
    ("IVR109", E, "key longer than `digits`: it can never be pressed"),
    ("IVR110", W, "key is the start of a longer key: callers wait for it"),
    ("IVR111", W, "`dial-extensions` cannot work in this menu"),
    ("IVR112", E, "audio file not found"),
    ("IVR113", W, "defined but never used"),
    ("IVR114", W, "prompt announces a key the menu does not have"),
    ("IVR115", W, "silence loop: a silent caller goes round forever"),
    ("IVR116", E, "route without a proper `otherwise`"),
    ("IVR117", W, "too many options in one menu"),
    ("IVR118", W, "menu nested too deep"),
    ("IVR119", W, "menu plays no prompt"),
    ("IVR120", E, "test that can never fail"),
    ("IVR121", W, "opening hours that are never open or overlap"),
    ("IVR122", E, "instant loop: routes go round without waiting for the caller"),
    ("IVR123", E, "`repeat` or `replay` in `on exhausted`: the retries are already used up"),
    ("IVR124", E, "audio file outside the flow's folder"),
    ("IVR125", E, "audio file that is not a regular file"),
    ("IVR126", E, "audio file that cannot be read or is too large"),
    ("IVR127", E, "nothing to start at: no menu or route"),
    ("IVR128", E, "test answer that the `ask` does not declare"),
    ("IVR129", W, "variable used before it is set on some path"),
    ("IVR130", W, "received variable that nothing uses"),
    ("IVR131", W, "lookup over plain http"),
    ("IVR132", W, "only the caller hanging up or `max-duration` ends the call"),
    ("IVR133", W, "`{…}` that is not a variable"),
    ("IVR201", Severity.INFO, "menu unrolled: the platform has no retry counter"),
    ("IVR202", Severity.INFO, "served by the runtime server through the platform's webhook"),
    ("IVR203", E, "voicemail box with no destination on this platform"),
    ("IVR204", E, "`say` prompt on a platform that only plays recordings"),
    ("IVR205", E, "construct the target cannot express"),
    ("IVR206", W, "construct the target only approximates"),
    ("IVR207", E, "prompt audio the target cannot play"),
    ("IVR208", E, "no speech voice for the prompt's language"),
    ("IVR209", E, "more receptionists than the range has extension numbers"),
    ("IVR301", E, "environment configuration"),
    ("IVR302", E, "the platform rejected a change"),
    ("IVR303", E, "callback URLs the runtime server could not verify"),
)
