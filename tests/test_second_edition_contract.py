"""DESIGN §2b at the machine: the contract's call, step by step, and the
exact semantics §2b states, one rule per test (with docs/language.md, which
says them in more words). examples/bank.ivr and common.ivr are §2b's example
word for word; the repository's tests do not read DESIGN.md itself."""

from __future__ import annotations

import datetime as dt
from textwrap import dedent

import pytest

from ivrflow.compiler import check_source, ir
from ivrflow.compiler.machine import (
    Call,
    Collect,
    Effect,
    End,
    Event,
    Keys,
    Line,
    LookupResult,
    LookupService,
    Outcome,
    Play,
    Ring,
    Silence,
    Start,
    TransferFailed,
    Visited,
    step,
)
from ivrflow.loader import load

from .conftest import EXAMPLES

MONDAY_10AM = dt.datetime(2026, 11, 23, 10, 0)


def flow_of(source: str) -> ir.Flow:
    result = check_source(dedent(source), "t.ivr")
    assert result.flow is not None and not [d for d in result.diagnostics if d.code == "IVR001"], result.diagnostics
    return result.flow


def run(flow: ir.Flow, *events: Event, line: Line | None = None) -> list[tuple[Call, tuple[Effect, ...]]]:
    """Every step of a call: Start, then `events`."""
    steps = []
    call = Call()
    for event in (Start(), *events):
        call, effects = step(flow, call, event, line)
        steps.append((call, effects))
    return steps


def last(flow: ir.Flow, *events: Event, line: Line | None = None) -> Call:
    return run(flow, *events, line=line)[-1][0]


def played(effects: tuple[Effect, ...]) -> list[str]:
    return [e.prompt for e in effects if isinstance(e, Play)]


def spoken(effects: tuple[Effect, ...]) -> list[str | None]:
    return [e.text for e in effects if isinstance(e, Play)]


# --- the contract's test "balance in Spanish" -------------------------------------

@pytest.fixture(scope="module")
def bank() -> ir.Flow:
    result = load(str(EXAMPLES / "bank.ivr"), check_files=False)
    assert result.flow is not None
    return result.flow


def test_the_contract_call_behaves_as_written(bank: ir.Flow) -> None:
    line = Line(MONDAY_10AM, called="18005550100")
    call, effects = step(bank, Call(), Start(), line)
    # `when open branch` (hours from common.ivr) -> goto main: welcome (first) and main_short, in English
    assert (call.status, call.node, call.language) == ("input", "main", "en-US")
    assert [(e.prompt, e.language, e.text) for e in effects if isinstance(e, Play)] == [
        ("welcome", "en-US", "Welcome to First National. Para español, oprima nueve."),
        ("main_short", "en-US", "For your balance press 1. For an agent press 0.")]

    # press 9 -> set language es-US, replay: the menu again in Spanish, without `first` prompts or a retry
    call, effects = step(bank, call, Keys("9"), line)
    assert call.language == "es-US"  # expect language es-US
    assert (call.status, call.node, call.retries, call.timeouts) == ("input", "main", 0, 0)
    assert [(e.prompt, e.text) for e in effects if isinstance(e, Play)] == [
        ("main_short", "Para su saldo oprima 1. Para un agente oprima 0.")]

    # press 1 -> goto account: the collect asks in Spanish
    call, effects = step(bank, call, Keys("1"), line)
    assert (call.status, call.node) == ("input", "account")
    assert Collect("account") in effects
    assert spoken(effects) == ["Marque su número de cuenta y luego la tecla numeral."]

    # "12345678#": eight keys and the end key -> on done: you_entered, then the lookup
    call, effects = step(bank, call, Keys("12345678#"), line)
    assert call.variables["account"] == "12345678"
    you_entered = next(e for e in effects if isinstance(e, Play))
    assert you_entered.prompt == "you_entered"  # expect play you_entered
    assert you_entered.text == "You entered 1 2 3 4 5 6 7 8."
    assert Visited("account", "done", ("ask_account", "you_entered"), "12345678") in effects
    assert (call.status, call.node, call.outcome) == ("lookup", "find_balance", Outcome("lookup", "find_balance"))
    assert [e for e in effects if isinstance(e, LookupService)] == [LookupService(
        "find_balance", "https://bank.example.com/balance",
        {"flow": "bank", "node": "find_balance",
         "variables": {"account": "12345678", "called": "18005550100", "language": "es-US"}},
        3000)]

    # answer find_balance balance="42.10" status="ok" -> by_status: otherwise -> play balance, goto main
    call, effects = step(bank, call, LookupResult({"balance": "42.10", "status": "ok"}), line)
    balance = next(e for e in effects if isinstance(e, Play))
    assert (balance.prompt, balance.language, balance.text) == ("balance", "es-US", "Su saldo es 42.10 dólares.")
    assert [v.node for v in effects if isinstance(v, Visited)] == ["find_balance", "by_status"]
    assert (call.status, call.node) == ("input", "main")  # expect goto main
    assert dict(call.variables) == {"key": "12345678", "account": "12345678", "balance": "42.10", "status": "ok",
                                    "greeted": "yes"}
    # entered by goto: `first` plays again, in Spanish
    assert played(effects) == ["balance", "welcome", "main_short"]


