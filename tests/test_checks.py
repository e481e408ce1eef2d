"""Every check, failing and passing, from one table (check_cases.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivrflow.compiler import Checked, check_source, ir
from ivrflow.compiler.checks import CHECKS, Env, keys
from ivrflow.compiler.checks.base import FileProblem
from ivrflow.compiler.diagnostics import RULES
from ivrflow.loader import include_reader

from .check_cases import CASES, Case

#: What ivrflow.prompt_files would say of the paths the cases name (tested for real in test_prompt_files.py).
FILES = {"present.wav": None, "/etc/passwd": FileProblem("IVR124", "outside"),
         "prompts": FileProblem("IVR125", "a directory"), "huge.wav": FileProblem("IVR126", "too large"),
         "name-too-long.wav": FileProblem("IVR126", "name too long")}
ENV = Env(prompt_file=lambda path: FILES.get(path, FileProblem("IVR112", "not found")))


def checked(case: Case, folder: Path) -> Checked:
    """The case checked as `case.ivr`; with its files beside it on disk when it has any."""
    if case.files is None:
        return check_source(case.source, "case.ivr", ENV)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in case.files:
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / "case.ivr"
    path.write_text(case.source, encoding="utf-8")
    return check_source(case.source, str(path), Env(prompt_file=ENV.prompt_file, include=include_reader(str(path))))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{'pass' if c.passes else 'fail'}-{c.name}")
def test_check_case(case: Case, tmp_path: Path) -> None:
    result = checked(case, tmp_path)
    found = sorted((d.span.line, d.span.column) for d in result.diagnostics if d.code == case.code)
    assert found == sorted(case.at), "\n".join(
        f"{d.span.line}:{d.span.column} {d.code} {d.message}" for d in result.diagnostics)


def test_every_code_has_a_failing_and_a_passing_case() -> None:
    for code in RULES:
        if code.startswith(("IVR2", "IVR3")):
            continue  # target and deploy codes are tested with their targets
        kinds = {c.passes for c in CASES if c.code == code}
        assert kinds == {True, False}, f"{code} needs a failing and a passing case"


def test_diagnostics_have_valid_positions_and_known_codes(tmp_path: Path) -> None:
    for number, case in enumerate(CASES):
        sources = {"case.ivr": case.source, **dict(case.files or ())}
        for d in checked(case, tmp_path / str(number)).diagnostics:
            lines = sources[Path(d.span.file).name].splitlines()
            assert d.code in RULES
            assert 1 <= d.span.line <= len(lines) + 1
            assert d.span.column >= 1
            assert (d.span.end_line, d.span.end_column) >= (d.span.line, d.span.column)


def test_checks_are_documented() -> None:
    for check in CHECKS:
        assert check.__doc__ and len(check.__doc__) > 40, f"{check.__name__} needs a docstring for docs/checks.md"


def _messages(case_name: str, code: str, tmp_path: Path, shown: str | None = None) -> list[str]:
    """The messages of `shown` (else `code`) that the case of `code` named so reports."""
    found = next(c for c in CASES if c.name == case_name and c.code == code)
    return [d.message for d in checked(found, tmp_path).diagnostics if d.code == (shown or code)]


def test_a_variable_used_before_it_is_set_names_a_path(tmp_path: Path) -> None:
    messages = _messages("a route reached before the lookup that sets what it reads", "IVR129", tmp_path)
    assert messages[0] == ("on the path start → account → timeout → result, `balance` is not set yet when "
                           "the condition `balance < 0` uses it")


def test_unknown_variables_and_names_offer_the_close_one(tmp_path: Path) -> None:
    found = next(c for c in CASES if c.name == "names nothing sets")
    hints = {d.hint for d in checked(found, tmp_path).diagnostics if d.code == "IVR009"}
    assert hints == {"did you mean `balance`?", "did you mean `account`?"}


def test_a_name_defined_in_two_files_names_both(tmp_path: Path) -> None:
    [message] = _messages("a name defined in two files", "IVR003", tmp_path)
    assert message == (f"`hi` is defined in two files: as a prompt in {tmp_path / 'case.ivr'} (line 3), "
                       f"and here in {tmp_path / 'common.ivr'}")


def test_a_key_that_starts_a_range_says_which_entry(tmp_path: Path) -> None:
    [message] = _messages("a key that starts entries of a range", "IVR110", tmp_path)
    assert message == ("callers who press `1` wait 2s for more keys (unless they press `#` after it), because "
                       "`1000-1019` has entries that start with it, such as `1000`")


def test_a_call_only_max_duration_ends_says_so(tmp_path: Path) -> None:
    [message] = _messages("only max-duration or the caller ends the call", "IVR132", tmp_path)
    assert message.endswith('ends only when the caller hangs up or `max-duration 10m -> hangup` runs')
    assert _messages("only max-duration or the caller ends the call", "IVR132", tmp_path, "IVR103") == []


def test_a_file_only_meant_to_be_included_checks_clean() -> None:
    from ivrflow.loader import load

    from .conftest import EXAMPLES
    assert load(str(EXAMPLES / "common.ivr")).diagnostics == ()
    bank = load(str(EXAMPLES / "bank.ivr"))
    assert bank.errors == 0 and [d.code for d in bank.diagnostics] == ["IVR110"]


@given(st.data())
def test_shared_entries_of_ranges_and_patterns_are_exact(data: st.DataObject) -> None:
    """keys.common against every entry written out, for short ranges and patterns."""
    length = data.draw(st.integers(1, 3))

    def key() -> str:
        if data.draw(st.booleans()):
            low, high = sorted(data.draw(st.integers(0, 10 ** length - 1)) for _ in range(2))
            return f"{low:0{length}d}-{high:0{length}d}"
        return "".join(data.draw(st.lists(st.sampled_from("0159XNZ*#"), min_size=length, max_size=length)))

    a, b = key(), key()
    everything = ("".join(p) for p in itertools.product("0123456789*#", repeat=length))
    both = [entry for entry in everything if ir.key_matches(a, entry) and ir.key_matches(b, entry)]
    assert keys.common(keys.entries(a), keys.entries(b)) == (min(both) if both else None)
