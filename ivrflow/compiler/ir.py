"""The typed IR: what a flow file says, as frozen values with source spans.

The parser (parse.py) is the only producer. Everything downstream (graph,
checks, machine, render, targets) reads these values and never changes them.
Values that could not be understood (`5sec`, `25:00`) are kept with a
`problem` so that the checks can report them with their position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Union

#: What the machine assumes when a menu does not say (DESIGN §2).
DEFAULT_TIMEOUT_MS = 5000
DEFAULT_INTER_DIGIT_MS = 2000
DEFAULT_RETRIES = 3


class Span(NamedTuple):
    """A region of a source file: 1-based line and column, end column exclusive.

    A named tuple rather than a frozen dataclass: it is the IR's most common
    value (one per token kept), and tuples are built several times faster."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as written (`timeout 5s`): its parsed value, or a problem."""

    name: str
    value: object
    text: str
    span: Span
    problem: str | None = None
    value_span: Span | None = None  # just the value, where IVR004 points


# --- actions -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Goto:
    target: str
    span: Span
    target_span: Span


@dataclass(frozen=True, slots=True)
class Transfer:
    destination: str
    span: Span
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Hangup:
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    span: Span


@dataclass(frozen=True, slots=True)
class Voicemail:
    box: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Ask:
    """`ask "URL" [-> ANSWER | ANSWER …]`: a routing service decides. The
    declared answers (goto, transfer, hangup, repeat, voicemail) are all it
    may say; none declared means any terminal action."""

    url: str
    span: Span
    problem: str | None = None
    answers: tuple[Goto | Transfer | Hangup | Repeat | Voicemail, ...] = ()

    def allows(self, answer: Action) -> bool:
        """Whether the service may give `answer` (always, when none are declared)."""
        if not self.answers:
            return True
        key = answer_key(answer)
        return any(answer_key(declared) == key for declared in self.answers)


@dataclass(frozen=True, slots=True)
class PlayThen:
    """`play NAME` inside an action list: heard before the terminal action."""

    prompt: str
    span: Span
    name_span: Span


Action = Union[Goto, Transfer, Hangup, Repeat, Voicemail, Ask, PlayThen]
Terminal = Union[Goto, Transfer, Hangup, Repeat, Voicemail, Ask]
TERMINALS = (Goto, Transfer, Hangup, Repeat, Voicemail, Ask)


def answer_key(action: Action) -> tuple[str, str | None]:
    """What makes two answers the same: the keyword and its target
    (`goto pin` ≠ `goto main`; `voicemail` ≠ `voicemail "sales"`)."""
    if isinstance(action, Goto):
        return "goto", action.target
    if isinstance(action, Transfer):
        return "transfer", action.destination
    if isinstance(action, Voicemail):
        return "voicemail", action.box
    if isinstance(action, (Ask, PlayThen)):
        return action_word(action), action.url if isinstance(action, Ask) else action.prompt
    return action_word(action), None


def written(action: Action) -> str:
    """An action as a flow file writes it: `goto pin`, `transfer "100"`."""
    word = action_word(action)
    if isinstance(action, Ask):
        return f'{word} "{action.url}"'
    if isinstance(action, PlayThen):
        return f"{word} {action.prompt}"
    target = answer_key(action)[1]
    if target is None:
        return word
    return f"{word} {target}" if isinstance(action, Goto) else f'{word} "{target}"'


def with_answers(items: tuple[Action, ...]) -> Iterator[Action]:
    """The actions of a list and, after each `ask`, the answers it declares."""
    for action in items:
        yield action
        if isinstance(action, Ask):
            yield from action.answers


def action_word(action: Action) -> str:
    """The keyword a user writes for this action: `goto`, `transfer`, …"""
    return _ACTION_WORDS[type(action)]


_ACTION_WORDS: dict[type, str] = {
    Goto: "goto", Transfer: "transfer", Hangup: "hangup", Repeat: "repeat",
    Voicemail: "voicemail", Ask: "ask", PlayThen: "play",
}


@dataclass(frozen=True, slots=True)
class Actions:
    """A handler's comma list: prompts to play, then (normally) one terminal action."""

    items: tuple[Action, ...]
    span: Span

    @property
    def plays(self) -> tuple[str, ...]:
        return tuple(a.prompt for a in self.items if isinstance(a, PlayThen))

    @property
    def terminal(self) -> Terminal | None:
        """The first terminal action; what runs after it is an error (IVR107)."""
        for action in self.items:
            if not isinstance(action, PlayThen):
                return action
        return None


