"""Diagrams of the call flow: Graphviz DOT and Mermaid, as text.

Menus are rounded boxes listing their prompts, routes are hexagons, and each
terminal action has its own shape and colour; edges carry keys and events.
Nodes no call can reach are grey and dashed; nodes with errors are red.
Turning DOT into SVG/PNG/PDF needs Graphviz's `dot` and happens in the CLI.
"""

from __future__ import annotations

import bisect
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

from . import ir
from .diagnostics import Diagnostic, Severity
from .graph import CALL, edge_label, node_label, reachable


@dataclass(frozen=True, slots=True)
class Style:
    shape: str
    fill: str
    stroke: str


STYLES: dict[str, Style] = {
    "call": Style("circle", "#37474f", "#37474f"),
    "menu": Style("box", "#e8f0fe", "#4a6fa5"),
    "route": Style("hexagon", "#fff4e0", "#b26a00"),
    "transfer": Style("cds", "#e6f4ea", "#1e8e3e"),
    "hangup": Style("octagon", "#fce8e6", "#a50e0e"),
    "voicemail": Style("note", "#f3e8fd", "#8430ce"),
    "ask": Style("parallelogram", "#e0f7fa", "#00838f"),
    "extension": Style("cds", "#f1f8e9", "#558b2f"),
    "silence": Style("octagon", "#ffffff", "#d93025"),
}
_UNREACHABLE = "#9aa0a6"
_ERROR = "#d93025"

#: Graphviz (2.43, Debian 12) refuses a quoted or HTML string longer than
#: 16,384 bytes ("longer than 16384?"), and a diagram cannot show more anyway:
#: labels are clipped to this many characters, menus to this many prompts.
LABEL_CHARS = 120
MENU_PROMPTS = 12
#: Characters no diagram can carry (Graphviz stops at NUL; SVG, being XML,
#: allows no other C0 control either, nor lone surrogates): drawn as U+FFFD.
_UNDRAWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
#: Node names used as DOT ids as they are; any other node (a caller mask with
#: quotes, backslashes or a `:` that DOT reads as a port) gets `@N` instead,
#: which no name can be (`@` cannot start one and node paths contain `/`).
_PLAIN_ID = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff\"\\:]{1,100}")


def _drawable(text: str) -> str:
    """The text a diagram shows: no control characters, at most LABEL_CHARS per line."""
    lines = _UNDRAWABLE.sub("\ufffd", text).split("\n")
    return "\n".join(line if len(line) <= LABEL_CHARS else line[:LABEL_CHARS - 1] + "…" for line in lines)


def _dot_text(text: str) -> str:
    """A plain-text DOT label: backslashes are text (no `\\l`, `\\N` escapes),
    quotes are escaped by graphviz.quote, and `<…>` is never HTML."""
    import graphviz

    return graphviz.escape(_drawable(text))


def _dot_html(text: str) -> str:
    """Text inside an HTML-like DOT label: entities for `<>&"'`, a line break per newline."""
    return '<br align="left"/>'.join(html.escape(line) for line in _drawable(text).split("\n"))


def _dot_ids(graph: nx.MultiDiGraph) -> dict[str, str]:
    return {node: node if _PLAIN_ID.fullmatch(node) else f"@{index}" for index, node in enumerate(graph.nodes)}


def _node_errors(flow: ir.Flow, graph: nx.MultiDiGraph, diagnostics: Iterable[Diagnostic]) -> set[str]:
    """Nodes drawn red: a menu or route with an error inside its block, or
    named by an error as part of it (the other menus of a trap)."""
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    lines = [d.span.line for d in errors] + [span.line for d in errors for span, _ in d.related]
    nodes: list[ir.Menu | ir.Route] = [*flow.menus, *flow.routes]
    blocks = sorted((n.span.line, n.end_line, n.name) for n in nodes)
    starts = [start for start, _, _ in blocks]
    bad: set[str] = set()
    for line in lines:  # blocks do not overlap: the one starting last at or before the line
        index = bisect.bisect_right(starts, line) - 1
        if index >= 0 and blocks[index][1] >= line and blocks[index][2] in graph:
            bad.add(blocks[index][2])
    bad |= {node for node, kind in graph.nodes(data="kind") if kind == "silence"}
    return bad


