"""Values that cannot be understood (IVR004) and settings given twice (IVR005)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, kind_word, reports


@reports("IVR004")
def check_values(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A duration, time, date, zone, key, number, mask or address that is not
    one: the platform would reject it, or the call would not do what it says."""
    rule = RULES["IVR004"]
    for span, problem in _problems(flow):
        yield rule.at(span, problem)
    for test in flow.tests:
        for step in test.steps:
            if isinstance(step, ir.TestExpect) and isinstance(step.action, ir.Repeat):
                yield rule.at(step.span, "`expect repeat` cannot be checked: a repeat is not where a call ends",
                              hint="expect `goto MENU` to check which menu the call is waiting in")


def _problems(flow: ir.Flow) -> Iterator[tuple[ir.Span, str]]:
    settings: list[ir.Setting] = []
    if flow.header is not None:
        settings += flow.header.settings
    waits: tuple[ir.Menu | ir.Collect, ...] = (*flow.menus, *flow.collects)
    for menu in waits:
        settings += menu.settings
        for press in menu.presses:
            if press.problem:
                yield press.key_span, press.problem
    for lookup in flow.lookups:
        settings += lookup.settings
        if lookup.problem:
            yield lookup.url_span, lookup.problem
    for hours in flow.hours:
        settings += hours.settings
        for days in hours.open:
            if days.problem:
                yield days.span, days.problem
    for route in flow.routes:
        for branch in route.branches:
            if not isinstance(branch, ir.When):
                continue
            for condition in ir.walk_condition(branch.condition):
                problem = getattr(condition, "problem", None)
                if problem:
                    yield condition.span, problem
    for test in flow.tests:
        settings += test.settings
        for step in test.steps:
            if isinstance(step, ir.TestPress) and step.problem:
                yield step.span, step.problem
            elif isinstance(step, ir.TestExpectState) and step.kind == "set" and " " in (step.name or ""):
                name, operator = (step.name or "").split(" ", 1)
                yield step.span, (f'`expect set {name} {operator} "…"`: a test expects a value with `==`, '
                                  f'such as `expect set {name} == "{step.value}"`')
    for setting in settings:
        if setting.problem:
            yield setting.value_span or setting.span, setting.problem
    for action in _all_actions(flow):
        problem = getattr(action, "problem", None)
        if problem:
            yield action.span, problem
        if isinstance(action, ir.Transfer) and action.ring is not None and action.ring.problem:
            yield action.ring.value_span or action.ring.span, action.ring.problem


def _all_actions(flow: ir.Flow) -> Iterator[ir.Action]:
    for handler in flow.handlers:
        yield from ir.with_answers(handler.actions.items)
    for test in flow.tests:
        for step in test.steps:
            if isinstance(step, (ir.TestExpect, ir.TestAnswer)):
                yield step.action


@reports("IVR005")
def check_repeated(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A setting or handler written twice in one block: one of them is ignored,
    and which one is a guess the reader should not have to make."""
    if flow.header is not None:
        yield from _repeated(flow.header.settings, "in the flow block")
    nodes: tuple[ir.Menu | ir.Collect | ir.Lookup, ...] = (*flow.menus, *flow.collects, *flow.lookups)
    for node in nodes:
        what = f"{kind_word(type(node), article=False)} `{node.name}`"
        yield from _repeated(node.settings, f"in {what}")
        yield from _repeated_events(node, what)
    for hours in flow.hours:
        yield from _repeated([s for s in hours.settings if s.name == "timezone"], f"in hours `{hours.name}`")
    for test in flow.tests:
        yield from _repeated(test.settings, f'in test "{test.name}"')


def _repeated(settings: Iterable[ir.Setting], where: str) -> Iterator[Diagnostic]:
    rule = RULES["IVR005"]
    first: dict[str, ir.Setting] = {}
    for setting in settings:
        if setting.name in first:
            yield rule.at(setting.span, f"`{setting.name}` is given twice {where} "
                                        f"(first on line {first[setting.name].span.line})",
                          hint="keep one of them", related=((first[setting.name].span, "first given here"),))
        else:
            first[setting.name] = setting


def _repeated_events(node: ir.Menu | ir.Collect | ir.Lookup, what: str) -> Iterator[Diagnostic]:
    rule = RULES["IVR005"]
    first: dict[str, ir.OnEvent] = {}
    for on in node.events:
        if on.event in first:
            yield rule.at(on.span, f"`on {on.event}` is given twice in {what} "
                                   f"(first on line {first[on.event].span.line}); only the last one runs",
                          hint="keep one of them", related=((first[on.event].span, "first given here"),))
        else:
            first[on.event] = on
