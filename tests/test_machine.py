"""The machine's semantics, rule by rule (DESIGN §2)."""

from __future__ import annotations

import datetime as dt
from textwrap import dedent

import pytest

from ivrflow.compiler import check_source, ir
from ivrflow.compiler.conditions import caller_matches, is_open
from ivrflow.compiler.machine import Keys, Line, MachineError, NeedsClock, Silence
from ivrflow.compiler.parse import parse_action
from ivrflow.compiler.simulate import run_call


def flow_of(source: str) -> ir.Flow:
    result = check_source(dedent(source), "t.ivr")
    assert result.flow is not None and result.errors == 0, result.diagnostics
    return result.flow


def outcome(flow: ir.Flow, *inputs: str, at: str | None = None, caller: str | None = None,
            answers: tuple[str, ...] = ()) -> tuple[str, str | None]:
    events = [Silence() if i == "silence" else Keys(i) for i in inputs]
    line = Line(dt.datetime.fromisoformat(at) if at else None, caller)
    record, _ = run_call(flow, events, line, [parse_action(a) for a in answers])
    return record.outcome.action, record.outcome.target


MENU = """
prompt hi say "Hi"
menu main {
    play hi
    retries 2
    press 1 -> transfer "100"
    press 2 -> goto other
    on timeout -> repeat
    on invalid -> repeat
    on exhausted -> transfer "0"
}
menu other {
    play hi
    press 9 -> goto main
    on timeout -> repeat
    on invalid -> repeat
}
"""


def test_a_call_starts_at_the_first_menu_and_waits() -> None:
    assert outcome(flow_of(MENU)) == ("waiting", "main")


def test_retries_count_repeats_then_exhausted_runs() -> None:
    flow = flow_of(MENU)
    # retries 2: the menu is heard three times; the third silence is one too many
    assert outcome(flow, "silence", "silence") == ("waiting", "main")
    assert outcome(flow, "silence", "silence", "silence") == ("transfer", "0")
    assert outcome(flow, "7", "silence", "8") == ("transfer", "0")


def test_goto_starts_the_retry_count_again() -> None:
    flow = flow_of(MENU)
    assert outcome(flow, "silence", "silence", "2", "9", "silence", "silence") == ("waiting", "main")


def test_missing_exhausted_hangs_up() -> None:
    flow = flow_of(MENU)
    assert outcome(flow, "2", "silence", "silence", "silence", "silence") == ("hangup", None)


def test_missing_timeout_and_invalid_repeat() -> None:
    flow = flow_of("""
        prompt hi say "Hi"
        menu main {
            play hi
            retries 1
            press 1 -> hangup
        }
        """)
    assert outcome(flow, "silence") == ("waiting", "main")
    assert outcome(flow, "5", "5") == ("hangup", None)


def test_digits_default_to_the_longest_key_and_cut_longer_input() -> None:
    flow = flow_of("""
        prompt hi say "Hi"
        menu main {
            play hi
            press 12 -> transfer "12"
            press 3 -> transfer "3"
            on invalid -> hangup
        }
        """)
    assert outcome(flow, "12") == ("transfer", "12")
    assert outcome(flow, "125") == ("transfer", "12")  # cut at 2 keys
    assert outcome(flow, "3") == ("transfer", "3")  # complete after inter-digit
    assert outcome(flow, "1") == ("hangup", None)


def test_dial_extensions_transfers_unknown_digit_entries() -> None:
    flow = flow_of("""
        prompt hi say "Hi"
        menu main {
            play hi
            digits 3
            dial-extensions
            press 1 -> transfer "+100"
            on invalid -> hangup
        }
        """)
    assert outcome(flow, "1") == ("transfer", "+100")
    assert outcome(flow, "204") == ("transfer", "204")
    assert outcome(flow, "2045") == ("transfer", "204")
    assert outcome(flow, "*") == ("hangup", None)


