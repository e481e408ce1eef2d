"""Diagrams of the call flow: Graphviz DOT and Mermaid, as text.

Menus are rounded boxes listing their prompts, routes are hexagons, collects
3-D boxes (the variable and how many digits), lookups cylinders (the
service's host), and each terminal action has its own shape and colour;
edges carry keys, events and conditions. A flow that declares `languages`
has them as a badge under its title. Nodes no call can reach are grey and
dashed; nodes with errors are red.
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
    "collect": Style("box3d", "#fef7e0", "#b06000"),
    "lookup": Style("cylinder", "#eceff1", "#455a64"),
}
#: Kinds of the language's second edition: their legend rows and Mermaid
#: classes appear only in diagrams that have them, so that flows of the
#: first edition draw exactly as they did.
_SECOND_EDITION_KINDS = frozenset({"collect", "lookup"})
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
    spans = [d.span for d in errors] + [span for d in errors for span, _ in d.related]
    nodes: list[ir.Node] = [*flow.menus, *flow.routes, *flow.collects, *flow.lookups]
    blocks = sorted((n.span.file, n.span.line, n.end_line, n.name) for n in nodes)  # included files have their own
    starts = [(file, start) for file, start, _, _ in blocks]
    bad: set[str] = set()
    for span in spans:  # blocks do not overlap: the one starting last at or before the line
        index = bisect.bisect_right(starts, (span.file, span.line)) - 1
        if index >= 0 and blocks[index][0] == span.file and blocks[index][2] >= span.line and blocks[index][3] in graph:
            bad.add(blocks[index][3])
    bad |= {node for node, kind in graph.nodes(data="kind") if kind == "silence"}
    return bad


@dataclass(frozen=True, slots=True)
class DrawnEdge:
    """An arrow of the diagram: the graph's parallel edges of one style from
    `source` to `target`, merged into one label (`3, #`). `id` names it in the
    studio (`e-main-tech-0`), `keys` are the graph edges it draws."""

    id: str
    source: str
    target: str
    label: str
    style: str
    keys: tuple[int, ...]


def drawn_edges(flow: ir.Flow, graph: nx.MultiDiGraph) -> list[DrawnEdge]:
    """The arrows of the diagram, in the order the file wrote them. The style
    is `default` (a handler the file did not write), `answer` (an answer an
    `ask` declares) or `written`; the first two are drawn dashed. A merged
    label too long for one line has a line per handler instead, when each
    fits on one (else it is clipped like any other line)."""
    merged: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    for source, target, key, data in graph.edges(keys=True, data=True):
        style = "default" if data.get("default") else "answer" if data.get("answer") is not None else "written"
        merged.setdefault((source, target, style), []).append((key, edge_label(flow, data)))
    edges = []
    used: set[str] = set()
    for (source, target, style), members in merged.items():
        labels = [label for _, label in members]
        label = ", ".join(x for x in labels if x)
        if len(label) > LABEL_CHARS and all(len(x) <= LABEL_CHARS for x in labels):
            label = "\n".join(x for x in labels if x)
        number = 0
        while (name := f"e-{source}-{target}-{number}") in used:  # names may hold `-`: ids stay unique
            number += 1
        used.add(name)
        edges.append(DrawnEdge(name, source, target, label, style, tuple(key for key, _ in members)))
    return edges


def _prompt_line(flow: ir.Flow, play: ir.Play) -> str:
    """`♪ welcome (fully, first): “Welcome to…”`: a say prompt's text (its first language's) is clipped."""
    marks = ", ".join(filter(None, ("fully" if play.fully else "", "" if play.when == "always" else play.when)))
    name = f"{play.prompt} ({marks})" if marks else play.prompt
    prompt = flow.prompt(play.prompt)
    if prompt is not None and prompt.kind == "say":
        text = prompt.value if len(prompt.value) <= 40 else prompt.value[:37] + "…"
        return f"♪ {name}: “{text}”"
    return f"♪ {name}"


def _menu_lines(flow: ir.Flow, node: str, data: dict) -> list[str]:
    """The lines under a menu's or collect's name: label, prompts, what a
    collect keeps, timeout and retries."""
    menu: ir.Menu | ir.Collect = data["item"]
    lines = [menu.label] if menu.label else []
    lines += [_prompt_line(flow, play) for play in menu.plays[:MENU_PROMPTS]]
    if len(menu.plays) > MENU_PROMPTS:
        lines.append(f"♪ … and {len(menu.plays) - MENU_PROMPTS:,} more")
    end_key = f"end-key {menu.end_key}" if menu.end_key is not None else None
    if isinstance(menu, ir.Collect):
        fewest, most = menu.digits_range
        digits = f"{fewest} digit{'s' * (most != 1)}" if fewest == most else f"{fewest}-{most} digits"
        lines.append(f"keys → {menu.name}: " + ", ".join(filter(None, (digits, end_key))))
        end_key = None
    retries = menu.get("retries")
    retries_text = retries.text if menu.separate_retries and retries is not None else str(menu.retries)
    lines.append(" · ".join(filter(None, (f"timeout {menu.timeout_ms / 1000:g}s", f"retries {retries_text}",
                                          end_key))))
    return lines


def _lookup_lines(lookup: ir.Lookup) -> list[str]:
    """The lines under a lookup's name: the service's host, what it sends and receives, its timeout."""
    lines = [f"⇄ {_host(lookup.url)}"]
    if lookup.send:
        lines.append("send " + ", ".join(lookup.sent))
    if lookup.receive:
        lines.append("receive " + ", ".join(r.name + "?" * r.optional for r in lookup.receive))
    lines.append(f"timeout {lookup.timeout_ms / 1000:g}s")
    return lines


#: A URL's scheme and authority: the host (and port) after any `user:password@`.
_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:[^/?#]*@)?(?P<host>[^/?#]*)")


def _host(url: str) -> str:
    """A URL's host (and port), never a password in it; the URL as written when it is not one."""
    found = _AUTHORITY.match(url)
    return (found["host"] or found["scheme"]) if found else url


