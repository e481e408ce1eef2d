"""Properties of the second edition's machine (issue 12), over random calls.

Each property drives `machine.step` directly with random events chosen from
where the call is (keys of the node it waits in, silence, a lookup's answer,
a transfer that fails), on the examples and on a flow that uses every
addition of DESIGN §2b:

- `include`: a flow whose definitions all live in included files behaves
  exactly as the flow written in one file;
- variables never leak from one call into another;
- the call's state survives its JSON (what the runtime's session store keeps);
- a range or pattern key behaves exactly as its keys written out one by one.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ivrflow.compiler import check_source, ir
from ivrflow.compiler.machine import (
    TRANSFER_REASONS,
    Answer,
    Call,
    Effect,
    Event,
    Keys,
    Line,
    LookupResult,
    MachineError,
    Silence,
    Start,
    TransferFailed,
    Visited,
    asks_at,
    step,
)
from ivrflow.compiler.parse import parse_action
from ivrflow.loader import load

from .conftest import EXAMPLE_FLOWS, EXAMPLES

#: A flow that uses every addition of §2b at least once (and some of them in
#: ways the examples do not: two retry counters in a collect, a fallback of a
#: fallback, `again` prompts, `{name:digits}` in a `set`, optional received names).
KITCHEN = '''\
flow kitchen "Every addition of the second edition" {
    language en-US
    languages en-US, fr-FR
    start entry
    answer-delay 500ms
    max-duration 2m -> transfer "900" else hangup
}

hours office {
    timezone "America/New_York"
    mon-fri 09:00-17:00
}

prompt hello {
    en-US say "Hello {caller:digits}, you dialled {called}."
    fr-FR say "Bonjour {caller:digits}."
}
prompt once_more say "Once more. You pressed {key}, last {last}."
prompt sorry {
    en-US say "Sorry."
    fr-FR say "Pardon."
}
prompt ask_pin say "Enter your PIN."
prompt pin_is say "Your PIN is {pin:digits}; tier {tier}."

route entry {
    when caller "1212*******" or (called "800;801" and not language == "fr-FR") -> set tier = "gold", goto main
    when not open office -> voicemail "closed"
    otherwise -> goto main
}

menu main {
    play hello first
    play once_more again
    play sorry fully
    end-key "#"
    timeout 4s
    inter-digit 1s
    retries timeout 1 invalid 2
    press 1 -> goto pin
    press 2 -> set language fr-FR, replay
    press 3 -> set last = "{key}-{tier}", repeat
    press 0 -> transfer "200" ring 10s else transfer "201" ring 5s else goto main
    press 100-149 -> transfer "{key}"
    press "5NZ" -> set picked = "{key}", goto check
    press 150 -> hangup
    on timeout -> play sorry, repeat
    on invalid -> repeat
    on exhausted -> voicemail "main"
}

collect pin {
    play ask_pin first
    play sorry again
    digits 4-6
    end-key "#"
    timeout 5s
    retries timeout 2 invalid 1
    on done -> play pin_is, goto verify
    on invalid -> repeat
    on exhausted -> goto main
}

lookup verify "https://example.com/verify" {
    send pin, tier
    receive tier, balance?, status
    timeout 2s
    on done -> goto check
    on error -> play sorry, goto main
}

route check {
    when status == "blocked" or balance < -100 -> transfer "250"
    when balance >= 1000 and not tier != "gold" -> transfer "{pin}"
    when picked is set and status is set -> set note = "{picked:digits}", transfer "5{picked}"
    when picked matches "51*" -> transfer "510"
    otherwise -> set status = "", goto main
}
'''

#: At most this many events after `Start` in one random call.
MOST_EVENTS = 30

RANDOM_CALLS = settings(max_examples=30, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow])


# --- the flows ------------------------------------------------------------------

def _loaded(path: Path) -> ir.Flow:
    result = load(str(path), check_files=False)
    # Parsed and included; checks on the second edition are not asked for here (their own tests hold them).
    assert result.flow is not None, result.diagnostics
    assert not [d for d in result.diagnostics if d.code in ("IVR001", "IVR007", "IVR008")], result.diagnostics
    return result.flow


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kitchen") / "kitchen.ivr"
    path.write_text(KITCHEN, encoding="utf-8")
    return path


def flow_paths(kitchen: Path) -> dict[str, Path]:
    return {**{p.stem: p for p in EXAMPLE_FLOWS}, "kitchen": kitchen}


FLOW_NAMES = [p.stem for p in EXAMPLE_FLOWS] + ["kitchen"]

_TOP_LEVEL = re.compile(r"(?:prompt|menu|route|hours|collect|lookup|include|test)\b")


def split_into_includes(path: Path, folder: Path, parts: int) -> Path:
    """Write `path` to `folder` as a file with only its `flow` block and
    includes of `parts` files that hold everything else, in order (the files
    beside `path` are copied too, for the includes and prompt files they hold)."""
    for other in path.parent.iterdir():
        if other.is_file():
            shutil.copy(other, folder / other.name)
    text = path.read_text(encoding="utf-8")
    parsed = check_source(text, str(path))
    assert parsed.flow is not None and parsed.flow.header is not None
    lines = text.splitlines(keepends=True)
    first = parsed.flow.header.span.line - 1
    last = next(i for i in range(first, len(lines)) if lines[i].startswith("}"))  # the block's closing brace
    header = "".join(lines[first:last + 1])
    rest = lines[:first] + lines[last + 1:]
    starts = [i for i, line in enumerate(rest) if _TOP_LEVEL.match(line)]
    cuts = [0, *(starts[len(starts) * k // parts] for k in range(1, parts)), len(rest)]
    includes = []
    for k in range(parts):
        name = f"{path.stem}_part{k}.ivr"
        (folder / name).write_text("".join(rest[cuts[k]:cuts[k + 1]]), encoding="utf-8")
        includes.append(f'include "{name}"\n')
    main = folder / f"{path.stem}_main.ivr"
    main.write_text(header + "\n" + "".join(includes), encoding="utf-8")
    return main


class Named(dict[str, Any]):
    """Flows by name, with a short repr: Hypothesis prints a failing test's
    arguments, and a flow's repr is long (it would warn, and warnings are errors)."""

    def __repr__(self) -> str:
        return f"<{', '.join(self)}>"


