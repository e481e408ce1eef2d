"""Routes and opening hours: every call must leave a route (IVR116), and
hours should mean what they look like (IVR121)."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from ..values import DAY_NAMES
from .base import RULES, Env, reports


@reports("IVR116")
def check_otherwise(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A route must end with exactly one `otherwise`: without it a call that
    matches no `when` has nowhere to go; after it nothing is ever looked at."""
    rule = RULES["IVR116"]
    for route in flow.routes:
        otherwise = route.otherwise
        if otherwise is None:
            yield rule.at(route.name_span,
                          f"route `{route.name}` has no `otherwise`: a call that matches no `when` has nowhere to go",
                          hint="add `otherwise -> …` as its last line")
            continue
        after = route.branches[route.branches.index(otherwise) + 1:]
        for branch in after:
            word = "`otherwise`" if isinstance(branch, ir.Otherwise) else "this `when`"
            yield rule.at(branch.span, f"{word} comes after `otherwise` (line {otherwise.span.line}) and never runs",
                          hint="`otherwise` must be the last line of a route")


@reports("IVR121")
def check_hours(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """Hours that are never open, whose ranges overlap, or that have no time
    zone (UTC is assumed, which is rarely where the office is)."""
    rule = RULES["IVR121"]
    for hours in flow.hours:
        if not hours.open:
            yield rule.at(hours.name_span, f"hours `{hours.name}` are never open",
                          hint="add days with times, such as `mon-fri 09:00-18:00`")
        if hours.timezone is None:
            yield rule.at(hours.name_span, f"hours `{hours.name}` have no `timezone`; UTC is assumed",
                          hint='add `timezone "Europe/London"` (an IANA zone)')
        seen: dict[int, list[tuple[int, int, ir.DayRange]]] = {}
        for days in hours.open:
            for day in days.days:
                for start, end in days.ranges:
                    for other_start, other_end, other in seen.get(day, []):
                        if start < other_end and other_start < end:
                            overlap = (f"{_clock(start)}-{_clock(end)} on {DAY_NAMES[day]} overlaps "
                                       f"{_clock(other_start)}-{_clock(other_end)} (line {other.span.line})")
                            yield rule.at(days.span, overlap,
                                          hint="merge the ranges")
                            break
                    seen.setdefault(day, []).append((start, end, days))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