def _node_lines(flow: ir.Flow, node: str, data: dict) -> list[str] | None:
    """The lines under the name of a node drawn as a block (menu, collect,
    lookup), or None for a node drawn with one label."""
    if data["kind"] in ("menu", "collect"):
        return _menu_lines(flow, node, data)
    if data["kind"] == "lookup":
        return _lookup_lines(data["item"])
    return None


def _badge(flow: ir.Flow) -> str | None:
    """The languages a flow declares (`en-US · es-US`), drawn under its title."""
    if flow.header is None or flow.header.get("languages") is None:
        return None
    return " · ".join(flow.languages)


def to_dot(flow: ir.Flow, graph: nx.MultiDiGraph, diagnostics: Sequence[Diagnostic] = (), *,
           ids: bool = False) -> str:
    """The diagram as DOT. With `ids`, each node's SVG group gets the id
    `node-NAME` and each arrow's `edge-ID` (a DrawnEdge's id), for the studio
    to find them; without, the output is what `ivrflow render` writes."""
    import graphviz

    seen = reachable(graph) if flow.start in graph else {CALL}
    errors = _node_errors(flow, graph, diagnostics)
    title = (flow.header.label if flow.header and flow.header.label else flow.name)
    badge = _badge(flow)
    names = _dot_ids(graph)
    name = flow.name if _PLAIN_ID.fullmatch(flow.name) else "flow"  # a file's name can be anything
    dot = graphviz.Digraph(name=name, graph_attr={
        "rankdir": "LR", "label": _dot_text(title) if badge is None else _dot_title(title, badge),
        "labelloc": "t", "fontname": "Helvetica", "fontsize": "16", "nodesep": "0.3", "ranksep": "0.6"})
    dot.attr("node", fontname="Helvetica", fontsize="11", style="filled")
    dot.attr("edge", fontname="Helvetica", fontsize="10", color="#5f6368")
    for node, data in graph.nodes(data=True):
        kind = data["kind"]
        style = STYLES[kind]
        attrs = {"shape": style.shape, "fillcolor": style.fill, "color": style.stroke}
        if kind == "call":
            attrs.update(label="call", fontcolor="white", width="0.6", fixedsize="true")
        elif (lines := _node_lines(flow, node, data)) is not None:
            rows = "".join(f'<br align="left"/>{_dot_html(line)}' for line in lines)
            attrs.update(label=f"<<b>{_dot_html(node)}</b>{rows}<br align=\"left\"/>>")
            if kind == "menu":
                attrs["style"] = "rounded,filled"
            elif kind == "lookup":
                attrs["margin"] = "0.11,0.2"  # clear of the cylinder's top
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
        if ids:
            attrs["id"] = _svg_id(f"node-{node}")
        dot.node(names[node], **attrs)
    for edge in drawn_edges(flow, graph):
        source, target, label, edge_style = edge.source, edge.target, edge.label, edge.style
        attrs = {"label": _dot_text(label)} if label else {}
        if ids:
            attrs["id"] = _svg_id(f"edge-{edge.id}")
        if edge_style == "default":
            attrs.update(style="dashed", color="#9aa0a6", fontcolor="#80868b")
        elif edge_style == "answer":
            attrs.update(style="dashed", color=STYLES["ask"].stroke, fontcolor=STYLES["ask"].stroke)
        if source not in seen:
            attrs.update(style="dashed", color=_UNREACHABLE)
        dot.edge(names[source], names[target], **attrs)
    legend = {"id": "legend"} if ids else {}
    dot.node("@legend", label=_legend({kind for _, kind in graph.nodes(data="kind")}), shape="plaintext", style="",
             **legend)
    return dot.source