HOURS = """
hours office {
    timezone "Europe/Moscow"
    mon-fri 09:00-18:00
    sat 10:00-14:00, 15:00-16:00
    closed 2026-12-31
}
route entry {
    when caller "7495*******;100-199" -> transfer "+7000"
    when open office -> transfer "1"
    otherwise -> voicemail "closed"
}
"""


@pytest.mark.parametrize(("at", "expected"), [
    ("2026-11-23 09:00", "open"),       # Monday, opening minute
    ("2026-11-23 17:59", "open"),
    ("2026-11-23 18:00", "closed"),     # the end is exclusive
    ("2026-11-28 14:30", "closed"),     # Saturday's lunch break
    ("2026-11-28 15:00", "open"),
    ("2026-11-29 12:00", "closed"),     # Sunday
    ("2026-12-31 12:00", "closed"),     # a closed date
    ("2026-11-23 06:30+00:00", "open"),  # 09:30 in Moscow
    ("2026-11-23 05:59+00:00", "closed"),
])
def test_open_hours_in_their_time_zone(at: str, expected: str) -> None:
    action, _ = outcome(flow_of(HOURS), at=at)
    assert action == ("transfer" if expected == "open" else "voicemail")


def test_a_route_without_a_clock_says_so() -> None:
    flow = flow_of(HOURS)
    with pytest.raises(NeedsClock):
        outcome(flow)


@pytest.mark.parametrize(("mask", "caller", "matches"), [
    ("7495*******", "+74951234567", True),
    ("7495*******", "74951234567", True),
    ("7495*******", "7495123456", False),
    ("7495*******;7499*******", "+74991234567", True),
    ("100-199", "150", True),
    ("100-199", "1500", False),
    ("100-199", "099", False),
    ("ALL", None, True),
    ("1*", None, False),
    ("+44*", "44", False),
    ("+44*", "441", True),
])
def test_caller_masks(mask: str, caller: str | None, matches: bool) -> None:
    assert caller_matches(mask, caller) is matches


def test_max_duration_ends_a_long_call() -> None:
    flow = flow_of("""
        flow f {
            max-duration 12s -> transfer "900"
        }
        prompt hi say "Hi"
        menu main {
            play hi
            timeout 5s
            retries 9
            press 1 -> hangup
            on timeout -> repeat
            on invalid -> repeat
            on exhausted -> hangup
        }
        """)
    assert outcome(flow, "silence", "silence") == ("waiting", "main")
    assert outcome(flow, "silence", "silence", "silence") == ("transfer", "900")


def test_ask_waits_for_the_service_and_follows_its_answer() -> None:
    flow = flow_of(MENU.replace('press 1 -> transfer "100"', 'press 1 -> ask "https://crm.example/r"'))
    assert outcome(flow, "1") == ("ask", "https://crm.example/r")
    assert outcome(flow, "1", answers=('transfer "55"',)) == ("transfer", "55")
    assert outcome(flow, "1", answers=("goto other",)) == ("waiting", "other")


def test_path_records_what_was_heard_at_each_step() -> None:
    flow = flow_of(MENU.replace("on invalid -> repeat\n    on exhausted",
                                "on invalid -> play hi, repeat\n    on exhausted"))
    record, _ = run_call(flow, [Keys("5"), Keys("1")])
    steps = [(v.node, v.event, v.played, v.keys) for v in record.path]
    assert steps == [("main", "invalid", ("hi", "hi"), "5"), ("main", "press 1", ("hi",), "1")]


def test_keys_after_the_end_are_refused() -> None:
    flow = flow_of(MENU)
    record, unused = run_call(flow, [Keys("1"), Keys("2")])
    assert unused == [Keys("2")]
    with pytest.raises(MachineError):
        record.send(Keys("2"))


def test_is_open_with_a_naive_wall_clock_time() -> None:
    flow = flow_of(HOURS)
    office = flow.hours[0]
    assert is_open(office, dt.datetime(2026, 11, 23, 9, 0))
    assert not is_open(office, dt.datetime(2026, 11, 23, 8, 59))
