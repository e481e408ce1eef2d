"""Diagnostics as text for people, JSON for programs, GitHub annotations for
workflow logs and SARIF 2.1.0 for code scanning. Pure: strings out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from . import __version__
from .compiler import Checked
from .compiler.diagnostics import RULES, Diagnostic, Severity

_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def _style(text: str, colour: bool, **styles: Any) -> str:
    if not colour:
        return text
    import click

    return click.style(text, **styles)


#: Source lines longer than this are shown as a window around the caret.
MAX_SHOWN_LINE = 160
#: How many places of a repeated diagnostic (same code and message) are listed.
MAX_LISTED_REPEATS = 10


def text(results: Sequence[Checked], *, colour: bool = False) -> str:
    """`file:line:col: severity[CODE]: message`, the source line, carets, the
    hint. A diagnostic repeated word for word in one file is shown once, with
    the places of the others."""
    out: list[str] = []
    for result in results:
        lines = result.source.splitlines()
        repeats: dict[tuple[str, str], list[Diagnostic]] = {}
        for diagnostic in result.diagnostics:
            repeats.setdefault((diagnostic.code, diagnostic.message), []).append(diagnostic)
        for diagnostic in result.diagnostics:
            same = repeats[(diagnostic.code, diagnostic.message)]
            if same[0] is not diagnostic:
                continue
            # a diagnostic in an included file has no line of this file to show
            out.extend(_one(diagnostic, lines if diagnostic.span.file == result.file else [], colour))
            for span, note in diagnostic.related:
                if span.file == diagnostic.span.file and span.line != diagnostic.span.line:
                    out.append(_style(f"  {span.file}:{span.line}:{span.column}: note: {note}", colour, dim=True))
            if len(same) > 1:
                places = ", ".join(f"{d.span.line}:{d.span.column}" for d in same[1:MAX_LISTED_REPEATS + 1])
                more = f" and {len(same) - 1 - MAX_LISTED_REPEATS} more" if len(same) - 1 > MAX_LISTED_REPEATS else ""
                out.append(_style(f"  = the same {len(same) - 1} more time{'s' if len(same) > 2 else ''} in this "
                                  f"file, at {places}{more}", colour, dim=True))
            out.append("")
    out.append(summary(results, colour=colour))
    return "\n".join(out) + "\n"


def _window(source: str, start: int, end: int) -> tuple[str, int, int]:
    """A long line cut to MAX_SHOWN_LINE characters around columns
    start..end (1-based, end exclusive), with `…` where it was cut; the
    columns returned are in the cut line."""
    if len(source) <= MAX_SHOWN_LINE:
        return source, start, end
    width = min(max(1, end - start), MAX_SHOWN_LINE // 2)
    left = max(0, min(start - 1 - (MAX_SHOWN_LINE - width) // 2, len(source) - MAX_SHOWN_LINE))
    right = left + MAX_SHOWN_LINE
    cut = ("…" if left else "") + source[left:right] + ("…" if right < len(source) else "")
    shift = left - (1 if left else 0)
    return cut, start - shift, start - shift + width


def _one(diagnostic: Diagnostic, lines: list[str], colour: bool) -> list[str]:
    span = diagnostic.span
    severity = _style(f"{diagnostic.severity}[{diagnostic.code}]", colour,
                      fg=_COLOURS[diagnostic.severity], bold=True)
    head = f"{_style(str(span), colour, bold=True)}: {severity}: {diagnostic.message}"
    result = [head]
    if 0 < span.line <= len(lines):
        source = lines[span.line - 1].replace("\t", " ")
        gutter = " " * len(str(span.line))
        end = span.end_column if span.end_line == span.line else len(source) + 1
        source, column, end = _window(source, span.column, min(end, len(source) + 1))
        width = max(1, min(end, len(source) + 1) - column)
        carets = " " * (column - 1) + "^" * width
        result += [
            f"{gutter} |",
            f"{span.line} | {source}",
            f"{gutter} | {_style(carets, colour, fg=_COLOURS[diagnostic.severity], bold=True)}",
        ]
    if diagnostic.hint:
        result.append(f"  = hint: {diagnostic.hint}")
    return result


def summary(results: Sequence[Checked], *, colour: bool = False) -> str:
    errors = sum(r.errors for r in results)
    warnings = sum(r.warnings for r in results)
    files = f"{len(results)} file" + ("s" if len(results) != 1 else "")
    if not errors and not warnings:
        return _style(f"✓ {files} checked: no problems", colour, fg="green")
    parts = [f"{errors} error" + ("s" if errors != 1 else "")]
    parts.append(f"{warnings} warning" + ("s" if warnings != 1 else ""))
    line = f"{', '.join(parts)} in {files}"
    return _style(line, colour, fg="red" if errors else "yellow", bold=bool(errors))


def as_json(results: Sequence[Checked]) -> str:
    """DESIGN §5: {"diagnostics": [...], "errors": N, "warnings": N}."""
    diagnostics = [d.to_dict() for r in results for d in r.diagnostics]
    return json.dumps({
        "diagnostics": diagnostics,
        "errors": sum(r.errors for r in results),
        "warnings": sum(r.warnings for r in results),
    }, indent=2, ensure_ascii=False) + "\n"


def github(results: Sequence[Checked]) -> str:
    """Workflow commands: `::error file=…,line=…::message`, one per line."""
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    out = []
    for result in results:
        for d in result.diagnostics:
            s = d.span
            props = (f"file={_prop(s.file)},line={s.line},col={s.column},endLine={s.end_line},"
                     f"endColumn={s.end_column},title={_prop(d.code + ' ' + RULES[d.code].title)}")
            message = d.message + (f" (hint: {d.hint})" if d.hint else "")
            out.append(f"::{level[d.severity]} {props}::{_data(message)}")
    return "".join(line + "\n" for line in out)


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")


def sarif(results: Sequence[Checked]) -> str:
    """SARIF 2.1.0, for GitHub code scanning (`upload-sarif`)."""
    used = sorted({d.code for r in results for d in r.diagnostics})
    rules = [{
        "id": code,
        "name": RULES[code].title,
        "shortDescription": {"text": RULES[code].title},
        "helpUri": f"https://github.com/ivrflow/ivrflow/blob/main/docs/checks.md#{code.lower()}",
        "defaultConfiguration": {"level": _sarif_level(RULES[code].severity)},
    } for code in used]
    index = {code: i for i, code in enumerate(used)}
    findings = []
    for result in results:
        for d in result.diagnostics:
            s = d.span
            message = d.message + (f" Hint: {d.hint}" if d.hint else "")
            findings.append({
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": _sarif_level(d.severity),
                "message": {"text": message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": s.file.replace("\\", "/")},
                    "region": {"startLine": s.line, "startColumn": s.column,
                               "endLine": s.end_line, "endColumn": s.end_column},
                }}],
            })
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "ivrflow", "version": __version__,
                                "informationUri": "https://github.com/ivrflow/ivrflow", "rules": rules}},
            "results": findings,
        }],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _sarif_level(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[severity]


FORMATS = {"text": text, "json": as_json, "github": github, "sarif": sarif}
