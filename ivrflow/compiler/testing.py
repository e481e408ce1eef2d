"""Running a flow's `test` blocks on the machine, and what they left untested."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx

from . import ir
from .graph import CALL, describe
from .machine import AskService, Keys, Line, MachineError, NeedsClock, Play, Silence, TransferFailed
from .simulate import CallRecord, LookupAnswer, UndeclaredAnswer


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a test failed: where, what it wanted, what happened."""

    span: ir.Span
    expected: str
    actual: str


@dataclass
class TestResult:
    __test__ = False  # not a pytest class

    test: ir.Test
    failure: Failure | None = None
    record: CallRecord | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass
class Coverage:
    """What tests ran or missed: handlers (keys, ranges and patterns, menu
    and collect events, lookup outcomes, route branches, the `else` of
    transfers) and each language's variant of the prompts the flow plays.
    An item is (node, event, span); a variant's is (prompt, `variant L`, span)."""

    exercised: set[tuple[str, str]] = field(default_factory=set)
    handlers: list[tuple[str, str, ir.Span]] = field(default_factory=list)

    @property
    def missed(self) -> list[tuple[str, str, ir.Span]]:
        return [h for h in self.handlers if (h[0], h[1]) not in self.exercised]

    @property
    def percent(self) -> float:
        return 100.0 * (len(self.handlers) - len(self.missed)) / len(self.handlers) if self.handlers else 100.0

    def add(self, record: CallRecord) -> None:
        """Count what a test's call ran: its path, and the variants it played."""
        self.exercised.update((v.node, v.event) for v in record.path)
        self.exercised.update((e.prompt, variant_event(e.language)) for e in record.effects
                              if isinstance(e, Play) and e.language is not None)


def variant_event(language: str | None) -> str:
    """How coverage names a prompt's variant in `language`."""
    return f"variant {language}"


def run_tests(flow: ir.Flow, graph: nx.MultiDiGraph,
              selected: Callable[[ir.Test], bool] | None = None) -> tuple[list[TestResult], Coverage]:
    """Run the flow's tests (those `selected`, or all); coverage counts only
    the tests that ran."""
    coverage = Coverage(handlers=_handlers(flow, graph))
    results = []
    for test in flow.tests:
        if selected is not None and not selected(test):
            continue
        began = time.perf_counter()
        result = run_test(flow, test)
        result.seconds = time.perf_counter() - began
        if result.record is not None:
            coverage.add(result.record)
        results.append(result)
    return results, coverage


def _handlers(flow: ir.Flow, graph: nx.MultiDiGraph) -> list[tuple[str, str, ir.Span]]:
    found = []
    seen = set()
    for owner, _, data in graph.edges(data=True):
        if owner == CALL or data.get("answer") is not None:
            continue  # an `ask`'s answers are the routing service's choice, not a handler
        # a transfer's `else` leaves from the transfer's node; the call's path names it by the handler's owner
        node, event = data.get("cover") or (owner, data["event"])
        if (node, event) not in seen:
            seen.add((node, event))
            found.append((node, event, data.get("span") or graph.nodes[owner]["span"]))
    for prompt in _played_prompts(flow):
        for variant in prompt.variants:
            found.append((prompt.name, variant_event(variant.language), variant.span))
    found.sort(key=lambda h: (h[2].file != flow.file, h[2].file, h[2].line, h[2].column, h[1]))
    return found


def _played_prompts(flow: ir.Flow) -> list[ir.Prompt]:
    """The prompts with variants that the flow plays somewhere, in the order defined."""
    played = {p.prompt for item in flow.definitions if isinstance(item, (ir.Menu, ir.Collect)) for p in item.plays}
    played.update(name for handler in flow.handlers for name in handler.actions.plays)
    return [item for item in flow.definitions
            if isinstance(item, ir.Prompt) and item.variants and item.name in played
            and flow.names.get(item.name) is item]


