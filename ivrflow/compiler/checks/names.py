"""Names: what is referred to must exist (IVR002), be defined once (IVR003)
and be used (IVR113)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, is_library, kind_word, kinds_word, reports

_NODE_KINDS = ir.NODE_TYPES


def references(flow: ir.Flow, *, tests: bool = True) -> Iterator[tuple[str, ir.Span, tuple[type, ...], str]]:
    """(name, where, what it must be, the keyword that uses it) for every name written."""
    header = flow.header
    if header is not None:
        start = header.get("start")
        if start is not None:
            yield str(start.value), start.span, _NODE_KINDS, "start"
    waits: tuple[ir.Menu | ir.Collect, ...] = (*flow.menus, *flow.collects)
    for node in waits:
        for play in node.plays:
            yield play.prompt, play.name_span, (ir.Prompt,), "play"
    for route in flow.routes:
        for branch in route.branches:
            if isinstance(branch, ir.When):
                for condition in ir.walk_condition(branch.condition):
                    if isinstance(condition, ir.IsOpen):
                        yield condition.hours, condition.name_span, (ir.Hours,), "open"
    lists = [h.actions.items for h in flow.handlers]
    if tests:
        lists += [(step.action,) for test in flow.tests for step in test.steps
                  if isinstance(step, (ir.TestExpect, ir.TestAnswer))]
        for test in flow.tests:
            for step in test.steps:
                if isinstance(step, ir.TestLookupAnswer):
                    yield step.lookup, step.name_span, (ir.Lookup,), "answer"
    for items in lists:
        for action in ir.with_answers(items):
            if isinstance(action, ir.Goto):
                yield action.target, action.target_span, _NODE_KINDS, "goto"
            elif isinstance(action, ir.PlayThen):
                yield action.prompt, action.name_span, (ir.Prompt,), "play"


@reports("IVR002")
def check_undefined(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A `goto`, `play`, `open` or `start` that names nothing (or the wrong kind
    of thing), also among the answers an `ask` declares and the lookups a
    test's `answer` names: the call would have nowhere to go, or silence
    where a prompt should be. A name close to one that exists is offered
    ("did you mean `billing`?")."""
    rule = RULES["IVR002"]
    for name, span, kinds, keyword in references(flow):
        found = flow.names.get(name)
        wanted = kinds_word(kinds)
        if found is None:
            candidates = [n for n, d in flow.names.items() if isinstance(d, kinds)]
            close = difflib.get_close_matches(name, candidates, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"define a {wanted} named `{name}`"
            yield rule.at(span, f"`{keyword} {name}`: there is no {wanted} named `{name}`", hint)
        elif not isinstance(found, kinds):
            article = "an" if wanted[0] in "aeiouh" else "a"
            yield rule.at(span, f"`{keyword} {name}`: `{name}` is {kind_word(type(found))}, "
                                f"not {article} {wanted}",
                          related=((found.name_span, "defined here"),))


@reports("IVR003")
def check_duplicates(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A name defined twice: only the first definition is used, so edits to the
    second would silently change nothing a caller hears. A name defined in
    two files joined by `include` is reported with both files named."""
    rule = RULES["IVR003"]
    for item in flow.definitions:
        first = flow.names[item.name]
        if first is not item:
            message = f"`{item.name}` is already defined as {kind_word(type(first))} on line {first.name_span.line}"
            if first.name_span.file != item.name_span.file:  # through `include`: name both files
                message = (f"`{item.name}` is defined in two files: as {kind_word(type(first))} in "
                           f"{first.name_span.file} (line {first.name_span.line}), and here in {item.name_span.file}")
            yield rule.at(item.name_span, message,
                          hint="rename one of them: prompts, hours, menus, routes, collects and lookups "
                               "share one set of names",
                          related=((first.name_span, "first defined here"),))
    for extra in flow.headers[1:]:
        yield rule.at(extra.span, f"a second `flow` block; the first is on line {flow.headers[0].span.line}",
                      hint="a file describes one flow: merge the settings into one block")
    seen: dict[str, ir.Test] = {}
    for test in flow.tests:
        if test.name in seen:
            yield rule.at(test.name_span, f'test "{test.name}" is already defined on line '
                                          f"{seen[test.name].span.line}",
                          hint="give each test its own name, so that a failure says which one")
        else:
            seen[test.name] = test


@reports("IVR113")
def check_unused(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A prompt never played or hours never checked: dead text that readers
    will think matters, and an audio file that is uploaded for nothing.
    Definitions that come from an included file are not reported (a shared
    file lends more than each flow uses), nor is anything in a file that is
    only meant to be included (no `flow` block, no menu, route, collect or
    lookup, such as examples/common.ivr)."""
    rule = RULES["IVR113"]
    if is_library(flow):
        return
    used = {name for name, _, _, _ in references(flow, tests=False)}
    included = {id(item) for item in flow.included}
    for item in flow.definitions:
        if item.name in used or flow.names[item.name] is not item or id(item) in included:
            continue
        if isinstance(item, ir.Prompt):
            yield rule.at(item.name_span, f"prompt `{item.name}` is never played", hint="play it, or remove it")
        elif isinstance(item, ir.Hours):
            yield rule.at(item.name_span, f"hours `{item.name}` are never checked by a route",
                          hint=f"use it in a route (`when open {item.name} -> …`), or remove it")


@reports("IVR127")
def check_something_to_start(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A flow with no menu, route, collect or lookup (an empty file, or a
    `flow` block with only prompts and hours) gives a call nowhere to go: it
    would be answered and hung up at once, and no platform can be given it.
    A file with no `flow` block that defines prompts or hours is a file to
    include (such as examples/common.ivr) and is not reported."""
    if flow.menus or flow.routes or flow.collects or flow.lookups or is_library(flow):
        return
    span = flow.header.name_span if flow.header is not None else ir.Span(flow.file, 1, 1, 1, 1)
    yield RULES["IVR127"].at(span, "this flow has no menu or route, so a call has nowhere to start",
                             hint="add a `menu` with a prompt and keys (examples/quickstart.ivr is a small one)")
