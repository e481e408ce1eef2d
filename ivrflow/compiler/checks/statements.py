"""What each kind of node may say: statements a node cannot use (IVR010),
handlers a node must have (IVR015), and where a lookup sends the caller's
data (IVR131)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, kind_word, reports

#: The events each kind of node has; any other `on EVENT` is IVR010.
EVENTS: dict[type, tuple[str, ...]] = {
    ir.Menu: ("timeout", "invalid", "exhausted"),
    ir.Collect: ("done", "timeout", "invalid", "exhausted"),
    ir.Lookup: ("done", "error"),
}
#: Hosts a lookup may reach over plain http: the machine itself.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: What the call itself keeps in each built-in variable, for the message when `set` writes one.
_BUILT_IN = {"caller": "the calling number", "called": "the number the caller dialled",
             "key": "the entry that chose the handler", "language": "the language the call is in"}


def _what(node: ir.Node) -> str:
    return f"{kind_word(type(node), article=False)} `{node.name}`"


@reports("IVR010")
def check_statements(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A statement the node it stands in cannot use, which would otherwise be
    silently ignored: `press` or `dial-extensions` in a collect (it takes
    any keys into its variable), `digits MIN-MAX` in a menu (an entry of a
    menu ends at one length), `on done` or `on error` in a menu, `on error`
    in a collect, `on timeout`, `on invalid` or `on exhausted` in a lookup
    (it waits for no keys), `repeat` in a lookup (it has no retries; `replay`
    asks again), and `set` of a built-in variable (`caller`, `called`,
    `key`, `language`: the call keeps them; `set language L` switches the
    language)."""
    rule = RULES["IVR010"]
    for collect in flow.collects:
        for press in collect.presses:
            yield rule.at(press.span, f"`press {press.key}` in {_what(collect)}: a collect takes any keys into "
                                      f"its variable and has no keys of its own",
                          hint="use a `menu` for a choice by keys; `on done` can `goto` a route that looks "
                               f"at `{collect.name}`")
        setting = collect.get("dial-extensions")
        if setting is not None:
            yield rule.at(setting.span, f"`dial-extensions` in {_what(collect)}: a collect dials nothing",
                          hint=f'`on done -> transfer "{{{collect.name}}}"` transfers to the number keyed')
    for menu in flow.menus:
        setting = menu.get("digits")
        if setting is not None and isinstance(setting.value, tuple):
            yield rule.at(setting.span, f"`digits {setting.text}` in {_what(menu)}: a menu's entry ends at one "
                                        "length; a range of lengths is for a `collect`",
                          hint=f"write `digits {setting.value[1]}`")
    nodes: tuple[ir.Menu | ir.Collect | ir.Lookup, ...] = (*flow.menus, *flow.collects, *flow.lookups)
    for node in nodes:
        events = EVENTS[type(node)]
        for on in node.events:
            if on.event not in events:
                yield rule.at(on.span, f"`on {on.event}` in {_what(node)}: {_no_event(node, on.event)}",
                              hint=f"{kind_word(type(node))} has " + ", ".join(
                                  f"`on {e}`" for e in events[:-1]) + f" and `on {events[-1]}`")
    for handler in flow.handlers:
        items = handler.actions.items
        if not isinstance(handler.owner, ir.Lookup) and not any(isinstance(a, ir.SetVariable) for a in items):
            continue  # neither a `set` nor a lookup's `repeat` to look for
        for action in ir.with_answers(items):
            if isinstance(action, ir.SetVariable) and action.name in _BUILT_IN:
                hint = ("write `set language L` (L one of the flow's `languages`)" if action.name == "language"
                        else "give the variable a name of your own")
                yield rule.at(action.name_span, f"`set {action.name}`: `{action.name}` is {_BUILT_IN[action.name]}, "
                                                "kept by the call itself", hint=hint)
            elif isinstance(action, ir.Repeat) and isinstance(handler.owner, ir.Lookup):
                yield rule.at(action.span, f"`repeat` in {_what(handler.owner)}: a lookup has no retries to count",
                              hint="`replay` asks the service again; `goto` sends the caller elsewhere")


def _no_event(node: ir.Node, event: str) -> str:
    if isinstance(node, ir.Lookup):
        return "a lookup waits for no keys; a service that does not answer in time runs `on error`"
    if event == "done":
        return "a menu runs the handler of the key pressed; `on done` is for a collect or a lookup"
    return f"{kind_word(type(node))} has no error to handle; `on error` is for a lookup"


@reports("IVR015")
def check_required_handlers(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A collect without `on done`, or a lookup without `on done` or
    `on error`: there is no default for them, so a caller who keys in a
    whole entry, or whose lookup answers (or fails), would have nowhere to
    go."""
    rule = RULES["IVR015"]
    for collect in flow.collects:
        if collect.on("done") is None:
            yield rule.at(collect.name_span, f"{_what(collect)} has no `on done`: after a complete entry the call "
                                             "has nowhere to go",
                          hint=f"add `on done -> …` to say what happens with `{collect.name}`")
    for lookup in flow.lookups:
        missing = [event for event in ("done", "error") if lookup.on(event) is None]
        if missing:
            written = " or ".join(f"`on {event}`" for event in missing)
            yield rule.at(lookup.name_span, f"{_what(lookup)} has no {written}: when the service "
                                            f"{'answers' if missing[0] == 'done' else 'fails'} the call has "
                                            "nowhere to go",
                          hint=f"add `on {missing[0]} -> …`")


@reports("IVR131")
def check_lookup_urls(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A lookup whose URL is `http`, not `https`: what it sends (the caller's
    number, what they keyed, such as an account number) crosses the network
    unencrypted, and the answer can be changed on the way. Plain `http` to
    the machine itself (127.0.0.1, localhost, ::1) is fine."""
    for lookup in flow.lookups:
        if lookup.problem:
            continue  # IVR004
        try:
            address = urllib.parse.urlsplit(lookup.url)
            host = address.hostname or ""
        except ValueError:  # such as an unclosed `[` of an IPv6 address
            continue
        if address.scheme == "http" and host not in LOOPBACK:
            yield RULES["IVR131"].at(
                lookup.url_span, f"lookup `{lookup.name}` sends the caller's data over plain http to "
                                 f"{host}: anyone on the way can read and change it",
                hint="use an https:// URL")