# --- top-level items -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Header:
    """The `flow NAME ["label"] { … }` block."""

    name: str
    label: str | None
    settings: tuple[Setting, ...]
    max_duration: Setting | None
    max_duration_actions: Actions | None
    span: Span
    name_span: Span

    def get(self, name: str) -> Setting | None:
        return _last(self.settings, name)


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    kind: Literal["file", "say"]
    value: str
    language: str | None
    span: Span
    name_span: Span
    value_span: Span


@dataclass(frozen=True, slots=True)
class Play:
    """`play NAME [fully]` in a menu: `fully` prompts cannot be interrupted."""

    prompt: str
    fully: bool
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Press:
    key: str
    actions: Actions
    span: Span
    key_span: Span
    problem: str | None = None


MenuEvent = Literal["timeout", "invalid", "exhausted"]


@dataclass(frozen=True, slots=True)
class OnEvent:
    event: MenuEvent
    actions: Actions
    span: Span


@dataclass(frozen=True, slots=True)
class Menu:
    name: str
    label: str | None
    plays: tuple[Play, ...]
    settings: tuple[Setting, ...]
    presses: tuple[Press, ...]
    events: tuple[OnEvent, ...]
    span: Span
    name_span: Span
    end_line: int  # the line of its closing `}`

    def get(self, name: str) -> Setting | None:
        return _last(self.settings, name)

    def on(self, event: MenuEvent) -> OnEvent | None:
        """The handler written for `event`, or None when the default applies."""
        for handler in reversed(self.events):
            if handler.event == event:
                return handler
        return None

    @property
    def digits(self) -> int:
        """Keys that complete an entry: as set, else the longest key (at least 1)."""
        setting = self.get("digits")
        if setting is not None and isinstance(setting.value, int):
            return setting.value
        return max((len(p.key) for p in self.presses), default=1)

    @property
    def timeout_ms(self) -> int:
        return _int_setting(self.get("timeout"), DEFAULT_TIMEOUT_MS)

    @property
    def inter_digit_ms(self) -> int:
        return _int_setting(self.get("inter-digit"), DEFAULT_INTER_DIGIT_MS)

    @property
    def retries(self) -> int:
        return _int_setting(self.get("retries"), DEFAULT_RETRIES)

    @property
    def dial_extensions(self) -> bool:
        return self.get("dial-extensions") is not None


@dataclass(frozen=True, slots=True)
class DayRange:
    """`mon-fri 09:00-18:00, …`: weekdays 0=Monday … 6=Sunday, times in minutes."""

    days: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]
    span: Span
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Hours:
    name: str
    settings: tuple[Setting, ...]  # `timezone`, `closed`
    open: tuple[DayRange, ...]
    span: Span
    name_span: Span

    @property
    def timezone(self) -> Setting | None:
        return _last(self.settings, "timezone")

    @property
    def closed(self) -> tuple[Setting, ...]:
        return tuple(s for s in self.settings if s.name == "closed")

    @property
    def timezone_name(self) -> str:
        """The IANA zone the hours are in; UTC when not given (IVR121 warns)."""
        if self.timezone is not None and isinstance(self.timezone.value, str):
            return self.timezone.value
        return "UTC"

    @property
    def closed_dates(self) -> frozenset[dt.date]:
        return frozenset(s.value for s in self.closed if isinstance(s.value, dt.date))


@dataclass(frozen=True, slots=True)
class IsOpen:
    hours: str
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class CallerIs:
    mask: str
    span: Span
    problem: str | None = None


Condition = Union[IsOpen, CallerIs]


@dataclass(frozen=True, slots=True)
class When:
    condition: Condition
    actions: Actions
    span: Span


@dataclass(frozen=True, slots=True)
class Otherwise:
    actions: Actions
    span: Span


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    label: str | None
    branches: tuple[When | Otherwise, ...]
    span: Span
    name_span: Span
    end_line: int  # the line of its closing `}`

    @property
    def otherwise(self) -> Otherwise | None:
        for branch in self.branches:
            if isinstance(branch, Otherwise):
                return branch
        return None


