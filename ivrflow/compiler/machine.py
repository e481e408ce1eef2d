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
from dataclasses import dataclass
from typing import Literal, Union

from . import ir
from .conditions import caller_matches, is_open

#: More moves than this without waiting for the caller is a loop (IVR122
#: reports it statically; this is the machine's own guard).
MAX_MOVES = 1000


# --- events: what happens to the call ---------------------------------------

@dataclass(frozen=True, slots=True)
class Start:
    """The call arrives."""


@dataclass(frozen=True, slots=True)
class Keys:
    """A complete entry: the keys the caller pressed before pausing."""

    keys: str


@dataclass(frozen=True, slots=True)
class Silence:
    """The caller pressed nothing for the whole `timeout`."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The routing service's answer to an `ask`: a terminal action."""

    action: ir.Action


Event = Union[Start, Keys, Silence, Answer]


# --- effects: what the platform must do ---------------------------------------

@dataclass(frozen=True, slots=True)
class Play:
    prompt: str
    fully: bool  # the caller cannot interrupt it


@dataclass(frozen=True, slots=True)
class Collect:
    """Wait for the caller's keys in `menu` (its digits and timeouts apply)."""

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
    """How the call left the IVR (or `waiting`, when the caller has not finished)."""

    action: Literal["transfer", "hangup", "voicemail", "ask", "waiting"]
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


Effect = Union[Play, Collect, Visited, End, AskService]


# --- state ------------------------------------------------------------------

Status = Literal["new", "input", "answer", "ended"]


@dataclass(frozen=True, slots=True)
class Call:
    """Where a call is. Small and plain, so a server can store it per session."""

    status: Status = "new"
    node: str | None = None  # the menu waiting for keys, or the node that asked
    retries: int = 0
    elapsed_ms: int = 0
    heard: tuple[str, ...] = ()  # prompts played since the last path step
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """What the call knows about the world: the clock at its start (naive:
    wall-clock time where the hours are) and the calling number."""

    now: dt.datetime | None = None
    caller: str | None = None


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
    return run.result()


