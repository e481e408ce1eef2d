"""Variables: every name used must be one the flow sets (IVR009), be set on
every path before it is used (IVR129), and what a lookup receives should be
used (IVR130); a `{…}` that is no variable is said as written (IVR133).

Where a call may be is the graph of nodes joined by handlers; which
variables are surely set when a node is entered is a forward must-analysis
over it (a worklist, one integer of bits per node), so a large flow costs
about one pass per variable that can be missing.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from ..values import TEMPLATE
from .base import RULES, Env, is_library, reports

#: Built-ins a call always has (caller and called as far as the line says).
ALWAYS_SET = ("caller", "called", "language")
#: Set when a key handler runs or a collect's entry is done.
KEY = "key"
#: How many steps of a path a message shows at each end before `…`.
PATH_ENDS = 4


class Use(NamedTuple):
    """A variable read somewhere: `where` says what reads it, for messages."""

    name: str
    span: ir.Span
    where: str
    needs_value: bool = True  # False for `NAME is set`, which asks exactly that


# --- what uses and what sets a variable ------------------------------------------------


def _inner(span: ir.Span, text: str, start: int, end: int) -> ir.Span:
    """The span of text[start:end] inside a string written on one line
    without escapes (its span is then the text and two quotes); else the
    whole string."""
    if span.line == span.end_line and span.end_column - span.column == len(text) + 2:
        return ir.Span(span.file, span.line, span.column + 1 + start, span.line, span.column + 1 + end)
    return span


def _text_uses(text: str, span: ir.Span, where: str, exact: bool) -> Iterator[Use]:
    if "{" not in text:
        return
    for match in TEMPLATE.finditer(text):
        at = _inner(span, text, match.start(), match.end()) if exact else span
        yield Use(match.group(1), at, where)


def prompt_uses(prompt: ir.Prompt) -> Iterator[Use]:
    """The variables a prompt's `say` texts insert, where they are written."""
    for form in prompt.forms:
        if form.kind == "say":
            yield from _text_uses(form.value, form.value_span, f"prompt `{prompt.name}`", exact=True)


def condition_uses(condition: ir.Condition, guarded: frozenset[str] = frozenset()) -> Iterator[Use]:
    """The variables a condition reads; in `a is set and a < 0`, the second
    part reads `a` only when the first made sure it is set."""
    if isinstance(condition, ir.Compare):
        asks = condition.operator in ("==", "!=") and not condition.value  # `a != ""`: whether it is set
        yield Use(condition.name, condition.name_span, f"the condition `{ir.condition_text(condition)}`",
                  needs_value=condition.name not in guarded and not asks)
    elif isinstance(condition, ir.IsSet):
        yield Use(condition.name, condition.name_span, f"`{condition.name} is set`", needs_value=False)
    elif isinstance(condition, ir.Not):
        yield from condition_uses(condition.inner, guarded)
    elif isinstance(condition, ir.AllOf):
        for item in condition.items:
            yield from condition_uses(item, guarded)
            guarded |= surely_set(item)
    elif isinstance(condition, ir.AnyOf):
        for item in condition.items:
            yield from condition_uses(item, guarded)


def surely_set(condition: ir.Condition) -> frozenset[str]:
    """The variables that must be set for the condition to hold: `a is set`,
    `a < 0` (no number otherwise), `a matches "…"`, `a == "x"` (not set is
    empty text), `a != ""`; all of an `and`'s, what every part of an `or`
    makes sure of."""
    if isinstance(condition, ir.IsSet):
        return frozenset({condition.name})
    if isinstance(condition, ir.Compare):
        operator, value = condition.operator, condition.value
        if (operator == "==" and value) or (operator == "!=" and not value) or operator not in ("==", "!="):
            return frozenset({condition.name})
        return frozenset()
    if isinstance(condition, ir.AllOf):
        return frozenset().union(*map(surely_set, condition.items))
    if isinstance(condition, ir.AnyOf) and condition.items:
        return frozenset.intersection(*map(surely_set, condition.items))
    return frozenset()


