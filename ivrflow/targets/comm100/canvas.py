"""Where each action sits on Comm100's canvas: the diagram's own Graphviz
layout (the graph `ivrflow render` draws, ranked top to bottom), so the bot
reads in Comm100's editor the way the diagram does.

Each action belongs to a node of the diagram: the end node of its handler
(`main/press 1` for a transfer) when the diagram has one, else the menu,
collect, lookup or route whose handler made it (the `call` node for the Start
action). Actions of one node stand side by side at the node's place; a row
is then spread so that no two cards overlap. Positions depend only on the
flow, so compiling twice gives the same bytes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping

from ...compiler import graph as flow_graph
from ...compiler import ir, render
from . import schema


def node_positions(flow: ir.Flow) -> dict[str, tuple[float, float]] | None:
    """Each diagram node's centre in points, y downward, from `dot`; None
    when Graphviz cannot be run (the caller falls back to its own layout)."""
    drawn = flow_graph.build(flow)
    # The same graph, ranked top to bottom as Comm100's canvas reads.
    laid_out = _layout(render.to_dot(flow, drawn).replace("rankdir=LR", "rankdir=TB", 1))
    if laid_out is None:
        return None
    nodes = list(drawn.nodes)
    return {nodes[index]: place for index, place in laid_out.items() if index < len(nodes)}


@functools.lru_cache(maxsize=16)
def _layout(source: str) -> dict[int, tuple[float, float]] | None:
    """`dot -Tjson` of a graph: each node's centre by its place in the
    source (`_gvid`). Kept per source: a plan and the deploy's check of it
    lay the same flow out once (dot takes about a second for 50 menus)."""
    import graphviz

    try:
        laid_out = json.loads(graphviz.Source(source).pipe(format="json", encoding="utf-8"))
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
        return None
    height = float(laid_out["bb"].split(",")[3])
    centres: dict[int, tuple[float, float]] = {}
    for item in laid_out.get("objects", []):
        index = item.get("_gvid")
        if isinstance(index, int) and "pos" in item:
            x, y = (float(v) for v in item["pos"].split(","))
            centres[index] = (x, height - y)
    return centres


def owner_node(key: str, nodes: Mapping[str, object]) -> str:
    """The diagram node an action (by its key, `main/press 1/play/0`) belongs to."""
    parts = key.split("/")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end])
        if candidate in nodes:
            return candidate
    return flow_graph.CALL


def place(keys: Iterable[tuple[str, str]], positions: Mapping[str, tuple[float, float]]) -> dict[str, tuple[int, int]]:
    """Canvas pixels for each action; `keys` are (action key, diagram node)
    in the order the actions were made."""
    by_node: dict[str, list[str]] = {}
    for key, node in keys:
        by_node.setdefault(node, []).append(key)
    cards: list[tuple[int, float, str]] = []
    for node, members in by_node.items():
        x, y = positions.get(node, (0.0, 0.0))
        for index, key in enumerate(members):
            offset = (index - (len(members) - 1) / 2) * schema.CARD_WIDTH
            cards.append((round(y * schema.PIXELS_PER_POINT), x * schema.PIXELS_PER_POINT + offset, key))
    placed: dict[str, tuple[int, int]] = {}
    row: int | None = None
    right = 0.0
    for y, x, key in sorted(cards, key=lambda card: (card[0], card[1], card[2])):
        if y != row:
            row, right = y, float("-inf")
        x = max(x, right + schema.CARD_WIDTH)  # no two cards of a row overlap
        right = x
        placed[key] = (round(x), int(y))
    low = min((x for x, _ in placed.values()), default=0)
    return {key: (x - low, y) for key, (x, y) in placed.items()}