class _Run:
    """One step's work: mutable while it runs, frozen into a Call at the end."""

    def __init__(self, flow: ir.Flow, call: Call, line: Line):
        self.flow = flow
        self.line = line
        self.status: Status = call.status
        self.node = call.node
        self.retries = call.retries
        self.elapsed = call.elapsed_ms
        self.heard = list(call.heard)
        self.outcome = call.outcome
        self.effects: list[Effect] = []
        self.moves = 0

    def expect(self, status: Status, event: Event) -> None:
        if self.status != status:
            if self.status == "ended":
                raise MachineError(f"the call has already ended ({self.outcome.action if self.outcome else 'ended'})")
            raise MachineError(f"{type(event).__name__} cannot happen while the call is {_STATUS[self.status]}")

    def result(self) -> tuple[Call, tuple[Effect, ...]]:
        call = Call(self.status, self.node, self.retries, self.elapsed, tuple(self.heard), self.outcome)
        return call, tuple(self.effects)

    # --- moving around ---------------------------------------------------

    def enter(self, name: str, *, retries: int = 0) -> None:
        self.moves += 1
        if self.moves > MAX_MOVES:
            raise MachineError(f"the call went round {MAX_MOVES} times without waiting for the caller")
        node = self.flow.node(name)
        if node is None:
            raise MachineError(f"there is no menu or route named `{name}`")
        self.node = name
        if isinstance(node, ir.Route):
            self.route(node)
            return
        self.retries = retries
        for play in node.plays:
            self.play(play.prompt, play.fully)
        self.status = "input"
        self.effects.append(Collect(name))

    def route(self, route: ir.Route) -> None:
        branch = route.branches[branch_index(self.flow, route, self.line, self.elapsed)]
        self.node_handler(route.name, ir.branch_event(branch), branch.actions)

    def play(self, prompt: str, fully: bool = False) -> None:
        self.heard.append(prompt)
        self.effects.append(Play(prompt, fully))

    # --- the caller's input ----------------------------------------------

    def menu(self) -> ir.Menu:
        menu = self.flow.node(self.node or "")
        assert isinstance(menu, ir.Menu)
        return menu

    def keys(self, keys: str) -> None:
        if not keys:
            raise MachineError("an entry needs at least one key")
        menu = self.menu()
        entry = keys[:menu.digits]
        if len(entry) < menu.digits:
            self.elapsed += menu.inter_digit_ms  # the entry ends when no more keys come
        if self.past_limit():
            return
        for press in menu.presses:
            if press.key == entry:
                self.node_handler(menu.name, f"press {entry}", press.actions, keys=entry)
                return
        if menu.dial_extensions and entry.isdigit():
            self.visit(menu.name, "dial", keys=entry)
            self.end(Outcome("transfer", entry))
            return
        self.menu_event(menu, "invalid", keys=entry)

    def silence(self) -> None:
        menu = self.menu()
        self.elapsed += menu.timeout_ms
        if not self.past_limit():
            self.menu_event(menu, "timeout")

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

    def menu_event(self, menu: ir.Menu, event: ir.MenuEvent, keys: str | None = None) -> None:
        handler = menu.on(event)
        if handler is not None:
            self.node_handler(menu.name, event, handler.actions, keys=keys)
        elif event == "exhausted":
            self.visit(menu.name, event)
            self.end(Outcome("hangup"))
        else:  # a missing `on timeout` / `on invalid` repeats the menu
            self.visit(menu.name, event, keys=keys)
            self.repeat(menu)

    # --- running actions ---------------------------------------------------

    def node_handler(self, node: str, event: str, actions: ir.Actions, keys: str | None = None) -> None:
        for prompt in actions.plays:
            self.play(prompt)
        self.visit(node, event, keys=keys)
        terminal = actions.terminal
        if isinstance(terminal, ir.Goto):
            self.enter(terminal.target)
        elif isinstance(terminal, ir.Repeat):
            owner = self.flow.node(node)
            if not isinstance(owner, ir.Menu) or event == "exhausted":
                raise MachineError(f"`repeat` in `{node}` ({event}) cannot repeat a menu")
            self.repeat(owner)
        elif isinstance(terminal, ir.Transfer):
            self.end(Outcome("transfer", terminal.destination))
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

    def repeat(self, menu: ir.Menu) -> None:
        if self.retries + 1 > menu.retries:
            self.menu_event(menu, "exhausted")
        else:
            self.enter(menu.name, retries=self.retries + 1)

    def visit(self, node: str, event: str, keys: str | None = None) -> None:
        self.effects.append(Visited(node, event, tuple(self.heard), keys))
        self.heard.clear()

    def end(self, outcome: Outcome) -> None:
        self.status = "ended"
        self.outcome = outcome
        self.effects.append(End(outcome))


_STATUS = {"new": "not started", "input": "waiting for keys", "answer": "waiting for the routing service",
           "ended": "over"}


def branch_index(flow: ir.Flow, route: ir.Route, line: Line, elapsed_ms: int = 0) -> int:
    """Which branch of `route` a call takes: the first `when` that holds, else
    `otherwise` (the runtime answers Telphin's call_interactive with this)."""
    for index, branch in enumerate(route.branches):
        if isinstance(branch, ir.Otherwise):
            return index
        condition = branch.condition
        if isinstance(condition, ir.CallerIs):
            if caller_matches(condition.mask, line.caller):
                return index
            continue
        hours = flow.hours_named(condition.hours)
        if hours is None:
            raise MachineError(f"there are no hours named `{condition.hours}`")
        if line.now is None:
            raise NeedsClock(condition.hours, condition.span)
        if is_open(hours, line.now + dt.timedelta(milliseconds=elapsed_ms)):
            return index
    raise MachineError(f"route `{route.name}` has no `otherwise` and no `when` matched")


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
    """The outcome so far: `waiting` while the caller is in a menu."""
    if call.status in ("ended", "answer") and call.outcome is not None:
        return call.outcome
    return Outcome("waiting", call.node)


__all__ = [
    "Answer", "AskService", "Call", "Collect", "End", "Event", "Keys", "Line", "MachineError",
    "NeedsClock", "Outcome", "Play", "Silence", "Start", "Visited", "answer_problem", "asks_at", "outcome_of",
    "start_call", "step",
]
