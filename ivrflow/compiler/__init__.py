"""The compiler core: source text in, values out. No I/O, no printing.

    result = check_source(text, "main.ivr")
    result.flow, result.graph, result.diagnostics
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import ir
from .diagnostics import Diagnostic, Severity

if TYPE_CHECKING:
    import networkx as nx

    from .checks import Env


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked file: its IR and graph (None after a syntax error) and the
    diagnostics in source order."""

    file: str
    source: str
    flow: ir.Flow | None
    graph: nx.MultiDiGraph | None
    diagnostics: tuple[Diagnostic, ...]
    #: The text of every file the flow read (itself and its includes), by name.
    sources: Mapping[str, str] = field(default_factory=dict)

    def lines_of(self, file: str) -> list[str]:
        """A file's lines, for showing where a diagnostic points."""
        return (self.sources.get(file) or (self.source if file == self.file else "")).splitlines()

    @property
    def errors(self) -> int:
        return sum(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity is Severity.WARNING for d in self.diagnostics)

    @property
    def ok(self) -> bool:
        return self.flow is not None and self.errors == 0


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the IR and graph are built:
    they make hundreds of thousands of objects but no garbage cycles, and
    the collector's repeated passes over them cost more than the parse itself
    on large flows (mypy does the same). Reference counting still frees."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_source(source: str, file: str = "<input>", env: Env | None = None) -> Checked:
    """Parse, build the graph and run every check on one flow file."""
    with _gc_paused():
        return _check(source, file, env)


def _check(source: str, file: str, env: Env | None) -> Checked:
    from . import checks, graph, includes, suppress
    from .parse import parse

    env = env or checks.Env()
    parsed = parse(source, file)
    if parsed.flow is None:
        return Checked(file, source, None, None, parsed.diagnostics)
    flow, included = includes.resolve(parsed.flow, env.include)
    flow_graph = graph.build(flow)
    found = included.diagnostics + checks.run(flow, flow_graph, env)
    suppressions = suppress.find(source, file)
    for name, text in included.sources.items():
        suppressions += suppress.find(text, name)
    found = suppress.apply(found, suppressions)
    found.sort(key=Diagnostic.sort_key)
    return Checked(file, source, flow, flow_graph, tuple(found), {file: source, **included.sources})
