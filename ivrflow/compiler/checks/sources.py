"""Files the flow needs (IVR112)."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, reports


@reports("IVR112")
def check_audio_files(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A `file` prompt whose audio file is not there: the platform plays
    nothing (or the deploy fails) where the caller expects a greeting."""
    if env.file_exists is None:
        return
    for prompt in flow.prompts:
        if prompt.kind == "file" and not env.file_exists(prompt.value):
            yield RULES["IVR112"].at(prompt.value_span, f"audio file `{prompt.value}` not found",
                                     hint="paths are relative to the flow file")
