"""The second edition on Comm100 (issue 14): a flow with a route on the
caller, a collect, a lookup answered by a bank's service on loopback,
conditions on its answer, `set` and `transfer … else` is deployed to the
emulator, and every sequence of entries to depth 3 (2 for the callers the
entry route singles out) ends, on the emulator's call executor, as the
machine (`simulate`) says, except where the compiler reported IVR206."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrflow.compiler import ir
from ivrflow.compiler.machine import TRANSFER_REASONS, Keys, Line, Silence, TransferFailed
from ivrflow.compiler.simulate import CallRecord, LookupAnswer, MisplacedInput, run_call
from ivrflow.targets.capabilities import unsupported
from ivrflow.targets.comm100 import target
from ivrflow.targets.comm100.calls import execute_call
from ivrflow.targets.comm100.emulator import comm100_app
from ivrflow.targets.comm100.state import Comm100

from .bank_service import BankService, balance_of
from .conftest import EXAMPLE_FLOWS
from .flows import flow_of
from .servers import serve_app
from .test_comm100 import SECOND
from .test_comm100_deploy import TEMPLATE, deploy, environment, in_comm100_words

#: Keys (5 and 7 of one-key ranges), a wrong key, silence, a transfer that is not answered, and account
#: numbers: valid (with and without the end key), too short, blocked, one whose
#: balance is negative, one the service fails on.
ENTRIES = ("1", "2", "3", "5", "7", "9", "silence", "no-answer", "12345678#", "123456", "1234#", "87654321#",
           "55555555#", "99999999#")
CALLERS = (None, "44201234567", "71")
NOON = dt.datetime(2026, 11, 23, 12, 0)


def _inputs(inputs: tuple[str, ...]) -> list[Any]:
    return [Silence() if i == "silence" else TransferFailed(i) if i in TRANSFER_REASONS else Keys(i)  # type: ignore[arg-type]
            for i in inputs]


def _answer(account: str | None) -> LookupAnswer:
    answer = balance_of(account or "0")
    return answer if isinstance(answer, dict) else None


def machine_call(flow: ir.Flow, inputs: tuple[str, ...], caller: str | None) -> CallRecord | None:
    """The machine's call, the lookup answered as the bank's service answers
    the account the caller keyed; None for inputs no call can have."""
    line = Line(NOON, caller)
    try:
        record, _ = run_call(flow, _inputs(inputs), line)
        if record.call.status == "lookup":
            account = record.call.variables.get("account")
            record, _ = run_call(flow, _inputs(inputs), line, lookups=[("find_balance", _answer(account))])
    except MisplacedInput:
        return None
    return record


def wrong(node: ir.Node | None, keys: str) -> bool:
    """Whether an entry is a wrong one where the call waits (as the machine reads entries)."""
    if isinstance(node, ir.Menu):
        return node.press_for(keys[:node.digits]) is None
    if isinstance(node, ir.Collect):
        fewest, most = node.digits_range
        end = node.end_key
        entry = keys[:keys.index(end)] if end is not None and end in keys[:most + 1] else keys[:most]
        return len(entry) < fewest
    return False


def approximated(flow: ir.Flow, wanted: Any, inputs: tuple[str, ...], caller: str | None) -> bool:
    """A case the compiler reported as approximated (IVR206): silence in a
    node whose silence Comm100 handles otherwise, or silences and wrong
    entries mixed in one visit of a node (Comm100 counts them apart)."""
    kinds: set[str] = set()
    node = None
    for index, entry in enumerate(inputs):
        record = machine_call(flow, inputs[:index], caller)
        if record is None or record.call.status != "input":
            return False
        if record.call.node != node:
            node, kinds = record.call.node, set()
        if entry == "silence" and node in wanted.approximated:
            return True
        if entry == "silence" or wrong(flow.node(node or ""), entry):
            kinds.add("silence" if entry == "silence" else "wrong")
        if len(kinds) > 1:
            return True
    return False


@pytest.fixture
def deployed(tmp_path: Path) -> Any:
    """SECOND deployed to the emulator, its lookup pointed at the bank's service."""
    service = BankService()
    state = Comm100()
    with serve_app(service.app()) as bank, serve_app(comm100_app(state)) as base:
        path = tmp_path / "second.ivr"
        path.write_text(SECOND.replace("https://bank.example.com/balance", bank + "/balance"))
        flow = flow_of(path)
        env = environment(base + "/v4")
        deploy(path, env, flow=flow)
        yield flow, target.desired(flow, str(path), env), state, service, base