def _edges(flow: ir.Flow, graph: nx.MultiDiGraph) -> list[tuple[str, str, str, str]]:
    """(source, target, label, style) with parallel edges of one style merged
    into one label (`3, #`), in the order the file wrote them. The style is
    `default` (a handler the file did not write), `answer` (an answer an
    `ask` declares) or `written`; the first two are drawn dashed."""
    merged: dict[tuple[str, str, str], list[str]] = {}
    for source, target, data in graph.edges(data=True):
        style = "default" if data.get("default") else "answer" if data.get("answer") is not None else "written"
        merged.setdefault((source, target, style), []).append(edge_label(flow, data))
    return [(s, t, ", ".join(x for x in labels if x), style) for (s, t, style), labels in merged.items()]


def _prompt_line(flow: ir.Flow, entry: str) -> str:
    name = entry.removesuffix(" (fully)")
    prompt = flow.prompt(name)
    fully = " (fully)" if entry.endswith(" (fully)") else ""
    if prompt is not None and prompt.kind == "say":
        text = prompt.value if len(prompt.value) <= 40 else prompt.value[:37] + "…"
        return f"♪ {name}{fully}: “{text}”"
    return f"♪ {name}{fully}"


def _menu_lines(flow: ir.Flow, node: str, data: dict) -> list[str]:
    menu: ir.Menu = data["item"]
    lines = [menu.label] if menu.label else []
    lines += [_prompt_line(flow, p.prompt + (" (fully)" if p.fully else "")) for p in menu.plays[:MENU_PROMPTS]]
    if len(menu.plays) > MENU_PROMPTS:
        lines.append(f"♪ … and {len(menu.plays) - MENU_PROMPTS:,} more")
    lines.append(f"timeout {menu.timeout_ms / 1000:g}s · retries {menu.retries}")
    return lines


def to_dot(flow: ir.Flow, graph: nx.MultiDiGraph, diagnostics: Sequence[Diagnostic] = ()) -> str:
    import graphviz

    seen = reachable(graph) if flow.start in graph else {CALL}
    errors = _node_errors(flow, graph, diagnostics)
    title = (flow.header.label if flow.header and flow.header.label else flow.name)
    ids = _dot_ids(graph)
    name = flow.name if _PLAIN_ID.fullmatch(flow.name) else "flow"  # a file's name can be anything
    dot = graphviz.Digraph(name=name, graph_attr={
        "rankdir": "LR", "label": _dot_text(title), "labelloc": "t", "fontname": "Helvetica", "fontsize": "16",
        "nodesep": "0.3", "ranksep": "0.6"})
    dot.attr("node", fontname="Helvetica", fontsize="11", style="filled")
    dot.attr("edge", fontname="Helvetica", fontsize="10", color="#5f6368")
    for node, data in graph.nodes(data=True):
        kind = data["kind"]
        style = STYLES[kind]
        attrs = {"shape": style.shape, "fillcolor": style.fill, "color": style.stroke}
        if kind == "call":
            attrs.update(label="call", fontcolor="white", width="0.6", fixedsize="true")
        elif kind == "menu":
            rows = "".join(f'<br align="left"/>{_dot_html(line)}' for line in _menu_lines(flow, node, data))
            attrs.update(label=f"<<b>{_dot_html(node)}</b>{rows}<br align=\"left\"/>>", style="rounded,filled")
        elif kind == "route":
            label = node_label(node, data)
            attrs["label"] = _dot_text(f"{node}\n{label}" if label != node else node)
        else:
            attrs["label"] = _dot_text(node_label(node, data))
        if node not in seen:
            attrs.update(style=attrs.get("style", "filled") + ",dashed", color=_UNREACHABLE,
                         fontcolor=_UNREACHABLE, fillcolor="#f1f3f4")
        if node in errors:
            attrs.update(color=_ERROR, penwidth="2.5")
        dot.node(ids[node], **attrs)
    for source, target, label, edge_style in _edges(flow, graph):
        attrs = {"label": _dot_text(label)} if label else {}
        if edge_style == "default":
            attrs.update(style="dashed", color="#9aa0a6", fontcolor="#80868b")
        elif edge_style == "answer":
            attrs.update(style="dashed", color=STYLES["ask"].stroke, fontcolor=STYLES["ask"].stroke)
        if source not in seen:
            attrs.update(style="dashed", color=_UNREACHABLE)
        dot.edge(ids[source], ids[target], **attrs)
    dot.node("@legend", label=_legend(), shape="plaintext", style="")
    return dot.source


_LEGEND_ROWS = (
    ("menu", "menu: rounded box"), ("route", "route: hexagon"), ("transfer", "transfer: tag"),
    ("voicemail", "voicemail: note"), ("hangup", "hangup: octagon"), ("ask", "ask a service: slanted"),
)


