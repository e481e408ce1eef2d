"""Diagrams of the language's second edition (issue 12): collect and lookup
nodes, `done`/`error`/`else` edges, range and pattern keys, conditions, `set`
steps, transfers that ring, the languages badge; and the same hostile values
as test_hardening_compiler in each new place a diagram shows them (a called
mask, a condition's value and mask, a lookup's URL, a `set` value, a ringing
transfer and its fallback, a collect's label and prompt)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ivrflow.compiler import check_source
from ivrflow.compiler.render import LABEL_CHARS, to_dot, to_mermaid
from ivrflow.loader import load

from .conftest import EXAMPLES, ROOT
from .test_hardening_compiler import HOSTILE, _escstring, _html_text, _ivr_string, _shown

MERMAID = ROOT / "tests" / "mermaid"


def _drawn(dot: str, tmp_path: Path) -> dict:
    """What Graphviz makes of the DOT (it must accept it)."""
    (tmp_path / "flow.dot").write_text(dot, encoding="utf-8")
    done = subprocess.run(["dot", "-Tjson", str(tmp_path / "flow.dot")], capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[:500]
    return json.loads(done.stdout)


def _labels(drawn: dict) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Node name -> the text it shows; (tail, head, text) per edge."""
    nodes = {o["name"]: _html_text(o["label"]) if o["label"].startswith("<") or "<br" in o["label"]
             else _escstring(o["label"]) for o in drawn["objects"]}
    names = {o["_gvid"]: o["name"] for o in drawn["objects"]}
    edges = [(names[e["tail"]], names[e["head"]], _escstring(e.get("label", ""))) for e in drawn.get("edges", [])]
    return nodes, edges


def _bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """examples/bank.ivr as Graphviz lays it out."""
    monkeypatch.chdir(ROOT)
    result = load("examples/bank.ivr")
    assert result.flow is not None and result.graph is not None
    return _drawn(to_dot(result.flow, result.graph), tmp_path)


def test_collect_and_lookup_nodes_have_their_own_shapes_and_say_what_they_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _bank(tmp_path, monkeypatch)
    shapes = {o["name"]: o.get("shape") for o in drawn["objects"]}
    assert shapes["account"] == "box3d" and shapes["find_balance"] == "cylinder"
    assert {shapes["main"], shapes["entry"]}.isdisjoint({"box3d", "cylinder"})
    nodes, _ = _labels(drawn)
    assert "keys → account: 6-10 digits, end-key #" in nodes["account"].splitlines()
    assert "♪ ask_account: “Enter your account number, then press…”" in nodes["account"]
    assert nodes["find_balance"].splitlines()[:4] == [
        "find_balance", "⇄ bank.example.com", "send account", "receive balance, status"]
    assert "♪ welcome (first): “Welcome to First National. Para españ…”" in nodes["main"]
    assert "timeout 6s · retries timeout 2 invalid 3 · end-key #" in nodes["main"]
    assert nodes["main/press 0"] == "transfer 200 (ring 30s)"
    assert "collect digits: 3-D box" in nodes["@legend"] and "lookup: cylinder" in nodes["@legend"]


