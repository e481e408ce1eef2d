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
from pathlib import Path

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
    """A few small flows from tests/fuzzgen.py through check, render, test,
    simulate, fmt and compile, the core with an include reader and the machine:
    every problem is a coded diagnostic, every diagram is valid DOT, fmt and
    the machine keep their promises. (Speed is measured by `make fuzz`, not
    asserted here.)"""
    from .fuzzgen import fuzz

    summary = fuzz(GENERATED_TO_RUN, seed=20261202, large=False)
    assert summary.flows == GENERATED_TO_RUN
    assert summary.count("internal error") == 0, summary.text()
    assert summary.count("dot rejected") == 0, summary.text()
    assert {kind for kind, _, _ in summary.findings} <= {"slow"}, summary.text()  # fmt, machine, diagnostics


# --- inputs that once made the core recurse or crash ---------------------------------------------

DEEP = [
    ("not " * 1000 + "vip is set", "condition"),
    ("not " * 50_000 + "vip is set", "condition"),
    ("(vip is set and " * 5000 + "x is set" + ")" * 5000, "condition"),
    ("(not " * 1000 + "x is set" + ")" * 1000, "condition"),
]


def _route(condition: str) -> str:
    return f'flow f {{\n    start r\n}}\n\nroute r {{\n    when {condition} -> hangup\n    otherwise -> hangup\n}}\n'


@pytest.mark.parametrize(("condition", "what"), DEEP, ids=["not×1000", "not×50000", "and×5000", "(not×1000"])
def test_a_condition_nested_past_the_limit_is_a_syntax_error_not_a_recursion_error(condition: str,
                                                                                   what: str) -> None:
    from ivrflow.compiler.format import format_source
    from ivrflow.compiler.parse import MAX_NESTING

    source = _route(condition)
    result = check_source(source, "deep.ivr")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("IVR001", 6)]
    assert result.diagnostics[0].message == (
        f"the {what} nests more than {MAX_NESTING} levels deep (`not`, or `and`/`or` in parentheses)")
    formatting = format_source(source.replace("    when", "  when"))  # fmt shows the error, leaves the file
    assert formatting.text is None and [d.code for d in formatting.diagnostics] == ["IVR001"]


def test_a_condition_at_the_limit_runs_everywhere() -> None:
    """50 levels (MAX_NESTING) are fine: checked, drawn, tested, formatted."""
    from ivrflow.compiler.format import format_source
    from ivrflow.compiler.machine import Call, Line, Start, step

    source = _route("not " * 50 + 'key == "1"') + '\ntest "t" {\n    expect hangup\n}\n'
    result = check_source(source, "deep.ivr")
    assert result.flow is not None and result.graph is not None and result.errors == 0
    to_dot(result.flow, result.graph, result.diagnostics)
    to_mermaid(result.flow, result.graph, result.diagnostics)
    results, _ = run_tests(result.flow, result.graph)
    assert [r.passed for r in results] == [True]
    assert format_source(source).text == source
    call, _ = step(result.flow, Call(), Start(), Line())
    assert call.outcome is not None and call.outcome.action == "hangup"  # 50 `not`s of a false condition


def test_parentheses_alone_do_not_nest() -> None:
    source = _route("(" * 50_000 + "key is set" + ")" * 50_000)
    assert check_source(source, "deep.ivr").errors == 0


def test_an_else_chain_past_the_limit_is_a_syntax_error() -> None:
    chain = " else ".join(f'transfer "{i}"' for i in range(3000))
    result = check_source(f"flow f {{\n    start m\n}}\nmenu m {{\n    press 1 -> {chain}\n}}\n", "deep.ivr")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("IVR001", 5)]
    assert result.diagnostics[0].message.startswith("the action nests more than 50 levels deep")