def test_the_contract_flow_routes_card_services_by_the_number_dialled(bank: ir.Flow) -> None:
    call = last(bank, line=Line(dt.datetime(2026, 11, 23, 20, 0), called="18005550199"))
    assert (call.status, call.outcome) == ("ended", Outcome("transfer", "300"))


def test_the_contract_flow_keys_ranges_and_patterns_into_the_destination(bank: ir.Flow) -> None:
    line = Line(MONDAY_10AM)
    assert last(bank, Keys("1005"), line=line).outcome == Outcome("transfer", "1005")
    assert last(bank, Keys("7123"), line=line).outcome == Outcome("transfer", "7123")
    assert last(bank, Keys("1020"), line=line).node == "main"  # past the range: invalid


# --- play first / again ---------------------------------------------------------

FIRST_AGAIN = """
    prompt welcome say "Welcome."
    prompt options say "Options."
    prompt once_more say "Once more."
    menu main {
        play welcome first
        play options
        play once_more again
        retries 5
        press 1 -> goto main
        press 2 -> replay
        press 3 -> repeat
        on timeout -> repeat
        on invalid -> repeat
    }
"""


def test_play_first_only_on_entering_and_again_only_when_it_runs_again() -> None:
    flow = flow_of(FIRST_AGAIN)
    steps = run(flow, Keys("3"), Keys("2"), Silence(), Keys("9"), Keys("1"))
    assert [played(effects) for _, effects in steps] == [
        ["welcome", "options"],  # the start is an entry
        ["options", "once_more"],  # repeat
        ["options", "once_more"],  # replay
        ["options", "once_more"],  # on timeout -> repeat
        ["options", "once_more"],  # on invalid -> repeat
        ["welcome", "options"],  # goto main is an entry
    ]


# --- retry counters ---------------------------------------------------------------

COUNTERS = """
    prompt hi say "Hi."
    menu main {
        play hi
        retries timeout 2 invalid 1
        press 1 -> replay
        press 2 -> goto main
        press 3 -> repeat
        on timeout -> repeat
        on invalid -> repeat
        on exhausted -> voicemail "out"
    }
"""


def test_a_repeat_in_on_timeout_counts_silences_any_other_repeat_wrong_keys() -> None:
    flow = flow_of(COUNTERS)
    call = last(flow, Silence(), Keys("9"), Silence())
    assert (call.status, call.timeouts, call.retries) == ("input", 2, 1)
    # the third silence would exceed `timeout 2`
    assert last(flow, Silence(), Keys("9"), Silence(), Silence()).outcome == Outcome("voicemail", "out")
    # the second wrong key would exceed `invalid 1`, silences notwithstanding
    assert last(flow, Keys("9"), Silence(), Silence(), Keys("8")).outcome == Outcome("voicemail", "out")
    # `press 3 -> repeat` is "any other repeat": the invalid counter
    assert (last(flow, Keys("3")).retries, last(flow, Keys("3"), Keys("9")).outcome) == (
        1, Outcome("voicemail", "out"))


