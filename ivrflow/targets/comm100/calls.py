"""Calls on what the Comm100 emulator holds, following Comm100's documented
behaviour and the assumptions schema.py names, not the compiler's.

A call starts at the voicebot's `callStarts` smart trigger: its response's
`Start` action, then each action's `nextActionId`. PlayText and PlayAudio
speak and go on; SetVariableValue sets a variable; a Condition goes to the
first case whose conditions hold (all or any of them), else to its other
case; a Webhook POSTs its body to its URL and maps the answer's keys into
variables (a listed status goes on there, anything else to
otherResponseToActionId); EndCall ends the call; TransferCall transfers it,
or, when the caller's next input is `no-answer`, `busy` or `failed`, goes to
actionIdWhenTransferFailed.

An IVRMenu says its message and waits. A key with an option goes to the
option's action; any other key is wrong: the menu says invalidInputMessage
and asks again, until invalidInputRepeatTime wrong keys, then goes to
actionIdWhenInvalidInput. A CollectDTMFDigits says its message and takes one
entry into its variable: the first numberOfDigits keys, or with "Variable"
the keys before stopGatherAfterPresskey (all of them when it is not pressed).
Silence is the voicebot's: every timeIntervalToRepeatLastMessageWhenNoInput
seconds the last message is repeated, and once timeToHangUpCallWhenNoInput
seconds of silence have passed the bot says messageBeforeHangUpCallWhenNoInput
and hangs up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from ...compiler.machine import TRANSFER_REASONS, Outcome
from . import schema
from .state import Comm100


@dataclass
class CallResult:
    outcome: Outcome
    said: list[str] = field(default_factory=list)  # texts and audio paths, in order
    action: str | None = None  # the IVRMenu or CollectDTMFDigits a waiting call is at
    variables: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "said": self.said, "action": self.action,
                "variables": self.variables}


class CallError(Exception):
    """The call cannot run: no such voicebot, or no callStarts trigger."""


#: `{!Variable.name}` and `{!Visitor.CallerID}` in a text (schema.VARIABLE_TEXT, CALLER_TEXT).
_INSERTED = re.compile(re.escape(schema.CALLER_TEXT) + "|" + re.escape(schema.variable_text("NAME")).replace(
    "NAME", r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"))
#: A number a comparison takes (as the machine's: digits, a sign, a decimal point).
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
#: What `menu` and `collect` give when the call waits for the caller, or has ended.
_WAIT = "<wait>"
#: ASSUMED: how long a Webhook waits for its answer (Comm100 documents no timeout).
WEBHOOK_TIMEOUT_S = 10.0


class _Call:
    def __init__(self, bot: dict[str, Any], actions: dict[str, dict[str, Any]], inputs: list[str],
                 caller: str | None, client: httpx.AsyncClient):
        self.bot, self.actions, self.pending, self.caller, self.client = bot, actions, list(inputs), caller, client
        self.result = CallResult(Outcome("waiting"))
        self.variables = self.result.variables
        self.interval = int(bot.get(schema.REPEAT_INTERVAL_FIELD) or 20)
        self.hang_up = int(bot.get(schema.HANG_UP_FIELD) or 90)
        self.silent = 0

    def fill(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            if match.group("name") is None:
                return self.caller or ""
            return self.variables.get(match.group("name"), "")
        return _INSERTED.sub(value, text)

    def field_value(self, name: str) -> str | None:
        if name == schema.CALLER_FIELD:
            return self.caller
        prefix = schema.VARIABLE_FIELD.split("{")[0]
        return self.variables.get(name[len(prefix):]) if name.startswith(prefix) else None

    async def run(self, start: str | None, max_steps: int) -> CallResult:
        current = start
        for _ in range(max_steps):
            if current is None or current not in self.actions:
                return self.end(Outcome("hangup"))  # schema.END_WITHOUT_NEXT
            action = self.actions[current]
            kind = action["type"]
            sub = action.get(schema.sub_object(kind)) or {}
            if kind in ("Start", "PlayText", "PlayAudio"):
                if kind != "Start":
                    self.result.said.append(self.fill(str(sub.get("message"))) if kind == "PlayText"
                                            else str(sub.get("audioPath")))
                current = _link(sub.get("nextActionId"))
            elif kind == "SetVariableValue":
                self.variables[str(sub.get("variable"))] = self.fill(str(sub.get("value") or ""))
                current = _link(sub.get("nextActionId"))
            elif kind == "Condition":
                current = self.decide(sub)
            elif kind == "Webhook":
                current = await self.webhook(sub)
            elif kind == "EndCall":
                return self.end(Outcome("hangup"))
            elif kind == "TransferCall":
                failed = sub.get("actionIdWhenTransferFailed")
                if self.pending and self.pending[0] in TRANSFER_REASONS and failed is not None:
                    self.pending.pop(0)
                    current = failed
                    continue
                return self.end(Outcome("transfer", self.fill(str(sub.get("transferTo")))))
            elif kind == "IVRMenu":
                following = self.menu(action["id"], sub)
                if following is _WAIT:
                    return self.result
                current = following
            elif kind == "CollectDTMFDigits":
                following = self.collect(action["id"], sub)
                if following is _WAIT:
                    return self.result
                current = following
            else:
                raise CallError(f"the emulator cannot run a {kind} action")
        raise CallError("the call went round too many actions without waiting for the caller")

    def end(self, outcome: Outcome) -> CallResult:
        self.result.outcome = outcome
        self.result.action = None
        return self.result

    def next_input(self, action_id: str, message: str) -> str | None:
        """The caller's next entry at an action that waits; None (the call
        waits, or has been hung up for silence) when there is none."""
        while True:
            if not self.pending:
                self.result.action = action_id
                self.result.outcome = Outcome("waiting")
                return None
            entry = self.pending.pop(0)
            if entry in TRANSFER_REASONS:
                raise CallError(f"`{entry}` while no transfer is ringing")
            if entry != "silence":
                if schema.SILENCE_RESETS_ON_KEY:
                    self.silent = 0
                return entry
            self.silent += self.interval
            if self.silent >= self.hang_up:
                self.result.said.append(str(self.bot.get(schema.HANG_UP_MESSAGE_FIELD) or ""))
                self.end(Outcome("hangup"))
                return None
            self.result.said.append(message)  # the last message, repeated

    def menu(self, action_id: str, sub: dict[str, Any]) -> str | None:
        """The action the menu goes to; _WAIT when the call waits or ended."""
        message = self.fill(str(sub.get("message") or ""))
        self.result.said.append(message)
        wrong = 0
        while True:
            entry = self.next_input(action_id, message)
            if entry is None:
                return _WAIT
            key = entry[:1]
            option = next((o for o in sub.get(schema.OPTIONS_FIELD) or []
                           if key.isdigit() and o.get("key") == int(key)), None)
            if option is not None:
                return _link(option.get(schema.OPTION_LINK))
            wrong += 1
            if wrong <= int(sub.get("invalidInputRepeatTime") or 0):
                self.result.said += [self.fill(str(sub.get("invalidInputMessage") or "")), message]
                continue
            return _link(sub.get("actionIdWhenInvalidInput"))

    def collect(self, action_id: str, sub: dict[str, Any]) -> str | None:
        message = self.fill(str(sub.get("message") or ""))
        self.result.said.append(message)
        entry = self.next_input(action_id, message)
        if entry is None:
            return _WAIT
        count = str(sub.get("numberOfDigits") or "")
        if count == schema.VARIABLE_DIGITS:
            stop = sub.get("stopGatherAfterPresskey")
            value = entry.split(stop, 1)[0] if stop else entry
        else:
            value = entry[:int(count)]
        self.variables[str(sub.get("variableName"))] = value
        return _link(sub.get("nextActionId"))

    def decide(self, sub: dict[str, Any]) -> str | None:
        for case in sorted(sub.get("cases") or [], key=lambda c: c.get("order", 0)):
            checks = [self.holds(c) for c in case.get("conditions") or []]
            kind = case.get("conditionExpressionType")
            if kind not in ("all", "any"):
                raise CallError(f"the emulator cannot run a {kind} case")
            if (all(checks) if kind == "all" else any(checks)):
                return _link(case.get("goToActionId"))
        return _link(sub.get("otherCaseActionId"))

    def holds(self, condition: dict[str, Any]) -> bool:
        """One condition, as schema.CONDITION_OPERATORS' ASSUMED meaning says."""
        value = self.field_value(str(condition.get("fieldName")))
        operator, wanted = condition.get("operator"), str(condition.get("value"))
        if operator == "is":
            return value is not None and value == wanted
        if operator == "isNot":
            return value is None or value != wanted
        if operator == "regularExpression":
            return re.search(wanted, value or "") is not None
        if operator in ("contains", "notContains"):
            return (wanted in (value or "")) == (operator == "contains")
        if operator not in ("isLessThan", "isNotMoreThan", "isMoreThan", "isNotLessThan"):
            raise CallError(f"the emulator cannot run the operator {operator}")
        if value is None or not _NUMBER.fullmatch(value) or not _NUMBER.fullmatch(wanted):
            return False
        left, right = Decimal(value), Decimal(wanted)
        return {"isLessThan": left < right, "isNotMoreThan": left <= right, "isMoreThan": left > right,
                "isNotLessThan": left >= right}[operator]

    async def webhook(self, sub: dict[str, Any]) -> str | None:
        """POST the body; the listed status's next action, the answer's keys in variables."""
        try:
            response = await self.client.post(str(sub.get("url")), content=self.fill(
                str(sub.get("additionalPostBody") or "")).encode(), headers={
                "content-type": "application/json",
                **{str(h.get("key")): str(h.get("value")) for h in sub.get("headers") or []}},
                timeout=WEBHOOK_TIMEOUT_S)
            answer = response.json()
        except (httpx.HTTPError, ValueError):
            return _link(sub.get("otherResponseToActionId"))
        listed = {c.get("responseCode"): c.get("nextActionId") for c in sub.get("responseCodeToActions") or []}
        if response.status_code not in listed:
            return _link(sub.get("otherResponseToActionId"))
        for mapping in sub.get("responseToVariables") or []:
            found: Any = answer
            for part in str(mapping.get("responseKey")).split("."):
                found = found.get(part) if isinstance(found, dict) else None
            if isinstance(found, (str, int, float)) and not isinstance(found, bool):
                self.variables[str(mapping.get("variableName"))] = str(found)
        return _link(listed[response.status_code])


