"""The machine: what a flow means, as one pure step function.

    call, effects = step(flow, Call(), Start(), line)
    call, effects = step(flow, call, Keys("1"), line)

`simulate`, `ivrflow test` and the runtime server all drive this function,
so a test that passes offline describes what a live call does (DESIGN §2).
The machine does not know about time passing except through the events it
is given: a `Silence` is a whole `timeout`, a short `Keys` entry costs an
`inter-digit` wait; prompts take no time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Union

from . import ir, values
from .conditions import caller_matches, is_open

#: More moves than this without waiting for the caller is a loop (IVR122
#: reports it statically; this is the machine's own guard).
MAX_MOVES = 1000
#: A node entered again in one step, after this many actions (plays, sets)
#: in that step, is a loop too: a long handler going round would otherwise
#: do MAX_MOVES times its length in work (make fuzz: 45 s for a 30 kB one).
MAX_ACTIONS = 10_000


# --- events: what happens to the call ---------------------------------------

@dataclass(frozen=True, slots=True)
class Start:
    """The call arrives."""


@dataclass(frozen=True, slots=True)
class Keys:
    """A complete entry: the keys the caller pressed before pausing (an end
    key, when the node has one, ends it: `12345678#`)."""

    keys: str


@dataclass(frozen=True, slots=True)
class Silence:
    """The caller pressed nothing for the whole `timeout`."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The routing service's answer to an `ask`: a terminal action."""

    action: ir.Action


@dataclass(frozen=True, slots=True)
class LookupResult:
    """A lookup's answer: the variables it returned, or None when it failed
    (no answer in time, an HTTP error, an answer that is not JSON as agreed)."""

    variables: Mapping[str, object] | None


TransferReason = Literal["no-answer", "busy", "failed"]
TRANSFER_REASONS: tuple[TransferReason, ...] = ("no-answer", "busy", "failed")


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """The transfer the call is in did not connect (its `else` runs)."""

    reason: TransferReason


Event = Union[Start, Keys, Silence, Answer, LookupResult, TransferFailed]


# --- effects: what the platform must do ---------------------------------------

@dataclass(frozen=True, slots=True)
class Play:
    """Play a prompt: its variant in `language`; `text` is a say prompt's
    words with the variables filled in, `file` a recorded prompt's path."""

    prompt: str
    fully: bool  # the caller cannot interrupt it
    language: str | None = None
    text: str | None = None
    file: str | None = None


@dataclass(frozen=True, slots=True)
class Collect:
    """Wait for the caller's keys in `menu`, a menu or a collect (its digits,
    end key and timeouts apply)."""

    menu: str


@dataclass(frozen=True, slots=True)
class Visited:
    """A step of the call's path: at `node`, `event` ran after `played` was heard."""

    node: str
    event: str
    played: tuple[str, ...]
    keys: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the call left the IVR (or `waiting`, when the caller has not finished;
    `lookup`, when it waits for a lookup's answer)."""

    action: Literal["transfer", "hangup", "voicemail", "ask", "waiting", "lookup"]
    target: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"action": self.action, "target": self.target}


@dataclass(frozen=True, slots=True)
class End:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class AskService:
    """Call the routing service at `url`, then send its `Answer`."""

    url: str


@dataclass(frozen=True, slots=True)
class LookupService:
    """POST `payload` to the lookup's `url` within `timeout_ms`, then send a `LookupResult`."""

    lookup: str
    url: str
    payload: Mapping[str, object]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class Ring:
    """Transfer to `destination`; if nobody answers within `ring_ms` (or the
    line is busy or fails), send `TransferFailed`: the flow has a fallback."""

    destination: str
    ring_ms: int


Effect = Union[Play, Collect, Visited, End, AskService, LookupService, Ring]


# --- state ------------------------------------------------------------------

Status = Literal["new", "input", "answer", "lookup", "ringing", "ended"]