def test_replay_leaves_the_counters_and_goto_sets_them_to_zero() -> None:
    flow = flow_of(COUNTERS)
    replayed = last(flow, Silence(), Keys("9"), Keys("1"))
    assert (replayed.timeouts, replayed.retries) == (1, 1)
    gone = last(flow, Silence(), Keys("9"), Keys("2"))
    assert (gone.timeouts, gone.retries) == (0, 0)
    assert last(flow, Silence(), Keys("9"), Keys("2"), Keys("8"), Silence(), Silence()).status == "input"


def test_one_counter_counts_silences_and_wrong_keys_together() -> None:
    flow = flow_of(COUNTERS.replace("retries timeout 2 invalid 1", "retries 2"))
    assert last(flow, Silence(), Keys("9")).status == "input"
    assert last(flow, Silence(), Keys("9"), Silence()).outcome == Outcome("voicemail", "out")


# --- end keys and collects ------------------------------------------------------------

END_KEYS = """
    prompt hi say "Hi."
    prompt got say "Got {pin}, then {key}."
    menu main {
        play hi
        end-key "#"
        press 1 -> goto pin
        press 123 -> transfer "123"
        on invalid -> voicemail "invalid"
    }
    collect pin {
        play hi
        digits 4-6
        end-key "#"
        retries 3
        on done -> play got, goto after
        on invalid -> repeat
        on timeout -> repeat
    }
    menu after {
        play hi
        press 1 -> goto pin
        press 2 -> hangup
    }
"""


def test_an_end_key_alone_is_an_empty_entry_invalid_in_a_menu() -> None:
    flow = flow_of(END_KEYS)
    steps = run(flow, Keys("#"))
    assert steps[-1][0].outcome == Outcome("voicemail", "invalid")
    assert Visited("main", "invalid", ("hi",), "") in steps[-1][1]
    # the end key ends the entry early: "1#" is 1, not an entry waiting for two more keys
    assert last(flow, Keys("1#")).node == "pin"
    assert last(flow, Keys("123")).outcome == Outcome("transfer", "123")


def test_an_end_key_alone_is_fewer_keys_than_the_minimum_in_a_collect() -> None:
    flow = flow_of(END_KEYS)
    call, effects = run(flow, Keys("1"), Keys("#"))[-1]
    assert (call.node, call.retries, "pin" in call.variables) == ("pin", 1, False)
    assert Visited("pin", "invalid", ("hi",), "") in effects
    assert last(flow, Keys("1"), Keys("123#")).retries == 1  # three keys: fewer than 4


def test_star_is_part_of_a_collected_value_and_the_end_key_is_not() -> None:
    flow = flow_of(END_KEYS)
    call, effects = run(flow, Keys("1"), Keys("12*4#"))[-1]
    assert call.variables["pin"] == "12*4"
    assert spoken(effects) == ["Got 12*4, then 12*4.", "Hi."]


def test_a_collect_ends_at_its_most_keys() -> None:
    flow = flow_of(END_KEYS)
    call = last(flow, Keys("1"), Keys("12345678#"))
    assert (call.node, call.variables["pin"]) == ("after", "123456")


def test_after_invalid_or_timeout_the_variable_keeps_its_value() -> None:
    flow = flow_of(END_KEYS)
    first = (Keys("1"), Keys("1234"))
    assert last(flow, *first).variables["pin"] == "1234"
    assert last(flow, *first, Keys("1"), Keys("99#")).variables["pin"] == "1234"  # invalid
    assert last(flow, *first, Keys("1"), Silence()).variables["pin"] == "1234"  # timeout
    assert last(flow, *first, Keys("1"), Keys("5678")).variables["pin"] == "5678"


# --- transfer … else ---------------------------------------------------------------------