def _link(value: object) -> str | None:
    """An action id a field holds (None: no next action)."""
    return value if isinstance(value, str) else None


async def execute_call(state: Comm100, voicebot: str, inputs: list[str], *, caller: str | None = None,
                       client: httpx.AsyncClient | None = None, max_steps: int = 500) -> CallResult:
    """A call from `caller` to the voicebot named `voicebot`: `inputs` are
    keys, "silence", or how a ringing transfer fails (`no-answer`, `busy`,
    `failed`); Webhook actions are POSTed with `client`."""
    bot = state.bot_named(voicebot)
    if bot is None:
        raise CallError(f"no voicebot named {voicebot!r}")
    trigger = next((t for t in state.objects["triggers"].values()
                    if t.get("voicebotId") == bot["id"] and t.get("trigger") == schema.CALL_STARTS), None)
    if trigger is None:
        raise CallError(f"voicebot {voicebot!r} has no callStarts smart trigger")
    actions = state.actions_of(trigger["voicebotResponseId"])
    start = next((a["id"] for a in actions.values() if a.get("type") == "Start"), None)
    if client is not None:
        return await _Call(bot, actions, inputs, caller, client).run(start, max_steps)
    async with httpx.AsyncClient() as own:
        return await _Call(bot, actions, inputs, caller, own).run(start, max_steps)