def script_of(test: ir.Test) -> tuple[Line, list[ir.Action], list[tuple[str, LookupAnswer]]]:
    """What a test gives its call up front: the line (`at`, `caller`,
    `called`), the routing service's answers and the lookups' answers, in order."""
    at, caller, called = test.get("at"), test.get("caller"), test.get("called")
    line = Line(at.value if at is not None and not at.problem else None,  # type: ignore[arg-type]
                str(caller.value) if caller is not None else None,
                str(called.value) if called is not None else None)
    answers = [s.action for s in test.steps if isinstance(s, ir.TestAnswer)]
    lookups: list[tuple[str, LookupAnswer]] = [
        (s.lookup, None if s.variables is None else dict(s.variables))
        for s in test.steps if isinstance(s, ir.TestLookupAnswer)]
    return line, answers, lookups


def run_test(flow: ir.Flow, test: ir.Test) -> TestResult:
    line, answers, lookups = script_of(test)
    result = TestResult(test)
    heard_from = 0  # `expect play`, `say` and `ask` look at what happened since the last input
    try:
        record = CallRecord.start(flow, line, answers, lookups)
        result.record = record
        for step in test.steps:
            if isinstance(step, (ir.TestPress, ir.TestSilence)):
                if record.call.status != "input":
                    result.failure = _cannot_take(step.span, record, "a menu waiting for keys")
                    return result
                heard_from = len(record.effects)
                record.send(Keys(step.key) if isinstance(step, ir.TestPress) else Silence())
            elif isinstance(step, ir.TestTransferFails):
                if record.call.status != "ringing":
                    result.failure = _cannot_take(step.span, record, "a transfer with `else` ringing")
                    return result
                heard_from = len(record.effects)
                record.send(TransferFailed(step.reason))
            elif isinstance(step, ir.TestExpect):
                problem = _compare(step.action, record, heard_from)
                if problem is not None:
                    result.failure = Failure(step.span, describe(step.action), problem)
                    return result
            elif isinstance(step, ir.TestExpectState):
                problem = _compare_state(step, record, heard_from)
                if problem is not None:
                    result.failure = Failure(step.span, _state_text(step), problem)
                    return result
    except UndeclaredAnswer as error:
        where = next((s.span for s in test.steps if isinstance(s, ir.TestAnswer) and s.action is error.answer),
                     test.name_span)
        result.failure = Failure(where, "an answer the `ask` declares", str(error))
    except NeedsClock as error:
        result.failure = Failure(error.span, f"a time for `when open {error.hours}`",
                                 'the test sets none: add `at "2026-11-23 10:00"`')
    except MachineError as error:
        result.failure = Failure(test.name_span, "a call that runs", str(error))
    return result


def _cannot_take(span: ir.Span, record: CallRecord, expected: str) -> Failure:
    """A step the call cannot take where it is: it ended, or waits for an
    answer the test does not give (then the failure names that `answer`)."""
    lookup = record.waiting_lookup
    if lookup is not None:
        return Failure(span, f"an `answer {lookup} …` before this step",
                       f"the call waits for lookup `{lookup}` and the test has no `answer {lookup}` left for it "
                       f'(write `answer {lookup} NAME="value" …` or `answer {lookup} error` before the step '
                       "that leads there)")
    if record.call.status == "input":
        return Failure(span, expected, f"the call is {_outcome(record)}")
    return Failure(span, expected, f"the call had already ended: {_outcome(record)}")


def _outcome(record: CallRecord) -> str:
    outcome = record.outcome
    if outcome.action == "waiting":
        kind = "collect" if isinstance(record.flow.node(outcome.target or ""), ir.Collect) else "menu"
        return f"waiting in {kind} `{outcome.target}`"
    if outcome.action == "lookup":
        return f"waiting for lookup `{outcome.target}` (the test has no `answer {outcome.target}` left for it)"
    return f"{outcome.action} {outcome.target}" if outcome.target else outcome.action


