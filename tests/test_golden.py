"""Golden files: the exact text of `check` and the exact DOT of `render`.
Rewrite them with `pytest --update-golden` and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ivrflow import report
from ivrflow.compiler.render import to_dot, to_mermaid
from ivrflow.loader import load

from .conftest import EXAMPLE_FLOWS, EXAMPLES, PLATFORM_FLOWS, ROOT

FLOWS = PLATFORM_FLOWS
#: The examples of the language's second edition: every example has a DOT golden, these a Mermaid one too.
SECOND_EDITION = [p for p in EXAMPLE_FLOWS if p not in PLATFORM_FLOWS]


def _relative(path: Path) -> str:
    return os.path.relpath(path, ROOT)


def test_check_text_of_the_broken_examples(golden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    results = [load(_relative(p)) for p in sorted((EXAMPLES / "broken").glob("*.ivr"))]
    golden("check_broken.txt", report.text(results))


@pytest.mark.parametrize("path", EXAMPLE_FLOWS, ids=lambda p: p.stem)
def test_dot_of_each_example(path: Path, golden, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawn as a flow without errors: the examples check clean (test_examples),
    and how errors look is the broken flow's golden below."""
    monkeypatch.chdir(ROOT)
    result = load(_relative(path))
    assert result.flow is not None and result.graph is not None
    golden(f"render/{path.stem}.dot", to_dot(result.flow, result.graph))


@pytest.mark.parametrize("path", SECOND_EDITION, ids=lambda p: p.stem)
def test_mermaid_of_the_second_edition_examples(path: Path, golden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = load(_relative(path))
    assert result.flow is not None and result.graph is not None
    golden(f"render/{path.stem}.mmd", to_mermaid(result.flow, result.graph))


def test_mermaid_of_the_support_line(golden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = load("examples/support.ivr")
    assert result.flow is not None and result.graph is not None
    golden("render/support.mmd", to_mermaid(result.flow, result.graph, result.diagnostics))


def test_dot_of_a_broken_flow_marks_errors_and_unreachable_nodes(golden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = load("examples/broken/traps_and_loops.ivr")
    assert result.flow is not None and result.graph is not None
    dot = to_dot(result.flow, result.graph, result.diagnostics)
    golden("render/traps_and_loops.dot", dot)
    lobby = next(line for line in dot.splitlines() if line.strip().startswith("lobby "))
    assert "dashed" in lobby and "#d93025" in lobby  # unreachable and in error


@pytest.mark.parametrize("target_name", ["telphin", "portsip", "comm100"])
@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.stem)
def test_plan_json_of_each_example(path: Path, target_name: str, golden, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `ivrflow compile --target T --tts espeak` writes as plan.json, without an environment."""
    from ivrflow import targets

    monkeypatch.chdir(ROOT)
    result = load(_relative(path))
    assert result.flow is not None
    target = targets.get(target_name)
    plan = target.make_empty_plan(target.desired(result.flow, result.file, None, True))
    golden(f"plans/{target_name}/{path.stem}.json", json.dumps(plan.calls(), indent=2, ensure_ascii=False) + "\n")


def test_comm100_diagnostics_of_each_example(golden, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `ivrflow compile --target comm100` reports for each example: the
    examples it refuses (IVR205) and what it only approximates (IVR206), each on its line."""
    from ivrflow import targets

    monkeypatch.chdir(ROOT)
    target = targets.get("comm100")
    lines = []
    for path in FLOWS:
        result = load(_relative(path))
        assert result.flow is not None
        wanted = target.desired(result.flow, result.file, None, False)
        lines += [f"{d.span.file}:{d.span.line}:{d.span.column}: {d.severity.name.lower()}[{d.code}]: {d.message}"
                  for d in sorted(wanted.diagnostics, key=lambda d: d.sort_key())]
    golden("plans/comm100/diagnostics.txt", "\n".join(lines) + "\n")