def _legend() -> str:
    """A small table: a swatch and a word per kind, and how problems look."""
    rows = "".join(
        f'<tr><td bgcolor="{STYLES[kind].fill}" width="14"> </td><td align="left">{text}</td></tr>'
        for kind, text in _LEGEND_ROWS)
    rows += (f'<tr><td bgcolor="#f1f3f4" width="14"> </td><td align="left"><font color="{_UNREACHABLE}">'
             "grey, dashed: unreachable</font></td></tr>"
             f'<tr><td bgcolor="{_ERROR}" width="14"> </td><td align="left">red border: has errors</td></tr>'
             '<tr><td> </td><td align="left">dashed edge: a default</td></tr>')
    return (f'<<table border="0" cellborder="0" cellspacing="2" cellpadding="2">'
            f'<tr><td colspan="2"><b>legend</b></td></tr>{rows}</table>>')


def to_mermaid(flow: ir.Flow, graph: nx.MultiDiGraph, diagnostics: Sequence[Diagnostic] = ()) -> str:
    """A Mermaid flowchart that GitHub renders inside ```mermaid blocks."""
    seen = reachable(graph) if flow.start in graph else {CALL}
    errors = _node_errors(flow, graph, diagnostics)
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    title = flow.header.label if flow.header and flow.header.label else flow.name
    out = ["---", f"title: {_yaml_scalar(_mermaid_text(title))}", "---", "flowchart LR"]
    shapes = {"call": "(({}))", "menu": "[{}]", "route": "{{{{{}}}}}", "transfer": "[/{}/]",
              "hangup": "[[{}]]", "voicemail": "[({})]", "ask": "[\\{}\\]", "extension": "[/{}/]",
              "silence": "[[{}]]"}
    for node, data in graph.nodes(data=True):
        kind = data["kind"]
        if kind == "menu":
            text = "<br/>".join([f"<b>{_mermaid_text(node)}</b>"] +
                                [_mermaid_text(line) for line in _menu_lines(flow, node, data)])
        elif kind == "route" and node_label(node, data) != node:
            text = f"{_mermaid_text(node)}<br/>{_mermaid_text(node_label(node, data))}"
        else:
            text = _mermaid_text(node_label(node, data))
        out.append(f"    {ids[node]}{shapes[kind].format(chr(34) + text + chr(34))}")
    for source, target, label, edge_style in _edges(flow, graph):
        arrow = "-->" if edge_style == "written" else "-.->"
        edge = f"{arrow}|\"{_mermaid_text(label)}\"|" if label else arrow
        out.append(f"    {ids[source]} {edge} {ids[target]}")
    # Class names carry a prefix: Mermaid reserves words such as `call`.
    for kind, style in STYLES.items():
        out.append(f"    classDef ivr_{kind} fill:{style.fill},stroke:{style.stroke}"
                   + (",color:#ffffff" if kind == "call" else ""))
    out.append(f"    classDef ivr_unreachable fill:#f1f3f4,stroke:{_UNREACHABLE},color:{_UNREACHABLE},"
               "stroke-dasharray:5 5")
    out.append(f"    classDef ivr_error stroke:{_ERROR},stroke-width:3px")
    for node, data in graph.nodes(data=True):
        classes = [f"ivr_{data['kind']}"]
        if node not in seen:
            classes.append("ivr_unreachable")
        if node in errors:
            classes.append("ivr_error")
        out.append(f"    class {ids[node]} {','.join(classes)}")
    return "\n".join(out) + "\n"


#: Mermaid reads `#name;` and `#123;` in any text as entities, a backtick
#: inside quotes as Markdown, and `|` as the end of an edge's text.
_MERMAID_ENTITY = re.compile(r"#(?=\w+;)")
_MERMAID_SPECIAL = str.maketrans({'"': "#quot;", "`": "#96;", "|": "#124;", "\n": "<br/>"})
#: A title the YAML front matter can hold without quotes.
_YAML_PLAIN = re.compile(r"[\w(][\w .,()/'+-]*")


def _mermaid_text(text: str) -> str:
    """Text inside a Mermaid `"…"` label: HTML-escaped, entities for what Mermaid reads."""
    text = _MERMAID_ENTITY.sub("#35;", html.escape(_drawable(text), quote=False))
    return text.translate(_MERMAID_SPECIAL)


def _yaml_scalar(text: str) -> str:
    """The title as YAML: plain when that is safe, else double-quoted (JSON is valid YAML)."""
    return text if _YAML_PLAIN.fullmatch(text) and not text.endswith(" ") else json.dumps(text, ensure_ascii=False)