@pytest.mark.parametrize("reason", ["no-answer", "busy", "failed"])
def test_transfer_else_runs_the_fallback_when_the_transfer_does_not_connect(reason: str) -> None:
    flow = flow_of("""
        prompt hi say "Hi."
        menu main {
            play hi
            press 0 -> transfer "200" ring 20s else voicemail "200"
        }
    """)
    call, effects = run(flow, Keys("0"))[-1]
    assert (call.status, call.outcome) == ("ringing", Outcome("transfer", "200"))
    assert Ring("200", 20_000) in effects
    after, effects = step(flow, call, TransferFailed(reason))  # type: ignore[arg-type]
    assert after.outcome == Outcome("voicemail", "200") and End(Outcome("voicemail", "200")) in effects
    assert Visited("main", "press 0 else", (), reason) in effects
    assert after.elapsed_ms - call.elapsed_ms == (20_000 if reason == "no-answer" else 0)


# --- conditions ---------------------------------------------------------------------------

def route_taken(condition: str, variables: dict[str, str], line: Line | None = None) -> bool:
    """Whether `when CONDITION` holds for a call with `variables` (set in order by `set`)."""
    sets = "".join(f'set {name} = "{value}", ' for name, value in variables.items())
    flow = flow_of(f"""
        route entry {{
            otherwise -> {sets}goto decide
        }}
        route decide {{
            when {condition} -> transfer "1"
            otherwise -> transfer "2"
        }}
    """)
    outcome = last(flow, line=line).outcome
    assert outcome is not None
    return outcome.target == "1"


@pytest.mark.parametrize(("value", "holds"), [
    ("-12.50", True), ("-0.5", True), ("0", False), ("42.10", False), ("+3", False),
    ("", False), ("12 dollars", False), ("abc", False),
    # not numbers as DESIGN §2b and docs/language.md define them (digits, an optional sign and decimal point)
    ("-1e3", False), ("-inf", False), ("-Infinity", False), (" -5", False), ("-1_000", False), ("nan", False),
    ("-٣", False),
])
def test_a_comparison_with_a_value_that_is_not_a_number_is_false(value: str, holds: bool) -> None:
    assert route_taken("balance < 0", {"balance": value}) is holds
    # not a number: every comparison is false, the reversed one too
    if not holds and value not in ("0", "42.10", "+3"):
        assert route_taken("balance >= 0", {"balance": value}) is False


def test_a_comparison_with_a_variable_that_is_not_set_is_false() -> None:
    assert route_taken("balance < 0", {}) is False
    assert route_taken("balance >= 0", {}) is False


def test_numbers_compare_as_numbers_not_as_text() -> None:
    assert route_taken("balance > 9", {"balance": "10"}) is True
    assert route_taken("balance <= 100.5", {"balance": "100.50"}) is True
    assert route_taken("balance < 1", {"balance": "0.99999999999999999999"}) is True


def test_is_set_and_text_comparisons() -> None:
    assert route_taken("status is set", {"status": ""}) is True  # set, to empty text
    assert route_taken("status is set", {}) is False
    assert route_taken('status == "ok"', {"status": "ok"}) is True
    assert route_taken('status != "ok"', {"status": "ok"}) is False
    # a variable that is not set is not equal to any text, the empty text included
    assert route_taken('status != "vip"', {}) is True
    assert route_taken('status != ""', {}) is True
    assert route_taken('status == ""', {}) is False
    assert route_taken('status == ""', {"status": ""}) is True


@pytest.mark.parametrize(("condition", "holds"), [
    # `not` binds tightest, `or` loosest
    ("a is set or b is set and c is set", True),  # a or (b and c)
    ("(a is set or b is set) and c is set", False),
    ("not c is set and a is set", True),  # (not c) and a
    ("not (c is set and a is set)", True),
    ("not a is set or c is set", False),
    ("b is set and not c is set or c is set", True),
])
def test_not_and_or_precedence(condition: str, holds: bool) -> None:
    assert route_taken(condition, {"a": "1", "b": "1"}) is holds  # a and b set, c not


# --- variables in texts -----------------------------------------------------------------

