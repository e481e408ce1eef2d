"""The call-flow graph: who can go where, derived from the IR.

Nodes are the menus and routes (by name), one node per terminal action
(`main/press 1` for the transfer under key 1), and CALL, where every call
begins. Edges carry what moves the call (`event`), the label drawn on a
diagram, the prompts heard on the way, and whether the edge is a default the
file did not write (`default=True`, the warnings IVR104/IVR105).
The graph is built once per check and never changed afterwards.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from . import ir

CALL = "@call"  # `@` cannot start a name, so it never clashes with a menu

#: Node kinds that end the call's time in the IVR.
TERMINAL_KINDS = frozenset({"transfer", "hangup", "voicemail", "ask", "extension", "silence"})


def build(flow: ir.Flow) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph(name=flow.name)
    graph.add_node(CALL, kind="call", label="call")
    for item in flow.definitions:
        if flow.names.get(item.name) is not item:
            continue  # a second definition of the name (IVR003): the first one counts
        if isinstance(item, ir.Menu):
            graph.add_node(item.name, kind="menu", label=item.label or item.name, span=item.name_span,
                           prompts=tuple(p.prompt + (" (fully)" if p.fully else "") for p in item.plays))
        elif isinstance(item, ir.Route):
            graph.add_node(item.name, kind="route", label=item.label or item.name, span=item.name_span)

    start = flow.start
    if start is not None and start in graph:
        graph.add_edge(CALL, start, event="start", label="", plays=(), default=False)

    for handler in ir.handlers(flow):
        if handler.owner is not None and flow.names.get(handler.owner.name) is not handler.owner:
            continue
        owner = handler.owner.name if handler.owner is not None else CALL
        _add_handler(graph, flow, owner, handler.event, _label(flow, handler), handler.actions,
                     handler.span, default=False)

    for menu in flow.menus:
        if flow.names.get(menu.name) is not menu:
            continue
        for event in ("timeout", "invalid"):
            if menu.on(event) is None:
                _add_default(graph, menu, event, "repeat")
        if menu.on("exhausted") is None and menu_repeats(menu):
            _add_default(graph, menu, "exhausted", "hangup")
        if menu.dial_extensions:
            node = f"{menu.name}/dial"
            span = menu.get("dial-extensions").span  # type: ignore[union-attr]
            graph.add_node(node, kind="extension", label="any extension", span=span)
            graph.add_edge(menu.name, node, event="dial", label="extension", plays=(), default=False, span=span)
    return graph


def menu_repeats(menu: ir.Menu) -> bool:
    """Whether any handler of the menu (written or default) repeats it."""
    if menu.on("timeout") is None or menu.on("invalid") is None:
        return True
    for press in menu.presses:
        if isinstance(press.actions.terminal, ir.Repeat):
            return True
    return any(isinstance(on.actions.terminal, ir.Repeat) for on in menu.events if on.event != "exhausted")


def _label(flow: ir.Flow, handler: ir.Handler) -> str:
    event = handler.event
    if event.startswith("press "):
        return event[6:]
    if event.startswith("when "):
        return event[5:]
    if event == "max-duration" and flow.header and flow.header.max_duration:
        return f"after {flow.header.max_duration.text}"
    return event


def _add_default(graph: nx.MultiDiGraph, menu: ir.Menu, event: str, action: str) -> None:
    span = menu.name_span
    if action == "repeat":
        graph.add_edge(menu.name, menu.name, event=event, label=f"{event} (default)",
                       plays=(), default=True, repeat=True, span=span)
    else:
        node = f"{menu.name}/{event}"
        graph.add_node(node, kind="hangup", label="hangup", span=span)
        graph.add_edge(menu.name, node, event=event, label=f"{event} (default)",
                       plays=(), default=True, span=span)


def _add_handler(graph: nx.MultiDiGraph, flow: ir.Flow, owner: str, event: str, label: str,
                 actions: ir.Actions, span: ir.Span, *, default: bool) -> None:
    terminal = actions.terminal
    attrs: dict[str, Any] = {"event": event, "label": label, "plays": actions.plays,
                             "default": default, "span": span}
    if isinstance(terminal, ir.Goto):
        if flow.node(terminal.target) is not None:
            graph.add_edge(owner, terminal.target, **attrs)
        return
    if isinstance(terminal, ir.Repeat):
        if graph.nodes[owner]["kind"] == "menu":
            graph.add_edge(owner, owner, repeat=True, **attrs)
        return
    node = f"{owner}/{event}"
    if terminal is None:
        graph.add_node(node, kind="silence", label="silence", span=actions.span)
    else:
        graph.add_node(node, kind=ir.action_word(terminal), label=describe(terminal), span=terminal.span)
    graph.add_edge(owner, node, **attrs)


def describe(action: ir.Action) -> str:
    """An action as a user would read it on a diagram: `transfer +7987…`."""
    if isinstance(action, ir.Transfer):
        return f"transfer {action.destination}"
    if isinstance(action, ir.Voicemail):
        return f"voicemail {action.box}" if action.box else "voicemail"
    if isinstance(action, ir.Ask):
        return f"ask {action.url}"
    if isinstance(action, ir.Goto):
        return f"goto {action.target}"
    if isinstance(action, ir.PlayThen):
        return f"play {action.prompt}"
    return ir.action_word(action)


def reachable(graph: nx.MultiDiGraph) -> set[str]:
    """Nodes a call can get to from its start (CALL included)."""
    return {CALL} | nx.descendants(graph, CALL)


def can_finish(graph: nx.MultiDiGraph) -> set[str]:
    """Nodes from which some terminal action can be reached."""
    terminals = [n for n, kind in graph.nodes(data="kind") if kind in TERMINAL_KINDS]
    finished: set[str] = set(terminals)
    stack = list(terminals)
    while stack:
        node = stack.pop()
        for previous in graph.predecessors(node):
            if previous not in finished:
                finished.add(previous)
                stack.append(previous)
    return finished