# --- tests -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TestPress:
    key: str
    span: Span
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class TestSilence:
    span: Span


@dataclass(frozen=True, slots=True)
class TestExpect:
    action: Action
    span: Span


@dataclass(frozen=True, slots=True)
class TestAnswer:
    """`answer ACTION`: what the routing service says when the flow asks it."""

    action: Action
    span: Span


TestStep = Union[TestPress, TestSilence, TestExpect, TestAnswer]


@dataclass(frozen=True, slots=True)
class Test:
    __test__ = False  # not a pytest class

    name: str
    settings: tuple[Setting, ...]  # `at`, `caller`
    steps: tuple[TestStep, ...]
    span: Span
    name_span: Span

    def get(self, name: str) -> Setting | None:
        return _last(self.settings, name)


Node = Union[Menu, Route]
Definition = Union[Prompt, Menu, Hours, Route]


@dataclass(frozen=True, slots=True)
class Flow:
    """Everything one `.ivr` file says, in source order within each kind."""

    file: str
    header: Header | None
    headers: tuple[Header, ...]  # all `flow` blocks; more than one is IVR003
    prompts: tuple[Prompt, ...]
    menus: tuple[Menu, ...]
    hours: tuple[Hours, ...]
    routes: tuple[Route, ...]
    tests: tuple[Test, ...]
    definitions: tuple[Definition, ...]  # source order, duplicates included
    names: Mapping[str, Definition] = field(default_factory=dict)  # first definition wins
    handlers: tuple[Handler, ...] = ()  # every handler: see collect_handlers

    @property
    def name(self) -> str:
        if self.header is not None:
            return self.header.name
        stem = self.file.rsplit("/", 1)[-1]
        return stem[:-4] if stem.endswith(".ivr") else stem

    @property
    def start(self) -> str | None:
        """Where a call begins: `start`, else the first menu or route."""
        if self.header is not None:
            setting = self.header.get("start")
            if setting is not None:
                return str(setting.value)
        for item in self.definitions:
            if isinstance(item, (Menu, Route)):
                return item.name
        return None

    def node(self, name: str) -> Node | None:
        found = self.names.get(name)
        return found if isinstance(found, (Menu, Route)) else None

    def prompt(self, name: str) -> Prompt | None:
        found = self.names.get(name)
        return found if isinstance(found, Prompt) else None

    def hours_named(self, name: str) -> Hours | None:
        found = self.names.get(name)
        return found if isinstance(found, Hours) else None

    @property
    def language(self) -> str | None:
        setting = self.header.get("language") if self.header else None
        return str(setting.value) if setting is not None else None


def _last(settings: tuple[Setting, ...], name: str) -> Setting | None:
    for setting in reversed(settings):
        if setting.name == name:
            return setting
    return None


def _int_setting(setting: Setting | None, default: int) -> int:
    if setting is not None and isinstance(setting.value, int):
        return setting.value
    return default


@dataclass(frozen=True, slots=True)
class Handler:
    """Something that runs actions: a key, a menu event, a route branch, the time limit.

    `owner` is the menu or route it belongs to (None for `max-duration`);
    `event` is how the call path names it: `press 1`, `timeout`, `when open office`.
    """

    owner: Node | None
    event: str
    actions: Actions
    span: Span


def collect_handlers(header: Header | None, menus: tuple[Menu, ...], routes: tuple[Route, ...]) -> tuple[Handler, ...]:
    """Every handler written in a file, in source order within each owner
    (the parser stores them on the Flow, so that each check need not walk)."""
    found: list[Handler] = []
    if header is not None and header.max_duration_actions is not None:
        found.append(Handler(None, "max-duration", header.max_duration_actions, header.max_duration_actions.span))
    for menu in menus:
        found += [Handler(menu, f"press {press.key}", press.actions, press.span) for press in menu.presses]
        found += [Handler(menu, on.event, on.actions, on.span) for on in menu.events]
    for route in routes:
        found += [Handler(route, branch_event(branch), branch.actions, branch.span) for branch in route.branches]
    return tuple(found)


def branch_event(branch: When | Otherwise) -> str:
    if isinstance(branch, Otherwise):
        return "otherwise"
    condition = branch.condition
    if isinstance(condition, IsOpen):
        return f"when open {condition.hours}"
    return f"when caller {condition.mask}"
