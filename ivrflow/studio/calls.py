"""Simulated calls walked in the studio: the machine `ivrflow simulate` runs,
one input at a time, with the path drawn on the diagram and written as a
`test` block that `ivrflow test` passes."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .. import simulation
from ..compiler import ir
from ..compiler.graph import CALL
from ..compiler.machine import (
    TRANSFER_REASONS,
    Answer,
    AskService,
    Keys,
    LookupResult,
    MachineError,
    Play,
    Silence,
    TransferFailed,
    answer_problem,
    asks_at,
)
from ..compiler.simulate import CallRecord, parse_lookup_answer

#: Open simulated calls kept at most; the one used longest ago goes first.
MAX_CALLS = 256
#: Inputs a call takes at most (a page stuck in a loop cannot grow one without end).
MAX_INPUTS = 500
#: The name of the test block the walk is written as.
TEST_NAME = "walked in the studio"


class BadInput(ValueError):
    """An input the call cannot take where it is: said in one line (a 400 answer)."""


@dataclass
class SimulatedCall:
    id: str
    file: str  # the file's id
    flow: ir.Flow
    graph: nx.MultiDiGraph
    arrow_of: Mapping[tuple[str, str, int], str]
    at: str
    caller: str | None
    record: CallRecord
    #: The test's lines for the inputs so far (`press 2`, `answer transfer "200"`).
    steps: list[str] = field(default_factory=list)
    hung_up: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def start(fid: str, flow: ir.Flow, graph: nx.MultiDiGraph, arrow_of: Mapping[tuple[str, str, int], str],
          at: str | None, caller: str | None) -> SimulatedCall:
    """A new call at the flow's start. Raises BadInput for a time or number that is not one."""
    if at is None:  # a walk is replayed as a test: the time it ran at is written down
        at = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    try:
        line = simulation.line(at, caller)
    except ValueError as error:
        raise BadInput(str(error).replace("--at: ", "at: ")) from None
    try:
        record = CallRecord.start(flow, line)
    except MachineError as error:
        raise BadInput(f"the call cannot start: {error}") from None
    return SimulatedCall(secrets.token_urlsafe(16), fid, flow, graph, arrow_of, at, caller, record)


def send(call: SimulatedCall, text: str) -> None:
    """One input from the page (docs/studio-api.md). Raises BadInput."""
    record = call.record
    status = record.call.status
    if call.hung_up or status == "ended":
        raise BadInput("the call has ended; start a new one")
    if len(call.steps) >= MAX_INPUTS:
        raise BadInput(f"a walk takes at most {MAX_INPUTS} inputs; start a new call")
    word = text.strip()
    if any(ch < " " or ch == "\x7f" for ch in word):
        raise BadInput("an input has no control characters")
    try:
        if word == "hangup":
            call.hung_up = True
        elif (reason := next((r for r in TRANSFER_REASONS if r == word), None)) is not None:
            if status != "ringing":
                raise BadInput(f"`{word}` is how a ringing transfer ends, and no transfer with `else` rings")
            record.send(TransferFailed(reason))
            call.steps.append(f"transfer-fails {word}")
        elif word.startswith("answer:"):
            _answer(call, word[len("answer:"):].strip())
        elif word.startswith("lookup:"):
            _lookup(call, word[len("lookup:"):].strip())
        elif status != "input":
            raise BadInput(f"`{word}`: the call is not waiting for keys ({_waiting(call) or 'it is over'})")
        elif word == "silence":
            record.send(Silence())
            call.steps.append("silence")
        elif word and len(word) <= 64 and all(ch in "0123456789*#" for ch in word):
            record.send(Keys(word))
            call.steps.append(f"press {word}" if len(word) == 1 and word != "#" else f"press {_quoted(word)}")
        else:
            raise BadInput(f"`{word[:40]}` is not a key (0-9, *, #), a digit string, `silence`, `hangup`, "
                           "`answer:ACTION`, `lookup:NAME=VALUE,…`, `lookup:error` or `no-answer`")
    except MachineError as error:
        raise BadInput(str(error)) from None


