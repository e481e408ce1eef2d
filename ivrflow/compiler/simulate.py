"""A whole call, scripted: the driver that `simulate` and `ivrflow test` share."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from . import ir, values
from .machine import (
    TRANSFER_REASONS,
    Answer,
    AskService,
    Call,
    Effect,
    Event,
    Keys,
    Line,
    LookupResult,
    LookupService,
    Outcome,
    Play,
    Silence,
    Start,
    TransferFailed,
    Visited,
    answer_problem,
    outcome_of,
    step,
)

#: What a script gives the call: an entry, a silence, or how a ringing transfer went.
Input = Union[Keys, Silence, TransferFailed]

#: A lookup's scripted answer: the variables the web service returns, or None when it fails.
LookupAnswer = Union[Mapping[str, str], None]


class UndeclaredAnswer(ValueError):
    """A scripted answer (a test's `answer`, `--answer`) that the `ask` it
    reaches does not declare. Not a MachineError: the caller's script is
    wrong, not the flow."""

    def __init__(self, message: str, answer: ir.Action):
        super().__init__(message)
        self.answer = answer


class MisplacedInput(ValueError):
    """A scripted input the call cannot take where it is (`no-answer` while
    no transfer with `else` rings). The script is wrong, not the flow."""


@dataclass(frozen=True, slots=True)
class Cause:
    """What made a path step happen: the event sent, and the call just before it."""

    event: Event
    before: Call


@dataclass
class CallRecord:
    """What happened on a call so far: its state, path and every effect.

    The routing service's answers (`answers`) and the lookups' (`lookups`,
    per lookup, in order) are given up front and used when the call gets
    there; a call at a lookup with no answer left waits there."""

    flow: ir.Flow
    line: Line
    call: Call = field(default_factory=Call)
    path: list[Visited] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    answers: list[ir.Action] = field(default_factory=list)
    lookups: dict[str, list[LookupAnswer]] = field(default_factory=dict)
    causes: list[Cause] = field(default_factory=list)  # one per path step

    @classmethod
    def start(cls, flow: ir.Flow, line: Line | None = None, answers: Iterable[ir.Action] = (),
              lookups: Iterable[tuple[str, LookupAnswer]] = ()) -> CallRecord:
        line = line or Line()
        record = cls(flow, line, answers=list(answers))
        for name, answer in lookups:
            record.lookups.setdefault(name, []).append(answer)
        record._send(Start())
        return record

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.call)

    @property
    def ended(self) -> bool:
        """Whether the call can go no further: over, transferred (a ringing
        transfer connects unless told otherwise), or waiting for an answer
        the script does not give."""
        return self.call.status in ("ended", "ringing", "lookup") or (
            self.call.status == "answer" and not self.answers)

    @property
    def waiting_lookup(self) -> str | None:
        """The lookup the call waits for (no answer for it was left), or None."""
        return self.call.node if self.call.status == "lookup" else None

    def send(self, event: Input) -> None:
        self._send(event)

    def reply(self, event: Answer | LookupResult) -> None:
        """The routing service's or a web service's answer given by hand
        (the studio's buttons), where a script's would be taken at once."""
        self._send(event)

    def _send(self, event: Event) -> None:
        before = self.call
        call, effects = step(self.flow, before, event, self.line)
        self.call = call
        self.effects.extend(effects)
        for effect in effects:
            if isinstance(effect, Visited):
                self.path.append(effect)
                self.causes.append(Cause(event, before))
        # the routing service and the web services answer at once, from the script
        if call.status == "answer" and self.answers and any(isinstance(e, AskService) for e in effects):
            answer = self.answers.pop(0)
            url = call.outcome.target if call.outcome is not None else None
            problem = answer_problem(self.flow, call.node, url, answer)
            if problem is not None:
                raise UndeclaredAnswer(problem, answer)
            self._send(Answer(answer))
        elif call.status == "lookup" and self.lookups.get(call.node or "") and any(
                isinstance(e, LookupService) for e in effects):
            self._send(LookupResult(self.lookups[call.node or ""].pop(0)))

    # --- what the call said and holds ---------------------------------------------

    def heard(self) -> tuple[list[list[Play]], list[Play]]:
        """The prompts played before each path step (as `Visited.played`
        names them), and those played since the last step."""
        steps: list[list[Play]] = []
        playing: list[Play] = []
        for effect in self.effects:
            if isinstance(effect, Play):
                playing.append(effect)
            elif isinstance(effect, Visited):
                steps.append(playing)
                playing = []
        return steps, playing

    @property
    def variables(self) -> dict[str, str]:
        """The variables the call's collects, lookups and `set`s gave values,
        by name (the built-ins, `key` among them, are left out)."""
        return {name: self.call.variables[name] for name in sorted(self.call.variables) if name != "key"}

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `simulate --format json` (DESIGN §5; docs/cli.md): a
        flow with call state (see `has_state`) adds the text each prompt said,
        the language and the variables."""
        if not has_state(self.flow):
            return {
                "outcome": self.outcome.to_dict(),
                "path": [
                    {"node": v.node, "event": v.event, "played": list(v.played), "keys": v.keys}
                    for v in self.path
                ],
            }
        heard, _ = self.heard()
        return {
            "outcome": self.outcome.to_dict(),
            "path": [
                {"node": v.node, "event": v.event, "played": list(v.played), "said": [p.text for p in plays],
                 "keys": v.keys}
                for v, plays in zip(self.path, heard, strict=True)
            ],
            "language": self.call.language,
            "variables": self.variables,
        }


def has_state(flow: ir.Flow) -> bool:
    """Whether a call of the flow carries state worth showing (the second
    edition): several languages, prompt variants, variables in a `say` text,
    a collect, a lookup or a `set`. A flow without any is shown as before."""
    if len(flow.languages) > 1:
        return True
    for item in flow.definitions:
        if isinstance(item, (ir.Collect, ir.Lookup)):
            return True
        if isinstance(item, ir.Prompt) and (item.variants or (
                item.kind == "say" and values.template_names(item.value))):
            return True
    return any(isinstance(action, (ir.SetVariable, ir.SetLanguage))
               for handler in flow.handlers for action in handler.actions.steps)


# --- scripts ---------------------------------------------------------------------

def parse_inputs(text: str) -> Iterator[Input]:
    """`1,2,silence` → Keys("1"), Keys("2"), Silence(); `12345678#` is one
    entry with its end key; `no-answer`, `busy` and `failed` say how a
    ringing transfer went; "" → nothing. Raises ValueError."""
    if not text.strip():
        return
    for item in text.split(","):
        item = item.strip()
        word = item.lower()
        if word in ("silence", "-"):
            yield Silence()
        elif word in TRANSFER_REASONS:
            yield TransferFailed(word)
        elif item and all(ch in "0123456789*#" for ch in item):
            yield Keys(item)
        else:
            raise ValueError(f"`{item}` is not a key or `silence`")


def input_text(event: Input) -> str:
    """An input as a script writes it (the inverse of parse_inputs)."""
    if isinstance(event, Keys):
        return event.keys
    return event.reason if isinstance(event, TransferFailed) else "silence"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_lookup_answer(text: str) -> LookupAnswer:
    """`balance=42.10,status=ok` → {"balance": "42.10", "status": "ok"};
    `error` → None (the lookup fails); "" → {} (an answer with no variables).
    Each pair is split at its first `=`, so values may hold `=` and `:`.
    Raises ValueError."""
    text = text.strip()
    if text == "error":
        return None
    answer: dict[str, str] = {}
    for pair in text.split(",") if text else ():
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ValueError(f"`{pair.strip()}` is not NAME=VALUE")
        if not _NAME.fullmatch(name):
            raise ValueError(f"`{name}` is not a variable name")
        if name in answer:
            raise ValueError(f"`{name}` is given twice")
        answer[name] = value
    return answer


def lookup_of(flow: ir.Flow, text: str) -> tuple[str, str] | None:
    """(lookup, answer text) when `text` (an --answer) names one of the flow's
    lookups before its first colon (`find_balance:balance=42.10`); else None:
    it answers an `ask`."""
    name, colon, rest = text.partition(":")
    if colon and isinstance(flow.node(name.strip()), ir.Lookup):
        return name.strip(), rest
    return None


def run_call(flow: ir.Flow, inputs: Iterable[Input], line: Line | None = None,
             answers: Iterable[ir.Action] = (),
             lookups: Iterable[tuple[str, LookupAnswer]] = ()) -> tuple[CallRecord, list[Input]]:
    """Play a scripted call; returns the record and the inputs left unused
    because the call had ended (a ringing transfer connects unless the next
    input says how it failed) or waits for a lookup the script does not
    answer. Raises MisplacedInput for a transfer's outcome given while the
    call waits for keys."""
    record = CallRecord.start(flow, line, answers, lookups)
    pending = list(inputs)
    while pending:
        status, event = record.call.status, pending[0]
        failed = isinstance(event, TransferFailed)
        if status == "input" and failed:
            raise MisplacedInput(f"`{input_text(event)}`: the call is waiting for keys in `{record.call.node}`, "
                                 "not ringing a transfer with `else`")
        if not (status == "input" or (status == "ringing" and failed)):
            break
        record.send(pending.pop(0))
    return record, pending
