"""Test blocks must be able to fail (IVR120)."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, reports


@reports("IVR120")
def check_tests(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A test without `expect` passes whatever the flow does, so it protects
    nothing."""
    for test in flow.tests:
        if not any(isinstance(step, ir.TestExpect) for step in test.steps):
            yield RULES["IVR120"].at(test.name_span, f'test "{test.name}" expects nothing, so it can never fail',
                                     hint='add an `expect`, such as `expect transfer "100"`')
