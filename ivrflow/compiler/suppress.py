"""`# ivrflow: ignore[IVR105]`: silencing warnings on one line, and saying
when a suppression silences nothing (IVR006).

A suppression at the end of a line applies to that line; on a line of its own
it applies to the next line. Errors cannot be silenced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .diagnostics import RULES, Diagnostic, Severity
from .ir import Span

_SUPPRESSION = re.compile(r"#\s*ivrflow:\s*ignore\[([^\]]*)\]")
_CODE = re.compile(r"IVR\d{3}")


@dataclass(frozen=True, slots=True)
class Suppression:
    codes: tuple[str, ...]
    line: int  # the line it silences
    span: Span  # where it is written


def find(source: str, file: str) -> list[Suppression]:
    if "ivrflow:" not in source:  # the common case costs one scan
        return []
    found = []
    for number, text in enumerate(source.splitlines(), start=1):
        comment = _comment_start(text)
        if comment is None:
            continue
        match = _SUPPRESSION.search(text, comment)
        if match is None:
            continue
        codes = tuple(c.strip() for c in match.group(1).split(",") if c.strip())
        applies_to = number + 1 if not text[:comment].strip() else number
        span = Span(file, number, match.start() + 1, number, match.end() + 1)
        found.append(Suppression(codes, applies_to, span))
    return found


def _comment_start(line: str) -> int | None:
    """Where the comment begins: the first `#` outside a string."""
    quoted = False
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return index
    return None


def apply(diagnostics: list[Diagnostic], suppressions: list[Suppression]) -> list[Diagnostic]:
    """The diagnostics that remain, plus IVR006 for each code that silenced nothing."""
    if not suppressions:
        return diagnostics
    by_line: dict[tuple[str, int, str], Suppression] = {}
    for suppression in suppressions:
        for code in suppression.codes:
            by_line[(suppression.span.file, suppression.line, code)] = suppression
    used: set[tuple[str, int, str]] = set()
    kept = []
    for diagnostic in diagnostics:
        key = (diagnostic.span.file, diagnostic.span.line, diagnostic.code)
        if key in by_line and diagnostic.severity < Severity.ERROR:
            used.add(key)
        else:
            kept.append(diagnostic)
    rule = RULES["IVR006"]
    for suppression in suppressions:
        for code in suppression.codes:
            known = RULES.get(code) if _CODE.fullmatch(code) else None
            if known is None:
                kept.append(rule.at(suppression.span, f"`{code}` is not an ivrflow code",
                                    hint="codes look like IVR105; `ivrflow check` prints them"))
            elif known.severity is Severity.ERROR:
                kept.append(rule.at(suppression.span, f"{code} is an error and cannot be silenced",
                                    hint="fix the problem instead"))
            elif (suppression.span.file, suppression.line, code) not in used:
                kept.append(rule.at(suppression.span, f"`ignore[{code}]` silences nothing on line {suppression.line}",
                                    hint="remove it; the warning it was for is gone"))
    return kept