def test_edges_carry_done_error_else_keys_conditions_and_steps(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _bank(tmp_path, monkeypatch)
    _, edges = _labels(drawn)
    by_label = {label: (tail, head) for tail, head, label in edges}
    assert by_label["done ♪ you_entered"] == ("account", "find_balance")
    assert by_label["done"] == ("find_balance", "by_status")
    assert by_label["error ♪ sorry"] == ("find_balance", "find_balance/error")
    assert by_label["else"] == ("main/press 0", "main/press 0/else")  # from the transfer's own end
    assert by_label["1000-1019"] == ("main", "main/press 1000-1019")
    assert by_label["7XXX"] == ("main", "main/press 7XXX")
    assert by_label['status == "blocked"'][0] == "by_status"
    assert by_label['balance < 0 and status != "vip" ♪ balance'][0] == "by_status"
    assert by_label['otherwise ♪ balance · set greeted = "yes"'] == ("by_status", "main")
    assert by_label["9 (replay) · set language es-US, timeout (repeat), invalid (repeat) ♪ sorry"] == ("main", "main")


def test_the_languages_are_a_badge_under_the_title(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _bank(tmp_path, monkeypatch)
    assert _html_text(drawn["label"]) == "First Nationalen-US · es-US"
    monkeypatch.chdir(ROOT)
    result = load("examples/bilingual.ivr")
    assert result.flow is not None and result.graph is not None
    assert to_mermaid(result.flow, result.graph).splitlines()[1] == 'title: "Lakeside Library · en-US · es-US"'


def test_a_long_merged_label_has_a_line_per_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = load("examples/bilingual.ivr")
    assert result.flow is not None and result.graph is not None
    text = to_mermaid(result.flow, result.graph)
    assert ('n2 -->|"1 (replay) ♪ opening_hours<br/>8 (replay) · set language en-US<br/>'
            '9 (replay) · set language es-US<br/>timeout (repeat)<br/>invalid (repeat) ♪ sorry"| n2') in text


def test_an_error_in_an_included_file_marks_only_its_own_node(tmp_path: Path) -> None:
    """Lines are matched with their file: line 5 of the included file is not line 5 of the flow."""
    (tmp_path / "flow.ivr").write_text(
        'flow f {\n    start main\n}\ninclude "more.ivr"\nmenu main {\n    press 1 -> goto other\n'
        '    on timeout -> hangup\n    on invalid -> hangup\n}\n', encoding="utf-8")
    (tmp_path / "more.ivr").write_text(
        "# included\n\n\nroute other {\n    otherwise -> goto nowhere\n}\n", encoding="utf-8")
    result = load(str(tmp_path / "flow.ivr"))
    assert result.flow is not None and result.graph is not None
    assert [(d.code, Path(d.span.file).name, d.span.line) for d in result.diagnostics if d.code == "IVR002"] == [
        ("IVR002", "more.ivr", 5)]
    red = {line.split(" ", 1)[0] for line in to_dot(result.flow, result.graph, result.diagnostics).splitlines()
           if "penwidth=2.5" in line}
    assert red == {"\tother"}


#: URLs for a lookup beyond HOSTILE: a password must never be drawn.
URLS = ['https://user:s3cret@ho"st\\x]:8443/p?q="x"', "https://u:s3cret@[::1", "https://u:s3cret@/x"]


def _hostile_flow(value: str, url: str | None = None) -> str:
    s = _ivr_string(value)
    return f"""\
flow hostile {s} {{
    language en-US
    languages en-US, es-US
    start entry
}}
prompt hi {{
    en-US say {s}
    es-US say "hola"
}}
route entry {{
    when called {s} -> goto account
    when status == {s} or (balance < 0 and not status matches {s}) -> goto main
    otherwise -> goto main
}}
menu main {{
    press 1 -> goto account
    press 1000-1019 -> hangup
    press "7XXX" -> hangup
}}
collect account {s} {{
    play hi
    digits 4
    on done -> goto find
}}
lookup find {_ivr_string(url or value)} {{
    send account
    receive status, balance?
    on done -> set note = {s}, goto entry
    on error -> transfer {s} ring 10s else voicemail {s}
}}
"""


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_dot_of_hostile_values_in_the_new_places_is_valid_and_shows_them(value: str, tmp_path: Path) -> None:
    result = check_source(_hostile_flow(value), "hostile.ivr")
    assert result.flow is not None and result.graph is not None, result.diagnostics
    drawn = _drawn(to_dot(result.flow, result.graph, result.diagnostics), tmp_path)
    assert len(drawn["objects"]) == result.graph.number_of_nodes() + 1  # and the legend: nothing injected
    for item in [drawn, *drawn["objects"], *drawn.get("edges", [])]:
        assert "URL" not in item and "tooltip" not in item, item
    nodes, edges = _labels(drawn)
    labels = [label for _, _, label in edges]
    assert _html_text(drawn["label"]) == _shown(value) + "en-US · es-US"
    assert _shown(f"called {value}") in labels
    condition = f'status == "{value}" or (balance < 0 and not status matches "{value}")'
    to_main = next(label for tail, head, label in edges if (tail, head) == ("entry", "main"))
    merged = f"{condition}, otherwise"  # two handlers: on one line, or a line each when both fit on one
    split = len(merged) > LABEL_CHARS and len(condition) <= LABEL_CHARS
    assert to_main == _shown(f"{condition}\notherwise" if split else merged)
    assert _shown(f'done · set note = "{value}"') in labels
    assert {"1000-1019", "7XXX", "else", "error"} <= set(labels)
    assert nodes["find/error"] == _shown(f"transfer {value} (ring 10s)")
    assert nodes["find/error/else"] == _shown(f"voicemail {value}")
    assert _shown(f"⇄ {value}") in nodes["find"]  # not a URL with a host: drawn as written
    collect = nodes["account"]
    assert _shown(value) in collect and "keys → account: 4 digits" in collect


@pytest.mark.parametrize("url", URLS)
def test_a_lookup_shows_its_host_and_never_a_password(url: str, tmp_path: Path) -> None:
    result = check_source(_hostile_flow("v", url), "hostile.ivr")
    assert result.flow is not None and result.graph is not None
    dot = to_dot(result.flow, result.graph, result.diagnostics)
    mermaid = to_mermaid(result.flow, result.graph, result.diagnostics)
    assert "s3cret" not in dot and "s3cret" not in mermaid
    nodes, _ = _labels(_drawn(dot, tmp_path))
    host = {URLS[0]: 'ho"st\\x]:8443', URLS[1]: "[::1", URLS[2]: "https://"}[url]
    assert nodes["find"].splitlines()[1] == f"⇄ {host}"


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_mermaid_of_hostile_values_in_the_new_places_keeps_each_inside_its_quotes(value: str) -> None:
    result = check_source(_hostile_flow(value), "hostile.ivr")
    assert result.flow is not None and result.graph is not None
    lines = to_mermaid(result.flow, result.graph, result.diagnostics).splitlines()
    assert lines[0] == "---" and lines[2] == "---" and lines[3] == "flowchart LR"
    title = lines[1].removeprefix("title: ")
    assert json.loads(title).endswith(" · en-US · es-US")
    statement = re.compile(r'    (n\d+[^"]*"[^"`]*"[^"]*'  # a node: its text in one pair of quotes
                           r'|n\d+ -[-.]+>(\|"[^"`|]*"\|)? n\d+'  # an edge, its text between |"…"|
                           r"|classDef .*|class .*)")
    for line in lines[4:]:
        assert statement.fullmatch(line), line
    shapes = {line.split('"', 1)[0].strip() for line in lines if line.startswith("    n") and "-" not in line[:12]}
    assert {"n3[/", "n4(["} <= shapes  # collect: trapezoid, lookup: stadium


def test_hostile_second_edition_mermaid_parses_with_mermaid(tmp_path: Path) -> None:
    if not (shutil.which("node") and (MERMAID / "node_modules" / "mermaid").is_dir()):
        pytest.skip("the Mermaid checker is not installed: `make test` installs it (npm ci in tests/mermaid)")
    written = []
    for index, value in enumerate([*HOSTILE, *URLS]):
        result = check_source(_hostile_flow(value), "hostile.ivr")
        assert result.flow is not None and result.graph is not None
        path = tmp_path / f"hostile{index}.mmd"
        path.write_text(to_mermaid(result.flow, result.graph, result.diagnostics), encoding="utf-8")
        written.append(str(path))
    written += [str(p) for p in (ROOT / "tests" / "golden" / "render").glob("*.mmd")]
    done = subprocess.run(["node", str(MERMAID / "check.mjs"), *written], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_render_draws_the_second_edition_examples_as_svg(tmp_path: Path) -> None:
    from ivrflow.cli import main

    for name in ("bank", "bilingual"):
        assert main(["render", str(EXAMPLES / f"{name}.ivr"), "-o", str(tmp_path / f"{name}.svg")]) == 0
        assert "en-US · es-US" in html.unescape((tmp_path / f"{name}.svg").read_text(encoding="utf-8"))
