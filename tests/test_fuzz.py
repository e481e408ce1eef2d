"""Mutated examples never crash the compiler: `check` only ever returns
diagnostics with valid positions, and what checks clean can be tested, drawn
and compiled for the declarative targets.

`make test` runs a few hundred mutations; `make fuzz` runs 100,000
(IVRFLOW_FUZZ_EXAMPLES) and is kept out of `make test`. Flows from the
grammar-aware generator (tests/fuzzgen.py) go through every command: a few
small ones here, hundreds (large ones too) in `make fuzz`.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivrflow.compiler import check_source
from ivrflow.compiler.diagnostics import RULES
from ivrflow.compiler.render import to_dot, to_mermaid
from ivrflow.compiler.testing import run_tests
from ivrflow.targets.portsip import compile as portsip
from ivrflow.targets.telphin import compile as telphin

from .conftest import EXAMPLES

SOURCES = [p.read_text() for p in sorted(EXAMPLES.glob("*.ivr")) + sorted((EXAMPLES / "broken").glob("*.ivr"))]
EXAMPLES_TO_RUN = int(os.environ.get("IVRFLOW_FUZZ_EXAMPLES", "300"))
NOISE = st.text(alphabet=st.sampled_from(list('{}"#->,*;:0123456789 \t\nabcmenuplaytsor_\\é€\x00')), max_size=6)

mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 200)),
    st.tuples(st.just("duplicate"), st.integers(0, 200)),
    st.tuples(st.just("swap"), st.integers(0, 200), st.integers(0, 200)),
    st.tuples(st.just("insert"), st.integers(0, 200), st.integers(0, 80), NOISE),
)


def mutate(source: str, mutations: list[tuple]) -> str:
    lines = source.split("\n")
    for kind, *args in mutations:
        if not lines:
            break
        i = args[0] % len(lines)
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = args[1] % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        else:
            column, text = args[1] % (len(lines[i]) + 1), args[2]
            lines[i] = lines[i][:column] + text + lines[i][column:]
    return "\n".join(lines)


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES_TO_RUN, deadline=None, derandomize=EXAMPLES_TO_RUN <= 300,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(source=st.sampled_from(SOURCES), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_flows_get_diagnostics_not_exceptions(source: str, mutations: list[tuple]) -> None:
    text = mutate(source, mutations)
    result = check_source(text, "fuzz.ivr")
    line_count = text.count("\n") + 2  # an error may point just past the last line
    for d in result.diagnostics:
        assert d.code in RULES
        assert 1 <= d.span.line <= line_count, d
        assert d.span.column >= 1, d
        assert (d.span.end_line, d.span.end_column) >= (d.span.line, d.span.column), d
    if result.flow is not None and result.graph is not None:
        to_dot(result.flow, result.graph, result.diagnostics)
        to_mermaid(result.flow, result.graph, result.diagnostics)
        if result.errors == 0:
            run_tests(result.flow, result.graph)
            for compile_flow in (telphin.compile_flow, portsip.compile_flow):  # the targets' compilers too
                for d in compile_flow(result.flow, {}, tts=True).diagnostics:
                    assert d.code in RULES and 1 <= d.span.line <= line_count, d


#: Flows from the grammar-aware generator in the default run (`make fuzz` runs hundreds, large ones too).
GENERATED_TO_RUN = int(os.environ.get("IVRFLOW_FUZZ_GENERATED_TEST", "8"))


def test_generated_flows_run_through_every_command_without_internal_errors() -> None:
    """A few small flows from tests/fuzzgen.py through check, render, test and
    compile: every problem is a coded diagnostic, every diagram is valid DOT.
    (Speed is measured by `make fuzz`, not asserted here.)"""
    from .fuzzgen import fuzz

    summary = fuzz(GENERATED_TO_RUN, seed=20261202, large=False)
    assert summary.flows == GENERATED_TO_RUN
    assert summary.count("internal error") == 0, summary.text()
    assert summary.count("dot rejected") == 0, summary.text()
