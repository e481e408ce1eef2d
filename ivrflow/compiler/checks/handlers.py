"""Handlers: each must end the caller's wait with one terminal action
(IVR102, IVR107, IVR108), and the defaults that apply are said out loud
(IVR104, IVR105)."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from ..graph import describe, menu_repeats
from .base import RULES, Env, reports

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
    """`repeat` in a route or in `max-duration`: there is no menu to play again
    (IVR108); in `on exhausted`, the retries are used up, so it could only
    start the same handler again, forever (IVR123)."""
    for handler in flow.handlers:
        terminal = handler.actions.terminal
        # An `ask` that declares `repeat` among its answers repeats from here too.
        repeats = [terminal] if isinstance(terminal, ir.Repeat) else []
        if isinstance(terminal, ir.Ask):
            repeats += [a for a in terminal.answers if isinstance(a, ir.Repeat)]
        for repeat in repeats:
            answer = " (an answer of `ask`)" if repeat is not terminal else ""
            if isinstance(handler.owner, ir.Menu):
                if handler.event == "exhausted":
                    yield RULES["IVR123"].at(repeat.span, f"`repeat`{answer} in `on exhausted`: the retries are "
                                                          "used up, so this would run `on exhausted` again, forever",
                                             hint="send the caller somewhere: `transfer`, `voicemail`, `goto` "
                                                  "or `hangup`")
                continue
            where = f"route `{handler.owner.name}`" if handler.owner else "`max-duration`"
            yield RULES["IVR108"].at(repeat.span, f"`repeat`{answer} in {where}: there is no menu here to repeat",
                                     hint="use `goto MENU` to send the caller to a menu")


@reports("IVR104", "IVR105")
def check_defaults(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A menu without `on timeout`/`on invalid` repeats itself (IVR104); after its
    retries, a menu without `on exhausted` hangs up on the caller (IVR105).
    Both are fine when meant: say so with a handler, or silence the warning."""
    for menu in flow.menus:
        if flow.names.get(menu.name) is not menu:
            continue
        missing = [event for event in ("timeout", "invalid") if menu.on(event) is None]
        if missing:
            written = " or ".join(f"`on {event}`" for event in missing)
            yield RULES["IVR104"].at(
                menu.name_span,
                f"menu `{menu.name}` has no {written}: the menu is repeated (up to {menu.retries} times)",
                hint=f"write `on {missing[0]} -> repeat` if that is what you want")
        if menu.on("exhausted") is None and menu_repeats(menu):
            yield RULES["IVR105"].at(
                menu.name_span,
                f"menu `{menu.name}` has no `on exhausted`: after {menu.retries} retries the caller is hung up on",
                hint="send them somewhere useful, such as `on exhausted -> transfer \"0\"`")