def action_uses(action: ir.Action) -> Iterator[Use]:
    """What one action reads (not a prompt it plays: see prompt_uses)."""
    if isinstance(action, ir.SetVariable):
        yield from _text_uses(action.value, action.span, f"`set {action.name}`", exact=False)
    elif isinstance(action, ir.Transfer):
        yield from _text_uses(action.destination, action.span, f'`transfer "{action.destination}"`', exact=False)


def entry_uses(flow: ir.Flow, node: ir.Node) -> Iterator[Use]:
    """What entering a node reads: the prompts it plays, what a lookup
    sends, what a route's conditions look at."""
    if isinstance(node, (ir.Menu, ir.Collect)):
        for play in node.plays:
            yield from _played(flow, play.prompt, play.name_span)
    elif isinstance(node, ir.Lookup):
        for name, span in node.send:
            yield Use(name, span, f"lookup `{node.name}`'s `send`")
    elif isinstance(node, ir.Route):
        for branch in node.branches:
            if isinstance(branch, ir.When):
                yield from condition_uses(branch.condition)


def _played(flow: ir.Flow, name: str, span: ir.Span) -> Iterator[Use]:
    """A prompt's variables, read where it is played."""
    prompt = flow.prompt(name)
    if prompt is not None:
        for use in prompt_uses(prompt):
            yield Use(use.name, span, use.where)


class _Handled(NamedTuple):
    """A handler's actions, walked once: up to its terminal action, in the
    order they run, the uses (a Use), the prompts played that read a
    variable (their PlayThen) and the variables set (a name); and where its
    terminal action may lead."""

    steps: tuple[Use | ir.PlayThen | str, ...]
    gotos: tuple[str, ...]


class _Walked(NamedTuple):
    """A flow's variables, walked once for the checks that ask (IVR009,
    IVR129, IVR130, IVR133): see every_use and set_names."""

    uses: tuple[Use, ...]
    names: dict[str, ir.Span]
    entries: dict[int, tuple[Use, ...]]  # what entering a lookup or route reads, by id() of the node
    #: The handlers that read or set a variable, or lead somewhere, in the
    #: order of flow.handlers (a `repeat` or `hangup` alone has nothing for IVR129).
    moving: tuple[tuple[ir.Handler, _Handled], ...]
    sets: tuple[ir.SetVariable, ...]  # every `set` in a handler


def _walk(flow: ir.Flow) -> _Walked:
    uses = [use for prompt in flow.prompts for use in prompt_uses(prompt)]
    entries: dict[int, tuple[Use, ...]] = {}
    nodes: tuple[ir.Lookup | ir.Route, ...] = (*flow.lookups, *flow.routes)
    for node in nodes:
        entries[id(node)] = found = tuple(entry_uses(flow, node))
        uses += found
    names: dict[str, ir.Span] = {}
    for collect in flow.collects:
        names.setdefault(collect.name, collect.name_span)
    for lookup in flow.lookups:
        for received in lookup.receive:
            names.setdefault(received.name, received.span)
    moving: list[tuple[ir.Handler, _Handled]] = []
    sets: list[ir.SetVariable] = []
    reading: dict[str, bool] = {}  # whether playing a prompt reads a variable, by its name
    for handler in flow.handlers:
        items = handler.actions.items
        if len(items) == 1 and isinstance(items[0], ir.Goto):  # the most common handler, quickly
            moving.append((handler, _Handled((), (items[0].target,))))
            continue
        steps: list[Use | ir.PlayThen | str] = []
        terminal: ir.Terminal | None = None
        for action in items:
            if isinstance(action, ir.PlayThen):
                if terminal is None:
                    reads = reading.get(action.prompt)
                    if reads is None:
                        prompt = flow.prompt(action.prompt)
                        reading[action.prompt] = reads = prompt is not None and any(prompt_uses(prompt))
                    if reads:
                        steps.append(action)
            elif isinstance(action, ir.SetVariable):
                names.setdefault(action.name, action.name_span)
                sets.append(action)
                found = tuple(action_uses(action))
                uses += found
                if terminal is None:
                    steps += found
                    steps.append(action.name)
            elif not isinstance(action, ir.SetLanguage):
                if terminal is None:
                    terminal = action
                if isinstance(action, (ir.Transfer, ir.Ask)):
                    for other in ir.with_answers((action,)):  # with its answers, its `else`
                        found = tuple(action_uses(other))
                        uses += found
                        if action is terminal:
                            steps += found
        if isinstance(terminal, ir.Goto):
            gotos: tuple[str, ...] = (terminal.target,)
        else:
            gotos = tuple(_gotos(terminal)) if isinstance(terminal, (ir.Transfer, ir.Ask)) else ()
        if steps or gotos:
            moving.append((handler, _Handled(tuple(steps), gotos)))
    return _Walked(tuple(uses), names, entries, tuple(moving), tuple(sets))