@dataclass(frozen=True, slots=True)
class Call:
    """Where a call is. Small and plain, so a server can store it per session
    (`to_dict` / `from_dict` give its JSON)."""

    status: Status = "new"
    node: str | None = None  # the node waiting for keys, or the node that asked, looks up or transfers
    retries: int = 0  # repeats counted (wrong entries, or all with one counter)
    elapsed_ms: int = 0
    heard: tuple[str, ...] = ()  # prompts played since the last path step
    outcome: Outcome | None = None
    timeouts: int = 0  # silences counted, with `retries timeout N invalid M`
    variables: Mapping[str, str] = field(default_factory=dict)
    language: str | None = None
    transfer: str | None = None  # while ringing: the event of the handler whose `else` may run

    def to_dict(self) -> dict[str, Any]:
        """The call as JSON values (by hand: dataclasses.asdict deep-copies, and is slow)."""
        return {"status": self.status, "node": self.node, "retries": self.retries, "elapsed_ms": self.elapsed_ms,
                "heard": list(self.heard), "outcome": self.outcome.to_dict() if self.outcome else None,
                "timeouts": self.timeouts, "variables": dict(self.variables), "language": self.language,
                "transfer": self.transfer}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Call:
        """The inverse of `to_dict`; raises KeyError, TypeError or ValueError on bad data."""
        outcome = data.get("outcome")
        variables = data.get("variables") or {}
        if not isinstance(variables, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
            raise ValueError("variables must map names to strings")
        status = data["status"]
        if status not in _STATUS:
            raise ValueError(f"unknown status {status!r}")
        return cls(status=status, node=data.get("node"), retries=int(data.get("retries", 0)),
                   elapsed_ms=int(data.get("elapsed_ms", 0)), heard=tuple(data.get("heard", ())),
                   outcome=Outcome(**outcome) if outcome else None, timeouts=int(data.get("timeouts", 0)),
                   variables=dict(variables), language=data.get("language"), transfer=data.get("transfer"))

    def variable(self, name: str, line: Line | None = None) -> str | None:
        """A variable's value, built-ins included; None when it is not set."""
        if name == "language":
            return self.language
        if name in ("caller", "called"):
            return getattr(line, name, None) if line is not None else None
        return self.variables.get(name)


@dataclass(frozen=True, slots=True)
class Line:
    """What the call knows about the world: the clock at its start (naive:
    wall-clock time where the hours are), the calling number and the number
    dialled."""

    now: dt.datetime | None = None
    caller: str | None = None
    called: str | None = None


class MachineError(Exception):
    """The flow cannot go on (the checks report every such case first)."""


class NeedsClock(MachineError):
    """A route asks whether hours are open, but the call has no clock."""

    def __init__(self, hours: str, span: ir.Span):
        super().__init__(f"`when open {hours}` needs the time of the call")
        self.hours = hours
        self.span = span


def step(flow: ir.Flow, call: Call, event: Event, line: Line | None = None) -> tuple[Call, tuple[Effect, ...]]:
    """Move `call` on by one event; returns the new call and what to do."""
    run = _Run(flow, call, line or Line())
    if isinstance(event, Start):
        run.expect("new", event)
        header = flow.header
        delay = header.get("answer-delay") if header else None
        run.elapsed = delay.value if delay is not None and isinstance(delay.value, int) else 0
        run.language = flow.language
        start = flow.start
        if start is None:
            raise MachineError("the flow has no menu or route to start at")
        run.enter(start)
    elif isinstance(event, Keys):
        run.expect("input", event)
        run.keys(event.keys)
    elif isinstance(event, Silence):
        run.expect("input", event)
        run.silence()
    elif isinstance(event, Answer):
        run.expect("answer", event)
        assert run.node is not None  # the node that asked
        run.node_handler(run.node, "answer", ir.Actions((event.action,), event.action.span))
    elif isinstance(event, LookupResult):
        run.expect("lookup", event)
        run.looked_up(event.variables)
    elif isinstance(event, TransferFailed):
        run.expect("ringing", event)
        run.transfer_failed(event.reason)
    return run.result()


class _Run:
    """One step's work: mutable while it runs, frozen into a Call at the end."""

    def __init__(self, flow: ir.Flow, call: Call, line: Line):
        self.flow = flow
        self.line = line
        self.status: Status = call.status
        self.node = call.node
        self.retries = call.retries
        self.timeouts = call.timeouts
        self.elapsed = call.elapsed_ms
        self.heard = list(call.heard)
        self.outcome = call.outcome
        self.variables = dict(call.variables)
        self.language = call.language
        self.transfer: str | None = call.transfer
        self.effects: list[Effect] = []
        self.moves = 0
        self.actions = 0  # plays and sets carried out in this step
        self.entered: set[str] = set()
        self.entering: list[tuple[str, bool]] | None = None  # nodes to enter, while one is being entered

    def expect(self, status: Status, event: Event) -> None:
        if self.status != status:
            if self.status == "ended":
                raise MachineError(f"the call has already ended ({self.outcome.action if self.outcome else 'ended'})")
            raise MachineError(f"{type(event).__name__} cannot happen while the call is {_STATUS[self.status]}")

    def result(self) -> tuple[Call, tuple[Effect, ...]]:
        call = Call(self.status, self.node, self.retries, self.elapsed, tuple(self.heard), self.outcome,
                    self.timeouts, self.variables, self.language, self.transfer)
        return call, tuple(self.effects)

    def state(self) -> Call:
        """The call as it is now (for reading variables mid-step)."""
        return Call(variables=self.variables, language=self.language)

    # --- moving around ---------------------------------------------------

    def enter(self, name: str, *, again: bool = False) -> None:
        """Enter a node: by `goto` or at the start (counters from 0), or `again`
        after `repeat` or `replay` (counters as they are). A node entered while
        another is being entered (a route's `goto`) waits for it in a loop, not
        in recursion: a chain of hundreds of routes is no RecursionError (every
        `enter` is the last thing its caller does, so the order is the same)."""
        if self.entering is not None:
            self.entering.append((name, again))
            return
        self.entering = [(name, again)]
        try:
            while self.entering:
                name, again = self.entering.pop()
                self._enter(name, again=again)
        finally:
            self.entering = None

    def _enter(self, name: str, *, again: bool) -> None:
        self.moves += 1
        if self.moves > MAX_MOVES:
            raise MachineError(f"the call went round {MAX_MOVES} times without waiting for the caller")
        if name in self.entered and self.actions > MAX_ACTIONS:
            raise MachineError(f"the call went round `{name}` again after {MAX_ACTIONS:,} actions "
                               "without waiting for the caller")
        self.entered.add(name)
        node = self.flow.node(name)
        if node is None:
            raise MachineError(f"there is no menu or route named `{name}`")
        self.node = name
        if isinstance(node, ir.Route):
            self.route(node)
            return
        if not again:
            self.retries = self.timeouts = 0
        if isinstance(node, ir.Lookup):
            self.lookup(node)
            return
        skip = "first" if again else "again"
        for play in node.plays:
            if play.when != skip:
                self.play(play.prompt, play.fully)
        self.status, self.outcome = "input", None  # an earlier lookup or ringing transfer is over
        self.effects.append(Collect(name))

    def route(self, route: ir.Route) -> None:
        branch = route.branches[branch_index(self.flow, route, self.line, self.elapsed, self.state())]
        self.node_handler(route.name, ir.branch_event(branch), branch.actions)

    def lookup(self, lookup: ir.Lookup) -> None:
        state = self.state()
        sent = {name: value for name in (*lookup.sent, "caller", "called", "language")
                if (value := state.variable(name, self.line)) is not None}
        self.status = "lookup"
        self.outcome = Outcome("lookup", lookup.name)
        self.effects.append(LookupService(lookup.name, lookup.url, {
            "flow": self.flow.name, "node": lookup.name, "variables": sent}, lookup.timeout_ms))

    def play(self, name: str, fully: bool = False) -> None:
        self.heard.append(name)
        prompt = self.flow.prompt(name)
        if prompt is None:
            self.effects.append(Play(name, fully, self.language))
            return
        form = prompt.variant(self.language)
        # a plain prompt plays as it is in any language: in its own, else the flow's
        language = form.language if isinstance(form, ir.Variant) else prompt.language or self.flow.language
        if form.kind == "say":
            text = form.value
            if "{" in text:  # the variables are gathered only for a text that inserts some
                text = values.fill(text, _Variables(self.state(), self.line))
            self.effects.append(Play(name, fully, language, text=text))
        else:
            self.effects.append(Play(name, fully, language, file=form.value))

    # --- the caller's input ----------------------------------------------

    def waiting(self) -> ir.Menu | ir.Collect:
        node = self.flow.node(self.node or "")
        assert isinstance(node, (ir.Menu, ir.Collect))
        return node

    def keys(self, keys: str) -> None:
        if not keys:
            raise MachineError("an entry needs at least one key")
        node = self.waiting()
        most = node.digits if isinstance(node, ir.Menu) else node.digits_range[1]
        end_key = node.end_key
        if end_key is not None and end_key in keys[:most + 1]:
            entry = keys[:keys.index(end_key)]  # the end key ends the entry at once
        else:
            entry = keys[:most]
            if len(entry) < most:
                self.elapsed += node.inter_digit_ms  # the entry ends when no more keys come
        if self.past_limit():
            return
        if isinstance(node, ir.Collect):
            self.collected(node, entry)
            return
        press = node.press_for(entry)
        if press is not None:
            self.variables["key"] = entry
            self.node_handler(node.name, f"press {press.key}", press.actions, keys=entry)
            return
        if node.dial_extensions and entry.isdigit():
            self.visit(node.name, "dial", keys=entry)
            self.end(Outcome("transfer", entry))
            return
        self.node_event(node, "invalid", keys=entry)

    def collected(self, collect: ir.Collect, entry: str) -> None:
        fewest, _ = collect.digits_range
        if len(entry) < fewest:
            self.node_event(collect, "invalid", keys=entry)
            return
        self.variables[collect.name] = entry
        self.variables["key"] = entry
        self.node_event(collect, "done", keys=entry)

    def silence(self) -> None:
        node = self.waiting()
        self.elapsed += node.timeout_ms
        if not self.past_limit():
            self.node_event(node, "timeout")

    def looked_up(self, answer: Mapping[str, object] | None) -> None:
        lookup = self.flow.node(self.node or "")
        assert isinstance(lookup, ir.Lookup)
        if answer is not None and lookup_answer_problem(lookup, answer) is None:
            for received in lookup.receive:
                value = answer.get(received.name)
                if isinstance(value, str):
                    self.variables[received.name] = value
            self.node_event(lookup, "done")
            return
        self.node_event(lookup, "error")

    def transfer_failed(self, reason: TransferReason) -> None:
        event = self.transfer or ""
        node = self.node or ""
        terminal = handler_transfer(self.flow, node, event)
        if terminal is None or terminal.fallback is None:
            raise MachineError(f"the transfer of `{event}` in `{node}` has no `else`")
        if reason == "no-answer":
            self.elapsed += terminal.ring_ms
        self.transfer = None
        self.node_handler(node, f"{event} else", ir.Actions((terminal.fallback,), terminal.fallback.span),
                          keys=reason)

    def past_limit(self) -> bool:
        """Run `max-duration` if the call has been in the IVR too long."""
        header = self.flow.header
        if header is None or header.max_duration is None or header.max_duration_actions is None:
            return False
        limit = header.max_duration.value
        if not isinstance(limit, int) or self.elapsed < limit:
            return False
        self.node_handler(self.node or "", "max-duration", header.max_duration_actions)
        return True

    def node_event(self, node: ir.Menu | ir.Collect | ir.Lookup, event: ir.MenuEvent,
                   keys: str | None = None) -> None:
        handler = node.on(event)
        if handler is not None:
            self.node_handler(node.name, event, handler.actions, keys=keys)
        elif event == "exhausted":
            self.visit(node.name, event)
            self.end(Outcome("hangup"))
        elif event in ("timeout", "invalid") and not isinstance(node, ir.Lookup):
            self.visit(node.name, event, keys=keys)  # a missing `on timeout` / `on invalid` repeats
            self.repeat(node, event)
        else:
            raise MachineError(f"`{node.name}` has no `on {event}`")

    # --- running actions ---------------------------------------------------

    def node_handler(self, node: str, event: str, actions: ir.Actions, keys: str | None = None) -> None:
        self.actions += len(actions.steps)
        for action in actions.steps:
            if isinstance(action, ir.PlayThen):
                self.play(action.prompt)
            elif isinstance(action, ir.SetVariable):
                self.variables[action.name] = values.fill(action.value, _Variables(self.state(), self.line))
            else:
                self.language = action.language
        self.visit(node, event, keys=keys)
        terminal = actions.terminal
        if isinstance(terminal, ir.Goto):
            self.enter(terminal.target)
        elif isinstance(terminal, (ir.Repeat, ir.Replay)):
            owner = self.flow.node(node)
            word = ir.action_word(terminal)
            if not isinstance(owner, (ir.Menu, ir.Collect, ir.Lookup)) or event == "exhausted" or (
                    isinstance(owner, ir.Lookup) and isinstance(terminal, ir.Repeat)):
                raise MachineError(f"`{word}` in `{node}` ({event}) cannot {word} a menu")
            if isinstance(terminal, ir.Replay):
                self.enter(owner.name, again=True)
            else:
                assert not isinstance(owner, ir.Lookup)
                self.repeat(owner, event)
        elif isinstance(terminal, ir.Transfer):
            destination = values.fill(terminal.destination, _Variables(self.state(), self.line))
            if terminal.fallback is not None and event != "answer":
                self.node, self.status, self.transfer = node, "ringing", event
                self.outcome = Outcome("transfer", destination)
                self.effects.append(Ring(destination, terminal.ring_ms))
            else:
                self.end(Outcome("transfer", destination))
        elif isinstance(terminal, ir.Hangup):
            self.end(Outcome("hangup"))
        elif isinstance(terminal, ir.Voicemail):
            self.end(Outcome("voicemail", terminal.box))
        elif isinstance(terminal, ir.Ask):
            self.node = node
            self.status = "answer"
            self.outcome = Outcome("ask", terminal.url)
            self.effects.append(AskService(terminal.url))
        else:
            raise MachineError(f"`{event}` in `{node}` ends without a terminal action")

    def repeat(self, node: ir.Menu | ir.Collect, event: str) -> None:
        """Count a retry (a silence on its own counter with `retries timeout N
        invalid M`) and enter the node again, or run `on exhausted`."""
        silences, wrong = node.retry_limits
        if node.separate_retries and event == "timeout":
            if self.timeouts + 1 > silences:
                self.node_event(node, "exhausted")
                return
            self.timeouts += 1
        else:
            if self.retries + 1 > wrong:
                self.node_event(node, "exhausted")
                return
            self.retries += 1
        self.enter(node.name, again=True)

    def visit(self, node: str, event: str, keys: str | None = None) -> None:
        self.effects.append(Visited(node, event, tuple(self.heard), keys))
        self.heard.clear()

    def end(self, outcome: Outcome) -> None:
        self.status = "ended"
        self.outcome = outcome
        self.effects.append(End(outcome))


_STATUS = {"new": "not started", "input": "waiting for keys", "answer": "waiting for the routing service",
           "lookup": "waiting for a lookup", "ringing": "being transferred", "ended": "over"}


class _Variables(dict[str, str]):
    """The variables a text may insert: the call's, and the built-ins."""

    def __init__(self, call: Call, line: Line):
        super().__init__(call.variables)
        for name in ("caller", "called", "language"):
            value = call.variable(name, line)
            if value is not None:
                self[name] = value


def lookup_answer_problem(lookup: ir.Lookup, answer: Mapping[str, object]) -> str | None:
    """Why a lookup's answer runs `on error` (a received name without `?`
    missing, a value that is not text), or None when it is good."""
    for received in lookup.receive:
        if received.name not in answer:
            if not received.optional:
                return f"the answer leaves out `{received.name}`"
        elif not isinstance(answer[received.name], str):
            return f"`{received.name}` is not text in the answer"
    return None


def handler_transfer(flow: ir.Flow, node: str, event: str) -> ir.Transfer | None:
    """The `transfer` a ringing call is in: of the handler `event` of `node`
    (`press 0`, or `press 0 else` for the transfer in its fallback)."""
    base, *fallbacks = event.split(" else")
    actions = None
    if base == "max-duration":
        actions = flow.header.max_duration_actions if flow.header else None
    else:
        actions = next((h.actions for h in flow.handlers
                        if h.owner is not None and h.owner.name == node and h.event == base), None)
    terminal = actions.terminal if actions is not None else None
    for _ in fallbacks:
        terminal = terminal.fallback if isinstance(terminal, ir.Transfer) else None
    return terminal if isinstance(terminal, ir.Transfer) else None


def branch_index(flow: ir.Flow, route: ir.Route, line: Line, elapsed_ms: int = 0, call: Call | None = None) -> int:
    """Which branch of `route` a call takes: the first `when` that holds, else
    `otherwise` (the runtime answers Telphin's call_interactive with this)."""
    for index, branch in enumerate(route.branches):
        if isinstance(branch, ir.Otherwise):
            return index
        if holds(flow, branch.condition, line, elapsed_ms, call or Call()):
            return index
    raise MachineError(f"route `{route.name}` has no `otherwise` and no `when` matched")


def holds(flow: ir.Flow, condition: ir.Condition, line: Line, elapsed_ms: int, call: Call) -> bool:
    """Whether a route's condition is true for the call now."""
    if isinstance(condition, ir.CallerIs):
        return caller_matches(condition.mask, line.caller)
    if isinstance(condition, ir.CalledIs):
        return caller_matches(condition.mask, line.called)
    if isinstance(condition, ir.IsOpen):
        hours = flow.hours_named(condition.hours)
        if hours is None:
            raise MachineError(f"there are no hours named `{condition.hours}`")
        if line.now is None:
            raise NeedsClock(condition.hours, condition.span)
        return is_open(hours, line.now + dt.timedelta(milliseconds=elapsed_ms))
    if isinstance(condition, ir.IsSet):
        return call.variable(condition.name, line) is not None
    if isinstance(condition, ir.Compare):
        return compare(condition, call.variable(condition.name, line))
    if isinstance(condition, ir.Not):
        return not holds(flow, condition.inner, line, elapsed_ms, call)
    if isinstance(condition, ir.AllOf):
        return all(holds(flow, item, line, elapsed_ms, call) for item in condition.items)
    return any(holds(flow, item, line, elapsed_ms, call) for item in condition.items)


#: A number in a comparison: digits with an optional sign and decimal point
#: (not Python's float syntax: "1e3", "inf", " 5" and "1_000" are not numbers).
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def compare(condition: ir.Compare, value: str | None) -> bool:
    """`==`/`!=` compare text (a variable that is not set equals no text, not
    even ""); `matches` takes a caller mask; `<` and friends compare numbers
    exactly, and are false when either side is not one."""
    operator = condition.operator
    if operator == "==":
        return value is not None and value == condition.value
    if operator == "!=":
        return value is None or value != condition.value
    if operator == "matches":
        return caller_matches(condition.value, value)
    if value is None or not _NUMBER.fullmatch(value) or not _NUMBER.fullmatch(condition.value):
        return False
    left, right = Decimal(value), Decimal(condition.value)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]


