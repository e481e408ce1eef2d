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


#: Tokens that may touch their neighbours in a messy file (the lexer splits them all the same).
TOUCHING = {",", "?", "(", ")", "=", "==", "!=", "<", ">="}


@st.composite
def conditions(draw: st.DrawFn, depth: int = 3) -> list[str]:
    """A route condition of the second edition, nested up to `depth` levels, as tokens."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from([["open", "h"], ["caller", '"7*"'], ["called", '"800*"'],
                                     ["status", "==", '"ok"'], ["status", "!=", '"a \\"b\\" # c"'],
                                     ["balance", "<", "0"], ["balance", ">=", "-1.5"],
                                     ["account", "matches", '"12XX"'], ["vip", "is", "set"]]))
    inner = draw(conditions(depth - 1))
    kind = draw(st.sampled_from(["not", "and", "or", "group"]))
    if kind == "not":
        return ["not", *inner]
    if kind == "group":
        return ["(", *inner, ")"]
    return [*inner, kind, *draw(conditions(depth - 1))]


@st.composite
def statements(draw: st.DrawFn) -> list[tuple[int, list[str]]]:
    """A flow of every kind of statement (both editions), as (depth, tokens) lines."""
    menus = [f"m{i}" for i in range(draw(st.integers(1, 3)))]
    prompts = [f"p{i}" for i in range(draw(st.integers(1, 3)))]

    def actions() -> list[str]:
        words: list[str] = []
        for _ in range(draw(st.integers(0, 2))):
            step = draw(st.sampled_from([["play", draw(st.sampled_from(prompts))], ["set", "x", "=", '"{key}"'],
                                         ["set", "language", "es-US"]]))
            words += [*step, ","]
        words += draw(st.sampled_from([["goto", draw(st.sampled_from(menus))], ["transfer", '"100"'], ["hangup"],
                                       ["repeat"], ["replay"], ["voicemail"], ["voicemail", '"sales"'],
                                       ["ask", '"https://route.example/ivr"'], ["transfer", '"{key}"', "ring", "30s"],
                                       ["transfer", '"200"', "ring", "5s", "else", "voicemail", '"200"'],
                                       ["transfer", '"200"', "else", "transfer", '"300"', "else", "goto", "c"]]))
        return words

    def waits(name: str, keys: bool) -> list[tuple[int, list[str]]]:
        """The body of a menu (keys) or a collect: the statements they share."""
        body = [(1, ["play", draw(st.sampled_from(prompts)),
                     *draw(st.sampled_from([[], ["fully"], ["first"], ["again"], ["fully", "first"]]))])]
        for setting in draw(st.lists(st.sampled_from([["digits", "2"], ["digits", "6-10"], ["timeout", "5s"],
                                                      ["retries", "1"], ["retries", "timeout", "2", "invalid", "3"],
                                                      ["end-key", '"#"'], ["inter-digit", "2s"]]),
                                     max_size=3)):
            body.append((1, setting))
        if keys:
            if draw(st.booleans()):
                body.append((1, ["dial-extensions"]))
            for key in draw(st.lists(st.sampled_from(["1", "2", "*", '"#"', "12", "1000-1019", '"7XXX"']),
                                     min_size=1, max_size=3, unique=True)):
                body.append((1, ["press", key, "->", *actions()]))
        events = ["timeout", "invalid", "exhausted"] + ([] if keys else ["done"])
        for event in draw(st.lists(st.sampled_from(events), unique=True)):
            body.append((1, ["on", event, "->", *actions()]))
        return [(0, [("menu" if keys else "collect"), name, "{"]), *body, (0, ["}"])]

    lines: list[tuple[int, list[str]]] = []
    if draw(st.booleans()):
        lines += [(0, ["flow", "f", '"A \\"quoted\\" label"', "{"]), (1, ["language", "en-US"]),
                  (1, ["languages", "en-US", ",", "es-US"]), (1, ["start", menus[0]]),
                  (1, ["answer-delay", "500ms"]), (1, ["max-duration", "10m", "->", *actions()]), (0, ["}"])]
    if draw(st.booleans()):
        lines.append((0, ["include", '"common.ivr"']))
    for name in prompts:
        if draw(st.booleans()):
            kind = draw(st.sampled_from([["say", '"Press 1 # not a comment"'], ["file", '"p.wav"'],
                                         ["say", '"Hola {account:digits}"', "language", "es-ES"]]))
            lines.append((0, ["prompt", name, *kind]))
        else:
            lines += [(0, ["prompt", name, "{"]), (1, ["en-US", "say", '"You said {x}"']),
                      (1, ["es-US", "file", '"es/{x}.wav"']), (0, ["}"])]
    if draw(st.booleans()):
        lines.append((0, ["prompt", "none", "{}"]))
    lines += [(0, ["hours", "h", "{"]), (1, ["timezone", '"Europe/London"']),
              (1, ["mon-fri", "09:00-12:00", ",", "13:00-17:00"]), (1, ["closed", "2026-12-25"]), (0, ["}"])]
    lines += [(0, ["route", "r", '"Entry"', "{"]), (1, ["when", "open", "h", "->", *actions()]),
              (1, ["when", "caller", '"7*"', "->", *actions()])]
    for _ in range(draw(st.integers(0, 3))):
        lines.append((1, ["when", *draw(conditions()), "->", *actions()]))
    lines += [(1, ["otherwise", "->", *actions()]), (0, ["}"])]
    for name in menus:
        lines += waits(name, keys=True)
    lines += waits("c", keys=False)
    if draw(st.booleans()):
        lines += [(0, ["lookup", "l", '"https://bank.example.com/x"', "{"]), (1, ["send", "c", ",", "x"]),
                  (1, ["receive", *draw(st.sampled_from([["a"], ["a", "?"], ["a", "?", ",", "b"],
                                                         ["a", ",", "b", "?"]]))]),
                  (1, ["timeout", "3s"]), (1, ["on", "done", "->", *actions()]),
                  (1, ["on", "error", "->", *actions()]), (0, ["}"])]
    if draw(st.booleans()):
        lines.append((0, ["menu", "empty", "{}"]))
    lines += [(0, ["test", '"a test"', "{"]), (1, ["at", '"2026-11-23 10:00"']), (1, ["called", '"800"']),
              (1, ["press", "1"]), (1, ["press", '"1234#"']), (1, ["silence"]), (1, ["answer", "transfer", '"1"']),
              (1, ["answer", "l", "a", "=", '"4.10"', "b", "=", '"x y"']), (1, ["answer", "l", "error"]),
              (1, ["transfer-fails", draw(st.sampled_from(["no-answer", "busy", "failed"]))]),
              (1, ["expect", "language", "es-US"]), (1, ["expect", "say", '"You said 1"']),
              (1, ["expect", "set", "a", "==", '"4.10"']), (1, ["expect", "hangup"]), (0, ["}"])]
    return lines


@st.composite
def messy_flows(draw: st.DrawFn) -> str:
    out: list[str] = []
    for depth, tokens in draw(statements()):
        for _ in range(draw(st.integers(0, 2))):
            out.append(draw(st.sampled_from(["", "   ", draw(GAP) + draw(COMMENT)])))
        text = tokens[0]
        for previous, token in itertools.pairwise(tokens):
            tight = token in TOUCHING or previous in TOUCHING or previous == "->"
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


SECOND_EDITION_MESSY = (
    'flow  bank {\n languages  en-US ,es-US\n}\ninclude   "common.ivr"\n'
    'prompt welcome {   # variants\n en-US   say "Hi {name:digits}"\n\n\n es-US file "es.wav"\n}\n'
    'prompt none {}\n'
    'route r {\n'
    '  when not(status=="blocked"  or ( vip is set  and ((balance<0))) )->goto main\n'
    '  when not not called "800*" and account matches "12XX"->transfer "1" ring 30s else voicemail "1"\n'
    '  otherwise -> set greeted="yes" , set language es-US,replay\n}\n'
    'menu main {\n  play welcome   first\n  retries timeout 2   invalid 3\n  end-key "#"\n'
    '  press 1000-1019->transfer "{key}"\n  press "7XXX" -> goto account\n}\n'
    'collect account {\n  digits 6-10\n  on done ->goto find\n}\n'
    'lookup find "https://x.example" {\n  send account ,caller\n  receive balance ? ,status,vip?\n'
    '  on error -> hangup\n}\n'
    'test "t" {\n  called "800"\n  answer find  balance = "42.10"   status="ok"\n  answer find error\n'
    '  transfer-fails   no-answer\n  expect language es-US\n  expect say "Hi"\n  expect set status  ==  "ok"\n}\n')


def test_the_layout_of_the_second_edition() -> None:
    """Tight where §2b writes tokens tight: `name?`, `(…)`, a test's `name="v"`;
    spaced `==`, `<`, and the `=` of the action `set name = "v"`."""
    assert format_source(SECOND_EDITION_MESSY).text == (
        'flow bank {\n'
        '    languages en-US, es-US\n'
        '}\n'
        '\n'
        'include "common.ivr"\n'
        '\n'
        'prompt welcome {  # variants\n'
        '    en-US say "Hi {name:digits}"\n'
        '\n'
        '    es-US file "es.wav"\n'
        '}\n'
        '\n'
        'prompt none {}\n'
        '\n'
        'route r {\n'
        '    when not (status == "blocked" or (vip is set and ((balance < 0)))) -> goto main\n'
        '    when not not called "800*" and account matches "12XX" -> transfer "1" ring 30s else voicemail "1"\n'
        '    otherwise -> set greeted = "yes", set language es-US, replay\n'
        '}\n'
        '\n'
        'menu main {\n'
        '    play welcome first\n'
        '    retries timeout 2 invalid 3\n'
        '    end-key "#"\n'
        '    press 1000-1019 -> transfer "{key}"\n'
        '    press "7XXX" -> goto account\n'
        '}\n'
        '\n'
        'collect account {\n'
        '    digits 6-10\n'
        '    on done -> goto find\n'
        '}\n'
        '\n'
        'lookup find "https://x.example" {\n'
        '    send account, caller\n'
        '    receive balance?, status, vip?\n'
        '    on error -> hangup\n'
        '}\n'
        '\n'
        'test "t" {\n'
        '    called "800"\n'
        '    answer find balance="42.10" status="ok"\n'
        '    answer find error\n'
        '    transfer-fails no-answer\n'
        '    expect language es-US\n'
        '    expect say "Hi"\n'
        '    expect set status == "ok"\n'
        '}\n')
    assert_formats_well(SECOND_EDITION_MESSY)


#: Pairs of flows that differ only in a second-edition field: `same_flow` must tell each apart.
DIFFERENT_MEANINGS = [
    ('prompt p {\n    en say "a"\n    es say "b"\n}\n', 'prompt p {\n    en say "a"\n    es say "c"\n}\n'),
    ('prompt p {\n    en say "a"\n}\n', 'prompt p {\n    en file "a"\n}\n'),
    ('prompt p {\n    en say "a"\n}\n', 'prompt p {\n    es say "a"\n}\n'),
    ('menu m {\n    play p first\n}\n', 'menu m {\n    play p again\n}\n'),
    ('menu m {\n    end-key "#"\n}\n', 'menu m {\n    end-key "*"\n}\n'),
    ('menu m {\n    retries timeout 2 invalid 3\n}\n', 'menu m {\n    retries timeout 3 invalid 2\n}\n'),
    ('menu m {\n    press 100-119 -> hangup\n}\n', 'menu m {\n    press 100-109 -> hangup\n}\n'),
    ('menu m {\n    press "7XX" -> hangup\n}\n', 'menu m {\n    press "7NX" -> hangup\n}\n'),
    ('collect c {\n    digits 6-10\n}\n', 'collect c {\n    digits 6-11\n}\n'),
    ('collect c {\n    on done -> hangup\n}\n', 'menu c {\n    on done -> hangup\n}\n'),
    ('lookup l "https://x" {\n    send a, b\n}\n', 'lookup l "https://x" {\n    send b, a\n}\n'),
    ('lookup l "https://x" {\n    receive a?, b\n}\n', 'lookup l "https://x" {\n    receive a, b?\n}\n'),
    ('lookup l "https://x" {\n    on done -> hangup\n}\n', 'lookup l "https://x" {\n    on error -> hangup\n}\n'),
    ('include "a.ivr"\n', 'include "b.ivr"\n'),
    ('flow f {\n    languages en, es\n}\n', 'flow f {\n    languages es, en\n}\n'),
    ('route r {\n    when a == "1" or b is set and c < 0 -> hangup\n}\n',
     'route r {\n    when (a == "1" or b is set) and c < 0 -> hangup\n}\n'),
    ('route r {\n    when not a is set and b is set -> hangup\n}\n',
     'route r {\n    when not (a is set and b is set) -> hangup\n}\n'),
    ('route r {\n    when a < 0 -> hangup\n}\n', 'route r {\n    when a <= 0 -> hangup\n}\n'),
    ('route r {\n    when a == "1" -> hangup\n}\n', 'route r {\n    when a matches "1" -> hangup\n}\n'),
    ('route r {\n    when called "1" -> hangup\n}\n', 'route r {\n    when caller "1" -> hangup\n}\n'),
    ('menu m {\n    press 1 -> transfer "1" ring 5s\n}\n', 'menu m {\n    press 1 -> transfer "1" ring 6s\n}\n'),
    ('menu m {\n    press 1 -> transfer "1" else hangup\n}\n',
     'menu m {\n    press 1 -> transfer "1" else repeat\n}\n'),
    ('menu m {\n    press 1 -> set a = "1", replay\n}\n', 'menu m {\n    press 1 -> set a = "2", replay\n}\n'),
    ('menu m {\n    press 1 -> set language en, replay\n}\n', 'menu m {\n    press 1 -> set language es, replay\n}\n'),
    ('menu m {\n    press 1 -> replay\n}\n', 'menu m {\n    press 1 -> repeat\n}\n'),
    ('test "t" {\n    answer l a="1" b="2"\n}\n', 'test "t" {\n    answer l a="1" b="3"\n}\n'),
    ('test "t" {\n    answer l a="1"\n}\n', 'test "t" {\n    answer l error\n}\n'),
    ('test "t" {\n    transfer-fails busy\n}\n', 'test "t" {\n    transfer-fails failed\n}\n'),
    ('test "t" {\n    called "1"\n}\n', 'test "t" {\n    caller "1"\n}\n'),
    ('test "t" {\n    expect language en\n}\n', 'test "t" {\n    expect language es\n}\n'),
    ('test "t" {\n    expect say "a"\n}\n', 'test "t" {\n    expect say "b"\n}\n'),
    ('test "t" {\n    expect set a == "1"\n}\n', 'test "t" {\n    expect set b == "1"\n}\n'),
    ('test "t" {\n    expect set a == "1"\n}\n', 'test "t" {\n    expect set a != "1"\n}\n'),
]


@pytest.mark.parametrize(("one", "other"), DIFFERENT_MEANINGS)
def test_the_meaning_check_sees_every_second_edition_field(one: str, other: str) -> None:
    assert same_flow(one, one) and same_flow(one, one.replace("    ", "\t").replace(" ", "  "))
    assert not same_flow(one, other)


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
