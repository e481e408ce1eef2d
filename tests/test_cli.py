"""The command line as a user meets it: exit statuses, formats, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivrflow.cli import cli, main

from .conftest import EXAMPLES

SUPPORT = str(EXAMPLES / "support.ivr")
BROKEN = str(EXAMPLES / "broken" / "undefined_name.ivr")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_clean_flow_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", str(EXAMPLES / "quickstart.ivr"))
    assert status == 0
    assert "no problems" in out


def test_check_reports_errors_with_place_code_carets_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", BROKEN)
    assert status == 1
    assert (f"{BROKEN}:6:21: error[IVR002]: `goto biling`: there is no menu, route, collect or lookup "
            "named `biling`") in out
    assert "6 |     press 1 -> goto biling\n" in out
    assert "  |                     ^^^^^^\n" in out
    assert "hint: did you mean `billing`?" in out


def test_check_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", "--format", "json", BROKEN, SUPPORT)
    document = json.loads(out)
    assert status == 1
    assert set(document) == {"diagnostics", "errors", "warnings"}
    assert document["errors"] == 1 and document["warnings"] == 1
    first = document["diagnostics"][0]
    assert set(first) == {"code", "severity", "message", "file", "line", "column", "end_line", "end_column", "hint"}
    assert (first["code"], first["line"], first["column"], first["end_column"]) == ("IVR002", 6, 21, 27)


def test_check_github_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "check", "--format", "github", BROKEN)
    lines = out.splitlines()
    assert lines[0].startswith(f"::error file={BROKEN},line=6,col=21,endLine=6,endColumn=27,title=IVR002 ")
    assert lines[1].startswith("::warning ")
    assert all("\n" not in line for line in lines)


def test_check_sarif_is_sarif_2_1_0(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "check", "--format", "sarif", BROKEN)
    document = json.loads(out)
    assert document["version"] == "2.1.0"
    run_ = document["runs"][0]
    rules = [rule["id"] for rule in run_["tool"]["driver"]["rules"]]
    assert rules == ["IVR002", "IVR101"]
    result = run_["results"][0]
    assert result["ruleId"] == "IVR002" and result["level"] == "error"
    assert rules[result["ruleIndex"]] == "IVR002"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 6, "startColumn": 21, "endLine": 6, "endColumn": 27}


def test_missing_file_is_a_usage_error_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "check", "no/such.ivr")
    assert status == 2
    assert err == "ivrflow: error: no/such.ivr: no such file\n"
    assert "Traceback" not in out + err


def test_a_file_that_is_not_utf8_gets_a_located_diagnostic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.ivr"
    path.write_bytes(b'prompt hi say "caf\xe9"\n')
    status, out, _ = run(capsys, "check", str(path))
    assert status == 1
    assert f"{path}:1:19: error[IVR001]: the file is not UTF-8 text" in out


def test_unknown_option_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "check", "--format", "xml", SUPPORT)
    assert status == 2
    assert "'xml' is not one of" in err


def test_internal_errors_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import ivrflow.loader

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(ivrflow.loader, "load", boom)
    status, _out, err = run(capsys, "check", SUPPORT)
    assert status == 2
    assert "internal error: RuntimeError: kaput" in err and "Traceback" not in err


def test_simulate_json_is_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "simulate", SUPPORT, "--press", "2,1", "--at", "2026-11-23 10:00", "--format", "json")
    assert status == 0
    assert json.loads(out) == {
        "outcome": {"action": "transfer", "target": "301"},
        "path": [
            {"node": "entry", "event": "when open support_hours", "played": [], "keys": None},
            {"node": "main", "event": "press 2", "played": ["welcome", "main_menu"], "keys": "2"},
            {"node": "tech", "event": "press 1", "played": ["tech_menu"], "keys": "1"},
        ],
    }


def test_simulate_waiting_and_caller(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "simulate", SUPPORT, "--press", "3", "--at", "2026-11-23 10:00", "--format", "json")
    assert json.loads(out)["outcome"] == {"action": "waiting", "target": "billing"}
    _, out, _ = run(capsys, "simulate", SUPPORT, "--caller", "+442079012345", "--at", "2026-11-23 02:00",
                    "--press", "", "--format", "json")
    assert json.loads(out)["outcome"] == {"action": "transfer", "target": "250"}


def test_simulate_text_shows_what_the_caller_hears(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "simulate", SUPPORT, "--press", "9", "--at", "2026-11-23 10:00")
    assert status == 0
    assert "♪ sorry “Sorry, that is not an option.”" in out
    assert "pressed 9: not an option (invalid)" in out
    assert out.rstrip().endswith("■ the caller is waiting in menu `main`")


def test_simulate_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "simulate", SUPPORT, "--press", "1,x")
    assert (status, err) == (2, "ivrflow: error: --press: `x` is not a key or `silence`\n")
    status, _, err = run(capsys, "simulate", SUPPORT, "--at", "soon", "--press", "1")
    assert status == 2 and "--at: `soon` is not a date and time" in err
    status, _, err = run(capsys, "simulate", SUPPORT, "--answer", "jump main", "--press", "1")
    assert status == 2 and "expected an action" in err


def test_simulate_refuses_a_flow_with_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "simulate", BROKEN, "--press", "1")
    assert status == 1
    assert "error[IVR002]" in err


def test_simulate_interactively() -> None:
    result = CliRunner().invoke(cli, ["simulate", str(EXAMPLES / "quickstart.ivr")], input="7\n2\n")
    assert result.exit_code == 0, result.output
    assert "♪ welcome “Thanks for calling." in result.output
    assert "[main] pressed 7: not an option (invalid)" in result.output
    assert "■ transfer 102" in result.output


def test_simulate_interactively_quit_and_ask() -> None:
    clinic = str(EXAMPLES / "clinic.ivr")
    result = CliRunner().invoke(cli, ["simulate", clinic], input="1\ngoto nowhere\nhangup\n")
    assert "the flow asks https://appointments.riverside.example/ivr where to go" in result.output
    assert "`goto nowhere`: there is no menu or route named `nowhere`" in result.output
    assert result.output.rstrip().endswith("■ hangup")
    result = CliRunner().invoke(cli, ["simulate", clinic], input="quit\n")
    assert "■ hung up in menu `main`" in result.output


def test_test_command_passes_and_reports_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "test", str(EXAMPLES / "quickstart.ivr"))
    assert status == 0
    assert "✓ 1 reaches sales" in out
    assert "coverage: 5 of 5 handlers exercised (100%)" in out


def test_test_command_failure_shows_line_expectation_and_path(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    flow = (EXAMPLES / "quickstart.ivr").read_text().replace('press 2\n    expect transfer "102"',
                                                             'press 2\n    expect transfer "103"')
    path = tmp_path / "q.ivr"
    path.write_text(flow)
    status, out, _ = run(capsys, "test", str(path))
    assert status == 1
    line = flow.splitlines().index('    expect transfer "103"') + 1
    assert f"✗ 2 reaches support\n      {path}:{line}:5: expected transfer 103\n      but: transfer 102\n" in out
    assert "path: main (pressed 2)" in out
    assert "1 failed" in out


def test_render_dot_mermaid_and_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "render", SUPPORT)
    assert status == 0 and out.startswith("digraph support {")
    assert run(capsys, "render", SUPPORT, "-o", str(tmp_path / "f.mmd"))[0] == 0
    assert (tmp_path / "f.mmd").read_text().startswith("---\ntitle: Northwind support line\n---\nflowchart LR\n")
    assert run(capsys, "render", SUPPORT, "-o", str(tmp_path / "f.svg"))[0] == 0
    svg = (tmp_path / "f.svg").read_text()
    assert "<svg" in svg and "Technical support" in svg


def test_render_without_graphviz_explains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    status, _, err = run(capsys, "render", SUPPORT, "-o", str(tmp_path / "f.png"))
    assert status == 2
    assert "apt-get install graphviz" in err and "-o flow.dot" in err
    assert run(capsys, "render", SUPPORT, "-o", str(tmp_path / "f.dot"))[0] == 0


def test_render_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "render", SUPPORT, "-o", "flow.jpg")
    assert status == 2 and "cannot tell the format" in err


def test_python_dash_m_and_help() -> None:
    done = subprocess.run([sys.executable, "-m", "ivrflow", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    for command in ("check", "render", "simulate", "test"):
        assert command in done.stdout
