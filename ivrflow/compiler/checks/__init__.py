"""The checks, in the order they run. Each is a pure function
`check_x(flow, graph, env) -> Iterable[Diagnostic]` whose docstring says what a
caller would experience; docs/checks.md is written from the same table.
"""

from __future__ import annotations

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from . import (
    flowgraph,
    handlers,
    keys,
    languages,
    menus,
    names,
    routes,
    settings,
    sources,
    statements,
    tests,
    variables,
)
from .base import Check, Env

__all__ = ["CHECKS", "Check", "Env", "run"]

CHECKS: tuple[Check, ...] = (
    names.check_undefined,          # IVR002
    names.check_duplicates,         # IVR003
    settings.check_values,          # IVR004
    settings.check_repeated,        # IVR005
    variables.check_unknown_variables,  # IVR009
    statements.check_statements,    # IVR010
    languages.check_languages,      # IVR011
    languages.check_variants,       # IVR012
    keys.check_overlapping_keys,    # IVR013
    keys.check_end_key,             # IVR014
    statements.check_required_handlers,  # IVR015
    flowgraph.check_unreachable,    # IVR101
    handlers.check_terminal,        # IVR102, IVR107
    flowgraph.check_traps,          # IVR103, IVR132
    handlers.check_defaults,        # IVR104, IVR105
    keys.check_duplicate_keys,      # IVR106
    handlers.check_repeat_outside_menu,  # IVR108
    keys.check_key_length,          # IVR109, IVR110
    keys.check_dial_extensions,     # IVR111
    sources.check_audio_files,      # IVR112, IVR124 to IVR126
    names.check_unused,             # IVR113
    menus.check_announced_keys,     # IVR114
    flowgraph.check_silence_loops,  # IVR115
    routes.check_otherwise,         # IVR116
    menus.check_option_count,       # IVR117
    flowgraph.check_depth,          # IVR118
    menus.check_no_prompt,          # IVR119
    tests.check_tests,              # IVR120
    routes.check_hours,             # IVR121
    flowgraph.check_instant_loops,  # IVR122
    names.check_something_to_start,  # IVR127
    tests.check_test_answers,       # IVR128
    variables.check_unset_variables,  # IVR129
    variables.check_unused_received,  # IVR130
    statements.check_lookup_urls,   # IVR131
    variables.check_braces,         # IVR133
)


def run(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env | None = None) -> list[Diagnostic]:
    env = env or Env()
    found: list[Diagnostic] = []
    for check in CHECKS:
        found.extend(check(flow, graph, env))
    return found
