"""`ivrflow check` as CI and a person at a terminal use it: directories,
code selection, severity floors, --strict, repeated problems, long lines,
an empty flow, and --watch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivrflow.cli import main

from .conftest import EXAMPLES, ROOT

WARNS = """\
prompt hi say "Hi. Press 1."
menu main {
    play hi
    press 1 -> transfer "100"
}
"""


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["check", *args])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_a_directory_is_every_flow_in_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.ivr").write_text(WARNS)
    (tmp_path / "sub" / "b.ivr").write_text(WARNS.replace("goto", "goto"))
    (tmp_path / "notes.txt").write_text("not a flow")
    status, out = _check(capsys, str(tmp_path), "--format", "json")
    files = {d["file"] for d in json.loads(out)["diagnostics"]}
    assert status == 0 and files == {str(tmp_path / "a.ivr"), str(tmp_path / "sub" / "b.ivr")}
    status, out = _check(capsys, str(tmp_path / "sub" / "nothing"))
    assert status == 2


def test_strict_makes_warnings_fail_and_select_ignore_and_severity_filter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "f.ivr"
    flow.write_text(WARNS)
    status, out = _check(capsys, str(flow))
    assert status == 0 and "warning[IVR104]" in out and "warning[IVR105]" in out
    assert _check(capsys, str(flow), "--strict")[0] == 1
    status, out = _check(capsys, str(flow), "--strict", "--ignore", "IVR104,IVR105")
    assert status == 0 and "no problems" in out
    status, out = _check(capsys, str(flow), "--select", "IVR105")
    assert "IVR105" in out and "IVR104" not in out
    status, out = _check(capsys, str(flow), "--severity", "error")
    assert "no problems" in out
    assert _check(capsys, str(flow), "-q")[1] == _check(capsys, str(flow), "--severity", "error")[1]
    status, out = _check(capsys, str(flow), "--ignore", "IVR9999")
    assert status == 2 and out.startswith("ivrflow: error: --ignore: no diagnostic code")


def test_syntax_errors_are_never_filtered_away(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "f.ivr"
    flow.write_text("menu main {\n    press 1 transfer \"100\"\n}\n")
    status, out = _check(capsys, str(flow), "--select", "IVR1")
    assert status == 1 and "error[IVR001]" in out


def test_tts_without_a_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _check(capsys, str(EXAMPLES / "quickstart.ivr"), "--tts", "espeak")
    assert status == 2 and "--tts only matters with --target" in out


def test_an_empty_flow_is_an_error_and_compiles_to_nothing(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "empty.ivr"
    flow.write_text("")
    status, out = _check(capsys, str(flow))
    assert status == 1 and f"{flow}:1:1: error[IVR127]" in out
    status = main(["compile", str(flow), "--target", "portsip", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 1 and "IVR127" in err and "None" not in err and not (tmp_path / "out").exists()


def test_a_problem_repeated_word_for_word_is_shown_once_with_its_places(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "f.ivr"
    body = "".join(f"    press {k} -> goto nowhere\n" for k in range(1, 10))
    flow.write_text(f'prompt hi say "Hi"\nmenu main {{\n    play hi\n{body}    on exhausted -> hangup\n}}\n')
    status, out = _check(capsys, str(flow))
    assert status == 1
    assert out.count("there is no menu, route, collect or lookup named `nowhere`") == 1
    assert "the same 8 more times in this file, at 5:21, 6:21" in out
    assert "9 errors" in out  # the count is of every problem, shown once or not


def test_a_huge_line_is_shown_as_a_window_around_the_caret(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "f.ivr"
    flow.write_text('prompt hi say "Hi"\nmenu main {\n    play hi\n    press 1 -> goto nowhere' + " " * 200_000
                    + "# " + "x" * 200_000 + "\n    on exhausted -> hangup\n}\n")
    status, out = _check(capsys, str(flow))
    assert status == 1 and "nowhere" in out
    assert max(len(line) for line in out.splitlines()) < 400
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if "error[IVR002]" in line)
    source_line, caret_line = lines[head + 2], lines[head + 3]
    column = caret_line.index("^")
    assert source_line[column:column + 7] == "nowhere"


def _watch(tmp_path: Path, command: str, before: str, after: str, done: str) -> str:
    """Run `ivrflow COMMAND FLOW --watch`, change the flow once it watches, and
    read until `done` appears (bounded: 30 s)."""
    flow = tmp_path / "f.ivr"
    flow.write_text(before)
    process = subprocess.Popen([sys.executable, "-m", "ivrflow", command, str(flow), "--watch"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while not any(line.startswith("watching") for line in lines) and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
        time.sleep(0.5)
        flow.write_text(after)
        while not any(done in line for line in lines) and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    return "".join(lines)


def test_watch_checks_again_when_a_flow_changes(tmp_path: Path) -> None:
    output = _watch(tmp_path, "check", WARNS, WARNS.replace('transfer "100"', "goto nowhere"), "IVR002")
    assert "a file changed" in output and "error[IVR002]" in output


def test_test_watch_runs_the_tests_again_when_a_flow_changes(tmp_path: Path) -> None:
    text = (EXAMPLES / "quickstart.ivr").read_text()
    output = _watch(tmp_path, "test", text, text.replace('expect transfer "101"', 'expect transfer "999"'),
                    "1 failed")
    assert "4 passed" in output and "a file changed" in output and "1 failed" in output