def asks_at(flow: ir.Flow, node: str | None, url: str | None) -> tuple[ir.Ask, ...]:
    """The `ask`s of `url` that a call waiting at `node` may be answering:
    those of the node's handlers and of `max-duration` (which asks from
    wherever the call is); every `ask` of `url` when the node is not known."""
    known = node is not None and flow.node(node) is not None
    found = []
    for handler in flow.handlers:
        terminal = handler.actions.terminal
        if not isinstance(terminal, ir.Ask) or terminal.url != url:
            continue
        if not known or handler.owner is None or handler.owner.name == node:
            found.append(terminal)
    return tuple(found)


def answer_problem(flow: ir.Flow, node: str | None, url: str | None, answer: ir.Action) -> str | None:
    """Why the routing service may not give `answer` to the `ask` of `url` at
    `node` (the flow declares other answers), or None when it may. Where one
    node asks the same URL twice, an answer either declares is allowed."""
    asks = asks_at(flow, node, url)
    if not asks or any(ask.allows(answer) for ask in asks):
        return None
    declared = dict.fromkeys(ir.written(a) for ask in asks for a in ask.answers)
    return (f"`{ir.written(answer)}` is not an answer `ask \"{url}\"` declares; "
            f"it may answer {' | '.join(declared)}")


def start_call(flow: ir.Flow, line: Line | None = None) -> tuple[Call, tuple[Effect, ...]]:
    return step(flow, Call(), Start(), line)


def outcome_of(call: Call) -> Outcome:
    """The outcome so far: `waiting` while the caller is in a menu; a
    transfer while it rings."""
    if call.status in ("ended", "answer", "lookup", "ringing") and call.outcome is not None:
        return call.outcome
    return Outcome("waiting", call.node)


__all__ = [
    "TRANSFER_REASONS", "Answer", "AskService", "Call", "Collect", "End", "Event", "Keys", "Line", "LookupResult",
    "LookupService", "MachineError", "NeedsClock", "Outcome", "Play", "Ring", "Silence", "Start", "TransferFailed",
    "Visited", "answer_problem", "asks_at", "outcome_of", "start_call", "step",
]
