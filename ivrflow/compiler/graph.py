"""The call-flow graph: who can go where, derived from the IR.

Nodes are the menus and routes (by name), one node per terminal action
(`main/press 1` for the transfer under key 1), and CALL, where every call
begins. An `ask` that declares its answers has an edge (`event="answer"`,
`answer=` the action) to each: the menu or route of a `goto`, its own menu
for `repeat`, or a node of its own (`main/press 9/answer 2`) for an end.
Edges carry what moves the call (`event`), the label drawn on a diagram,
the prompts heard on the way, and whether the edge is a default the file did
not write (`default=True`, the warnings IVR104/IVR105).
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
    add_node, add_edge = graph.add_node, graph.add_edge
    add_node(CALL, kind="call")
    names = flow.names
    for item in flow.definitions:
        if names.get(item.name) is not item:
            continue  # a second definition of the name (IVR003): the first one counts
        if isinstance(item, ir.NODE_TYPES):
            add_node(item.name, kind=NODE_KINDS[type(item)], item=item, span=item.name_span)

    start = flow.start
    if start is not None and start in graph:
        add_edge(CALL, start, event="start", handler=None, default=False)

    for handler in flow.handlers:
        owner_item = handler.owner
        if owner_item is not None and names.get(owner_item.name) is not owner_item:
            continue
        owner = owner_item.name if owner_item is not None else CALL
        terminal = handler.actions.terminal
        attrs = {"event": handler.event, "handler": handler, "default": False, "span": handler.span}
        if terminal is None:
            node = f"{owner}/{handler.event}"
            add_node(node, kind="silence", action=None, span=handler.actions.span)
            add_edge(owner, node, **attrs)
        else:
            _add_terminal(graph, flow, owner, owner_item, handler.event, terminal, attrs)

    waits: tuple[ir.Menu | ir.Collect, ...] = (*flow.menus, *flow.collects)
    for menu in waits:
        if names.get(menu.name) is not menu:
            continue
        span = menu.name_span
        for event in ("timeout", "invalid"):
            if menu.on(event) is None:
                add_edge(menu.name, menu.name, event=event, handler=None, default=True, repeat=True, span=span)
        if menu.on("exhausted") is None and menu_repeats(menu):
            node = f"{menu.name}/exhausted"
            add_node(node, kind="hangup", action=None, span=span)
            add_edge(menu.name, node, event="exhausted", handler=None, default=True, span=span)
        if isinstance(menu, ir.Menu) and menu.dial_extensions:
            node = f"{menu.name}/dial"
            span = menu.get("dial-extensions").span  # type: ignore[union-attr]
            add_node(node, kind="extension", action=None, span=span)
            add_edge(menu.name, node, event="dial", handler=None, default=False, span=span)
    # Two answers most checks and the renderer need, computed once here.
    graph.graph["reachable"] = frozenset({CALL} | nx.descendants(graph, CALL))
    graph.graph["finished"] = frozenset(_can_finish(graph))
    return graph


def _add_terminal(graph: nx.MultiDiGraph, flow: ir.Flow, owner: str, owner_item: ir.Node | None, event: str,
                  terminal: ir.Terminal, attrs: dict[str, Any]) -> None:
    """The edge a handler's terminal action makes: to a node (`goto`), back
    to its own menu (`repeat`, `replay`), or to an end node of its own
    (`main/press 1`); a `transfer … else` adds an edge from that end to
    where its fallback leads (`event="else"`, `via=` the transfer's node,
    `cover=` the owner and `press 1 else`, as the call's path names it)."""
    if isinstance(terminal, ir.Goto):
        if isinstance(flow.names.get(terminal.target), ir.NODE_TYPES):
            graph.add_edge(attrs.get("via", owner), terminal.target, **attrs)
        return
    if isinstance(terminal, (ir.Repeat, ir.Replay)):
        if isinstance(owner_item, (ir.Menu, ir.Collect)) or (
                isinstance(owner_item, ir.Lookup) and isinstance(terminal, ir.Replay)):
            graph.add_edge(attrs.get("via", owner), owner, repeat=True, **attrs)
        return
    node = f"{attrs.get('via', owner)}/{event}"
    graph.add_node(node, kind=ir.action_word(terminal), action=terminal, span=terminal.span)
    graph.add_edge(attrs.get("via", owner), node, **attrs)
    if isinstance(terminal, ir.Ask) and terminal.answers:
        graph.nodes[node]["declared"] = True
        _add_answers(graph, flow, node, owner_item, terminal)
    elif isinstance(terminal, ir.Transfer) and terminal.fallback is not None:
        # the fallback leaves from the transfer's own node; coverage counts it as `EVENT else` of the owner
        fallback = terminal.fallback
        _add_terminal(graph, flow, owner, owner_item, "else", fallback, {
            "event": "else", "handler": None, "default": False, "span": fallback.span,
            "cover": (owner, f"{attrs['cover'][1] if 'cover' in attrs else event} else"), "via": node})


#: The graph's node kind for each IR node.
NODE_KINDS: dict[type, str] = {ir.Menu: "menu", ir.Route: "route", ir.Collect: "collect", ir.Lookup: "lookup"}


def _add_answers(graph: nx.MultiDiGraph, flow: ir.Flow, asking: str, owner: ir.Node | None, ask: ir.Ask) -> None:
    """Edges from an `ask` node to what its declared answers lead to: a menu
    or route (`goto`), the asking menu again (`repeat`), or an end of its own."""
    for index, answer in enumerate(ask.answers, 1):
        attrs = {"event": "answer", "answer": answer, "handler": None, "default": False, "span": answer.span}
        if isinstance(answer, ir.Goto):
            if isinstance(flow.names.get(answer.target), ir.NODE_TYPES):
                graph.add_edge(asking, answer.target, **attrs)
        elif isinstance(answer, ir.Repeat):
            if isinstance(owner, ir.Menu):
                graph.add_edge(asking, owner.name, repeat=True, **attrs)
        else:
            node = f"{asking}/answer {index}"
            graph.add_node(node, kind=ir.action_word(answer), action=answer, span=answer.span)
            graph.add_edge(asking, node, **attrs)


def menu_repeats(menu: ir.Menu | ir.Collect) -> bool:
    """Whether any handler of the menu or collect (written or default) repeats it."""
    if menu.on("timeout") is None or menu.on("invalid") is None:
        return True
    for press in menu.presses:
        if isinstance(press.actions.terminal, ir.Repeat):
            return True
    return any(isinstance(on.actions.terminal, ir.Repeat) for on in menu.events if on.event != "exhausted")


def node_label(node: str, data: dict[str, Any]) -> str:
    """What a diagram writes in a node: the name, or the action."""
    kind = data["kind"]
    if kind in NODE_KINDS.values():
        return str(data["item"].label or node)
    if kind == "call":
        return "call"
    if kind == "extension":
        return "any extension"
    if kind == "silence":
        return "silence"
    action = data.get("action")
    if isinstance(action, ir.Transfer) and (action.ring is not None or action.fallback is not None):
        ring = action.ring.text if action.ring is not None else f"{ir.DEFAULT_RING_MS // 1000}s"
        return f"{describe(action)} (ring {ring})"
    return describe(action) if action is not None else kind


def edge_label(flow: ir.Flow, data: dict[str, Any]) -> str:
    """What a diagram writes on an edge: the key or event, and any prompts;
    an answer an `ask` declares is written as the answer (`goto pin`)."""
    answer = data.get("answer")
    if answer is not None:
        return describe(answer)
    event = data["event"]
    if data.get("default"):
        return f"{event} (default)"
    if event == "start":
        return ""
    if event == "dial":
        return "extension"
    if event == "else":
        return "else"
    if event.startswith("press "):
        label = event[6:]
    elif event.startswith("when "):
        label = event[5:]
    elif event == "max-duration" and flow.header and flow.header.max_duration:
        label = f"after {flow.header.max_duration.text}"
    else:
        label = event
    handler = data.get("handler")
    if data.get("repeat"):
        label += " (replay)" if handler is not None and isinstance(handler.actions.terminal, ir.Replay) else " (repeat)"
    if handler is not None:
        label += steps_label(handler.actions)
    return label


def steps_label(actions: ir.Actions) -> str:
    """The `play` and `set` steps of a handler, as an edge shows them: ` ♪ a, b`
    for each run of prompts, ` · set …` for each `set` (those written after the
    terminal action too, which never run: IVR107 says so)."""
    text = ""
    plays: list[str] = []
    for step in actions.items:
        if isinstance(step, ir.PlayThen):
            plays.append(step.prompt)
            continue
        if not isinstance(step, (ir.SetVariable, ir.SetLanguage)):
            continue
        if plays:
            text += " ♪ " + ", ".join(plays)
            plays = []
        text += " · " + ir.written(step)
    return text + (" ♪ " + ", ".join(plays) if plays else "")


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


def reachable(graph: nx.MultiDiGraph) -> frozenset[str]:
    """Nodes a call can get to from its start (CALL included)."""
    return graph.graph["reachable"]


def can_finish(graph: nx.MultiDiGraph) -> frozenset[str]:
    """Nodes from which some terminal action can be reached."""
    return graph.graph["finished"]


def _can_finish(graph: nx.MultiDiGraph) -> set[str]:
    # An `ask` that declares its answers ends nothing itself: where they lead does.
    # (One whose answers lead nowhere known, after IVR002, still counts as an end.)
    terminals = [n for n, data in graph.nodes(data=True)
                 if data["kind"] in TERMINAL_KINDS and not (data.get("declared") and graph.out_degree(n))]
    finished: set[str] = set(terminals)
    stack = list(terminals)
    while stack:
        node = stack.pop()
        for previous in graph.predecessors(node):
            if previous not in finished:
                finished.add(previous)
                stack.append(previous)
    return finished
