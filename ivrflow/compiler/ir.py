"""The typed IR: what a flow file says, as frozen values with source spans.

The parser (parse.py) is the only producer. Everything downstream (graph,
checks, machine, render, targets) reads these values and never changes them.
Values that could not be understood (`5sec`, `25:00`) are kept with a
`problem` so that the checks can report them with their position.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Union

#: What the machine assumes when a menu does not say (DESIGN §2).
DEFAULT_TIMEOUT_MS = 5000
DEFAULT_INTER_DIGIT_MS = 2000
DEFAULT_RETRIES = 3
DEFAULT_RING_MS = 30_000
DEFAULT_LOOKUP_TIMEOUT_MS = 3000
#: A collect without `digits` takes 1 to this many keys.
DEFAULT_COLLECT_MAX_DIGITS = 20
#: Variables every call has (DESIGN §2b); `set` cannot write them.
BUILTIN_VARIABLES = ("caller", "called", "key", "language")


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
    """`transfer "DEST" [ring D] [else ACTION]`: the destination may hold
    `{variables}`; `fallback` runs when nobody answers within `ring`, or the
    line is busy or fails (second edition)."""

    destination: str
    span: Span
    problem: str | None = None
    ring: Setting | None = None
    fallback: Terminal | None = None

    @property
    def ring_ms(self) -> int:
        return _int_setting(self.ring, DEFAULT_RING_MS)


@dataclass(frozen=True, slots=True)
class Hangup:
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    span: Span


@dataclass(frozen=True, slots=True)
class Replay:
    """Enter the node again without counting a retry."""

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


@dataclass(frozen=True, slots=True)
class SetVariable:
    """`set NAME = "value"`: the value may hold `{variables}`."""

    name: str
    value: str
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """`set language L`: prompts play in L from here on."""

    language: str
    span: Span
    language_span: Span


Action = Union[Goto, Transfer, Hangup, Repeat, Replay, Voicemail, Ask, PlayThen, SetVariable, SetLanguage]
Terminal = Union[Goto, Transfer, Hangup, Repeat, Replay, Voicemail, Ask]
TERMINALS = (Goto, Transfer, Hangup, Repeat, Replay, Voicemail, Ask)
#: Actions that run and let the list go on (`play`, `set`).
NON_TERMINALS = (PlayThen, SetVariable, SetLanguage)


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
    if isinstance(action, SetVariable):
        return "set", f"{action.name} = {action.value}"
    if isinstance(action, SetLanguage):
        return "set", f"language {action.language}"
    return action_word(action), None


def written(action: Action) -> str:
    """An action as a flow file writes it: `goto pin`, `transfer "100"`."""
    word = action_word(action)
    if isinstance(action, Ask):
        return f'{word} "{action.url}"'
    if isinstance(action, PlayThen):
        return f"{word} {action.prompt}"
    if isinstance(action, SetVariable):
        return f'set {action.name} = "{action.value}"'
    if isinstance(action, SetLanguage):
        return f"set language {action.language}"
    if isinstance(action, Transfer) and (action.ring is not None or action.fallback is not None):
        text = f'{word} "{action.destination}"'
        if action.ring is not None:
            text += f" ring {action.ring.text}"
        if action.fallback is not None:
            text += f" else {written(action.fallback)}"
        return text
    target = answer_key(action)[1]
    if target is None:
        return word
    return f"{word} {target}" if isinstance(action, Goto) else f'{word} "{target}"'


def with_answers(items: tuple[Action, ...]) -> Iterator[Action]:
    """The actions of a list and, after each `ask`, the answers it declares
    (after a `transfer … else`, its fallback)."""
    for action in items:
        yield action
        if isinstance(action, Ask):
            yield from action.answers
        elif isinstance(action, Transfer) and action.fallback is not None:
            yield from with_answers((action.fallback,))


def action_word(action: Action) -> str:
    """The keyword a user writes for this action: `goto`, `transfer`, …"""
    return _ACTION_WORDS[type(action)]


_ACTION_WORDS: dict[type, str] = {
    Goto: "goto", Transfer: "transfer", Hangup: "hangup", Repeat: "repeat", Replay: "replay",
    Voicemail: "voicemail", Ask: "ask", PlayThen: "play", SetVariable: "set", SetLanguage: "set",
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
    def steps(self) -> tuple[PlayThen | SetVariable | SetLanguage, ...]:
        """The `play` and `set` actions before the terminal one, in order."""
        found = []
        for action in self.items:
            if not isinstance(action, NON_TERMINALS):
                break
            found.append(action)
        return tuple(found)

    @property
    def terminal(self) -> Terminal | None:
        """The first terminal action; what runs after it is an error (IVR107)."""
        for action in self.items:
            if not isinstance(action, NON_TERMINALS):
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
class Include:
    """`include "path.ivr"`: the path as written, relative to the including file."""

    path: str
    span: Span
    path_span: Span


@dataclass(frozen=True, slots=True)
class Variant:
    """One language's form of a prompt: `es-US say "Hola."`."""

    language: str
    kind: Literal["file", "say"]
    value: str
    span: Span
    value_span: Span


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt. The section 2 form has one `kind`/`value` that plays in any
    language; the second edition's block form has a variant per language
    (`kind`, `value` and `language` are then the first variant's)."""

    name: str
    kind: Literal["file", "say"]
    value: str
    language: str | None
    span: Span
    name_span: Span
    value_span: Span
    variants: tuple[Variant, ...] = ()

    def variant(self, language: str | None) -> Variant | Prompt:
        """What plays in `language`: its variant, else the first (or the prompt itself)."""
        for variant in self.variants:
            if variant.language == language:
                return variant
        return self.variants[0] if self.variants else self

    @property
    def forms(self) -> tuple[Variant | Prompt, ...]:
        """Every form the prompt can play in: each variant, or the prompt itself."""
        return self.variants or (self,)


@dataclass(frozen=True, slots=True)
class Play:
    """`play NAME [fully] [first|again]` in a menu or collect: `fully` prompts
    cannot be interrupted; `first` plays only when the node is entered,
    `again` only when it runs again (after `repeat` or `replay`)."""

    prompt: str
    fully: bool
    span: Span
    name_span: Span
    when: Literal["always", "first", "again"] = "always"


@dataclass(frozen=True, slots=True)
class Press:
    """`press KEY`, `press A-B` (a range of numbers of one length) or
    `press "PATTERN"` (X any digit, N 2-9, Z 1-9)."""

    key: str
    actions: Actions
    span: Span
    key_span: Span
    problem: str | None = None

    @property
    def kind(self) -> Literal["key", "range", "pattern"]:
        return key_kind(self.key)

    @property
    def length(self) -> int:
        """How many keys an entry it takes has."""
        return key_length(self.key)

    def matches(self, entry: str) -> bool:
        return key_matches(self.key, entry)


_PATTERN_DIGITS = {"X": "0123456789", "N": "23456789", "Z": "123456789"}


@functools.lru_cache(maxsize=4096)  # a flow's few keys, asked for on every key a caller presses
def key_kind(key: str) -> Literal["key", "range", "pattern"]:
    if "-" in key:
        return "range"
    if any(ch in _PATTERN_DIGITS for ch in key):
        return "pattern"
    return "key"


@functools.lru_cache(maxsize=4096)
def key_length(key: str) -> int:
    """How many keys an entry that `key` takes has."""
    return len(key.partition("-")[0]) if key_kind(key) == "range" else len(key)


def key_matches(key: str, entry: str) -> bool:
    """Whether a complete entry chooses `key` (an exact key, a range or a pattern)."""
    kind = key_kind(key)
    if kind == "key":
        return key == entry
    if kind == "range":
        low, _, high = key.partition("-")
        # digits of equal length compare as numbers (and int() refuses more than 4,300 digits)
        return len(entry) == len(low) and entry.isascii() and entry.isdigit() and low <= entry <= high
    return len(entry) == len(key) and all(
        ch in _PATTERN_DIGITS.get(want, want) for want, ch in zip(key, entry, strict=True))


MenuEvent = Literal["timeout", "invalid", "exhausted", "done", "error"]


@dataclass(frozen=True, slots=True)
class OnEvent:
    event: MenuEvent
    actions: Actions
    span: Span


class _Settled:
    """What menus, collects and lookups share: settings and `on` handlers."""

    __slots__ = ()
    settings: tuple[Setting, ...]
    events: tuple[OnEvent, ...]

    def get(self, name: str) -> Setting | None:
        return _last(self.settings, name)

    def on(self, event: MenuEvent) -> OnEvent | None:
        """The handler written for `event`, or None when the default applies."""
        for handler in reversed(self.events):
            if handler.event == event:
                return handler
        return None


class _Waits(_Settled):
    """What menus and collects share: prompts, counters, timeouts."""

    __slots__ = ()

    @property
    def timeout_ms(self) -> int:
        return _int_setting(self.get("timeout"), DEFAULT_TIMEOUT_MS)

    @property
    def inter_digit_ms(self) -> int:
        return _int_setting(self.get("inter-digit"), DEFAULT_INTER_DIGIT_MS)

    @property
    def retries(self) -> int:
        """The (invalid-key) retry limit: `retries N`, or M of `retries timeout N invalid M`."""
        return self.retry_limits[1]

    @property
    def retry_limits(self) -> tuple[int, int]:
        """(silences, wrong entries) a node may repeat for; one shared counter when
        `separate_retries` is False (`retries N`: both are N)."""
        setting = self.get("retries")
        if setting is not None and isinstance(setting.value, tuple):
            return setting.value
        limit = _int_setting(setting, DEFAULT_RETRIES)
        return limit, limit

    @property
    def separate_retries(self) -> bool:
        setting = self.get("retries")
        return setting is not None and isinstance(setting.value, tuple)

    @property
    def end_key(self) -> str | None:
        setting = self.get("end-key")
        return setting.value if setting is not None and isinstance(setting.value, str) else None


@dataclass(frozen=True, slots=True)
class Menu(_Waits):
    name: str
    label: str | None
    plays: tuple[Play, ...]
    settings: tuple[Setting, ...]
    presses: tuple[Press, ...]
    events: tuple[OnEvent, ...]
    span: Span
    name_span: Span
    end_line: int  # the line of its closing `}`

    @property
    def digits(self) -> int:
        """Keys that complete an entry: as set, else the longest key (at least 1)."""
        setting = self.get("digits")
        if setting is not None and isinstance(setting.value, int):
            return setting.value
        return max((p.length for p in self.presses), default=1)

    @property
    def dial_extensions(self) -> bool:
        return self.get("dial-extensions") is not None

    def press_for(self, entry: str) -> Press | None:
        """The handler an entry chooses: an exact key first, then a range or pattern."""
        for press in self.presses:
            if press.key == entry:
                return press
        for press in self.presses:
            if press.kind != "key" and press.matches(entry):
                return press
        return None


@dataclass(frozen=True, slots=True)
class Collect(_Waits):
    """`collect NAME { … }`: keys into the variable NAME (second edition).
    It has a menu's statements; the checks refuse those it cannot use."""

    name: str
    label: str | None
    plays: tuple[Play, ...]
    settings: tuple[Setting, ...]
    presses: tuple[Press, ...]  # always refused (IVR check); kept to report them
    events: tuple[OnEvent, ...]
    span: Span
    name_span: Span
    end_line: int

    @property
    def digits_range(self) -> tuple[int, int]:
        """(fewest, most) keys of a valid entry: `digits N` is (N, N)."""
        setting = self.get("digits")
        if setting is not None and isinstance(setting.value, tuple):
            return setting.value
        if setting is not None and isinstance(setting.value, int):
            return setting.value, setting.value
        return 1, DEFAULT_COLLECT_MAX_DIGITS


@dataclass(frozen=True, slots=True)
class Received:
    """A name in `receive`: `balance`, or `balance?` when the answer may leave it out."""

    name: str
    optional: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Lookup(_Settled):
    """`lookup NAME "URL" { send …; receive …; timeout D; on done/error -> … }`."""

    name: str
    url: str
    send: tuple[tuple[str, Span], ...]
    receive: tuple[Received, ...]
    settings: tuple[Setting, ...]  # `timeout`
    events: tuple[OnEvent, ...]
    span: Span
    name_span: Span
    url_span: Span
    end_line: int
    problem: str | None = None  # the URL's

    @property
    def label(self) -> str | None:
        return None

    @property
    def timeout_ms(self) -> int:
        return _int_setting(self.get("timeout"), DEFAULT_LOOKUP_TIMEOUT_MS)

    @property
    def sent(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.send)


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


@dataclass(frozen=True, slots=True)
class CalledIs:
    """`called "MASK"`: the number the caller dialled (a caller mask's syntax)."""

    mask: str
    span: Span
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Compare:
    """`NAME == "text"`, `NAME != "text"`, `NAME < 0` (also <=, >, >=), `NAME matches "MASK"`."""

    name: str
    operator: Literal["==", "!=", "<", "<=", ">", ">=", "matches"]
    value: str
    span: Span
    name_span: Span
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class IsSet:
    name: str
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Not:
    inner: Condition
    span: Span


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Condition, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]
    span: Span


