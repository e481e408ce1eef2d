"""Calls on what the Telphin emulator holds, following Telphin's documented
behaviour, not the compiler's: the entry context's `start` rules run, then
keys are collected (`digit_len`, `allow_any_dial`); an option with no rules,
or whose rules end without leaving, hangs up; `call_interactive` asks a URL
and follows its XML (`<Jump>`, `<Hangup/>`, `<SimpleTransfer>`, `<SetVar>`).

A call has IVR variables (PLATFORMS.md §1): `set_variable` sets one,
`transfer_from_variable` transfers to one's value, and a call_interactive URL
gets each `$NAME` replaced by a value (VoipNow's "interactive parameters",
the platform Telphin's IVR comes from)."""

from __future__ import annotations

import re
import urllib.parse
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
    variables: dict[str, str] = field(default_factory=dict)  # the call's IVR variables

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "played": self.played, "context": self.context,
                "variables": self.variables}


#: `$NAME` in a call_interactive URL: the variable's value (URL-encoded;
#: ASSUMPTION: a variable never set becomes empty text).
URL_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def with_variables(url: str, variables: dict[str, str]) -> str:
    return URL_VARIABLE.sub(lambda m: urllib.parse.quote(variables.get(m.group(1), ""), safe=""), url)


class _Left(Exception):
    def __init__(self, outcome: Outcome):
        self.outcome = outcome


async def execute_call(state: Telphin, client: httpx.AsyncClient, extension: str, inputs: list[str], *,
                       caller: str | None = None, called: str | None = None, clock: str | None = None,
                       max_steps: int = 500) -> CallResult:
    """A call to `extension` (dialled as `called`): `inputs` are key entries or "silence"."""
    found = next((e for e in state.extensions.values() if e["name"].endswith("*" + extension)), None)
    if found is None or found["id"] not in state.ivrs:
        return CallResult(Outcome("hangup"))
    ivr = state.ivrs[found["id"]]
    result = CallResult(Outcome("waiting"))
    steps = 0
    jump: tuple[int, str] | None = (ivr["entry_context"], "start")
    call = _Call(f"call-{state.next_id()}", caller, called or extension, clock, result.variables, list(inputs))
    pending = call.pending
    try:
        while True:
            context = state.contexts.get(jump[0]) if jump else None
            if context is None:
                raise _Left(Outcome("hangup"))
            option = jump[1] if jump else "start"
            try:
                jump = await _run_rules(state, client, context, option, result, call)
            except _Waiting:
                result.context = str(context.get("description") or context["name"]).partition(" made=")[0]
                return result
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


class _Waiting(Exception):
    """record_digits waits for keys the script has not given yet."""


@dataclass
class _Call:
    id: str
    caller: str | None
    called: str
    clock: str | None
    variables: dict[str, str]
    pending: list[str]


#: ASSUMPTION (as in compile.RECORD_END_KEY): record_digits ends an entry at
#: this key, which is not kept.
RECORD_END_KEY = "#"


def recorded(entry: str, most: int) -> str:
    """What record_digits keeps of an entry: keys up to the end key, at most `most`."""
    if entry == "silence":
        return ""  # nothing within the context's timeout
    return entry.partition(RECORD_END_KEY)[0][:most]


async def _run_rules(state: Telphin, client: httpx.AsyncClient, context: dict[str, Any], option: str,
                     result: CallResult, call: _Call) -> tuple[int, str] | None:
    """Run an option's rules; a jump elsewhere is returned, a transfer or hangup raised."""
    for rule in list(context["options"].get(option, [])):
        action = rule["action"]
        if action == "play_sound":
            sound = state.sounds.get(rule["sound"])
            result.played.append(sound["filename"] if sound else "?")
        elif action in ("transfer", "simple_transfer"):
            raise _Left(Outcome("transfer", str(rule["transfer_dst"])))
        elif action == "transfer_from_variable":
            raise _Left(Outcome("transfer", call.variables.get(str(rule["transfer_variable"]), "")))
        elif action == "play_digits_from_variable":  # the variable's digits, one by one
            value = call.variables.get(str(rule["play_digits_variable"]), "")
            if value:
                result.played.append(f"digits:{value}")
        elif action == "record_digits":
            if rule.get("record_digits_sound") is not None:
                sound = state.sounds.get(rule["record_digits_sound"])
                result.played.append(sound["filename"] if sound else "?")
            if not call.pending:
                raise _Waiting
            most = int(rule.get("record_digits_max") or 20)
            call.variables[str(rule["record_digits_variable"])] = recorded(call.pending.pop(0), most)
        elif action == "set_variable":
            call.variables[str(rule["set_variable_name"])] = str(rule.get("set_variable_value") or "")
        elif action == "hangup":
            raise _Left(Outcome("hangup"))
        elif action == "jump_to_context":
            return int(rule["context"]), str(rule.get("context_option") or "start")
        elif action == "call_interactive":
            return await _interactive(client, rule, call)
    return None


async def _interactive(client: httpx.AsyncClient, rule: dict[str, Any], call: _Call) -> tuple[int, str] | None:
    params = {"CallID": call.id, "CallerIDNum": call.caller or "anonymous", "CalledNumber": call.called,
              "CallStatus": "ANSWER", "CallFlow": "in"}
    headers = {"X-Ivrflow-Clock": call.clock} if call.clock else {}
    url = with_variables(str(rule["call_interactive_url"]), call.variables)
    try:
        if str(rule.get("call_interactive_method", "POST")).upper() == "GET":
            response = await client.get(url, params=params, headers=headers)
        else:
            response = await client.post(url, data=params, headers=headers)
        root = ET.fromstring(response.text)
    except (httpx.HTTPError, ET.ParseError):
        raise _Left(Outcome("hangup")) from None
    for element in root:
        if element.tag == "SetVar" and element.get("name"):
            call.variables[str(element.get("name"))] = (element.text or "").strip()
        elif element.tag == "Hangup":
            raise _Left(Outcome("hangup"))
        if element.tag == "Jump":
            return int(element.get("context", "0")), element.get("option", "start")
        if element.tag in ("SimpleTransfer", "Transfer"):
            raise _Left(Outcome("transfer", (element.text or element.get("number") or "").strip()))
    return None