def test_a_chain_of_thousands_of_included_files_is_read_without_recursion() -> None:
    from ivrflow.compiler.checks import Env
    from ivrflow.compiler.includes import IncludeError

    last = 3000

    def read(including: str, written: str) -> tuple[str, str]:
        number = int(written[1:-4])
        if number == last:
            raise IncludeError("no such file")
        back = f'include "f{last - 10}.ivr"\n' if number == last - 1 else ""  # a cycle at the end
        return written, f'{back}include "f{number + 1}.ivr"\nprompt p{number} say "x"\n'

    result = check_source('flow f {\n    start m\n}\ninclude "f0.ivr"\nmenu m {\n    play p0\n}\n', "root.ivr",
                          Env(include=read))
    assert result.flow is not None and len(result.flow.prompts) == last
    found = {(d.code, d.span.file) for d in result.diagnostics if d.code in ("IVR007", "IVR008")}
    assert found == {("IVR008", f"f{last - 1}.ivr"), ("IVR007", f"f{last - 1}.ivr")}


def test_an_include_path_with_a_nul_is_unreadable_not_a_crash(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from ivrflow.cli import main

    flow = tmp_path / "flow.ivr"
    flow.write_text('flow f {\n    start m\n}\ninclude "a\x00b.ivr"\nmenu m {\n    on timeout -> hangup\n}\n')
    assert main(["check", str(flow)]) == 1
    assert f"{flow}:4:9: error[IVR007]: " in capsys.readouterr().out


def test_numbers_of_thousands_of_digits_are_invalid_values_not_crashes() -> None:
    """Python's int() refuses more than 4,300 digits: ranges compare as digit
    strings, counts longer than their limit are out of range."""
    from ivrflow.compiler.conditions import caller_matches
    from ivrflow.compiler.ir import key_matches

    a, b = "1" * 5000, "2" * 5000
    source = (f"flow f {{\n    start m\n}}\n\nmenu m {{\n    retries {a}\n    digits {a}\n"
              f"    press {b}-{a} -> hangup\n    on timeout -> hangup\n}}\n")
    result = check_source(source, "big.ivr")
    found = {(d.code, d.span.line) for d in result.diagnostics}
    assert {("IVR004", 6), ("IVR004", 7), ("IVR004", 8)} <= found
    assert key_matches(f"{a}-{b}", "1" + "5" * 4999) and not key_matches(f"{a}-{b}", "3" * 5000)
    assert caller_matches(f"{a}-{b}", "+" + "1" * 4999 + "2") and not caller_matches("a-b", "12")


def test_a_long_handler_going_round_stops_after_a_bounded_amount_of_work() -> None:
    """make fuzz found a 30 kB handler (hundreds of plays and sets) that
    `goto`s its own route: the machine went round it MAX_MOVES times, 45 s
    for one step. IVR122 reports the loop; the machine, run on such a flow
    anyway (the fuzzer does), stops once the route comes round again after
    MAX_ACTIONS actions."""
    from ivrflow.compiler import machine as m

    actions = ", ".join(["play p", 'set x = "{x}"'] * 300)
    source = (f'flow f {{\n    start r0\n}}\nprompt p say "hi {{x}}"\n'
              f"route r0 {{\n    otherwise -> {actions}, goto r0\n}}\n")
    result = check_source(source, "loop.ivr")
    assert "IVR122" in {d.code for d in result.diagnostics} and result.flow is not None
    with pytest.raises(m.MachineError, match=r"went round `r0` again after 10,000 actions"):
        m.step(result.flow, m.Call(), m.Start())


def test_a_chain_of_hundreds_of_routes_is_walked_without_recursion() -> None:
    """A clean flow: 900 routes, each `goto`ing the next, then a menu (the
    machine's guard stops at MAX_MOVES = 1000 moves in one step)."""
    lines = ["flow f {", "    start r0", "}", 'prompt p say "hi"']
    for i in range(900):
        lines += [f"route r{i} {{", f"    otherwise -> goto r{i + 1}" if i < 899 else "    otherwise -> goto m", "}"]
    lines += ["menu m {", "    play p", "    press 1 -> hangup", "    on timeout -> hangup", "    on invalid -> hangup",
              "    on exhausted -> hangup", "}", 'test "t" {', "    press 1", "    expect hangup", "}"]
    result = check_source("\n".join(lines) + "\n", "chain.ivr")
    assert result.flow is not None and result.graph is not None and result.errors == 0
    results, _ = run_tests(result.flow, result.graph)
    assert [r.passed for r in results] == [True]
