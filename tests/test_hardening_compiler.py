"""Inputs that used to hang the compiler or make it write invalid diagrams
(issue 10 §4): a syntax error after a very long string, a trap of thousands of
routes, and labels full of characters that mean something to DOT or Mermaid.

The large inputs run `ivrflow check` in a child process with a generous
limit, so that a regression fails the test instead of hanging the suite; the
limit guards against a hang, it does not measure speed.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ivrflow.compiler import check_source
from ivrflow.compiler.render import LABEL_CHARS, to_dot, to_mermaid

from .conftest import ROOT

MERMAID = ROOT / "tests" / "mermaid"

#: Far above what these checks take (well under a second each); the quadratic
#: code they replace took minutes on the same inputs.
HANG = 120


def _check_json(tmp_path: Path, source: str) -> dict:
    flow = tmp_path / "big.ivr"
    flow.write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ivrflow", "check", str(flow), "--format", "json"],
                          capture_output=True, text=True, timeout=HANG, check=False)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    return json.loads(done.stdout)


# --- a syntax error after a long string ---------------------------------------------------------


def test_a_syntax_error_after_a_200_kb_string_is_located_and_described(tmp_path: Path) -> None:
    text = "a" * 200_000
    source = f'prompt hello say "{text}" language en oops\n'
    found = _check_json(tmp_path, source)["diagnostics"]
    assert [(d["code"], d["line"], d["column"]) for d in found] == [("IVR001", 1, source.index("oops") + 1)]
    assert found[0]["message"] == "expected the end of the line after `en`, found `oops`"


def test_the_token_before_the_error_is_named_after_a_long_string_on_the_same_line() -> None:
    source = f'menu main "{"b" * 50_000}" x {{\n}}\n'
    [diagnostic] = check_source(source, "long.ivr").diagnostics
    assert diagnostic.check_tuple() == ("IVR001", 1, source.index(" x ") + 2)
    assert diagnostic.message == "expected `{` after `\"bbbbbbbbbbbbbbbbbbbbbbbbbb…`, found `x`"


def test_the_key_before_the_error_is_still_called_a_key() -> None:
    source = "prompt hi say \"Hi\"\nmenu main {\n    play hi\n    press 1 transfer \"100\"\n}\n"
    [diagnostic] = check_source(source, "key.ivr").diagnostics
    assert diagnostic.message.startswith("expected `->` after the key `1`, found `transfer`")


def test_a_comment_before_the_error_is_not_the_token_before_it() -> None:
    source = "flow f {\n    start main # the first menu\n    language en en\n}\n"
    [diagnostic] = check_source(source, "comment.ivr").diagnostics
    assert diagnostic.check_tuple() == ("IVR001", 3, 17)
    assert "after `en`" in diagnostic.message


# --- traps --------------------------------------------------------------------------------------


def _route_cycle(count: int) -> str:
    lines = ["flow f {", "    start r0", "}"]
    for i in range(count):
        lines += [f"route r{i} {{", f"    otherwise -> goto r{(i + 1) % count}", "}"]
    return "\n".join(lines) + "\n"


def test_a_cycle_of_5000_routes_is_one_trap_with_one_short_diagnostic(tmp_path: Path) -> None:
    found = _check_json(tmp_path, _route_cycle(5000))["diagnostics"]
    traps = [d for d in found if d["code"] == "IVR103"]
    assert [(d["line"], d["column"]) for d in traps] == [(4, 7)]  # at the first route of the trap
    message = traps[0]["message"]
    assert message.startswith("no way out of route `r0`: every handler leads to one of 5,000 menus and routes "
                              "(`r0`, `r1`, `r2`, `r3`, `r4` and 4,995 more)")
    assert all(len(d["message"]) < 300 for d in found), [d["message"][:100] for d in found]


TRAP_FED_BY_A_MENU = """\
prompt hi say "Hi"
menu main {
    play hi
    press 1 -> goto lobby
    on timeout -> goto lobby
    on invalid -> goto lobby
}
menu lobby {
    play hi
    press 1 -> goto hall
    on timeout -> goto hall
    on invalid -> goto hall
}
menu hall {
    play hi
    press 1 -> goto lobby
    on timeout -> goto lobby
    on invalid -> goto lobby
}
menu attic {
    play hi
    press 1 -> goto attic
    on timeout -> goto attic
    on invalid -> goto attic
}
"""


def test_each_trap_is_reported_once_and_a_menu_leading_into_one_is_not_a_trap_of_its_own() -> None:
    result = check_source(TRAP_FED_BY_A_MENU, "traps.ivr")
    traps = [d for d in result.diagnostics if d.code == "IVR103"]
    assert [d.check_tuple() for d in traps] == [("IVR103", 8, 6), ("IVR103", 20, 6)]
    assert "leads to `hall` or `lobby`" in traps[0].message
    assert [(span.line, note) for span, note in traps[0].related] == [(14, "`hall` is in the same trap")]
    assert "leads to `attic`," in traps[1].message


def test_a_prompt_inserting_one_variable_thousands_of_times_is_one_read_of_it_per_play() -> None:
    """make fuzz: a 255 kB `say "{called}{called}…"` played by 1,400 handlers
    made the unset-variable check build 9.5 million reads (17 s for a 600 kB
    file, 1.6 s now). A play reads each variable of its prompt once."""
    from ivrflow.compiler.checks.variables import _flowing

    text = "{x}{called}" * 5000
    source = (f'flow f {{\n    start main\n}}\nprompt long say "{text}"\nmenu main {{\n    play long\n'
              '    press 1 -> set x = "1", play long, goto main\n    on timeout -> play long, hangup\n}\n')
    result = check_source(source, "long.ivr")
    unset = [d for d in result.diagnostics if d.code == "IVR129"]
    assert [(d.span.line, d.span.column) for d in unset] == [(6, 10), (8, 24)], unset  # not 5,000 of each
    analysis = _flowing(result.flow)
    assert analysis is not None
    assert [name for name, _, _ in analysis.played["long"]] == ["x", "called"]


# --- diagrams of hostile labels -----------------------------------------------------------------

#: Values that mean something to DOT, to Graphviz's label escapes, to HTML
#: labels, to Mermaid or to YAML. Each is used as a flow label, a menu label,
#: a voicemail box, a transfer number, an `ask` URL, a key and a caller mask.
HOSTILE = [
    "ends in a backslash \\",
    'quote " inside',
    'escaped \\" quote',
    'x\\" URL="https://evil.example" tooltip="',
    '<b>bold</b> URL=<https://evil.example>',
    "a ] b ; c [ tooltip=x",
    "two\nlines",
    "<>{}|",
    "\\l \\N \\G \\n",
    "Ünïcødé € — 日本 🙂",
    "#quot; #35; `code` &amp;",
    "Sales: main # not a comment",
    "\x01 control \x7f",
    "w" * 20_000,
]


def _ivr_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _hostile_flow(value: str) -> str:
    s = _ivr_string(value)
    return f"""\
