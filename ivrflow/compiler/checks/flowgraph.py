"""Checks on the call-flow graph: can a call get somewhere (IVR101), can it
get out (IVR103, IVR132, IVR115, IVR122), and how far does a caller have to
dig (IVR118)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from ..graph import CALL, can_finish, reachable
from .base import RULES, Env, kind_word, reports

#: Menus deeper than this (counting the first) are where callers give up.
MAX_DEPTH = 5
#: The graph's kinds of the nodes a flow file names.
NODES = ("menu", "route", "collect", "lookup")


def _nodes(graph: nx.MultiDiGraph, *kinds: str) -> Iterator[tuple[str, dict]]:
    for node, data in graph.nodes(data=True):
        if data["kind"] in kinds:
            yield node, data


def _what(data: dict, node: str) -> str:
    return f"{data['kind']} `{node}`"


@reports("IVR101")
def check_unreachable(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A menu, route, collect or lookup no call can reach: its keys and
    prompts are dead, and the diagram shows it greyed out."""
    if flow.start is None or flow.start not in graph:
        return
    seen = reachable(graph)
    for node, data in _nodes(graph, *NODES):
        if node not in seen:
            yield RULES["IVR101"].at(data["span"],
                                     f"{_what(data, node)} cannot be reached from the start (`{flow.start}`)",
                                     hint=f"`goto {node}` from somewhere, or remove it")


