"""Calls on what the Telphin emulator holds, following Telphin's documented
behaviour, not the compiler's: the entry context's `start` rules run, then
keys are collected (`digit_len`, `allow_any_dial`); an option with no rules,
or whose rules end without leaving, hangs up; `call_interactive` asks a URL
and follows its XML (`<Jump>`, `<Hangup/>`, `<SimpleTransfer>`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import httpx

from ...compiler.machine import Outcome
from .state import BUILT_IN, Telphin


@dataclass
class CallResult:
    outcome: Outcome
    played: list[str] = field(default_factory=list)  # sound file names
    context: str | None = None  # where a waiting call is (the context's description, up to " made=")

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "played": self.played, "context": self.context}


class _Left(Exception):
    def __init__(self, outcome: Outcome):
        self.outcome = outcome


async def execute_call(state: Telphin, client: httpx.AsyncClient, extension: str, inputs: list[str], *,
                       caller: str | None = None, clock: str | None = None, max_steps: int = 500) -> CallResult:
    """A call to `extension`: `inputs` are key entries or "silence"."""
    found = next((e for e in state.extensions.values() if e["name"].endswith("*" + extension)), None)
    if found is None or found["id"] not in state.ivrs:
        return CallResult(Outcome("hangup"))
    ivr = state.ivrs[found["id"]]
    result = CallResult(Outcome("waiting"))
    pending = list(inputs)
    steps = 0
    jump: tuple[int, str] | None = (ivr["entry_context"], "start")
    call_id = f"call-{state.next_id()}"
    try:
        while True:
            context = state.contexts.get(jump[0]) if jump else None
            if context is None:
                raise _Left(Outcome("hangup"))
            option = jump[1] if jump else "start"
            jump = await _run_rules(state, client, context, option, result, caller, clock, call_id)
            steps += 1
            if steps > max_steps:
                raise _Left(Outcome("hangup"))
            if jump is not None:
                continue
            if option != "start":
                raise _Left(Outcome("hangup"))  # an option that ends without leaving hangs up
            # the start rules have run: collect keys
            if not pending:
                result.context = str(context.get("description") or context["name"]).partition(" made=")[0]
                return result
            entry = pending.pop(0)
            if entry == "silence":
                jump = (context["id"], "timeout")
                continue
            entry = entry[: context["digit_len"]]
            if entry in context["options"] and entry not in BUILT_IN:
                jump = (context["id"], entry)
            elif context["allow_any_dial"] and entry.isdigit():
                raise _Left(Outcome("transfer", entry))
            else:
                jump = (context["id"], "invalid")
    except _Left as left:
        result.outcome = left.outcome
        return result


async def _run_rules(state: Telphin, client: httpx.AsyncClient, context: dict[str, Any], option: str,
                     result: CallResult, caller: str | None, clock: str | None,
                     call_id: str) -> tuple[int, str] | None:
    """Run an option's rules; a jump elsewhere is returned, a transfer or hangup raised."""
    for rule in list(context["options"].get(option, [])):
        action = rule["action"]
        if action == "play_sound":
            sound = state.sounds.get(rule["sound"])
            result.played.append(sound["filename"] if sound else "?")
        elif action in ("transfer", "simple_transfer"):
            raise _Left(Outcome("transfer", str(rule["transfer_dst"])))
        elif action == "hangup":
            raise _Left(Outcome("hangup"))
        elif action == "jump_to_context":
            return int(rule["context"]), str(rule.get("context_option") or "start")
        elif action == "call_interactive":
            return await _interactive(client, rule, caller, clock, call_id)
    return None


async def _interactive(client: httpx.AsyncClient, rule: dict[str, Any], caller: str | None, clock: str | None,
                       call_id: str) -> tuple[int, str] | None:
    params = {"CallID": call_id, "CallerIDNum": caller or "anonymous", "CalledNumber": "071",
              "CallStatus": "ANSWER", "CallFlow": "in"}
    headers = {"X-Ivrflow-Clock": clock} if clock else {}
    try:
        if str(rule.get("call_interactive_method", "POST")).upper() == "GET":
            response = await client.get(rule["call_interactive_url"], params=params, headers=headers)
        else:
            response = await client.post(rule["call_interactive_url"], data=params, headers=headers)
        root = ET.fromstring(response.text)
    except (httpx.HTTPError, ET.ParseError):
        raise _Left(Outcome("hangup")) from None
    for element in root:
        if element.tag == "Hangup":
            raise _Left(Outcome("hangup"))
        if element.tag == "Jump":
            return int(element.get("context", "0")), element.get("option", "start")
        if element.tag in ("SimpleTransfer", "Transfer"):
            raise _Left(Outcome("transfer", (element.text or element.get("number") or "").strip()))
    return None