flow hostile {s} {{
    start entry
}}
prompt hi say {s}
route entry {{
    when caller {s} -> goto main
    otherwise -> goto main
}}
menu main {s} {{
    play hi
    press 1 -> voicemail {s}
    press 2 -> transfer {s}
    press 3 -> ask {s}
    press {s} -> hangup
    on timeout -> voicemail {s}
    on invalid -> repeat
    on exhausted -> hangup
}}
"""


def _escstring(label: str) -> str:
    """A DOT label as Graphviz shows it: `\\\\` is a backslash (the only escape ivrflow writes)."""
    return re.sub(r"\\(.)", lambda m: m.group(1), label, flags=re.DOTALL)


def _html_text(label: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", label.replace('<br align="left"/>', "\n")))


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_dot_of_hostile_labels_is_valid_and_shows_them_verbatim(value: str, tmp_path: Path) -> None:
    result = check_source(_hostile_flow(value), "hostile.ivr")
    assert result.flow is not None and result.graph is not None, result.diagnostics
    dot = to_dot(result.flow, result.graph, result.diagnostics)
    (tmp_path / "flow.dot").write_text(dot, encoding="utf-8")
    done = subprocess.run(["dot", "-Tjson", str(tmp_path / "flow.dot")], capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[:500]
    drawn = json.loads(done.stdout)
    nodes, edges = drawn.get("objects", []), drawn.get("edges", [])
    assert len(nodes) == result.graph.number_of_nodes() + 1  # and the legend: nothing injected
    for item in [drawn, *nodes, *edges]:
        assert "URL" not in item and "tooltip" not in item, item
    texts = [_escstring(o["label"]) for o in nodes if o["name"] not in ("main", "@legend")]
    texts += [_escstring(e.get("label", "")) for e in edges]
    assert _escstring(drawn["label"]) == _shown(value)  # the flow's title
    for expected in (f"voicemail {value}", f"transfer {value}", f"ask {value}", f"caller {value}, otherwise", value):
        assert _shown(expected) in texts, (expected, texts)
    menu = next(o for o in nodes if o["name"] == "main")
    assert _shown(value) in _html_text(menu["label"])  # the menu's label, lines of its box


def _shown(text: str) -> str:
    """What a diagram shows: control characters as U+FFFD, long lines clipped."""
    text = re.sub("[\x00-\x08\x0b-\x1f\x7f]", "\ufffd", text)
    return "\n".join(line if len(line) <= LABEL_CHARS else line[:LABEL_CHARS - 1] + "…" for line in text.split("\n"))


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_mermaid_of_hostile_labels_keeps_every_label_inside_its_quotes(value: str) -> None:
    result = check_source(_hostile_flow(value), "hostile.ivr")
    assert result.flow is not None and result.graph is not None
    text = to_mermaid(result.flow, result.graph, result.diagnostics)
    lines = text.splitlines()
    assert lines[0] == "---" and lines[2] == "---" and lines[3] == "flowchart LR"
    assert lines[1].startswith("title: ")
    title = lines[1].removeprefix("title: ")
    if title.startswith('"'):
        json.loads(title)
    statement = re.compile(r'    (n\d+[^"]*"[^"`]*"[^"]*'  # a node: its text in one pair of quotes
                           r'|n\d+ -[-.]+>(\|"[^"`|]*"\|)? n\d+'  # an edge, its text between |"…"|
                           r"|classDef .*|class .*)")
    for line in lines[4:]:
        assert statement.fullmatch(line), line
    assert "\x01" not in text


def test_hostile_mermaid_parses_with_mermaid(tmp_path: Path) -> None:
    if not (shutil.which("node") and (MERMAID / "node_modules" / "mermaid").is_dir()):
        pytest.skip("the Mermaid checker is not installed: `make test` installs it (npm ci in tests/mermaid)")
    written = []
    for index, value in enumerate(HOSTILE):
        result = check_source(_hostile_flow(value), "hostile.ivr")
        assert result.flow is not None and result.graph is not None
        path = tmp_path / f"hostile{index}.mmd"
        path.write_text(to_mermaid(result.flow, result.graph, result.diagnostics), encoding="utf-8")
        written.append(str(path))
    done = subprocess.run(["node", str(MERMAID / "check.mjs"), *written], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_menu_named_legend_is_drawn_as_a_menu_not_replaced_by_the_legend(tmp_path: Path) -> None:
    source = 'prompt hi say "Hi"\nmenu legend {\n    play hi\n    press 1 -> hangup\n    on timeout -> hangup\n' \
             '    on invalid -> hangup\n}\n'
    result = check_source(source, "legend.ivr")
    assert result.flow is not None and result.graph is not None
    (tmp_path / "flow.dot").write_text(to_dot(result.flow, result.graph, result.diagnostics), encoding="utf-8")
    done = subprocess.run(["dot", "-Tjson", str(tmp_path / "flow.dot")], capture_output=True, timeout=60, check=True)
    nodes = json.loads(done.stdout)["objects"]
    assert len(nodes) == result.graph.number_of_nodes() + 1
    menu = next(o for o in nodes if o["name"] == "legend")
    assert "timeout 5s" in menu["label"] and "<table" not in menu["label"]


def test_a_flow_file_whose_name_ends_in_a_backslash_is_drawn(tmp_path: Path) -> None:
    from ivrflow.cli import main

    flow = tmp_path / 'odd "name\\.ivr'
    flow.write_text('prompt hi say "Hi"\nmenu main {\n    play hi\n    press 1 -> hangup\n    on timeout -> hangup\n'
                    '    on invalid -> hangup\n}\n', encoding="utf-8")
    assert main(["render", str(flow), "-o", str(tmp_path / "flow.svg")]) == 0
    assert "odd &quot;name\\" in (tmp_path / "flow.svg").read_text(encoding="utf-8")  # the title
