"""Every check, failing and passing, from one table (check_cases.py)."""

from __future__ import annotations

import pytest

from ivrflow.compiler import check_source
from ivrflow.compiler.checks import CHECKS, Env
from ivrflow.compiler.checks.base import FileProblem
from ivrflow.compiler.diagnostics import RULES

from .check_cases import CASES, Case

#: What ivrflow.prompt_files would say of the paths the cases name (tested for real in test_prompt_files.py).
FILES = {"present.wav": None, "/etc/passwd": FileProblem("IVR124", "outside"),
         "prompts": FileProblem("IVR125", "a directory"), "huge.wav": FileProblem("IVR126", "too large"),
         "name-too-long.wav": FileProblem("IVR126", "name too long")}
ENV = Env(prompt_file=lambda path: FILES.get(path, FileProblem("IVR112", "not found")))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{'pass' if c.passes else 'fail'}-{c.name}")
def test_check_case(case: Case) -> None:
    result = check_source(case.source, "case.ivr", ENV)
    found = sorted((d.span.line, d.span.column) for d in result.diagnostics if d.code == case.code)
    assert found == sorted(case.at), "\n".join(
        f"{d.span.line}:{d.span.column} {d.code} {d.message}" for d in result.diagnostics)


def test_every_code_has_a_failing_and_a_passing_case() -> None:
    for code in RULES:
        if code.startswith(("IVR2", "IVR3")):
            continue  # target and deploy codes are tested with their targets
        kinds = {c.passes for c in CASES if c.code == code}
        assert kinds == {True, False}, f"{code} needs a failing and a passing case"


def test_diagnostics_have_valid_positions_and_known_codes() -> None:
    for case in CASES:
        lines = case.source.splitlines()
        for d in check_source(case.source, "case.ivr", ENV).diagnostics:
            assert d.code in RULES
            assert 1 <= d.span.line <= len(lines) + 1
            assert d.span.column >= 1
            assert (d.span.end_line, d.span.end_column) >= (d.span.line, d.span.column)


def test_checks_are_documented() -> None:
    for check in CHECKS:
        assert check.__doc__ and len(check.__doc__) > 40, f"{check.__name__} needs a docstring for docs/checks.md"