Condition = Union[IsOpen, CallerIs, CalledIs, Compare, IsSet, Not, AllOf, AnyOf]


def condition_text(condition: Condition, nested: bool = False) -> str:
    """A condition as written (`status == "blocked"`, `open office`)."""
    if isinstance(condition, IsOpen):
        return f"open {condition.hours}"
    if isinstance(condition, CallerIs):
        return f"caller {condition.mask}"
    if isinstance(condition, CalledIs):
        return f"called {condition.mask}"
    if isinstance(condition, Compare):
        value = condition.value if condition.operator in ("<", "<=", ">", ">=") else f'"{condition.value}"'
        return f"{condition.name} {condition.operator} {value}"
    if isinstance(condition, IsSet):
        return f"{condition.name} is set"
    if isinstance(condition, Not):
        return f"not {condition_text(condition.inner, True)}"
    word = " and " if isinstance(condition, AllOf) else " or "
    text = word.join(condition_text(item, True) for item in condition.items)
    return f"({text})" if nested else text


def walk_condition(condition: Condition) -> Iterator[Condition]:
    """The condition and every condition inside it."""
    yield condition
    if isinstance(condition, Not):
        yield from walk_condition(condition.inner)
    elif isinstance(condition, (AllOf, AnyOf)):
        for item in condition.items:
            yield from walk_condition(item)


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