@dataclass(frozen=True)
class Split:
    """A flow as written, and the same definitions moved to included files."""

    whole: ir.Flow
    one_file: ir.Flow
    two_files: ir.Flow


@pytest.fixture(scope="module")
def splits(kitchen: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Split]:
    found = Named()
    for name, path in flow_paths(kitchen).items():
        one = split_into_includes(path, tmp_path_factory.mktemp(f"{name}_one"), 1)
        two = split_into_includes(path, tmp_path_factory.mktemp(f"{name}_two"), 2)
        found[name] = Split(_loaded(path), _loaded(one), _loaded(two))
        # the split really moved the definitions out of the main file
        assert _loaded(one).included and not check_source(one.read_text(), str(one)).flow.definitions  # type: ignore[union-attr]
    return found


@pytest.fixture(scope="module")
def flows(splits: dict[str, Split]) -> dict[str, ir.Flow]:
    return Named((name, split.whole) for name, split in splits.items())


# --- random calls ---------------------------------------------------------------

_PATTERN_DIGITS = {"X": "0123456789", "N": "23456789", "Z": "123456789"}
_SAMPLE_VALUES = ("42.10", "-12.50", "-250", "1000", "0", "blocked", "vip", "ok", "gold", "", "12 dollars", "1e3")


def entries(node: ir.Menu | ir.Collect) -> st.SearchStrategy[str]:
    """Entries a caller might key at `node`: its keys (a number in each range,
    an entry that fits each pattern), anything, with and without the end key."""
    end = node.end_key or ""
    if isinstance(node, ir.Collect):
        fewest, most = node.digits_range
        valid = st.text(alphabet="0123456789*", min_size=fewest, max_size=most)
        typed = st.one_of(valid, valid, st.text(alphabet="0123456789*", max_size=most + 2))
        return st.tuples(typed, st.sampled_from([end, ""])).map("".join).filter(bool)
    choices: list[st.SearchStrategy[str]] = []
    for press in node.presses:
        if press.kind == "key":
            choices.append(st.just(press.key))
        elif press.kind == "range":
            low, _, high = press.key.partition("-")
            width = len(low)
            choices.append(st.integers(int(low), int(high)).map(lambda n, width=width: str(n).zfill(width)))
        else:
            choices.append(st.tuples(*(st.sampled_from(_PATTERN_DIGITS.get(ch, ch)) for ch in press.key))
                           .map("".join))
    choices.append(st.text(alphabet="0123456789*#", min_size=1, max_size=node.digits + 1))
    keyed = st.one_of(st.one_of(choices), st.one_of(choices), st.one_of(choices[-1:]))  # mostly the node's keys
    if not end:
        return keyed
    return st.one_of(keyed, st.tuples(keyed, st.just(end)).map("".join), st.just(end))


