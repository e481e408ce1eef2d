"""A whole call, scripted: the driver that `simulate` and `ivrflow test` share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from . import ir
from .machine import (
    Answer,
    AskService,
    Call,
    Effect,
    Keys,
    Line,
    Outcome,
    Silence,
    Visited,
    answer_problem,
    outcome_of,
    start_call,
    step,
)

Input = Union[Keys, Silence]


class UndeclaredAnswer(ValueError):
    """A scripted answer (a test's `answer`, `--answer`) that the `ask` it
    reaches does not declare. Not a MachineError: the caller's script is
    wrong, not the flow."""

    def __init__(self, message: str, answer: ir.Action):
        super().__init__(message)
        self.answer = answer


@dataclass
class CallRecord:
    """What happened on a call so far: its state, path and every effect."""

    flow: ir.Flow
    line: Line
    call: Call = field(default_factory=Call)
    path: list[Visited] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    answers: list[ir.Action] = field(default_factory=list)

    @classmethod
    def start(cls, flow: ir.Flow, line: Line | None = None, answers: Iterable[ir.Action] = ()) -> CallRecord:
        line = line or Line()
        record = cls(flow, line, answers=list(answers))
        record._take(*start_call(flow, line))
        return record

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.call)

    @property
    def ended(self) -> bool:
        return self.call.status == "ended" or (self.call.status == "answer" and not self.answers)

    def send(self, event: Input) -> None:
        self._take(*step(self.flow, self.call, event, self.line))

    def _take(self, call: Call, effects: tuple[Effect, ...]) -> None:
        self.call = call
        self.effects.extend(effects)
        self.path.extend(e for e in effects if isinstance(e, Visited))
        # the routing service answers at once, from the script
        if call.status == "answer" and self.answers and any(isinstance(e, AskService) for e in effects):
            answer = self.answers.pop(0)
            url = call.outcome.target if call.outcome is not None else None
            problem = answer_problem(self.flow, call.node, url, answer)
            if problem is not None:
                raise UndeclaredAnswer(problem, answer)
            self._take(*step(self.flow, call, Answer(answer), self.line))

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `simulate --format json` (DESIGN §5)."""
        return {
            "outcome": self.outcome.to_dict(),
            "path": [
                {"node": v.node, "event": v.event, "played": list(v.played), "keys": v.keys}
                for v in self.path
            ],
        }


def parse_inputs(text: str) -> Iterator[Input]:
    """`1,2,silence` → Keys("1"), Keys("2"), Silence(); "" → nothing. Raises ValueError."""
    if not text.strip():
        return
    for item in text.split(","):
        item = item.strip()
        if item.lower() in ("silence", "-"):
            yield Silence()
        elif item and all(ch in "0123456789*#" for ch in item):
            yield Keys(item)
        else:
            raise ValueError(f"`{item}` is not a key or `silence`")


def run_call(flow: ir.Flow, inputs: Iterable[Input], line: Line | None = None,
             answers: Iterable[ir.Action] = ()) -> tuple[CallRecord, list[Input]]:
    """Play a scripted call; returns the record and the inputs left unused
    because the call had already ended."""
    record = CallRecord.start(flow, line, answers)
    pending = list(inputs)
    while pending and record.call.status == "input":
        record.send(pending.pop(0))
    return record, pending
