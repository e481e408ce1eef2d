"""`ivrflow test`: run the selected tests of each flow, then report them to
people (text), programs (JSON) and CI systems (JUnit XML)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .compiler import Checked, ir
from .compiler.testing import Coverage, TestResult, run_tests


@dataclass
class FileRun:
    """One flow file's run: its tests that ran, or why none could."""

    result: Checked
    tests: list[TestResult] = field(default_factory=list)
    coverage: Coverage | None = None
    deselected: int = 0

    @property
    def broken(self) -> bool:
        return not self.result.ok or self.result.flow is None or self.result.graph is None


@dataclass
class Session:
    """Every file of one `ivrflow test` and the totals the exit status uses."""

    files: list[FileRun]

    def count(self, passed: bool) -> int:
        return sum(1 for f in self.files for t in f.tests if t.passed is passed)

    @property
    def deselected(self) -> int:
        return sum(f.deselected for f in self.files)

    @property
    def broken(self) -> int:
        return sum(1 for f in self.files if f.broken)

    @property
    def handlers(self) -> int:
        return sum(len(f.coverage.handlers) for f in self.files if f.coverage is not None and f.tests)

    @property
    def missed(self) -> list[tuple[str, str, ir.Span]]:
        return [m for f in self.files if f.coverage is not None and f.tests for m in f.coverage.missed]

    @property
    def percent(self) -> float:
        """Keys, menu events and route branches exercised; 0 when no test ran."""
        handlers = self.handlers
        return 100.0 * (handlers - len(self.missed)) / handlers if handlers else 0.0


def run(results: Sequence[Checked], select: Callable[[str], bool] | None = None) -> Session:
    """Run the tests whose `FILE::NAME` the `-k` predicate `select` accepts."""
    runs = []
    for result in results:
        run_ = FileRun(result)
        runs.append(run_)
        if run_.broken:
            continue
        assert result.flow is not None and result.graph is not None
        name = Path(result.file).name
        chosen = None if select is None else (lambda test, name=name: select(f"{name}::{test.name}"))
        run_.tests, run_.coverage = run_tests(result.flow, result.graph, chosen)
        run_.deselected = len(result.flow.tests) - len(run_.tests)
    return Session(runs)


# --- text -----------------------------------------------------------------------------

def text(session: Session, *, colour: bool, coverage: bool, fail_under: float | None) -> None:
    from . import report
    from .simulation import _event

    def paint(words: str, **style: object) -> str:
        return click.style(words, **style) if colour else words  # type: ignore[arg-type]

    for file in session.files:
        result = file.result
        if file.broken:
            click.echo(report.text([result], colour=colour), nl=False)
            click.echo(paint(f"{result.file}: not run, the flow has errors\n", fg="red", bold=True))
            continue
        if not file.tests and file.deselected:
            continue
        click.echo(paint(result.file, bold=True) + ("" if file.tests else "  (no tests)"))
        for outcome in file.tests:
            if outcome.passed:
                click.echo(f"  {paint('✓', fg='green')} {outcome.test.name}")
                continue
            failure = outcome.failure
            assert failure is not None
            click.echo(f"  {paint('✗', fg='red', bold=True)} {outcome.test.name}")
            click.echo(f"      {failure.span}: expected {failure.expected}")
            click.echo(f"      but: {failure.actual}")
            if outcome.record is not None and outcome.record.path:
                record = outcome.record
                steps = " → ".join(f"{v.node} ({_event(v, record.flow, cause)})"
                                   for v, cause in zip(record.path, record.causes, strict=True))
                click.echo(f"      path: {steps}")
    if coverage and session.handlers:
        covered = session.handlers - len(session.missed)
        click.echo(f"\ncoverage: {covered} of {session.handlers} handlers exercised ({session.percent:.0f}%)")
        if session.missed:
            click.echo("  not exercised by any test:")
            click.echo("\n".join(f"    {span.file}:{span.line}  {owner}: {event}"
                                 for owner, event, span in session.missed))
    if fail_under is not None:
        if session.percent < fail_under:
            click.echo(paint(f"coverage {session.percent:.1f}% is under --fail-under {fail_under:g}%",
                             fg="red", bold=True))
        else:
            click.echo(f"coverage {session.percent:.1f}% reaches --fail-under {fail_under:g}%")
    parts = [paint(f"{session.count(True)} passed", fg="green")]
    if session.count(False):
        parts.append(paint(f"{session.count(False)} failed", fg="red", bold=True))
    if session.deselected:
        parts.append(f"{session.deselected} deselected")
    if session.broken:
        parts.append(paint(f"{session.broken} file(s) with errors", fg="red", bold=True))
    click.echo("\n" + ", ".join(parts))


# --- JSON -----------------------------------------------------------------------------