def _answer(call: SimulatedCall, text: str) -> None:
    record = call.record
    if record.call.status != "answer":
        raise BadInput("the call is not waiting for the routing service's answer")
    try:
        action = simulation.action(text, call.flow)
    except ValueError as error:
        raise BadInput(str(error)) from None
    url = record.call.outcome.target if record.call.outcome is not None else None
    problem = answer_problem(call.flow, record.call.node, url, action)
    if problem is not None:
        raise BadInput(problem)
    record.reply(Answer(action))
    call.steps.append(f"answer {ir.written(action)}")


def _lookup(call: SimulatedCall, text: str) -> None:
    record = call.record
    name = record.waiting_lookup
    if name is None:
        raise BadInput("the call is not waiting for a lookup's answer")
    try:
        answer = parse_lookup_answer(text)
    except ValueError as error:
        raise BadInput(f"lookup: {error}; write lookup:NAME=VALUE,… or lookup:error") from None
    record.reply(LookupResult(answer))
    if answer is None:
        call.steps.append(f"answer {name} error")
    else:
        call.steps.append(f"answer {name} " + " ".join(f"{k}={_quoted(v)}" for k, v in answer.items()))


def _waiting(call: SimulatedCall) -> str | None:
    status = call.record.call.status
    if call.hung_up:
        return None
    return {"input": "keys", "answer": "ask", "lookup": "lookup", "ringing": "ring"}.get(status)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- what the page shows -------------------------------------------------------------------

def state(call: SimulatedCall) -> dict[str, Any]:
    """The call as the page draws it (docs/studio-api.md)."""
    record = call.record
    nodes, arrows = walk(call.flow, call.graph, call.arrow_of, record)
    waiting = _waiting(call)
    found: dict[str, Any] = {
        "call": call.id, "file": call.file, "node": nodes[-1] if nodes else None, "path": nodes, "edges": arrows,
        "heard": _heard(call), "waiting": waiting, "choices": [], "lookup": None,
        "ended": _ended(call), "test": test_text(call),
        "at": call.at, "caller": call.caller, "variables": record.variables, "language": record.call.language,
    }
    if waiting == "ask":
        url = record.call.outcome.target if record.call.outcome is not None else None
        found["choices"] = list(dict.fromkeys(ir.written(a) for ask in asks_at(call.flow, record.call.node, url)
                                              for a in ask.answers))
        found["asking"] = url
    elif waiting == "lookup":
        lookup = call.flow.node(record.call.node or "")
        if isinstance(lookup, ir.Lookup):
            found["lookup"] = {"name": lookup.name, "receive": [r.name + "?" * r.optional for r in lookup.receive]}
    return found


def walk(flow: ir.Flow, graph: nx.MultiDiGraph, arrow_of: Mapping[tuple[str, str, int], str],
         record: CallRecord) -> tuple[list[str], list[str]]:
    """The nodes a call went through (from the call's start) and the diagram's arrows it took."""
    nodes, arrows = [CALL], []
    start = flow.start
    if start is not None and graph.has_edge(CALL, start):
        nodes.append(start)
        arrows.append(arrow_of.get((CALL, start, 0), ""))
    for visited, cause in zip(record.path, record.causes, strict=True):
        owner = CALL if visited.event == "max-duration" else visited.node
        if visited.event == "answer":  # the answer leaves from the `ask` the call is at
            owner = nodes[-1]
        answered = cause.event.action if isinstance(cause.event, Answer) else None
        edge = _edge_of(graph, owner, visited.event, answered)
        if edge is None:
            continue
        source, target, key = edge
        arrows.append(arrow_of.get((source, target, key), ""))
        nodes.append(target)
    return nodes, [a for a in arrows if a]