def lookup_answers(lookup: ir.Lookup) -> st.SearchStrategy[LookupResult]:
    names = [received.name for received in lookup.receive]
    value = st.sampled_from(_SAMPLE_VALUES)
    good = st.fixed_dictionaries({name: value for name in names})
    odd = st.dictionaries(st.sampled_from([*names, "extra"]), st.one_of(value, st.integers(), st.none()))
    return st.one_of(good, odd, st.none()).map(LookupResult)


_DEFAULT_ANSWERS = (parse_action("hangup"), parse_action('transfer "100"'))


def next_event(draw: Any, flow: ir.Flow, call: Call) -> Event | None:
    """A random event that may happen to `call` now (None: the call is over,
    or the transfer it is in connects)."""
    if call.status == "new":
        return Start()
    node = flow.node(call.node or "")
    if call.status == "input":
        assert isinstance(node, (ir.Menu, ir.Collect))
        keyed = entries(node).map(Keys)
        return draw(st.one_of(st.just(Silence()), keyed, keyed, keyed))
    if call.status == "lookup":
        assert isinstance(node, ir.Lookup)
        return draw(lookup_answers(node))
    if call.status == "ringing":
        return draw(st.one_of(st.none(), st.sampled_from(TRANSFER_REASONS).map(TransferFailed)))
    if call.status == "answer":
        url = call.outcome.target if call.outcome else None
        declared = [answer for ask in asks_at(flow, call.node, url) for answer in ask.answers]
        return draw(st.sampled_from(declared or _DEFAULT_ANSWERS).map(Answer))
    return None


def lines() -> st.SearchStrategy[Line]:
    numbers = st.one_of(st.none(), st.sampled_from(["12125550100", "+12125550100", "800", "801", "18005550199",
                                                    "18005550142", "18005550100"]),
                        st.from_regex(r"\+?[0-9]{3,11}", fullmatch=True))
    # mostly while the examples' hours are open (a weekday morning in New York, Moscow and London)
    now = st.one_of(st.sampled_from([dt.datetime(2026, 11, 23, 10, 0), dt.datetime(2026, 11, 24, 12, 30)]),
                    st.datetimes(dt.datetime(2026, 11, 20), dt.datetime(2027, 1, 3)))
    return st.builds(Line, now=now, caller=numbers, called=numbers)


Result = tuple[Call, tuple[Effect, ...]] | tuple[str, str]


def stepped(flow: ir.Flow, call: Call, event: Event, line: Line) -> Result:
    """What one step gives, with a MachineError as (its class, its message)."""
    try:
        return step(flow, call, event, line)
    except MachineError as error:
        return type(error).__name__, str(error)


@dataclass
class Trace:
    events: list[Event]
    results: list[Result]

    @property
    def calls(self) -> list[Call]:
        return [result[0] for result in self.results if isinstance(result[0], Call)]