@dataclass(frozen=True, slots=True)
class TestLookupAnswer:
    """`answer LOOKUP var="v" …` or `answer LOOKUP error`: what a lookup gets."""

    lookup: str
    variables: tuple[tuple[str, str], ...] | None  # None: the lookup fails
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class TestTransferFails:
    """`transfer-fails no-answer|busy|failed`: the transfer the call is in does not connect."""

    reason: Literal["no-answer", "busy", "failed"]
    span: Span


@dataclass(frozen=True, slots=True)
class TestExpectState:
    """`expect language L`, `expect say "text"`, `expect set NAME == "v"`."""

    kind: Literal["language", "say", "set"]
    value: str
    span: Span
    name: str | None = None  # the variable of `expect set`


TestStep = Union[TestPress, TestSilence, TestExpect, TestAnswer, TestLookupAnswer, TestTransferFails,
                 TestExpectState]


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


Node = Union[Menu, Route, Collect, Lookup]
NODE_TYPES = (Menu, Route, Collect, Lookup)
Definition = Union[Prompt, Menu, Hours, Route, Collect, Lookup]
DEFINITION_TYPES = (Prompt, Menu, Hours, Route, Collect, Lookup)


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
    collects: tuple[Collect, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    includes: tuple[Include, ...] = ()  # as written in this file
    #: Definitions that came from included files (also in `definitions`, after this file's own).
    included: tuple[Definition, ...] = ()

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
        return found if isinstance(found, NODE_TYPES) else None

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

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages a call may be in: `languages`, else `language` alone."""
        setting = self.header.get("languages") if self.header else None
        if setting is not None and isinstance(setting.value, tuple):
            return setting.value
        return (self.language,) if self.language else ()


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


def collect_handlers(header: Header | None, nodes: tuple[Node, ...]) -> tuple[Handler, ...]:
    """Every handler written in a file, in source order within each owner
    (the parser stores them on the Flow, so that each check need not walk)."""
    found: list[Handler] = []
    if header is not None and header.max_duration_actions is not None:
        found.append(Handler(None, "max-duration", header.max_duration_actions, header.max_duration_actions.span))
    for node in nodes:
        if isinstance(node, Route):
            found += [Handler(node, branch_event(branch), branch.actions, branch.span) for branch in node.branches]
            continue
        if isinstance(node, (Menu, Collect)):
            found += [Handler(node, f"press {press.key}", press.actions, press.span) for press in node.presses]
        found += [Handler(node, on.event, on.actions, on.span) for on in node.events]
    return tuple(found)


def branch_event(branch: When | Otherwise) -> str:
    if isinstance(branch, Otherwise):
        return "otherwise"
    return f"when {condition_text(branch.condition)}"
