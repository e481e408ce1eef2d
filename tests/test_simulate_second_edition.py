"""`ivrflow simulate` and `ivrflow test` with the second edition (DESIGN §2b):
lookup answers, transfer outcomes, the number dialled, entries with end keys,
the spoken text, the language and the variables, the new test statements and
what coverage counts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner

from ivrflow.cli import cli, main
from ivrflow.compiler import check_source, ir
from ivrflow.compiler.machine import Keys, Line, Outcome, Silence, TransferFailed
from ivrflow.compiler.simulate import MisplacedInput, has_state, lookup_of, parse_inputs, parse_lookup_answer, run_call
from ivrflow.compiler.testing import TestResult, run_test, run_tests
from ivrflow.loader import load

from .conftest import EXAMPLES

BANK = str(EXAMPLES / "bank.ivr")
BILINGUAL = str(EXAMPLES / "bilingual.ivr")
OPEN = ["--at", "2026-11-23 10:00"]  # a Monday: the branch is open


def simulate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["simulate", *argv])
    out, err = capsys.readouterr()
    return status, out, err


# --- the §2b example: two scripted calls, as golden JSON ---------------------------

GOLDEN_CALLS = {
    # DESIGN §2b's test as a scripted call: Spanish, an account number ended by #, the balance
    "bank_spanish_balance.json": [*OPEN, "--called", "18005550100", "--press", "9,1,12345678#",
                                  "--answer", "find_balance:balance=42.10,status=ok"],
    # English: a number too short, then a good one, and the bank's service fails
    "bank_lookup_error.json": [*OPEN, "--called", "18005550100", "--press", "1,1234#,12345678#",
                               "--answer", "find_balance:error"],
}


@pytest.mark.parametrize("name", GOLDEN_CALLS)
def test_scripted_bank_calls_are_the_golden_json(capsys: pytest.CaptureFixture[str], golden, name: str) -> None:
    status, out, err = simulate(capsys, BANK, *GOLDEN_CALLS[name], "--format", "json")
    assert status == 0, err
    golden(f"simulate/{name}", out)


def test_the_spanish_call_s_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = simulate(capsys, BANK, *GOLDEN_CALLS["bank_spanish_balance.json"], "--format", "json")
    document = json.loads(out)
    assert list(document) == ["outcome", "path", "language", "variables"]
    assert document["outcome"] == {"action": "waiting", "target": "main"}
    assert document["language"] == "es-US"
    # the values collects, lookups and `set` gave, not the built-in `key`
    assert document["variables"] == {"account": "12345678", "balance": "42.10", "greeted": "yes", "status": "ok"}
    steps = {(s["node"], s["event"]): s for s in document["path"]}
    assert steps[("account", "done")]["keys"] == "12345678"
    assert steps[("account", "done")]["said"] == ["Marque su número de cuenta y luego la tecla numeral.",
                                                  "You entered 1 2 3 4 5 6 7 8."]
    assert steps[("by_status", "otherwise")] == {"node": "by_status", "event": "otherwise", "played": ["balance"],
                                                 "said": ["Su saldo es 42.10 dólares."], "keys": None}
    assert all(len(s["said"]) == len(s["played"]) for s in document["path"])


def test_the_text_shows_each_new_step_the_spoken_text_language_and_variables(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = simulate(capsys, BANK, *GOLDEN_CALLS["bank_spanish_balance.json"])
    assert status == 0
    lines = out.splitlines()
    pressed_9 = lines.index("    → pressed 9")
    assert lines[pressed_9 + 1] == "      set language es-US"
    entered = lines.index("    → entered 12345678 into account")
    assert lines[entered + 1] == "      ♪ you_entered “You entered 1 2 3 4 5 6 7 8.”"
    assert "    → find_balance answered balance=42.10, status=ok" in lines
    assert "      ♪ balance “Su saldo es 42.10 dólares.”" in lines
    assert '      set greeted = "yes"' in lines
    assert lines[-3:] == ["■ the caller is waiting in menu `main`", "  language: es-US",
                          '  variables: account="12345678", balance="42.10", greeted="yes", status="ok"']


def test_a_failed_lookup_and_a_refused_answer_are_told_apart(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = simulate(capsys, BANK, *OPEN, "--press", "1,12345678#", "--answer", "find_balance:error")
    assert "    → find_balance failed\n      ♪ sorry “Sorry, that is not a valid choice.”\n■ transfer 200\n" in out
    _, out, _ = simulate(capsys, BANK, *OPEN, "--press", "1,12345678#", "--answer", "find_balance:balance=1")
    assert "    → find_balance failed: the answer leaves out `status`\n" in out  # held to the lookup's rules
    assert out.splitlines()[-1] == '  variables: account="12345678"'  # on error no variable changes


def test_a_call_at_a_lookup_without_an_answer_waits_and_says_how_to_answer(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = simulate(capsys, BANK, *OPEN, "--press", "1,12345678#,1")
    assert status == 0
    assert ("■ the call waits for lookup `find_balance` (give its answer: --answer "
            "find_balance:NAME=VALUE,… or --answer find_balance:error)") in out
    assert err == "note: the call waits for lookup `find_balance`, so these inputs were not used: 1\n"
    status, out, _ = simulate(capsys, BANK, *OPEN, "--press", "1,12345678#", "--format", "json")
    assert json.loads(out)["outcome"] == {"action": "lookup", "target": "find_balance"}


@pytest.mark.parametrize(("reason", "said"), [
    ("no-answer", "nobody answered 200 (no-answer): voicemail 200"),
    ("busy", "200 was busy (busy): voicemail 200"),
    ("failed", "the transfer to 200 failed (failed): voicemail 200"),
])
def test_a_transfer_outcome_runs_the_else(capsys: pytest.CaptureFixture[str], reason: str, said: str) -> None:
    status, out, _ = simulate(capsys, BANK, *OPEN, "--press", f"0,{reason}")
    assert status == 0
    assert f"    → {said}\n■ voicemail 200\n" in out
    _, out, _ = simulate(capsys, BANK, *OPEN, "--press", f"0,{reason}", "--format", "json")
    document = json.loads(out)
    assert document["outcome"] == {"action": "voicemail", "target": "200"}
    assert document["path"][-1] == {"node": "main", "event": "press 0 else", "played": [], "said": [],
                                    "keys": reason}


def test_a_ringing_transfer_connects_unless_told_otherwise(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = simulate(capsys, BANK, *OPEN, "--press", "0,1", "--format", "json")
    assert status == 0
    assert json.loads(out)["outcome"] == {"action": "transfer", "target": "200"}
    assert err == "note: the call ended before these inputs: 1\n"


def test_a_transfer_outcome_while_the_call_waits_for_keys_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(capsys, BANK, *OPEN, "--press", "busy") == (
        2, "", "ivrflow: error: --press: `busy`: the call is waiting for keys in `main`, not ringing a transfer "
               "with `else`\n")


def test_called_chooses_the_route(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = simulate(capsys, BANK, "--at", "2026-11-23 20:00", "--called", "18005550199", "--format", "json")
    assert json.loads(out)["outcome"] == {"action": "transfer", "target": "300"}
    _, out, _ = simulate(capsys, BANK, "--at", "2026-11-23 20:00", "--called", "18005550100", "--format", "json")
    assert json.loads(out)["outcome"] == {"action": "voicemail", "target": "100"}


def test_an_entry_ended_by_its_end_key(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = simulate(capsys, BANK, *OPEN, "--press", "1#", "--format", "json")
    assert json.loads(out)["path"][-1]["event"] == "press 1"  # not 2s of waiting for 1000-1019
    _, out, _ = simulate(capsys, BANK, *OPEN, "--press", "1,1234#", "--format", "json")
    assert json.loads(out)["path"][-1] == {
        "node": "account", "event": "invalid", "played": ["ask_account", "sorry"],
        "said": ["Enter your account number, then press the pound key.", "Sorry, that is not a valid choice."],
        "keys": "1234"}


@pytest.mark.parametrize(("answer", "message"), [
    ("find_balance:balance", "--answer `find_balance:balance`: `balance` is not NAME=VALUE; "
                             "write find_balance:NAME=VALUE,… or find_balance:error"),
    ("find_balance:a=1,a=2", "--answer `find_balance:a=1,a=2`: `a` is given twice; "
                             "write find_balance:NAME=VALUE,… or find_balance:error"),
    ("nowhere:x=1", "`nowhere:x=1` is not an action: expected an action (goto, transfer, hangup, repeat, replay, "
                    "voicemail or ask), found `nowhere:x=1`"),
])
def test_a_bad_answer_is_a_usage_error(capsys: pytest.CaptureFixture[str], answer: str, message: str) -> None:
    status, out, err = simulate(capsys, BANK, *OPEN, "--press", "1", "--answer", answer)
    assert (status, out) == (2, "")
    assert err == f"ivrflow: error: {message}\n"


LOOKUPS = """\
flow callbacks {
    language en-US
}
prompt when_ say "We will call you at {time}."
menu main {
    press 1 -> goto book
}
lookup book "https://example.com/book" {
    receive time
    on done -> play when_, hangup
    on error -> goto main
}
"""


def test_lookup_answers_are_used_in_order_and_values_may_hold_colons(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "callbacks.ivr"
    flow.write_text(LOOKUPS)
    status, out, err = simulate(capsys, str(flow), "--press", "1,1", "--answer", "book:error",
                                "--answer", "book:time=10:30", "--answer", 'transfer "sip:1@pbx"')
    assert status == 0, err
    lines = out.splitlines()
    assert lines.index("    → book failed") < lines.index("    → book answered time=10:30")
    assert "      ♪ when_ “We will call you at 10:30.”" in lines
    assert lines[-3:] == ["■ hangup", "  language: en-US", '  variables: time="10:30"']


def test_via_refuses_transfer_outcomes(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = simulate(capsys, BANK, "--via", "http://127.0.0.1:9/mediaservice", "--press", "0,busy")
    assert status == 2
    assert err == ("ivrflow: error: --press: `busy` cannot be used with --via: the platform's transfer connects "
                   "or fails\n")


# --- the interactive caller ----------------------------------------------------------

def test_the_interactive_caller_answers_the_lookup_and_the_transfer() -> None:
    typed = "1\n12345678#\nbalance=42\nbalance=-3,status=ok\n"
    result = CliRunner().invoke(cli, ["simulate", BANK, *OPEN, "--called", "18005550100"], input=typed)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("from a withheld number to 18005550100. Type keys, `silence` (or just Enter) or `quit`.")
    assert "  [account] entered 12345678 into account" in lines
    assert "  find_balance's answer (NAME=VALUE,… for balance, status; `error`; or `quit`)> balance=42" in lines
    assert "  [find_balance] find_balance failed: the answer leaves out `status`" in lines
    assert lines[-3:] == ["■ transfer 200", "  language: en-US", '  variables: account="12345678"']

    result = CliRunner().invoke(cli, ["simulate", BANK, *OPEN], input="busy\n0\nmaybe\nno-answer\n")
    lines = result.output.splitlines()
    assert any(line.startswith("  `busy` is how a transfer ends, and no transfer rings") for line in lines)
    assert ("  the transfer to 200 rings (Enter: it connects; `no-answer`, `busy`, `failed` or `quit`)> maybe"
            in lines)
    assert "  [main] nobody answered 200 (no-answer): voicemail 200" in lines
    assert "■ voicemail 200" in lines

    result = CliRunner().invoke(cli, ["simulate", BANK, *OPEN, "--answer", "find_balance:error"],
                                input="1\n12345678#\n")
    assert "  [find_balance] find_balance failed" in result.output.splitlines()
    result = CliRunner().invoke(cli, ["simulate", BANK, *OPEN], input="0\n\n")
    assert result.output.splitlines()[-3] == "■ transfer 200"


# --- parsing what the command line gives -------------------------------------------------

def test_inputs_take_end_keys_and_transfer_outcomes() -> None:
    assert list(parse_inputs("9,1,12345678#,no-answer,BUSY,failed,silence")) == [
        Keys("9"), Keys("1"), Keys("12345678#"), TransferFailed("no-answer"), TransferFailed("busy"),
        TransferFailed("failed"), Silence()]
    with pytest.raises(ValueError, match="`ringing` is not a key"):
        list(parse_inputs("1,ringing"))


def test_the_lookup_s_name_ends_at_the_first_colon() -> None:
    flow = load(BANK).flow
    assert flow is not None
    assert lookup_of(flow, "find_balance:balance=42.10,status=ok") == ("find_balance", "balance=42.10,status=ok")
    assert lookup_of(flow, 'transfer "sip:100@pbx.example"') is None  # `transfer "sip` is no lookup
    assert lookup_of(flow, "main:x=1") is None  # a menu, not a lookup
    assert parse_lookup_answer("time=10:30,note=a=b") == {"time": "10:30", "note": "a=b"}
    assert parse_lookup_answer("error") is None
    assert parse_lookup_answer("") == {}


# --- ivrflow test: the new statements, their failures and coverage -------------------------

def _run(source: str) -> list[TestResult]:
    result = check_source(dedent(source), "t.ivr")
    assert result.flow is not None and result.graph is not None
    return run_tests(result.flow, result.graph)[0]


def _failure(result: TestResult) -> tuple[int, str, str]:
    assert result.failure is not None, "the test passed"
    return result.failure.span.line, result.failure.expected, result.failure.actual


def test_the_examples_tests_all_pass() -> None:
    for path in (BANK, BILINGUAL):
        result = load(path)
        assert result.flow is not None and result.graph is not None
        outcomes, _ = run_tests(result.flow, result.graph)
        assert len(outcomes) >= 9
        assert [(t.test.name, t.failure) for t in outcomes if not t.passed] == []


BANK_TESTS = (EXAMPLES / "bank.ivr").read_text()


def _bank_with(test: str) -> TestResult:
    result = load(BANK)
    assert result.flow is not None
    extra = check_source(f"include \"{EXAMPLES / 'common.ivr'}\"\n" + dedent(test), "x.ivr")
    assert extra.flow is not None and extra.flow.tests
    return run_test(result.flow, extra.flow.tests[0])


@pytest.mark.parametrize(("test", "failure"), [
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 9
         expect language en-US
     }""", (6, "language en-US", "the call is in es-US")),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 9
         expect say "Bienvenido a First National."
     }""", (6, 'say "Bienvenido a First National."',
            "said “Para su saldo oprima 1. Para un agente oprima 0.” after the last key or silence")),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 1
         press "1234#"
         expect set account == "1234"
     }""", (7, 'set account == "1234"', "`account` is not set")),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 1
         answer find_balance balance="5" status="ok"
         press "12345678#"
         expect set balance == "6"
     }""", (8, 'set balance == "6"', '`balance` is "5"')),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 1
         expect goto main
     }""", (6, "goto main", "waiting in collect `account`")),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 1
         press "12345678#"
         press 1
         expect goto main
     }""", (7, "an `answer find_balance …` before this step",
            "the call waits for lookup `find_balance` and the test has no `answer find_balance` left for it "
            '(write `answer find_balance NAME="value" …` or `answer find_balance error` before the step '
            "that leads there)")),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 1
         press "12345678#"
         expect goto main
     }""", (7, "goto main",
            "waiting for lookup `find_balance` (the test has no `answer find_balance` left for it)")),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         transfer-fails busy
         expect voicemail "200"
     }""", (5, "a transfer with `else` ringing", "the call is waiting in menu `main`")),
    ("""
     test "t" {
         at "2026-11-23 10:00"
         press 1005
         transfer-fails busy
         expect voicemail "200"
     }""", (6, "a transfer with `else` ringing", "the call had already ended: transfer 1005")),
])
def test_failures_of_the_new_statements_say_what_was_expected_and_what_happened(
        test: str, failure: tuple[int, str, str]) -> None:
    assert _failure(_bank_with(test)) == failure


def test_the_said_window_and_play_window_start_at_a_transfer_failure() -> None:
    result = _bank_with("""
        test "t" {
            at "2026-11-23 10:00"
            press 0
            transfer-fails no-answer
            expect play main_short
        }""")
    assert _failure(result) == (7, "play main_short", "heard nothing after the last key or silence")


def test_a_ringing_transfer_counts_as_the_call_s_end() -> None:
    results = _run("""
        flow f {
            language en-US
        }
        menu main {
            press 0 -> transfer "200" ring 10s else hangup
        }
        test "connects" {
            press 0
            expect transfer "200"
        }
        test "does not" {
            press 0
            transfer-fails failed
            expect hangup
        }
        test "a key after it" {
            press 0
            press 1
            expect transfer "200"
        }
    """)
    assert [r.passed for r in results] == [True, True, False]
    assert _failure(results[2]) == (19, "a menu waiting for keys", "the call had already ended: transfer 200")


def test_coverage_counts_lookup_outcomes_else_branches_ranges_and_each_language_s_variants(
        capsys: pytest.CaptureFixture[str]) -> None:
    result = load(BANK)
    assert result.flow is not None and result.graph is not None
    flow = result.flow
    selected = {"balance in Spanish", "extensions in the range are dialled directly"}
    _, coverage = run_tests(flow, result.graph, lambda t: t.name in selected)
    items = {(node, event) for node, event, _ in coverage.handlers}
    assert {("find_balance", "done"), ("find_balance", "error"), ("account", "done"), ("account", "invalid"),
            ("main", "press 0 else"), ("main", "press 1000-1019"), ("main", 'press 7XXX'),
            ("welcome", "variant en-US"), ("welcome", "variant es-US"), ("balance", "variant en-US"),
            ("balance", "variant es-US")} <= items
    assert ("main/press 0", "else") not in items  # counted by the handler's own name, as the call's path has it
    missed = {(node, event) for node, event, _ in coverage.missed}
    assert ("balance", "variant en-US") in missed and ("balance", "variant es-US") not in missed
    assert ("find_balance", "error") in missed and ("find_balance", "done") not in missed
    assert ("main", "press 0 else") in missed and ("main", "press 1000-1019") not in missed
    variant = next(span for node, event, span in coverage.handlers if (node, event) == ("balance", "variant es-US"))
    assert (variant.line, variant.column) == (33, 5)
    _, everything = run_tests(flow, result.graph)
    assert ("main", "press 0 else") not in {(n, e) for n, e, _ in everything.missed}


def test_test_command_reports_a_missed_variant_and_else(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (EXAMPLES / "bilingual.ivr").read_text()
    path = tmp_path / "bilingual.ivr"
    path.write_text(source)
    status = main(["test", str(path), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    missed = {(m["node"], m["event"]) for m in document["coverage"]["missed"]}
    assert missed == {("opening_hours", "variant en-US"), ("sorry", "variant en-US"),
                      ("librarian", "otherwise else")}
    main(["test", str(path)])
    out = capsys.readouterr().out
    assert f"    {path}:30  opening_hours: variant en-US\n" in out
    assert "librarian: otherwise else" in out


def test_the_test_command_shows_the_new_steps_in_a_failing_path(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    source = BANK_TESTS.replace('expect say "Su saldo es 42.10 dólares."', 'expect say "Su saldo es 42 dólares."')
    (tmp_path / "common.ivr").write_text((EXAMPLES / "common.ivr").read_text())
    path = tmp_path / "bank.ivr"
    path.write_text(source)
    assert main(["test", str(path), "-k", "balance in Spanish", "--no-coverage"]) == 1
    out = capsys.readouterr().out
    assert 'expected say "Su saldo es 42 dólares."' in out
    assert "but: said “You entered 1 2 3 4 5 6 7 8.”, “Su saldo es 42.10 dólares.”" in out
    assert ("account (entered 12345678 into account) → find_balance (find_balance answered balance=42.10, "
            "status=ok) → by_status (otherwise)") in out



def test_expect_goto_holds_while_the_call_waits_in_a_collect() -> None:
    result = _bank_with("""
        test "t" {
            at "2026-11-23 10:00"
            press 1
            expect goto account
        }""")
    assert result.passed, result.failure


# --- the driver itself (run_call), without the command line ---------------------------

def _bank_flow() -> ir.Flow:
    flow = load(BANK).flow
    assert flow is not None
    return flow


MONDAY = Line(dt.datetime(2026, 11, 23, 10), None, "18005550100")


def test_run_call_uses_each_lookup_s_answers_in_order() -> None:
    flow = check_source(LOOKUPS, "callbacks.ivr").flow
    assert flow is not None
    record, unused = run_call(flow, [Keys("1"), Keys("1")], lookups=[("book", None), ("book", {"time": "9:00"})])
    assert unused == []
    assert [(v.node, v.event) for v in record.path] == [("main", "press 1"), ("book", "error"),
                                                        ("main", "press 1"), ("book", "done")]
    assert record.variables == {"time": "9:00"} and record.outcome == Outcome("hangup")
    record, unused = run_call(_bank_flow(), [Keys("1"), Keys("12345678#"), Keys("1")], MONDAY,
                              lookups=[("find_balance", {"balance": "7", "status": "ok"})])
    assert record.variables == {"account": "12345678", "balance": "7", "greeted": "yes", "status": "ok"}
    assert (record.path[-1].node, record.path[-1].event) == ("main", "press 1")
    assert record.outcome == Outcome("waiting", "account")


def test_run_call_stops_at_a_lookup_without_an_answer_and_at_a_ringing_transfer() -> None:
    record, unused = run_call(_bank_flow(), [Keys("1"), Keys("12345678#"), Keys("9")], MONDAY)
    assert record.waiting_lookup == "find_balance" and unused == [Keys("9")]
    assert record.outcome == Outcome("lookup", "find_balance")
    record, unused = run_call(_bank_flow(), [Keys("0"), Keys("1")], MONDAY)
    assert record.call.status == "ringing" and record.outcome == Outcome("transfer", "200")
    assert unused == [Keys("1")]
    record, unused = run_call(_bank_flow(), [Keys("0"), TransferFailed("busy")], MONDAY)
    assert record.outcome == Outcome("voicemail", "200") and unused == []
    with pytest.raises(MisplacedInput, match="`failed`: the call is waiting for keys in `main`"):
        run_call(_bank_flow(), [TransferFailed("failed")], MONDAY)


def test_a_first_edition_call_keeps_its_json_shape() -> None:
    flow = load(str(EXAMPLES / "quickstart.ivr")).flow
    assert flow is not None and not has_state(flow)
    record, _ = run_call(flow, [Keys("1")])
    assert list(record.to_dict()) == ["outcome", "path"]
    assert list(record.to_dict()["path"][0]) == ["node", "event", "played", "keys"]
    assert has_state(_bank_flow()) and has_state(load(BILINGUAL).flow)  # type: ignore[arg-type]