def _svg_id(text: str) -> str:
    """An `id` attribute: DOT reads backslashes in it as escapes (`\\N`), XML allows no control characters."""
    import graphviz

    return str(graphviz.escape(_UNDRAWABLE.sub("\ufffd", text)))


def _dot_title(title: str, badge: str) -> str:
    """The graph's title with the languages in a small rounded badge under it (an HTML-like label)."""
    return (f'<<table border="0" cellborder="0" cellspacing="3"><tr><td>{_dot_html(title)}</td></tr>'
            f'<tr><td><table border="1" style="rounded" color="#9aa0a6" bgcolor="#f1f3f4" cellborder="0" '
            f'cellpadding="2"><tr><td><font point-size="10" color="#3c4043">{_dot_html(badge)}</font></td></tr>'
            "</table></td></tr></table>>")


_LEGEND_ROWS = (
    ("menu", "menu: rounded box"), ("route", "route: hexagon"), ("transfer", "transfer: tag"),
    ("voicemail", "voicemail: note"), ("hangup", "hangup: octagon"), ("ask", "ask a service: slanted"),
    ("collect", "collect digits: 3-D box"), ("lookup", "lookup: cylinder"),
)


def _legend(kinds: set[str]) -> str:
    """A small table: a swatch and a word per kind, and how problems look."""
    rows = "".join(
        f'<tr><td bgcolor="{STYLES[kind].fill}" width="14"> </td><td align="left">{text}</td></tr>'
        for kind, text in _LEGEND_ROWS if kind not in _SECOND_EDITION_KINDS or kind in kinds)
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
    title = _mermaid_text(flow.header.label if flow.header and flow.header.label else flow.name)
    badge = _badge(flow)
    if badge is not None:  # a title is one line of text: the badge follows it (a long title is clipped)
        title += _mermaid_text(f" · {badge}")
    out = ["---", f"title: {_yaml_scalar(title)}", "---", "flowchart LR"]
    shapes = {"call": "(({}))", "menu": "[{}]", "route": "{{{{{}}}}}", "transfer": "[/{}/]",
              "hangup": "[[{}]]", "voicemail": "[({})]", "ask": "[\\{}\\]", "extension": "[/{}/]",
              "silence": "[[{}]]", "collect": "[/{}\\]", "lookup": "([{}])"}
    kinds = set()
    for node, data in graph.nodes(data=True):
        kind = data["kind"]
        kinds.add(kind)
        if (lines := _node_lines(flow, node, data)) is not None:
            text = "<br/>".join([f"<b>{_mermaid_text(node)}</b>"] + [_mermaid_text(line) for line in lines])
        elif kind == "route" and node_label(node, data) != node:
            text = f"{_mermaid_text(node)}<br/>{_mermaid_text(node_label(node, data))}"
        else:
            text = _mermaid_text(node_label(node, data))
        out.append(f"    {ids[node]}{shapes[kind].format(chr(34) + text + chr(34))}")
    for drawn in drawn_edges(flow, graph):
        source, target, label, edge_style = drawn.source, drawn.target, drawn.label, drawn.style
        arrow = "-->" if edge_style == "written" else "-.->"
        edge = f"{arrow}|\"{_mermaid_text(label)}\"|" if label else arrow
        out.append(f"    {ids[source]} {edge} {ids[target]}")
    # Class names carry a prefix: Mermaid reserves words such as `call`.
    for kind, style in STYLES.items():
        if kind in _SECOND_EDITION_KINDS and kind not in kinds:
            continue
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