@reports("IVR103", "IVR132")
def check_traps(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """Menus, routes, collects and lookups from which no terminal action
    (`transfer`, `hangup`, `voicemail`, `ask`) can ever be reached: a caller
    who gets there goes round until they hang up. Without `max-duration`
    (or when its own actions lead back into such a place) nothing else can
    end the call: that is an error (IVR103). With a `max-duration` that ends
    the call, it is legal (a line that plays its information until the
    caller has heard enough), and a warning says what ends such a call
    (IVR132)."""
    finished = can_finish(graph)
    stuck = [node for node, _ in _nodes(graph, *NODES) if node not in finished]
    if not stuck:
        return
    limit = _limit_that_ends(flow, graph, finished)
    # Every successor of a stuck node is stuck too, so the traps proper are the
    # strongly connected groups nothing leads out of; the stuck nodes outside
    # them only lead in, and give their way out when the trap does.
    groups = nx.condensation(graph.subgraph(stuck))
    traps = [groups.nodes[g]["members"] for g in groups if groups.out_degree(g) == 0]
    for members in sorted(traps, key=lambda m: min(_position(graph, n) for n in m)):
        first, *others = sorted(members, key=lambda n: _position(graph, n))[:NAMED]
        data = graph.nodes[first]
        related = tuple((graph.nodes[n]["span"], f"`{n}` is in the same trap") for n in others)
        if limit is not None:
            yield RULES["IVR132"].at(
                data["span"], f"no terminal action can be reached from {_what(data, first)}: every handler "
                              f"leads to {_some(graph, members)}, so such a call ends only when the caller "
                              f"hangs up or `max-duration {limit}` runs",
                hint="fine for a line that plays information until the caller has heard enough; otherwise "
                     "give one handler a `transfer`, `hangup`, `voicemail` or `ask`", related=related)
            continue
        yield RULES["IVR103"].at(
            data["span"], f"no way out of {_what(data, first)}: every handler leads to "
                          f"{_some(graph, members)}, and none of them ends the call",
            hint="give one handler a `transfer`, `hangup`, `voicemail` or `ask`, use `repeat` so "
                 "`on exhausted` can run, or end such calls with `max-duration`",
            related=related)


def _limit_that_ends(flow: ir.Flow, graph: nx.MultiDiGraph, finished: frozenset[str]) -> str | None:
    """`20m -> transfer "100"` when the flow's `max-duration` ends the call
    (its actions reach a terminal action), else None."""
    header = flow.header
    if header is None or header.max_duration is None or header.max_duration_actions is None:
        return None
    for _, target, data in graph.out_edges(CALL, data=True):
        if data["event"] == "max-duration" and target in finished:
            terminal = header.max_duration_actions.terminal
            return f"{header.max_duration.text} -> {ir.written(terminal)}" if terminal else header.max_duration.text
    return None


#: How many names a message lists before it says how many more there are.
NAMED = 5


def _position(graph: nx.MultiDiGraph, node: str) -> tuple[int, int]:
    span = graph.nodes[node]["span"]
    return (span.line, span.column)


def _some(graph: nx.MultiDiGraph, members: set[str]) -> str:
    """`a` or `b` for a few names; for many, the first few in the file and the count."""
    if len(members) <= NAMED:
        names = [f"`{n}`" for n in sorted(members)]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    first = sorted(members, key=lambda n: _position(graph, n))[:NAMED]
    return (f"one of {len(members):,} menus and routes ({', '.join(f'`{n}`' for n in first)} "
            f"and {len(members) - NAMED:,} more)")


def _loop(graph: nx.DiGraph, component: set[str], start: str) -> str:
    """The loop as a call goes round it, from `start`: `a` → `b` → `a`; a
    long one by its first few names and how many go round together."""
    cycle = [source for source, _ in nx.find_cycle(graph.subgraph(component), source=start)]
    if start in cycle:  # begin where the diagnostic points
        at = cycle.index(start)
        cycle = cycle[at:] + cycle[:at]
    if len(cycle) <= NAMED and len(component) == len(cycle):
        return " → ".join(f"`{m}`" for m in [*cycle, cycle[0]])
    return " → ".join(f"`{m}`" for m in cycle[:NAMED]) + f" → … ({len(component):,} in all)"


def _silent_edges(flow: ir.Flow, finished: frozenset[str]) -> list[tuple[str, str]]:
    """Where a caller who says nothing goes next, from each node: a route or
    lookup to any handler's `goto` (they wait for no key); a menu or collect
    along `on timeout`, or, when that repeats (written or by default), along
    `on exhausted`; a `replay` on timeout enters the same node again."""
    edges: list[tuple[str, str]] = []
    for route in flow.routes:
        if route.name in finished:
            edges += [(route.name, target) for b in route.branches for target in _gotos(b.actions.terminal)]
    for lookup in flow.lookups:
        if lookup.name in finished:
            edges += [(lookup.name, target) for on in lookup.events for target in _gotos(on.actions.terminal)]
    waits: tuple[ir.Menu | ir.Collect, ...] = (*flow.menus, *flow.collects)
    for menu in waits:
        if menu.name not in finished:
            continue
        handler = menu.on("timeout")
        terminal = handler.actions.terminal if handler is not None else ir.Repeat(menu.name_span)
        if isinstance(terminal, ir.Replay):
            edges.append((menu.name, menu.name))
            continue
        if isinstance(terminal, ir.Repeat):
            exhausted = menu.on("exhausted")
            terminal = exhausted.actions.terminal if exhausted is not None else None
        edges += [(menu.name, target) for target in _gotos(terminal)]
    return [(a, b) for a, b in edges if flow.node(b) is not None]


def _gotos(terminal: ir.Terminal | None) -> list[str]:
    """Where a `goto` goes, or any `goto` an `ask` declares among its answers."""
    if isinstance(terminal, ir.Goto):
        return [terminal.target]
    if isinstance(terminal, ir.Ask):
        return [a.target for a in terminal.answers if isinstance(a, ir.Goto)]
    return []


@reports("IVR115")
def check_silence_loops(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A caller who stays silent goes round menus (or collects) forever:
    `goto` starts each menu's retry count again, so `on exhausted` is never
    reached; `on timeout -> replay` enters the same menu again without
    counting a retry at all."""
    silent = nx.DiGraph(_silent_edges(flow, can_finish(graph)))
    limit = flow.header.max_duration if flow.header else None
    for component in nx.strongly_connected_components(silent):
        members = sorted(component)
        if len(members) == 1 and not silent.has_edge(members[0], members[0]):
            continue
        menus = sorted((m for m in map(flow.names.get, component) if isinstance(m, (ir.Menu, ir.Collect))),
                       key=lambda m: (m.name_span.line, m.name_span.column))  # not a scan per loop
        if not menus:
            continue  # only routes and lookups: IVR122
        first = menus[0]
        where = first.on("timeout")
        span = where.span if where is not None else first.name_span
        loop = _loop(silent, component, first.name)
        ending = f" until `max-duration` ({limit.text})" if limit is not None else " forever"
        yield RULES["IVR115"].at(span, f"a silent caller goes round {loop}{ending}",
                                 hint="use `repeat` so the retry count grows, and end with `on exhausted`")


@reports("IVR118")
def check_depth(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A menu the caller reaches only after more than five menus: most callers
    give up (or press 0) long before."""
    start = flow.start
    if start is None or start not in graph:
        return
    depth = {CALL: 0}
    queue: deque[str] = deque([CALL])
    while queue:  # 0-1 breadth-first search: entering a menu costs one level
        node = queue.popleft()
        for target in graph.successors(node):
            kind = graph.nodes[target]["kind"]
            cost = 1 if kind == "menu" else 0
            if kind in (*NODES, "ask") and depth[node] + cost < depth.get(target, 1 << 30):
                depth[target] = depth[node] + cost
                (queue.append if cost else queue.appendleft)(target)
    for menu in flow.menus:
        if depth.get(menu.name) == MAX_DEPTH + 1 and flow.names.get(menu.name) is menu:
            yield RULES["IVR118"].at(menu.name_span,
                                     f"menu `{menu.name}` is {MAX_DEPTH + 1} menus deep: "
                                     "callers give up before they get here",
                                     hint="offer it higher up, or merge levels")


@reports("IVR122")
def check_instant_loops(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """Routes (and lookups) that `goto` each other in a circle: no menu or
    collect waits for the caller, so the call spins without a sound (through
    a lookup, asking the web service again and again); a lookup whose
    handler says `replay` asks again at once, for as long as the answer is
    the same."""
    instant = nx.DiGraph()
    for node, _ in _nodes(graph, "route", "lookup"):
        instant.add_node(node)
        for _, target in graph.out_edges(node):
            if graph.nodes[target]["kind"] in ("route", "lookup"):
                instant.add_edge(node, target)
    for component in nx.strongly_connected_components(instant):
        members = sorted(component)
        if len(members) == 1 and not instant.has_edge(members[0], members[0]):
            continue
        first = min((r for r in map(flow.names.get, component) if isinstance(r, (ir.Route, ir.Lookup))),
                    key=lambda r: (r.name_span.line, r.name_span.column))
        loop = _loop(instant, component, first.name)
        words = "routes" if all(isinstance(flow.names.get(m), ir.Route) for m in members) else "routes and lookups"
        if len(members) == 1:
            words = f"{kind_word(type(first))} goes"
        else:
            words += " go"
        yield RULES["IVR122"].at(first.name_span, f"{words} round {loop} without waiting for the caller",
                                 hint="one of them must send the call to a menu or collect, or end it")