def as_json(session: Session, *, coverage: bool, fail_under: float | None) -> str:
    """{"files": [...], "coverage": {...} | null, "summary": {...}} (docs/cli.md)."""
    files = []
    for file in session.files:
        result = file.result
        entry: dict[str, Any] = {"file": result.file, "flow": result.flow.name if result.flow else None}
        if file.broken:
            entry["errors"] = [d.to_dict() for d in result.diagnostics]
        entry["tests"] = [_test_dict(t) for t in file.tests]
        entry["deselected"] = file.deselected
        files.append(entry)
    document: dict[str, Any] = {"files": files, "coverage": None}
    if coverage:
        document["coverage"] = {
            "handlers": session.handlers,
            "exercised": session.handlers - len(session.missed),
            "percent": round(session.percent, 1),
            "missed": [{"file": span.file, "line": span.line, "node": owner, "event": event}
                       for owner, event, span in session.missed],
        }
    document["summary"] = {
        "passed": session.count(True), "failed": session.count(False), "deselected": session.deselected,
        "files_with_errors": session.broken,
        "fail_under": None if fail_under is None else {"percent": fail_under, "met": session.percent >= fail_under},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _test_dict(outcome: TestResult) -> dict[str, Any]:
    failure = outcome.failure
    return {
        "name": outcome.test.name,
        "line": outcome.test.span.line,
        "passed": outcome.passed,
        "failure": None if failure is None else {
            "file": failure.span.file, "line": failure.span.line, "column": failure.span.column,
            "expected": failure.expected, "actual": failure.actual,
        },
        "path": [] if outcome.record is None else [
            {"node": v.node, "event": v.event, "keys": v.keys} for v in outcome.record.path],
    }


# --- JUnit XML ------------------------------------------------------------------------

def junit(session: Session) -> ET.ElementTree:
    """The run as JUnit XML: one <testsuite> per flow file, one <testcase> per
    test that ran; a file with errors is one <testcase> with an <error>."""
    from . import report

    root = ET.Element("testsuites", name="ivrflow")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for file in session.files:
        result = file.result
        suite = ET.SubElement(root, "testsuite", name=result.file)
        classname = result.flow.name if result.flow is not None else Path(result.file).stem
        counts = {"tests": 0, "failures": 0, "errors": 0}
        suite_seconds = 0.0
        if file.broken:
            case = ET.SubElement(suite, "testcase", classname=classname, name="the flow checks",
                                 file=result.file)
            error = ET.SubElement(case, "error", type="flow errors",
                                  message=f"{result.file}: not run, the flow has errors")
            error.text = report.text([result], colour=False)
            counts["tests"] += 1
            counts["errors"] += 1
        for outcome in file.tests:
            case = ET.SubElement(suite, "testcase", classname=classname, name=outcome.test.name,
                                 file=result.file, line=str(outcome.test.span.line), time=f"{outcome.seconds:.6f}")
            counts["tests"] += 1
            suite_seconds += outcome.seconds
            failure = outcome.failure
            if failure is not None:
                counts["failures"] += 1
                element = ET.SubElement(case, "failure", type="expectation",
                                        message=f"expected {failure.expected}, but {failure.actual}")
                lines = [f"{failure.span}: expected {failure.expected}", f"but: {failure.actual}"]
                if outcome.record is not None and outcome.record.path:
                    lines.append("path: " + " → ".join(f"{v.node} ({v.event})" for v in outcome.record.path))
                element.text = "\n".join(lines)
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", str(counts["errors"]))
        suite.set("skipped", "0")
        suite.set("time", f"{suite_seconds:.6f}")
        for key in totals:
            totals[key] += counts[key]
        seconds += suite_seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.6f}")
    ET.indent(root)
    return ET.ElementTree(root)


def run_files(results: Sequence[Checked], *, colour: bool, select: Callable[[str], bool] | None = None,
                   fmt: str = "text", junit_xml: str | None = None, coverage: bool = True,
                   fail_under: float | None = None) -> int:
    """Run and report the tests of `results`; the exit status."""
    session = run(results, select)
    if fmt == "json":
        click.echo(as_json(session, coverage=coverage, fail_under=fail_under), nl=False)
    else:
        text(session, colour=colour, coverage=coverage, fail_under=fail_under)
    if junit_xml is not None:
        try:
            junit(session).write(junit_xml, encoding="utf-8", xml_declaration=True)
        except OSError as error:
            raise click.ClickException(f"cannot write `{junit_xml}`: {error.strerror}") from None
        if fmt == "text":
            click.echo(f"wrote {junit_xml}", err=True)
    failed = session.count(False) or session.broken
    short = fail_under is not None and session.percent < fail_under
    return 1 if failed or short else 0
