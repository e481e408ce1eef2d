"""The examples are what users copy: they must check clean and pass their tests,
and examples/broken must show every diagnostic."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivrflow.compiler.diagnostics import RULES
from ivrflow.compiler.testing import run_tests
from ivrflow.loader import load

from .conftest import EXAMPLE_FLOWS, EXAMPLES

FLOWS = EXAMPLE_FLOWS
BROKEN = sorted((EXAMPLES / "broken").glob("*.ivr"))


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_example_has_no_errors_and_its_tests_pass(path: Path) -> None:
    result = load(str(path))
    assert result.errors == 0, result.diagnostics
    assert result.flow is not None and result.graph is not None
    assert result.flow.tests, "every example carries tests"
    outcomes, _ = run_tests(result.flow, result.graph)
    assert [t.test.name for t in outcomes if not t.passed] == []


def test_at_least_four_examples_including_the_telphin_guide() -> None:
    names = {p.stem for p in FLOWS}
    assert len(names) >= 4 and "telphin_guide" in names


def test_broken_examples_show_every_diagnostic() -> None:
    shown = {d.code for path in BROKEN for d in load(str(path)).diagnostics}
    expected = {code for code in RULES if code.startswith(("IVR0", "IVR1"))}
    assert expected - shown == set()
