"""The coverage overlay: what a flow's `test` blocks exercise, as the
diagram's nodes and arrows (the same tests and handlers `ivrflow test` counts)."""

from __future__ import annotations

from typing import Any

from ..compiler.testing import run_tests
from .calls import walk
from .view import Drawing


def of(drawing: Drawing) -> dict[str, Any]:
    """GET /api/files/{fid}/coverage (docs/studio-api.md)."""
    flow, graph = drawing.checked.flow, drawing.checked.graph
    assert flow is not None and graph is not None
    results, counted = run_tests(flow, graph)
    nodes: set[str] = set()
    arrows: set[str] = set()
    for result in results:
        if result.record is not None:
            walked, taken = walk(flow, graph, drawing.arrow_of, result.record)
            nodes.update(walked)
            arrows.update(taken)
    return {
        "nodes": {node: node in nodes for node in graph.nodes},
        "edges": {edge["id"]: edge["id"] in arrows for edge in drawing.edges},
        "percent": round(counted.percent, 1),
        "handlers": len(counted.handlers),
        "missed": [{"what": f"{node}: {event}", "node": node, "event": event, "file": span.file, "line": span.line,
                    "column": span.column} for node, event, span in counted.missed],
        "tests": {"passed": sum(r.passed for r in results), "failed": sum(not r.passed for r in results)},
    }