def test_digits_separates_the_characters_and_a_variable_not_set_inserts_nothing() -> None:
    flow = flow_of("""
        prompt read say "You entered {account:digits}. Balance {balance}. Again {account}."
        prompt hi say "Hi."
        route entry {
            otherwise -> set account = "12*4", play read, goto main
        }
        menu main {
            play hi
            play read
            press 1 -> hangup
        }
    """)
    _, effects = run(flow)[0]
    assert spoken(effects) == ["You entered 1 2 * 4. Balance . Again 12*4.", "Hi.",
                               "You entered 1 2 * 4. Balance . Again 12*4."]


def test_a_plain_prompt_plays_as_it_is_in_any_language() -> None:
    flow = flow_of("""
        flow f {
            language en-US
            languages en-US, es-US
        }
        prompt plain say "You entered {key:digits}."
        prompt own say "Hola." language es-MX
        prompt both {
            en-US say "Hello."
            es-US say "Hola."
        }
        menu main {
            play both
            play plain
            play own
            press 9 -> set language es-US, replay
        }
    """)
    _, effects = run(flow, Keys("9"))[-1]
    assert [(e.prompt, e.language) for e in effects if isinstance(e, Play)] == [
        ("both", "es-US"), ("plain", "en-US"), ("own", "es-MX")]


# --- keys ---------------------------------------------------------------------------------

def test_an_exact_key_beats_a_range_or_pattern() -> None:
    flow = flow_of("""
        prompt hi say "Hi."
        menu main {
            play hi
            press 1005 -> transfer "operator"
            press 1000-1019 -> transfer "{key}"
            press 7000 -> transfer "reception"
            press "7XXX" -> transfer "{key}"
        }
    """)
    assert last(flow, Keys("1005")).outcome == Outcome("transfer", "operator")
    assert last(flow, Keys("1006")).outcome == Outcome("transfer", "1006")
    assert last(flow, Keys("7000")).outcome == Outcome("transfer", "reception")
    assert last(flow, Keys("7001")).outcome == Outcome("transfer", "7001")


# --- lookups ---------------------------------------------------------------------------------

LOOKUP = """
    flow f {
        language en-US
    }
    route entry {
        otherwise -> set account = "42", set other = "x", goto find
    }
    lookup find "https://example.com/find" {
        send account, missing
        receive balance, note?
        timeout 2s
        on done -> transfer "done"
        on error -> transfer "error"
    }
"""


@pytest.mark.parametrize(("answer", "outcome"), [
    ({"balance": "1", "note": "n"}, "done"),
    ({"balance": "1"}, "done"),  # `note?` may be left out
    ({"balance": "1", "extra": 5}, "done"),  # names it does not receive are ignored
    ({"note": "n"}, "error"),  # `balance` may not
    ({"balance": 1}, "error"),  # not text
    ({"balance": "1", "note": None}, "error"),
    ({"balance": ["1"]}, "error"),
    (None, "error"),  # no answer in time, an HTTP error
])
def test_a_lookup_answer_runs_on_done_or_on_error(answer: dict[str, object] | None, outcome: str) -> None:
    flow = flow_of(LOOKUP)
    call = last(flow, LookupResult(answer))
    assert call.outcome == Outcome("transfer", outcome)
    assert ("balance" in call.variables) == (outcome == "done")
    if outcome == "done":
        assert call.variables.get("note") == (answer or {}).get("note")


def test_the_lookup_request_sends_the_sent_names_and_caller_called_language() -> None:
    flow = flow_of(LOOKUP)
    call, effects = run(flow, line=Line(caller="+15551234567", called="18005550100"))[0]
    assert call.status == "lookup"
    assert [e for e in effects if isinstance(e, LookupService)] == [LookupService(
        "find", "https://example.com/find",
        {"flow": "f", "node": "find", "variables": {"account": "42", "caller": "+15551234567",
                                                     "called": "18005550100", "language": "en-US"}},
        2000)]
    # a variable that is not set (`missing`; a withheld caller) is left out
    _, effects = run(flow)[0]
    assert next(e for e in effects if isinstance(e, LookupService)).payload["variables"] == {
        "account": "42", "language": "en-US"}
