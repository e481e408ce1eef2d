"""`ivrflow fmt`: one canonical layout, comments kept, idempotent, and the
formatted file is the same flow (the same IR, positions aside)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivrflow.cli import main
from ivrflow.compiler.format import format_source, same_flow, shape
from ivrflow.compiler.parse import parse

from .conftest import EXAMPLES
from .test_fuzz import mutate, mutation

ALL_EXAMPLES = sorted(EXAMPLES.rglob("*.ivr"))
FORMATTABLE = [p for p in ALL_EXAMPLES if "ivrflow: fmt off" not in p.read_text()]


def comments(text: str) -> list[str]:
    """Every comment of a file that parses, in order (strings cannot hold a newline or hide a `#` here)."""
    found = []
    for line in text.splitlines():
        inside = False
        for index, char in enumerate(line):
            if char == '"' and (index == 0 or line[index - 1] != "\\"):
                inside = not inside
            elif char == "#" and not inside:
                found.append(line[index:].rstrip())
                break
    return found


def assert_formats_well(source: str) -> str:
    done = format_source(source, "f.ivr")
    assert done.text is not None, done.diagnostics
    assert format_source(done.text, "f.ivr").text == done.text, "formatting twice changed the file"
    assert same_flow(source, done.text), "the formatted file is another flow"
    assert comments(done.text) == comments(source)
    assert done.text.endswith("\n") and "\r" not in done.text and not re.search(r"[ \t]\n", done.text)
    return done.text


# --- the examples ---------------------------------------------------------------------

def test_the_examples_are_formatted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fmt", "--check", str(EXAMPLES)]) == 0
    assert "0 file(s) would be reformatted" in capsys.readouterr().err


@pytest.mark.parametrize("path", FORMATTABLE, ids=lambda p: p.name)
def test_each_example_keeps_its_meaning_and_comments(path: Path) -> None:
    source = path.read_text()
    assert assert_formats_well(source) == source


def _messy(source: str) -> str:
    """The same file with the layout a hurried person gives it."""
    out = []
    for number, line in enumerate(source.splitlines()):
        stripped = line.strip()
        if not stripped:
            out += ["", "  "]  # blank lines, doubled, with spaces
            continue
        found = comments(stripped)
        comment = found[0] if found else ""
        code = stripped[: len(stripped) - len(comment)].rstrip()
        parts = code.split('"')  # the examples escape no quotes: even parts are outside strings
        gap = "   " if number % 2 else "\t"
        parts[::2] = [part.replace(" ", gap) for part in parts[::2]]
        code = '"'.join(parts)
        if not re.search(r"\b(on \w+|otherwise|max-duration \w+)\s*->", stripped):  # keyword-> is one word
            code = code.replace(gap + "->" + gap, "->")
        out.append("\t" * (number % 3) + code + (" " + comment if comment else "") + (" " if number % 4 == 0 else ""))
    return "\r\n".join(out) + "\r\n\r\n"


@pytest.mark.parametrize("path", FORMATTABLE, ids=lambda p: p.name)
def test_a_messy_example_formats_back_to_the_example(path: Path) -> None:
    source = path.read_text()
    messy = _messy(source)
    assert messy != source
    assert format_source(messy, "f.ivr").text == source


# --- generated flows --------------------------------------------------------------------

COMMENT = st.text(alphabet=st.sampled_from(list('abc #"{}->,é1')), max_size=12).map(lambda t: "#" + t)
GAP = st.sampled_from([" ", "  ", "\t", " \t "])
TIGHT = st.sampled_from(["", " ", "  ", "\t"])  # where no space is needed: around `,` and after `->`


@st.composite
def statements(draw: st.DrawFn) -> list[tuple[int, list[str]]]:
    """A flow of every kind of statement, as (depth, tokens) lines."""
    menus = [f"m{i}" for i in range(draw(st.integers(1, 3)))]
    prompts = [f"p{i}" for i in range(draw(st.integers(1, 3)))]

    def actions() -> list[str]:
        words: list[str] = []
        for _ in range(draw(st.integers(0, 2))):
            words += ["play", draw(st.sampled_from(prompts)), ","]
        words += draw(st.sampled_from([["goto", draw(st.sampled_from(menus))], ["transfer", '"100"'], ["hangup"],
                                       ["repeat"], ["voicemail"], ["voicemail", '"sales"'],
                                       ["ask", '"https://route.example/ivr"']]))
        return words

    lines: list[tuple[int, list[str]]] = []
    if draw(st.booleans()):
        lines += [(0, ["flow", "f", '"A \\"quoted\\" label"', "{"]), (1, ["language", "en-US"]),
                  (1, ["start", menus[0]]), (1, ["answer-delay", "500ms"]),
                  (1, ["max-duration", "10m", "->", *actions()]), (0, ["}"])]
    for name in prompts:
        kind = draw(st.sampled_from([["say", '"Press 1 # not a comment"'], ["file", '"p.wav"'],
                                     ["say", '"Hola"', "language", "es-ES"]]))
        lines.append((0, ["prompt", name, *kind]))
    lines += [(0, ["hours", "h", "{"]), (1, ["timezone", '"Europe/London"']),
              (1, ["mon-fri", "09:00-12:00", ",", "13:00-17:00"]), (1, ["closed", "2026-12-25"]), (0, ["}"])]
    lines += [(0, ["route", "r", '"Entry"', "{"]), (1, ["when", "open", "h", "->", *actions()]),
              (1, ["when", "caller", '"7*"', "->", *actions()]), (1, ["otherwise", "->", *actions()]), (0, ["}"])]
    for name in menus:
        lines.append((0, ["menu", name, "{"]))
        lines.append((1, ["play", draw(st.sampled_from(prompts)), *draw(st.sampled_from([[], ["fully"]]))]))
        for setting in draw(st.lists(st.sampled_from([["digits", "2"], ["timeout", "5s"], ["retries", "1"],
                                                      ["inter-digit", "2s"], ["dial-extensions"]]), max_size=3)):
            lines.append((1, setting))
        for key in draw(st.lists(st.sampled_from(["1", "2", "*", '"#"', "12"]), min_size=1, max_size=3,
                                 unique=True)):
            lines.append((1, ["press", key, "->", *actions()]))
        for event in draw(st.lists(st.sampled_from(["timeout", "invalid", "exhausted"]), unique=True)):
            lines.append((1, ["on", event, "->", *actions()]))
        lines.append((0, ["}"]))
    if draw(st.booleans()):
        lines.append((0, ["menu", "empty", "{}"]))
    lines += [(0, ["test", '"a test"', "{"]), (1, ["at", '"2026-11-23 10:00"']), (1, ["press", "1"]),
              (1, ["silence"]), (1, ["answer", "transfer", '"1"']), (1, ["expect", "hangup"]), (0, ["}"])]
    return lines


@st.composite
def messy_flows(draw: st.DrawFn) -> str:
    out: list[str] = []
    for depth, tokens in draw(statements()):
        for _ in range(draw(st.integers(0, 2))):
            out.append(draw(st.sampled_from(["", "   ", draw(GAP) + draw(COMMENT)])))
        text = tokens[0]
        for previous, token in itertools.pairwise(tokens):
            tight = token == "," or previous in (",", "->")
            text += draw(TIGHT if tight else GAP) + token
        indent = draw(st.sampled_from(["", "  ", "\t", "        "])) if depth else draw(st.sampled_from(["", " "]))
        trailing = draw(GAP) + draw(COMMENT) if draw(st.booleans()) else draw(st.sampled_from(["", "  "]))
        out.append(indent + text + trailing)
    return draw(st.sampled_from(["\n", "\r\n"])).join(out) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(source=messy_flows())
def test_generated_flows_format_to_the_same_flow_idempotently(source: str) -> None:
    assert parse(source).flow is not None
    assert_formats_well(source)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(source=st.sampled_from([p.read_text() for p in FORMATTABLE]),
       mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_examples_that_parse_format_to_the_same_flow(source: str, mutations: list[tuple]) -> None:
    text = mutate(source, mutations)
    if parse(text).flow is None:
        return
    assert_formats_well(text)


def test_shape_ignores_positions_only() -> None:
    one = parse("menu m {\n    press 1 -> hangup\n}\n").flow
    moved = parse("\n\nmenu   m {\n\n  press 1->hangup\n}\n").flow
    other = parse("menu m {\n    press 2 -> hangup\n}\n").flow
    assert shape(one) == shape(moved) != shape(other)


def test_the_layout() -> None:
    source = ('#top\nprompt a say "x"   #one\nprompt long_name file "y.wav"\nmenu m "M" {\n\n\n  play a fully\n'
              '\n\n  press 1->play a,play long_name,hangup # two\n  press "#" -> goto m\n\n}\nroute r {\n'
              '  otherwise  ->goto m\n}\nmenu e {}\n')
    assert format_source(source).text == (
        '#top\n'
        'prompt a         say "x"  #one\n'
        'prompt long_name file "y.wav"\n'
        '\n'
        'menu m "M" {\n'
        '    play a fully\n'
        '\n'
        '    press 1 -> play a, play long_name, hangup  # two\n'
        '    press "#" -> goto m\n'
        '}\n'
        '\n'
        'route r {\n'
        '    otherwise -> goto m\n'
        '}\n'
        '\n'
        'menu e {}\n')


def test_a_suppression_on_its_own_line_keeps_the_line_it_silences() -> None:
    source = 'menu m {\n    press 1 -> hangup\n    # ivrflow: ignore[IVR105]\n\n}\n'
    text = format_source(source).text
    assert text is not None and text.splitlines()[3] == ""  # still silences the blank line, not `}`


# --- the command ------------------------------------------------------------------------

MESSY = 'menu   m {\n  press 1->hangup   # keep me\n}\n'
TIDY = 'menu m {\n    press 1 -> hangup  # keep me\n}\n'


def test_fmt_rewrites_files_and_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    messy, tidy = tmp_path / "sub" / "a.ivr", tmp_path / "b.ivr"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    assert main(["fmt", str(tmp_path)]) == 0
    assert messy.read_text() == TIDY and tidy.read_text() == TIDY
    assert "1 file(s) reformatted, 1 left unchanged" in capsys.readouterr().err
    assert main(["fmt", str(tmp_path)]) == 0
    assert "0 file(s) reformatted, 2 left unchanged" in capsys.readouterr().err


def test_fmt_check_and_diff_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.ivr"
    path.write_text(MESSY)
    assert main(["fmt", "--check", str(path)]) == 1
    assert f"would reformat {path}" in capsys.readouterr().err
    assert main(["fmt", "--diff", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"--- {path}\n+++ {path} (formatted)\n" in out
    assert "-  press 1->hangup   # keep me\n" in out and "+    press 1 -> hangup  # keep me\n" in out
    assert path.read_text() == MESSY


def test_fmt_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(MESSY))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == TIDY


def test_fmt_refuses_a_file_with_syntax_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.ivr"
    broken = 'menu m {\n  press 1 hangup\n}\n'
    path.write_text(broken)
    assert main(["fmt", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:11: error[IVR001]" in err
    assert f"{path}: not formatted, it has syntax errors" in err
    assert path.read_text() == broken


def test_fmt_off_leaves_a_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.ivr"
    path.write_text("# ivrflow: fmt off\n" + MESSY)
    assert main(["fmt", "--check", str(path)]) == 0
    assert "1 skipped" in capsys.readouterr().err


def test_fmt_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["fmt", str(tmp_path / "none.ivr")]) == 2
    assert capsys.readouterr().err == f"ivrflow: error: {tmp_path / 'none.ivr'}: no such file\n"
    assert main(["fmt", str(tmp_path)]) == 2
    assert "a directory with no .ivr files" in capsys.readouterr().err


def test_a_layout_that_would_change_the_flow_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from ivrflow.compiler import format as formatter

    path = tmp_path / "a.ivr"
    path.write_text(MESSY)
    monkeypatch.setattr(formatter, "_layout", lambda lines: TIDY.replace("hangup", "repeat"))
    assert main(["fmt", str(path)]) == 2
    assert "formatting would change what the flow means; the file is left as it is" in capsys.readouterr().err
    assert path.read_text() == MESSY


def test_fmt_reports_a_file_that_is_not_utf8_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.ivr").write_bytes(b"menu m {\n    play \xff\n}\n")
    (tmp_path / "b.ivr").write_text(MESSY)
    assert main(["fmt", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'a.ivr'}:2:10: error[IVR001]: the file is not UTF-8 text" in err
    assert "1 file(s) reformatted, 0 left unchanged, 1 not formatted" in err
    assert (tmp_path / "b.ivr").read_text() == TIDY