class _LastWalk:
    """The walk of the flow checked last, which the next check of the same
    flow takes instead of walking it again (the flow is kept, so its id()
    and its nodes' stay theirs)."""

    last: tuple[ir.Flow, _Walked] | None = None

    @classmethod
    def of(cls, flow: ir.Flow) -> _Walked:
        last = cls.last
        if last is not None and last[0] is flow:
            return last[1]
        walked = _walk(flow)
        cls.last = (flow, walked)
        return walked


def every_use(flow: ir.Flow) -> tuple[Use, ...]:
    """Every variable a flow reads, each where it is written (a prompt's at
    its text, wherever it is played)."""
    return _LastWalk.of(flow).uses


def set_names(flow: ir.Flow) -> Mapping[str, ir.Span]:
    """Every variable the flow can set, and where first: built-ins, the
    collects, what lookups receive, what `set` writes."""
    return _LastWalk.of(flow).names


# --- IVR009, IVR130, IVR133 ------------------------------------------------------------


@reports("IVR009")
def check_unknown_variables(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A variable nothing in the flow sets, used in a `say` text (`{name}`),
    a `set` value, a transfer destination, a route's condition, a lookup's
    `send` or a test's `expect set`: it is never set, so it inserts nothing,
    and a condition on it never holds (usually a typo; a close name is
    offered). Variables are the collects, what lookups `receive`, what
    `set` writes, and the built-ins `caller`, `called`, `key` and
    `language`. A file only meant to be included (no `flow` block, no
    menus) is not checked: the flows that include it set its variables."""
    if is_library(flow):
        return
    known = set(set_names(flow)) | {*ALWAYS_SET, KEY}
    uses = list(every_use(flow))
    for test in flow.tests:
        for step in test.steps:
            if isinstance(step, ir.TestExpectState) and step.kind == "set" and step.name and " " not in step.name:
                uses.append(Use(step.name, step.span, f'test "{test.name}"'))
    reported: set[tuple[str, ir.Span]] = set()
    for use in uses:
        if use.name in known or (use.name, use.span) in reported:
            continue
        reported.add((use.name, use.span))
        close = difflib.get_close_matches(use.name, sorted(known), n=1)
        hint = (f"did you mean `{close[0]}`?" if close else
                "variables are set by a `collect` (its name), a lookup's `receive` and `set NAME = \"…\"`; "
                "built in: caller, called, key, language")
        yield RULES["IVR009"].at(use.span, f"`{use.name}` in {use.where}: no variable is named `{use.name}`; "
                                           "nothing in the flow sets it", hint=hint)


@reports("IVR130")
def check_unused_received(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A name a lookup `receive`s that nothing uses: the web service is made
    to answer it (a `receive` without `?` that the answer leaves out even
    sends the call to `on error`), for nothing."""
    if not flow.lookups:
        return
    used = {use.name for use in every_use(flow)}
    for lookup in flow.lookups:
        for received in lookup.receive:
            if received.name not in used:
                yield RULES["IVR130"].at(
                    received.span, f"lookup `{lookup.name}` receives `{received.name}`, but nothing uses it",
                    hint=f"use it (`{{{received.name}}}` in a prompt, or a route's condition), or stop receiving it")


#: A `{` that does not start a variable: to the closing brace, or a few characters.
_BRACE = re.compile(r"\{[^{}\s]{0,30}\}?")


@reports("IVR133")
def check_braces(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A `{` in a `say` text or a `set` value that is not a variable
    (`{name}` or `{name:digits}`): `{name:spell}`, `{}` or a brace left
    open. The text is said (or set) as written, braces and all."""
    texts: list[tuple[str, ir.Span, str, bool]] = []
    for prompt in flow.prompts:
        for form in prompt.forms:
            if form.kind == "say":
                texts.append((form.value, form.value_span, f"prompt `{prompt.name}`", True))
    for action in _LastWalk.of(flow).sets:
        texts.append((action.value, action.span, f"`set {action.name}`", False))
    for text, span, where, exact in texts:
        at = text.find("{")
        while at >= 0:
            found = TEMPLATE.match(text, at)
            if found is None:
                written = _BRACE.match(text, at)
                bad = written.group(0) if written else "{"
                place = _inner(span, text, at, at + len(bad)) if exact else span
                yield RULES["IVR133"].at(
                    place, f"`{bad}` in {where} is not a variable: it is said as written",
                    hint="write a variable as `{name}`, or `{name:digits}` to read it digit by digit")
                break
            at = text.find("{", found.end())


# --- IVR129: set on every path before it is used ---------------------------------------


#: Uses a check of IVR129 has to look at, each with its variable's bit:
#: the ones that need a value, of a variable something sets (unknown names
#: are IVR009), and not set yet by what runs before them in their handler.
_Reads = tuple[tuple[Use, int], ...]


class _Move(NamedTuple):
    """A handler as the analysis sees it, its actions walked once: what it
    sets, where it leads, what it reads before it sets it."""

    handler: ir.Handler
    sets: int  # set by the time it leads on (with what is set before its actions run)
    targets: tuple[str, ...]
    reads: _Reads


def _gotos(terminal: ir.Terminal | None) -> Iterator[str]:
    """Where a terminal action may send the call on: its `goto`, the `goto`
    answers an `ask` declares, a transfer's `else`."""
    while terminal is not None:
        if isinstance(terminal, ir.Goto):
            yield terminal.target
        elif isinstance(terminal, ir.Ask):
            yield from (a.target for a in terminal.answers if isinstance(a, ir.Goto))
        terminal = terminal.fallback if isinstance(terminal, ir.Transfer) else None


class _Drop(NamedTuple):
    """Variables that stopped being surely set at a node, and the move that
    brought a call there without them (no `source`: the start or max-duration)."""

    bits: int
    source: str | None
    event: str


@dataclass
class _Flowing:
    """The must-analysis: for each node entered, the variables set on every
    path from the start (bits of `index`), and for each node the moves that
    took bits away, in the order they happened, to name a path by."""

    flow: ir.Flow
    index: dict[str, int]
    moves: dict[str, list[_Move]]  # by the node whose handlers they are
    limit: list[_Move]  # `max-duration`, which may run anywhere
    entered: dict[str, int] = field(default_factory=dict)
    drops: dict[str, list[_Drop]] = field(default_factory=dict)
    #: What playing a prompt reads, by its name: (variable, where, bit or None).
    played: dict[str, tuple[tuple[str, str, int | None], ...]] = field(default_factory=dict)

    def bits(self, *names: str) -> int:
        found = 0
        for name in names:
            bit = self.index.get(name)
            if bit is not None:
                found |= 1 << bit
        return found

    def gives(self, handler: ir.Handler) -> int:
        """What is set before a handler's actions run: `key` for a key, the
        entry of a collect, what a lookup surely receives on `done`, what a
        route's condition made sure of."""
        owner = handler.owner
        if isinstance(owner, ir.Menu) and handler.event.startswith("press "):
            return self.bits(KEY)
        if isinstance(owner, ir.Collect) and handler.event == "done":
            return self.bits(owner.name, KEY)
        if isinstance(owner, ir.Lookup) and handler.event == "done":
            return self.bits(*(r.name for r in owner.receive if not r.optional))
        if isinstance(owner, ir.Route):
            for branch in owner.branches:
                if branch.actions is handler.actions and isinstance(branch, ir.When):
                    return self.bits(*surely_set(branch.condition))
        return 0

    def keep(self, uses: Iterable[Use], state: int, reads: list[tuple[Use, int]]) -> None:
        """Add to `reads` the uses that `state` does not already make sure of."""
        for use in uses:
            bit = self.index.get(use.name)
            if bit is not None and use.needs_value and not state >> bit & 1:
                reads.append((use, 1 << bit))

    def play(self, name: str, span: ir.Span, state: int, reads: list[tuple[Use, int]]) -> None:
        """Add to `reads` what playing prompt `name` (written at `span`) reads."""
        found = self.played.get(name)
        if found is None:
            prompt = self.flow.prompt(name)
            uses = prompt_uses(prompt) if prompt is not None else ()
            # once per variable: a text saying `{x}` 30,000 times is one read of `x` at each play
            self.played[name] = found = tuple(dict.fromkeys((u.name, u.where, self.index.get(u.name)) for u in uses))
        for variable, where, bit in found:
            if bit is not None and not state >> bit & 1:
                reads.append((Use(variable, span, where), 1 << bit))

    def move(self, handler: ir.Handler, walked: _Handled) -> _Move:
        """A handler's move, from its actions walked once."""
        state = self.gives(handler)
        # a repeat or replay enters its own node again: nothing new for the analysis
        gotos: tuple[str, ...] = walked.gotos
        targets: tuple[str, ...] = ()
        if len(gotos) == 1:
            if gotos[0] in self.moves:
                targets = gotos
        else:
            targets = tuple(t for t in gotos if t in self.moves)
        if not walked.steps:
            return _Move(handler, state, targets, ())
        reads: list[tuple[Use, int]] = []
        for step in walked.steps:
            if isinstance(step, str):
                bit = self.index.get(step)
                if bit is not None:
                    state |= 1 << bit
            elif isinstance(step, Use):
                self.keep((step,), state, reads)
            else:
                self.play(step.prompt, step.name_span, state, reads)
        return _Move(handler, state, targets, tuple(reads))

    def entry(self, node: ir.Node) -> _Reads:
        """What entering a node reads that could be missing."""
        reads: list[tuple[Use, int]] = []
        if isinstance(node, (ir.Menu, ir.Collect)):
            for play in node.plays:
                self.play(play.prompt, play.name_span, 0, reads)
        else:
            walked = _LastWalk.of(self.flow).entries.get(id(node))
            self.keep(walked if walked is not None else entry_uses(self.flow, node), 0, reads)
        return tuple(reads)

    def arrive(self, node: str, state: int, source: str | None, event: str, queue: deque[str]) -> None:
        before = self.entered.get(node, -1)  # -1: every bit
        after = before & state
        if after != before or node not in self.entered:
            self.entered[node] = after
            self.drops.setdefault(node, []).append(_Drop(before & ~after, source, event))
            queue.append(node)


def _flowing(flow: ir.Flow) -> _Flowing | None:
    start = flow.start
    if start is None or flow.node(start) is None or all(u.name in ALWAYS_SET for u in every_use(flow)):
        return None
    index = {name: bit for bit, name in enumerate(sorted({*set_names(flow), KEY, *ALWAYS_SET}))}
    analysis = _Flowing(flow, index, {}, [])
    for item in flow.definitions:
        if isinstance(item, ir.NODE_TYPES) and flow.names.get(item.name) is item:
            analysis.moves[item.name] = []
    for handler, walked in _LastWalk.of(flow).moving:
        if handler.owner is None:
            analysis.limit.append(analysis.move(handler, walked))
        elif flow.names.get(handler.owner.name) is handler.owner:
            analysis.moves[handler.owner.name].append(analysis.move(handler, walked))
    always = analysis.bits(*ALWAYS_SET)
    queue: deque[str] = deque()
    analysis.arrive(start, always, None, "start", queue)
    for move in analysis.limit:  # max-duration may run anywhere; it surely has only the built-ins
        for target in move.targets:
            analysis.arrive(target, always | move.sets, None, "max-duration", queue)
    while queue:  # each node comes back only when it lost a variable: at most once per variable
        node = queue.popleft()
        state = analysis.entered[node]
        for move in analysis.moves[node]:
            for target in move.targets:
                analysis.arrive(target, state | move.sets, node, move.handler.event, queue)
    return analysis


@reports("IVR129")
def check_unset_variables(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A variable used where, on some path the call can take, nothing has
    set it yet: a prompt says nothing where the value should be, a transfer
    goes to a number with a piece missing, a condition is false. The message
    names such a path (`start → main → press 1 → account`). A collect sets
    its variable when its `on done` runs, a lookup what it receives (not the
    names marked `?`) when its `on done` runs, `set` where it stands; `key`
    is set once a key's handler or a collect's `on done` runs; `caller`,
    `called` and `language` always are. `NAME is set` is the way to ask, so
    it is not reported, and a route's branch whose condition makes sure of
    a variable (`when balance is set -> play total`, `when status ==
    "vip" -> …`) may use it."""
    analysis = _flowing(flow)
    if analysis is None:
        return
    for node, state in analysis.entered.items():
        item = flow.node(node)
        assert item is not None
        yield from _report(analysis, analysis.entry(item), state, node, None)
        for move in analysis.moves[node]:
            if move.reads:
                yield from _report(analysis, move.reads, state, node, move.handler.event)
    always = analysis.bits(*ALWAYS_SET)
    for move in analysis.limit:
        yield from _report(analysis, move.reads, always, None, move.handler.event)


def _report(analysis: _Flowing, reads: _Reads, state: int, node: str | None,
            event: str | None) -> Iterator[Diagnostic]:
    for use, bit in reads:
        if state & bit:
            continue
        steps = _path(analysis, bit, node) + ([event] if event else [])
        yield RULES["IVR129"].at(
            use.span, f"on the path {_shown(steps)}, `{use.name}` is not set yet when {use.where} uses it",
            hint=f"set `{use.name}` on every path before it is used, or ask first with `when {use.name} is set`")


#: How many nodes back a message follows a path; from further away it shows `start → … → the last steps`.
MAX_PATH = 16


def _path(analysis: _Flowing, bit: int, node: str | None) -> list[str]:
    """A way from the start to `node` on which the variable of `bit` is never
    set: back from `node` through the move that first took the bit away
    there, which happened before the bit went missing where it came from,
    so the walk ends at the start (or at max-duration). A path longer than
    MAX_PATH nodes starts with `…` after `start`."""
    if node is None:
        return ["max-duration"]
    steps: list[str] = []  # backwards
    at: str | None = node
    while at is not None and len(steps) < 2 * MAX_PATH:
        drop = next(d for d in analysis.drops[at] if d.bits & bit)
        steps += [at, drop.event]
        at = drop.source
    if at is not None:
        steps += ["…", "start"]
    return steps[::-1]


def _shown(steps: list[str]) -> str:
    """The path, or its first and last few steps (after `start → …`, the last ones)."""
    if steps[1:2] == ["…"]:
        steps = [*steps[:2], *steps[2:][-(2 * PATH_ENDS - 1):]]
    elif len(steps) > 2 * PATH_ENDS + 1:
        steps = [*steps[:PATH_ENDS], "…", *steps[-PATH_ENDS:]]
    return " → ".join(steps)