def test_every_call_on_the_second_edition_ends_as_the_machine_says(deployed: Any) -> None:
    flow, wanted, state, service, _ = deployed
    node_of = {(a.x, a.y): a.key.split("/")[0] for a in wanted.actions}
    place = {live["id"]: (live["xPosition"], live["yPosition"]) for live in state.objects["actions"].values()}
    cases = [(i, c) for c in CALLERS for n in range(4 if c is None else 3)
             for i in itertools.product(ENTRIES, repeat=n)]
    cases = [(i, c) for i, c in cases if machine_call(flow, i, c) is not None]
    compared = [(i, c) for i, c in cases if not approximated(flow, wanted, i, c)]

    async def run_all() -> list[Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            return [await execute_call(state, "second", list(i), caller=c, client=client) for i, c in compared]

    calls = asyncio.run(run_all())
    mismatches = []
    ends: set[str] = set()
    for (inputs, caller), call in zip(compared, calls, strict=True):
        got = dict(call.outcome.to_dict())
        if got["action"] == "waiting":
            got = {"action": "waiting", "node": node_of[place[call.action]]}
        record = machine_call(flow, inputs, caller)
        assert record is not None
        want = in_comm100_words(record.outcome, waiting="node")
        ends.add(f"{want['action']} {want.get('target', '')}")
        if got != want:
            mismatches.append((inputs, caller, want, got))
    assert mismatches == [], json.dumps(mismatches[:5], indent=1)
    assert len(compared) > 1000 and len(compared) > 0.8 * len(cases)
    # every way out was taken: the caller's route, each condition, the failed
    # transfer's voicemail, the service's failure, a wrong account
    numbers = ("900", "200", "250", "260", "270", "800", "33", "55")
    assert {f"transfer {TEMPLATE.replace('{ext}', n)}" for n in numbers} <= ends, ends
    assert {"hangup ", "waiting "} <= {e.split(" ")[0] + " " for e in ends}
    sent = {json.dumps(r["variables"], sort_keys=True) for r in service.requests}
    assert json.dumps({"account": "12345678", "caller": ""}, sort_keys=True) in sent


def test_the_emulators_call_endpoint_takes_the_caller_and_runs_the_webhook(deployed: Any) -> None:
    _, _, _, service, base = deployed
    with httpx.Client(base_url=base, timeout=10) as client:
        def call(inputs: list[str], caller: str | None = None) -> dict[str, Any]:
            response = client.post("/_emulator/call", json={"voicebot": "second", "inputs": inputs, "caller": caller})
            assert response.status_code == 200, response.text
            return dict(response.json())

        assert call([], "44201234567")["outcome"] == {"action": "transfer", "target": "sip:900@pbx.example.com"}
        answered = call(["1", "55555555#"], "+15550100")
        assert answered["outcome"] == {"action": "transfer", "target": "sip:260@pbx.example.com"}
        assert answered["variables"]["balance"] == "-12.50"
        assert "Your balance is -12.50 dollars." in answered["said"]
        assert service.requests[-1]["variables"] == {"account": "55555555", "caller": "+15550100"}
        assert client.post("/_emulator/call", json={"voicebot": "second", "caller": 5}).status_code == 400
        assert client.post("/_emulator/call", json={"voicebot": "second", "inputs": ["no-answer"]}).status_code == 404


def test_the_examples_of_the_second_edition_are_refused_with_reasons() -> None:
    """bank.ivr and bilingual.ivr switch languages (a Comm100 voicebot has
    one), bank.ivr asks `called` and opening hours: refused at each use, so
    the differential test above runs a flow of their constructs instead."""
    second = [p for p in EXAMPLE_FLOWS if p.stem in ("bank", "bilingual")]
    assert len(second) == 2
    for path in second:
        messages = [d.message for d in unsupported(target.TARGET, flow_of(path))]
        assert any("one languageId" in m for m in messages), messages
    bank = [d.message for d in unsupported(target.TARGET, flow_of(next(p for p in second if p.stem == "bank")))]
    assert any("dialled" in m for m in bank) and any("opening hours" in m for m in bank), bank


def test_the_emulator_validates_the_second_editions_actions(deployed: Any) -> None:
    """CollectDTMFDigits, SetVariableValue, Condition and Webhook are checked
    as schema.py assumes them: 400 with the field, never 500."""
    _, _, state, _, base = deployed
    response_id = next(iter(state.objects["responses"]))
    with httpx.Client(base_url=base + "/v4", auth=("demo@example.com", "demo"), params={"siteId": 10000}) as api:
        def refused(kind: str, sub: Any) -> str:
            answer = api.post("/voicebot/voicebotActions", json={
                "type": kind, "voicebotResponseId": response_id, "xPosition": 0, "yPosition": 0,
                f"voicebotAction{kind}": sub})
            assert answer.status_code == 400, answer.text
            return str(answer.json()["message"])

        assert "numberOfDigits" in refused("CollectDTMFDigits", {"variableName": "v", "numberOfDigits": "31"})
        assert "stopGatherAfterPresskey" in refused("CollectDTMFDigits", {
            "variableName": "v", "numberOfDigits": "Variable", "stopGatherAfterPresskey": "5"})
        assert "variableName" in refused("CollectDTMFDigits", {"numberOfDigits": "4"})
        assert "variable" in refused("SetVariableValue", {"value": "x"})
        assert "url" in refused("Webhook", {"responseCodeToActions": []})
        assert "conditionExpressionType" in refused("Condition", {"cases": [{"conditionExpressionType": "some"}]})
        assert "operator" in refused("Condition", {"cases": [{"conditionExpressionType": "all", "conditions": [
            {"fieldName": "Variable.x", "operator": "equals", "value": "1"}]}]})
        assert "not an action" in refused("Condition", {"cases": [{"conditionExpressionType": "all", "conditions": [],
                                                                   "goToActionId": "nope"}]})
        assert "cases" in refused("Condition", {"cases": "all"})
