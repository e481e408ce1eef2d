"""Inputs that used to hang the compiler or make it write invalid diagrams
(issue 10 §4): a syntax error after a very long string, a trap of thousands of
routes, and labels full of characters that mean something to DOT or Mermaid.

The large inputs run `ivrflow check` in a child process with a generous
limit, so that a regression fails the test instead of hanging the suite; the
limit guards against a hang, it does not measure speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ivrflow.compiler import check_source

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