def random_call(draw: Any, flow: ir.Flow, line: Line) -> Trace:
    trace = Trace([], [])
    call = Call()
    while len(trace.events) <= MOST_EVENTS:
        event = next_event(draw, flow, call)
        if event is None:
            break
        result = stepped(flow, call, event, line)
        trace.events.append(event)
        trace.results.append(copy.deepcopy(result))  # as it was: later steps cannot change the record
        if not isinstance(result[0], Call):
            break
        call = result[0]
    return trace


def replayed(flow: ir.Flow, events: list[Event], line: Line) -> Trace:
    trace = Trace([], [])
    call = Call()
    for event in events:
        result = stepped(flow, call, event, line)
        trace.events.append(event)
        trace.results.append(copy.deepcopy(result))  # as it was: later steps cannot change the record
        if not isinstance(result[0], Call):
            break
        call = result[0]
    return trace


# --- a. include ------------------------------------------------------------------

@pytest.mark.parametrize("name", FLOW_NAMES)
@RANDOM_CALLS
@given(data=st.data())
def test_definitions_in_included_files_behave_as_written_in_one(
        splits: dict[str, Split], name: str, data: st.DataObject) -> None:
    split = splits[name]
    line = data.draw(lines(), label="line")
    whole = random_call(data.draw, split.whole, line)
    for other in (split.one_file, split.two_files):
        # paths, plays (with their text and language), outcomes, variables, language, counters: all equal
        assert replayed(other, whole.events, line).results == whole.results


def test_the_split_flows_really_include_their_definitions(splits: dict[str, Split]) -> None:
    bank = splits["bank"]
    assert {d.name for d in bank.one_file.included} == {d.name for d in bank.whole.definitions}
    assert bank.two_files.included and len(bank.two_files.includes) == 2


# --- b. variables never leak ---------------------------------------------------

def test_calls_that_set_variables_leave_none_for_the_next() -> None:
    flow = _loaded(EXAMPLES / "bank.ivr")
    line = Line(dt.datetime(2026, 11, 23, 10, 0), called="18005550100")
    first = replayed(flow, [Start(), Keys("9"), Keys("1"), Keys("12345678#"),
                            LookupResult({"balance": "42.10", "status": "ok"})], line)
    assert dict(first.calls[-1].variables) == {"key": "12345678", "account": "12345678", "balance": "42.10",
                                               "status": "ok", "greeted": "yes"}
    assert first.calls[-1].language == "es-US"
    second, _ = step(flow, Call(), Start(), line)
    assert dict(second.variables) == {} and second.language == "en-US"


