"""Test blocks must be able to fail (IVR120) and give an `ask` only the
answers it declares (IVR128)."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from ..machine import Keys, Line, MachineError, Silence
from ..simulate import CallRecord, UndeclaredAnswer
from .base import RULES, Env, reports


@reports("IVR120")
def check_tests(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A test without `expect` (of an action, `language`, `say` or `set`)
    passes whatever the flow does, so it protects nothing."""
    for test in flow.tests:
        if not any(isinstance(step, (ir.TestExpect, ir.TestExpectState)) for step in test.steps):
            yield RULES["IVR120"].at(test.name_span, f'test "{test.name}" expects nothing, so it can never fail',
                                     hint='add an `expect`, such as `expect transfer "100"`')


@reports("IVR128")
def check_test_answers(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A test's `answer` that the `ask` it reaches does not declare (`ask "URL"
    -> goto pin | goto main`): the routing service is not allowed to say it, so
    the test describes a call that cannot happen (a live call would take the
    fallback instead). Found by playing the test's call up to that `ask`."""
    if not any(isinstance(h.actions.terminal, ir.Ask) and h.actions.terminal.answers for h in flow.handlers):
        return
    for test in flow.tests:
        answers = [step for step in test.steps if isinstance(step, ir.TestAnswer)]
        if not answers:
            continue
        at, caller = test.get("at"), test.get("caller")
        line = Line(at.value if at is not None and not at.problem else None,  # type: ignore[arg-type]
                    str(caller.value) if caller is not None else None)
        try:
            record = CallRecord.start(flow, line, [step.action for step in answers])
            for step in test.steps:
                if isinstance(step, (ir.TestPress, ir.TestSilence)) and record.call.status == "input":
                    record.send(Keys(step.key) if isinstance(step, ir.TestPress) else Silence())
        except UndeclaredAnswer as error:
            where = next(s for s in answers if s.action is error.answer)
            yield RULES["IVR128"].at(where.action.span, f'test "{test.name}": {error}',
                                     hint="answer with one of the declared answers, or declare this one")
        except MachineError:
            continue  # the test fails when run, and says why