def _edge_of(graph: nx.MultiDiGraph, node: str, event: str,
             answered: ir.Action | None) -> tuple[str, str, int] | None:
    """The graph edge a path step took: the handler of `event` at `node` (a
    transfer's `else` leaves from the transfer's node; an answer is matched by what it says)."""
    candidates: list[tuple[str, str, int, dict[str, Any]]] = []
    if event.endswith(" else"):
        for source, target, key, data in graph.edges(keys=True, data=True):
            if data.get("cover") == (node, event):
                candidates.append((source, target, key, data))
    elif node in graph:
        candidates = [(node, t, k, d) for _, t, k, d in graph.out_edges(node, keys=True, data=True)]
    for source, target, key, data in candidates:
        if not event.endswith(" else") and data.get("event") != event:
            continue
        if answered is not None and data.get("answer") is not None and \
                ir.answer_key(data["answer"]) != ir.answer_key(answered):
            continue
        return source, target, key
    return None


def _heard(call: SimulatedCall) -> list[dict[str, Any]]:
    heard = []
    for effect in call.record.effects:
        if not isinstance(effect, Play):
            continue
        if effect.file is not None and effect.text is None:
            heard.append({"prompt": effect.prompt, "text": effect.prompt, "kind": "file", "language": effect.language,
                          "url": f"/api/files/{call.file}/prompts/{urllib.parse.quote(effect.file)}"})
        else:
            heard.append({"prompt": effect.prompt, "text": effect.text or effect.prompt, "kind": "say",
                          "language": effect.language})
    return heard


def _ended(call: SimulatedCall) -> dict[str, str] | None:
    outcome = call.record.outcome
    status = call.record.call.status
    if call.hung_up:
        return {"kind": "hangup", "text": "the caller hung up"}
    if status == "ended" or status == "ringing":
        text = simulation.describe_outcome(outcome, call.flow)
        if outcome.action == "transfer":
            text = f"transferred to {outcome.target}"
            if status == "ringing":
                text += " (it rings: it connects unless no-answer, busy or failed is chosen)"
        return {"kind": outcome.action, "text": text}
    if status == "answer":
        return {"kind": "ask", "text": f"the flow asks {outcome.target} where to go"}
    return None


def test_text(call: SimulatedCall) -> str:
    """The walk so far as a `test` block: `ivrflow test` passes it on the same file."""
    lines = [f"at {_quoted(call.at)}"]
    if call.caller:
        lines.append(f"caller {_quoted(call.caller)}")
    lines += call.steps
    expect = _expectation(call)
    if expect is not None:
        lines.append(expect)
    body = "".join(f"    {line}\n" for line in lines)
    return f"test {_quoted(TEST_NAME)} {{\n{body}}}\n"


def _expectation(call: SimulatedCall) -> str | None:
    """What the call is doing now, as an `expect` line (none while a lookup waits: a test cannot say so)."""
    record = call.record
    outcome = record.outcome
    status = record.call.status
    if status == "input":
        return f"expect goto {outcome.target}"
    if status == "answer" or outcome.action == "ask":
        asked = [e.url for e in record.effects if isinstance(e, AskService)]
        return f"expect ask {_quoted(asked[-1])}" if asked else None
    if outcome.action == "transfer":
        return f"expect transfer {_quoted(outcome.target or '')}"
    if outcome.action == "voicemail":
        return f"expect voicemail {_quoted(outcome.target)}" if outcome.target else "expect voicemail"
    if outcome.action == "hangup":
        return "expect hangup"
    return None


class CallTable:
    """The open simulated calls by id, at most MAX_CALLS (the one used longest ago is dropped)."""

    def __init__(self, limit: int = MAX_CALLS):
        self.limit = limit
        self._calls: OrderedDict[str, SimulatedCall] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, call: SimulatedCall) -> None:
        with self._lock:
            self._calls[call.id] = call
            while len(self._calls) > self.limit:
                self._calls.popitem(last=False)

    def get(self, cid: str) -> SimulatedCall | None:
        with self._lock:
            call = self._calls.get(cid)
            if call is not None:
                self._calls.move_to_end(cid)
            return call

    def __len__(self) -> int:
        return len(self._calls)