@pytest.mark.parametrize("name", FLOW_NAMES)
# A leak is hidden state: Hypothesis could not replay a failing example to
# shrink it (it would report a flaky test, after a long search), so this one
# reports the example as found.
@settings(RANDOM_CALLS, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
def test_variables_never_leak_from_one_call_into_the_next(
        flows: dict[str, ir.Flow], name: str, data: st.DataObject) -> None:
    flow = flows[name]
    line_b = data.draw(lines(), label="line of call B")
    alone = random_call(data.draw, flow, line_b)
    # call A, first to its end, then B from a new Call()
    line_a = data.draw(lines(), label="line of call A")
    first = random_call(data.draw, flow, line_a)
    assert replayed(flow, alone.events, line_b).results == alone.results
    # the same, with A and B taking turns step by step (as concurrent calls on one runtime do)
    call_a, call_b = Call(), Call()
    for event_a, event_b, result_b in itertools.zip_longest(first.events, alone.events, alone.results):
        if event_a is not None and isinstance(call_a, Call):
            result_a = stepped(flow, call_a, event_a, line_a)
            call_a = result_a[0] if isinstance(result_a[0], Call) else None  # type: ignore[assignment]
        if event_b is not None:
            assert isinstance(call_b, Call)
            result = stepped(flow, call_b, event_b, line_b)
            assert result == result_b
            call_b = result[0]  # type: ignore[assignment]


# --- c. the state round-trips through JSON --------------------------------------

def through_json(call: Call) -> Call:
    return Call.from_dict(json.loads(json.dumps(call.to_dict())))


@pytest.mark.parametrize("name", FLOW_NAMES)
@RANDOM_CALLS
@given(data=st.data())
def test_every_state_survives_its_json(flows: dict[str, ir.Flow], name: str, data: st.DataObject) -> None:
    flow = flows[name]
    line = data.draw(lines(), label="line")
    call = Call()
    for _ in range(MOST_EVENTS):
        stored = through_json(call)
        assert stored == call
        event = next_event(data.draw, flow, call)
        if event is None:
            break
        result = stepped(flow, call, event, line)
        assert stepped(flow, stored, event, line) == result
        if not isinstance(result[0], Call):
            break
        call = result[0]


# --- d. ranges and patterns are their keys written out ---------------------------

ENTRY_KEYS = "0123456789*#"


def written_out(key: str) -> list[str]:
    """The entries a range or pattern stands for, by DESIGN §2b's words (not
    by the machine's code): every number from A to B at their length; X any
    digit, N 2-9, Z 1-9, any other character itself."""
    low, dash, high = key.partition("-")
    if dash:
        return [str(n).zfill(len(low)) for n in range(int(low), int(high) + 1)]
    places = [_PATTERN_DIGITS.get(ch, ch) for ch in key]
    return ["".join(keys) for keys in itertools.product(*places)]


def menu_flow(keys: list[str]) -> ir.Flow:
    presses = "\n".join(f'    press {key if "-" in key else json.dumps(key)} -> '
                         'set picked = "{key}", play you_pressed, transfer "{key}"' for key in keys)
    source = dedent("""\
        prompt hi say "Hi."
        prompt you_pressed say "You pressed {key:digits}."
        prompt sorry say "Sorry."
        menu main {
            play hi
            timeout 5s
            retries 1
        %s
            on invalid -> play sorry, repeat
            on timeout -> repeat
            on exhausted -> voicemail "main"
        }
        """) % presses
    result = check_source(source, "keys.ivr")
    assert result.flow is not None, result.diagnostics
    return result.flow


def chosen(flow: ir.Flow, entry: str) -> tuple[Call, tuple[Effect, ...]]:
    """The call after `entry` in the menu, with the handler's own name left
    out of its path (`press 7XN` and `press 723` are the same step here)."""
    call, _ = step(flow, Call(), Start())
    after, effects = step(flow, call, Keys(entry))
    return after, tuple(Visited(e.node, "press" if e.event.startswith("press ") else e.event, e.played, e.keys)
                        if isinstance(e, Visited) else e for e in effects)


def assert_same_for_every_entry(key: str) -> None:
    listed = written_out(key)
    assert listed  # a key that stands for no entry is not a test
    pattern, enumerated = menu_flow([key]), menu_flow(listed)
    length = len(listed[0])
    matched = 0
    for keys in itertools.product(ENTRY_KEYS, repeat=length):
        entry = "".join(keys)
        one, other = chosen(pattern, entry), chosen(enumerated, entry)
        assert one == other, entry
        matched += one[0].status == "ended" and one[0].outcome is not None and one[0].outcome.target == entry
    assert matched == len(set(listed))


@pytest.mark.parametrize("key", ["7XN", "100-199", "*N#", "Z"])
def test_a_range_or_pattern_behaves_as_its_keys_written_out(key: str) -> None:
    assert_same_for_every_entry(key)


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.one_of(
    st.text(alphabet="XNZ0123456789*#", min_size=1, max_size=3).filter(lambda k: any(c in "XNZ" for c in k)),
    st.integers(1, 3).flatmap(lambda width: st.tuples(st.integers(0, 10 ** width - 1), st.integers(0, 10 ** width - 1))
                              .map(lambda ab, width=width: f"{min(ab):0{width}d}-{max(ab):0{width}d}"))))
def test_any_range_or_pattern_behaves_as_its_keys_written_out(key: str) -> None:
    assert_same_for_every_entry(key)