def _compare(expected: ir.Action, record: CallRecord, since: int) -> str | None:
    """None when the call matches the expectation, else what happened instead."""
    outcome = record.outcome
    recent = record.effects[since:]
    if isinstance(expected, ir.PlayThen):
        heard = [e.prompt for e in recent if isinstance(e, Play)]
        if expected.prompt in heard:
            return None
        return "heard " + (", ".join(heard) if heard else "nothing") + " after the last key or silence"
    if isinstance(expected, ir.Ask):
        asked = [e.url for e in recent if isinstance(e, AskService)]
        return None if expected.url in asked else _outcome(record)
    if isinstance(expected, ir.Goto):
        if outcome.action == "waiting" and outcome.target == expected.target:
            return None
        return _outcome(record)
    wanted = {ir.Transfer: "transfer", ir.Hangup: "hangup", ir.Voicemail: "voicemail"}.get(type(expected))
    # a transfer that rings has ended the call's time in the IVR, unless the test says it fails
    if outcome.action != wanted or record.call.status not in ("ended", "ringing"):
        return _outcome(record)
    if isinstance(expected, ir.Transfer) and outcome.target != expected.destination:
        return _outcome(record)
    if isinstance(expected, ir.Voicemail) and expected.box is not None and outcome.target != expected.box:
        return _outcome(record)
    return None


def _compare_state(expected: ir.TestExpectState, record: CallRecord, since: int) -> str | None:
    """`expect language`, `expect say` and `expect set`: None when the call
    matches, else what it has instead."""
    if expected.kind == "language":
        language = record.call.language
        return None if language == expected.value else f"the call is in {language or 'no language'}"
    if expected.kind == "say":
        said = [e.text for e in record.effects[since:] if isinstance(e, Play) and e.text is not None]
        if expected.value in said:
            return None
        return "said " + (", ".join(f"“{text}”" for text in said) if said else "nothing") + \
            " after the last key or silence"
    name = expected.name or ""
    if " " in name:
        return f"`expect set {name}`: only `==` can be expected"
    value = record.call.variable(name, record.line)
    if value == expected.value:
        return None
    return f"`{name}` is not set" if value is None else f"`{name}` is {_quoted(value)}"


def _state_text(expected: ir.TestExpectState) -> str:
    """An `expect language|say|set` as written (`set account == "12345678"`)."""
    if expected.kind == "language":
        return f"language {expected.value}"
    if expected.kind == "say":
        return f"say {_quoted(expected.value)}"
    return f"set {expected.name} == {_quoted(expected.value)}"


def _quoted(text: str) -> str:
    """A value as a flow writes a string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- choosing tests by name (`ivrflow test -k`) -------------------------------------

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_OPERATORS = ("and", "or", "not")


def name_filter(expression: str) -> Callable[[str], bool]:
    """`-k EXPR` as a predicate on a test's name, like pytest's: words match
    as case-insensitive substrings (neighbouring words as one phrase, so
    `-k "wrong key"` works), combined with `and`, `or`, `not` and parentheses.
    Raises ValueError for an expression that does not parse."""
    tokens = [t for t in _TOKEN.findall(expression) if t]
    if not tokens:
        raise ValueError("-k: an empty expression")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def either() -> Callable[[str], bool]:
        parts = [both()]
        while peek() == "or":
            take()
            parts.append(both())
        return lambda name: any(part(name) for part in parts)

    def both() -> Callable[[str], bool]:
        parts = [negated()]
        while peek() == "and":
            take()
            parts.append(negated())
        return lambda name: all(part(name) for part in parts)

    def negated() -> Callable[[str], bool]:
        if peek() == "not":
            take()
            inner = negated()
            return lambda name: not inner(name)
        return atom()

    def atom() -> Callable[[str], bool]:
        token = peek()
        if token is None:
            raise ValueError(f"-k `{expression}`: the expression ends too early")
        if token == "(":
            take()
            inner = either()
            if peek() != ")":
                raise ValueError(f"-k `{expression}`: a `(` is not closed")
            take()
            return inner
        if token == ")" or token in _OPERATORS:
            raise ValueError(f"-k `{expression}`: expected a word, found `{token}`")
        words = [take()]
        while (following := peek()) is not None and following not in (*_OPERATORS, "(", ")"):
            words.append(take())
        phrase = " ".join(words).lower()
        return lambda name: phrase in name.lower()

    matcher = either()
    if position != len(tokens):
        raise ValueError(f"-k `{expression}`: unexpected `{tokens[position]}`")
    return matcher
