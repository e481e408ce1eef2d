"""What the studio shows of one checked flow: its SVG with ids, its nodes
(with their defaults made explicit), its arrows and its diagnostics, as JSON
values. Pure apart from running Graphviz's `dot`."""

from __future__ import annotations

import subprocess
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from ..compiler import Checked, ir
from ..compiler.diagnostics import Diagnostic, Severity
from ..compiler.graph import CALL, describe, menu_repeats, node_label
from ..compiler.render import DrawnEdge, drawn_edges, to_dot

#: Graphviz gets this long to lay out a diagram (a 10,000-menu flow takes seconds).
DOT_SECONDS = 120


class RenderError(Exception):
    """Graphviz is missing or failed: said in one line."""


def run_dot(source: str, fmt: str) -> bytes:
    """DOT source (on standard input, never a file name) to SVG or PNG. Raises RenderError."""
    try:
        done = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True,
                              timeout=DOT_SECONDS, check=False)
    except FileNotFoundError:
        raise RenderError("Graphviz's `dot` program is needed to draw the diagram and was not found "
                          "(Debian, Ubuntu: sudo apt-get install graphviz)") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz took more than {DOT_SECONDS} s to draw the diagram") from None
    if done.returncode != 0:
        raise RenderError(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def inline_svg(document: bytes) -> str:
    """An SVG document as an element to put in a page: no XML declaration, no DOCTYPE."""
    text = document.decode()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def editor_link(template: str | None, file: str, line: int, column: int) -> str | None:
    """The editor URL of a place (`vscode://file/{path}:{line}:{column}`), or None without a template.
    Only the three placeholders are replaced (not str.format: a template cannot reach attributes)."""
    if not template:
        return None
    path = urllib.parse.quote(str(Path(file).resolve()), safe="/:\\")
    return template.replace("{path}", path).replace("{line}", str(line)).replace("{column}", str(column))


@dataclass(frozen=True, slots=True)
class Drawing:
    """A flow drawn for the studio: everything that stays when a later edit has errors."""

    checked: Checked
    source: str  # the DOT it was drawn from
    svg: str
    nodes: dict[str, dict[str, Any]]
    edges: list[dict[str, str]]
    #: The drawn arrow of each graph edge (source, target, key).
    arrow_of: Mapping[tuple[str, str, int], str]


def draw(checked: Checked, editor_url: str | None, previous: Drawing | None = None) -> Drawing:
    """Lay out a flow (it must have parsed: `checked.flow` is not None). Raises RenderError.
    Graphviz is most of the time a change takes (seconds for 1,000 menus), so an
    edit that leaves the diagram as it was (a test, a comment) reuses `previous`'s SVG."""
    flow, graph = checked.flow, checked.graph
    assert flow is not None and graph is not None
    source = to_dot(flow, graph, checked.diagnostics, ids=True)
    unchanged = previous is not None and previous.source == source
    svg = previous.svg if previous is not None and unchanged else inline_svg(run_dot(source, "svg"))
    arrows = drawn_edges(flow, graph)
    return Drawing(checked, source, svg, nodes(flow, graph, editor_url), [_edge(a) for a in arrows],
                   arrow_map(arrows))


def arrow_map(arrows: list[DrawnEdge]) -> dict[tuple[str, str, int], str]:
    return {(a.source, a.target, key): a.id for a in arrows for key in a.keys}


def _edge(arrow: DrawnEdge) -> dict[str, str]:
    return {"id": arrow.id, "from": arrow.source, "to": arrow.target, "label": arrow.label, "style": arrow.style}


def diagnostics(found: tuple[Diagnostic, ...], editor_url: str | None) -> list[dict[str, Any]]:
    return [{**d.to_dict(), "editor_url": editor_link(editor_url, d.span.file, d.span.line, d.span.column)}
            for d in found]


#: The prompt file checks: `simulate` and `test` do not read recordings, so a missing one does not stop a call.
PROMPT_FILE_CODES = frozenset({"IVR112", "IVR124", "IVR125", "IVR126"})


def callable_flow(checked: Checked) -> bool:
    """Whether `simulate` and `test` would run the flow: it parsed and has no errors but the prompt files'."""
    return checked.flow is not None and not any(
        d.severity is Severity.ERROR and d.code not in PROMPT_FILE_CODES for d in checked.diagnostics)


def title(checked: Checked) -> str:
    flow = checked.flow
    if flow is None:
        return Path(checked.file).name
    return flow.header.label if flow.header is not None and flow.header.label else flow.name


# --- nodes ----------------------------------------------------------------------------

def nodes(flow: ir.Flow, graph: nx.MultiDiGraph, editor_url: str | None) -> dict[str, dict[str, Any]]:
    """Every node of the graph by name: kind, label, source place and details."""
    found = {}
    for node, data in graph.nodes(data=True):
        span: ir.Span | None = data.get("span")
        found[node] = {
            "kind": data["kind"],
            "label": node_label(node, data),
            "file": span.file if span is not None else None,
            "line": span.line if span is not None else None,
            "column": span.column if span is not None else None,
            "editor_url": editor_link(editor_url, span.file, span.line, span.column) if span is not None else None,
            "details": details(flow, node, data),
        }
    return found


def actions_text(actions: ir.Actions) -> str:
    """A handler's actions as the file writes them: `play sorry, repeat`."""
    return ", ".join(ir.written(action) for action in actions.items)


def details(flow: ir.Flow, node: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the node does, with every default written out; `defaults` names
    the fields the file does not write."""
    item = data.get("item")
    if isinstance(item, (ir.Menu, ir.Collect)):
        return _waits(flow, item)
    if isinstance(item, ir.Route):
        return {"branches": [{"when": "otherwise" if isinstance(b, ir.Otherwise) else ir.condition_text(b.condition),
                              "to": actions_text(b.actions), "line": b.span.line} for b in item.branches]}
    if isinstance(item, ir.Lookup):
        return {"send": list(item.sent), "receive": [r.name + "?" * r.optional for r in item.receive],
                "timeout": _seconds(item.timeout_ms),
                "handlers": {on.event: actions_text(on.actions) for on in item.events},
                "defaults": [] if item.get("timeout") is not None else ["timeout"]}
    if node == CALL:
        return {"start": flow.start}
    action = data.get("action")
    if action is None:
        return {"action": data["kind"]}
    found: dict[str, Any] = {"action": describe(action), "written": ir.written(action)}
    if isinstance(action, ir.Transfer) and (action.ring is not None or action.fallback is not None):
        found["ring"] = action.ring.text if action.ring is not None else _seconds(ir.DEFAULT_RING_MS)
        found["else"] = ir.written(action.fallback) if action.fallback is not None else None
        found["defaults"] = ["ring"] if action.ring is None else []
    if isinstance(action, ir.Ask):
        found["answers"] = [ir.written(a) for a in action.answers]
    return found


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}s"


def _waits(flow: ir.Flow, menu: ir.Menu | ir.Collect) -> dict[str, Any]:
    defaults = [name for name in ("timeout", "retries", "inter-digit") if menu.get(name) is None]
    retries = menu.get("retries")
    handlers: dict[str, str] = {}
    for event in ("timeout", "invalid", "exhausted"):
        written = menu.on(event)
        if written is not None:
            handlers[event] = actions_text(written.actions)
        elif event != "exhausted" or menu_repeats(menu):
            handlers[event] = "repeat" if event != "exhausted" else "hangup"
            defaults.append(f"handlers.{event}")
    for on in menu.events:
        handlers.setdefault(on.event, actions_text(on.actions))
    found: dict[str, Any] = {
        "prompts": [_prompt(flow, play) for play in menu.plays],
        "keys": [{"key": press.key, "to": actions_text(press.actions), "line": press.span.line}
                 for press in menu.presses],
        "timeout": _seconds(menu.timeout_ms),
        "inter_digit": _seconds(menu.inter_digit_ms),
        "retries": retries.text if menu.separate_retries and retries is not None else menu.retries,
        "end_key": menu.end_key,
        "handlers": handlers,
        "defaults": defaults,
    }
    if isinstance(menu, ir.Collect):
        fewest, most = menu.digits_range
        found["digits"] = str(fewest) if fewest == most else f"{fewest}-{most}"
        if menu.get("digits") is None:
            defaults.append("digits")
    return found


def _prompt(flow: ir.Flow, play: ir.Play) -> dict[str, Any]:
    prompt = flow.prompt(play.prompt)
    found: dict[str, Any] = {"name": play.prompt, "text": None, "file": None, "fully": play.fully, "when": play.when}
    if prompt is not None:
        form = prompt.variant(flow.language)
        if form.kind == "say":
            found["text"] = form.value
        else:
            found["file"] = form.value
    return found


def prompt_files(flow: ir.Flow) -> frozenset[str]:
    """The recorded prompts' paths as the flow writes them (relative to the flow file)."""
    return frozenset(form.value for prompt in flow.definitions if isinstance(prompt, ir.Prompt)
                     for form in prompt.forms if form.kind == "file")
