"""Handlers: each must end the caller's wait with one terminal action
(IVR102, IVR107, IVR108), and the defaults that apply are said out loud
(IVR104, IVR105)."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from ..graph import describe, menu_repeats
from .base import RULES, Env, kind_word, reports

_TERMINAL_WORDS = "`goto`, `transfer`, `hangup`, `repeat`, `voicemail` or `ask`"


@reports("IVR102", "IVR107")
def check_terminal(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A handler that plays prompts and then does nothing leaves the caller in
    silence (IVR102); actions written after the terminal one never run (IVR107)."""
    for handler in flow.handlers:
        items = handler.actions.items
        terminal = handler.actions.terminal
        if terminal is None:
            yield RULES["IVR102"].at(
                handler.actions.span,
                f"`{handler.event}` plays {_prompts(items)} and then does nothing: the caller hears silence",
                hint=f"end it with {_TERMINAL_WORDS}")
            continue
        after = items[items.index(terminal) + 1:]
        if after:
            yield RULES["IVR107"].at(
                ir.Span(after[0].span.file, after[0].span.line, after[0].span.column,
                        after[-1].span.end_line, after[-1].span.end_column),
                f"`{describe(after[0])}` comes after `{describe(terminal)}` and never runs",
                hint="put prompts before the terminal action; a handler has exactly one")


def _prompts(items: tuple[ir.Action, ...]) -> str:
    names = [f"`{a.prompt}`" for a in items if isinstance(a, ir.PlayThen)]
    return ", ".join(names) if names else "nothing"


@reports("IVR108", "IVR123")
def check_repeat_outside_menu(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """`repeat` or `replay` in a route or in `max-duration`: there is no menu
    or collect to play again (IVR108); in `on exhausted`, the retries are
    used up, so it could only start the same handler again, forever (IVR123).
    In a menu or a collect both are fine (a lookup may `replay` to ask again;
    its `repeat` is IVR010)."""
    for handler in flow.handlers:
        if isinstance(handler.actions.terminal, (ir.Goto, ir.Hangup, ir.Voicemail)):
            continue  # the common case, with nothing to repeat
        for again in _agains(handler.actions.terminal):
            word = ir.action_word(again)
            answer = " (an answer of `ask`)" if again is not handler.actions.terminal else ""
            owner = handler.owner
            if isinstance(owner, (ir.Menu, ir.Collect, ir.Lookup)):
                if handler.event == "exhausted" and not isinstance(owner, ir.Lookup):
                    yield RULES["IVR123"].at(again.span, f"`{word}`{answer} in `on exhausted`: the retries are "
                                                         "used up, so this would run `on exhausted` again, forever",
                                             hint="send the caller somewhere: `transfer`, `voicemail`, `goto` "
                                                  "or `hangup`")
                continue
            where = f"route `{owner.name}`" if owner else "`max-duration`"
            yield RULES["IVR108"].at(again.span, f"`{word}`{answer} in {where}: there is no menu here to {word}",
                                     hint="use `goto MENU` to send the caller to a menu")


def _agains(terminal: ir.Terminal | None) -> list[ir.Repeat | ir.Replay]:
    """The `repeat` and `replay` a terminal action may run: itself, an answer
    an `ask` declares, or a transfer's `else`."""
    found: list[ir.Repeat | ir.Replay] = []
    while terminal is not None:
        if isinstance(terminal, (ir.Repeat, ir.Replay)):
            found.append(terminal)
        elif isinstance(terminal, ir.Ask):
            found += [a for a in terminal.answers if isinstance(a, ir.Repeat)]
        terminal = terminal.fallback if isinstance(terminal, ir.Transfer) else None
    return found


@reports("IVR104", "IVR105")
def check_defaults(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A menu or collect without `on timeout`/`on invalid` repeats itself
    (IVR104); after its retries, one without `on exhausted` hangs up on the
    caller (IVR105). Both are fine when meant: say so with a handler, or
    silence the warning."""
    waits: tuple[ir.Menu | ir.Collect, ...] = (*flow.menus, *flow.collects)
    for menu in waits:
        if flow.names.get(menu.name) is not menu:
            continue
        what = f"{kind_word(type(menu), article=False)} `{menu.name}`"
        missing = [event for event in ("timeout", "invalid") if menu.on(event) is None]
        if missing:
            silences, wrong = menu.retry_limits
            times = (f"up to {silences} times after silence, {wrong} after a wrong entry" if menu.separate_retries
                     else f"up to {menu.retries} times")
            written = " or ".join(f"`on {event}`" for event in missing)
            yield RULES["IVR104"].at(
                menu.name_span,
                f"{what} has no {written}: the {kind_word(type(menu), article=False)} is repeated ({times})",
                hint=f"write `on {missing[0]} -> repeat` if that is what you want")
        if menu.on("exhausted") is None and menu_repeats(menu):
            yield RULES["IVR105"].at(
                menu.name_span,
                f"{what} has no `on exhausted`: after {menu.retries} retries the caller is hung up on",
                hint="send them somewhere useful, such as `on exhausted -> transfer \"0\"`")
