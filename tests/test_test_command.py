"""`ivrflow test` for people and for CI: choosing tests with -k, JSON,
JUnit XML, a coverage floor and leaving coverage out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivrflow.cli import main

from .conftest import EXAMPLES

QUICKSTART = str(EXAMPLES / "quickstart.ivr")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _failing(tmp_path: Path) -> Path:
    """quickstart with one failing test, and a name XML must escape."""
    text = (EXAMPLES / "quickstart.ivr").read_text()
    text = text.replace('press 2\n    expect transfer "102"', 'press 2\n    expect transfer "103"')
    text = text.replace('test "1 reaches sales"', 'test "1 <sales> & \'more\'"')
    path = tmp_path / "failing.ivr"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("expression", "ran"), [
    ("sales", ["1 reaches sales"]),
    ("SUPPORT", ["2 reaches support"]),
    ("wrong key", ["a wrong key is explained, then the menu repeats"]),
    ("sales or support", ["1 reaches sales", "2 reaches support"]),
    ("reaches and not (sales or operator)", ["2 reaches support"]),
    ("not (sales or support or wrong)", ["a caller who says nothing reaches the operator"]),
    ("quickstart and operator", ["a caller who says nothing reaches the operator"]),  # the file's name counts
])
def test_k_selects_tests_by_name(capsys: pytest.CaptureFixture[str], expression: str, ran: list[str]) -> None:
    status, out, _ = run(capsys, "test", QUICKSTART, "-k", expression)
    assert status == 0
    shown = [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("✓")]
    assert shown == ran
    assert f"{len(ran)} passed, {4 - len(ran)} deselected" in out


@pytest.mark.parametrize(("expression", "message"), [
    ("nothing-like-it", "ivrflow: error: -k `nothing-like-it` matches none of the 4 tests\n"),
    ("sales and", "ivrflow: error: -k `sales and`: the expression ends too early\n"),
    ("(sales", "ivrflow: error: -k `(sales`: a `(` is not closed\n"),
])
def test_k_that_selects_nothing_or_does_not_parse_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], expression: str, message: str) -> None:
    assert run(capsys, "test", QUICKSTART, "-k", expression) == (2, "", message)


def test_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _failing(tmp_path)
    status, out, _ = run(capsys, "test", str(path), "--format", "json")
    assert status == 1
    document = json.loads(out)
    assert document["summary"] == {"passed": 3, "failed": 1, "deselected": 0, "files_with_errors": 0,
                                   "fail_under": None}
    (file,) = document["files"]
    assert file["file"] == str(path) and file["flow"] == "quickstart"
    failed = [t for t in file["tests"] if not t["passed"]]
    assert failed == [{
        "name": "2 reaches support", "line": 25, "passed": False,
        "failure": {"file": str(path), "line": 27, "column": 5, "expected": "transfer 103", "actual": "transfer 102"},
        "path": [{"node": "main", "event": "press 2", "keys": "2"}],
    }]
    assert document["coverage"]["handlers"] == 5 and document["coverage"]["percent"] == 100.0


def test_json_of_a_broken_flow_lists_its_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "test", str(EXAMPLES / "broken" / "undefined_name.ivr"), "--format", "json")
    assert status == 1
    (file,) = json.loads(out)["files"]
    assert [e["code"] for e in file["errors"] if e["severity"] == "error"] == ["IVR002"]


def test_junit_xml_is_valid_and_complete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "results.xml"
    broken = str(EXAMPLES / "broken" / "undefined_name.ivr")
    status, _, err = run(capsys, "test", str(_failing(tmp_path)), broken, "--junit-xml", str(report))
    assert status == 1
    assert f"wrote {report}" in err
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(tmp_path / "failing.ivr"), broken]
    cases = suites[0].findall("testcase")
    assert cases[0].get("name") == "1 <sales> & 'more'"  # escaped by the XML library
    assert {c.get("classname") for c in cases} == {"quickstart"}
    assert all(float(c.get("time", "x")) >= 0 for c in cases)
    (failure,) = suites[0].iter("failure")
    assert failure.get("message") == "expected transfer 103, but transfer 102"
    assert "path: main (press 2)" in (failure.text or "")
    (error,) = suites[1].iter("error")
    assert "IVR002" in (error.text or "")


def test_junit_xml_to_an_unwritable_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "test", QUICKSTART, "--junit-xml", str(tmp_path / "no" / "such" / "r.xml"))
    assert status == 1 and "cannot write" in err


def test_fail_under(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "test", QUICKSTART, "-k", "sales", "--fail-under", "50")
    assert status == 1  # 1 of 5 handlers
    assert "coverage 20.0% is under --fail-under 50%" in out
    status, out, _ = run(capsys, "test", QUICKSTART, "-k", "sales", "--fail-under", "20")
    assert status == 0 and "coverage 20.0% reaches --fail-under 20%" in out
    status, out, _ = run(capsys, "test", QUICKSTART, "--fail-under", "100", "--format", "json")
    assert status == 0 and json.loads(out)["summary"]["fail_under"] == {"percent": 100.0, "met": True}
    assert run(capsys, "test", QUICKSTART, "--fail-under", "101")[0] == 2


def test_no_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "test", QUICKSTART, "-k", "sales", "--no-coverage")
    assert status == 0 and "coverage" not in out and "not exercised" not in out
    status, out, _ = run(capsys, "test", QUICKSTART, "--no-coverage", "--format", "json")
    assert json.loads(out)["coverage"] is None
    status, _, err = run(capsys, "test", QUICKSTART, "--no-coverage", "--fail-under", "90")
    assert (status, err) == (2, "ivrflow: error: --fail-under needs coverage: leave out --no-coverage\n")


def test_directories_are_searched_for_flows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "q.ivr").write_text((EXAMPLES / "quickstart.ivr").read_text())
    status, out, _ = run(capsys, "test", str(tmp_path))
    assert status == 0 and "4 passed" in out


def test_help_shows_every_option_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "test", "--help")
    assert status == 0
    for option in ("-k EXPR", "--format", "--junit-xml FILE", "--fail-under PERCENT", "--no-coverage",
                   "--junit-xml results.xml"):
        assert option in out


@pytest.mark.parametrize("command", ["init", "fmt", "simulate", "test"])
def test_docs_cli_md_has_every_option(command: str) -> None:
    import click

    from ivrflow.cli import cli

    from .conftest import ROOT

    docs = (ROOT / "docs" / "cli.md").read_text()
    section = docs.split(f"## ivrflow {command}", 1)[1].split("\n## ", 1)[0]
    group = cli.commands[command]
    for parameter in group.params:
        if isinstance(parameter, click.Option) and parameter.opts != ["-h", "--help"]:
            assert any(opt in section for opt in parameter.opts), (command, parameter.opts)
