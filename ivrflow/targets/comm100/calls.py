"""Calls on what the Comm100 emulator holds, following Comm100's documented
behaviour and the assumptions schema.py names, not the compiler's.

A call starts at the voicebot's `callStarts` smart trigger: its response's
`Start` action, then each action's `nextActionId`. PlayText and PlayAudio
speak and go on; TransferCall and EndCall end the call; an IVRMenu says its
message and waits. A key with an option goes to the option's action; any
other key is wrong: the menu says invalidInputMessage and asks again, until
invalidInputRepeatTime wrong keys, then goes to actionIdWhenInvalidInput.
Silence is the voicebot's: every timeIntervalToRepeatLastMessageWhenNoInput
seconds the last message is repeated, and once timeToHangUpCallWhenNoInput
seconds of silence have passed the bot says messageBeforeHangUpCallWhenNoInput
and hangs up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...compiler.machine import Outcome
from . import schema
from .state import Comm100


@dataclass
class CallResult:
    outcome: Outcome
    said: list[str] = field(default_factory=list)  # texts and audio paths, in order
    action: str | None = None  # the IVRMenu a waiting call is at

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "said": self.said, "action": self.action}


class CallError(Exception):
    """The call cannot run: no such voicebot, or no callStarts trigger."""


def execute_call(state: Comm100, voicebot: str, inputs: list[str], *, max_steps: int = 500) -> CallResult:
    """A call to the voicebot named `voicebot`: `inputs` are keys or "silence"."""
    bot = state.bot_named(voicebot)
    if bot is None:
        raise CallError(f"no voicebot named {voicebot!r}")
    trigger = next((t for t in state.objects["triggers"].values()
                    if t.get("voicebotId") == bot["id"] and t.get("trigger") == schema.CALL_STARTS), None)
    if trigger is None:
        raise CallError(f"voicebot {voicebot!r} has no callStarts smart trigger")
    actions = state.actions_of(trigger["voicebotResponseId"])
    start = next((a for a in actions.values() if a.get("type") == "Start"), None)
    result = CallResult(Outcome("waiting"))
    pending = list(inputs)
    interval = int(bot.get(schema.REPEAT_INTERVAL_FIELD) or 20)
    hang_up = int(bot.get(schema.HANG_UP_FIELD) or 90)
    silent = 0
    current = start["id"] if start else None
    steps = 0
    while True:
        steps += 1
        if steps > max_steps:
            raise CallError("the call went round too many actions without waiting for the caller")
        if current is None or current not in actions:
            result.outcome = Outcome("hangup")  # schema.END_WITHOUT_NEXT
            return result
        action = actions[current]
        kind = action["type"]
        sub = action.get(schema.sub_object(kind)) or {}
        if kind in ("Start", "PlayText", "PlayAudio"):
            if kind != "Start":
                result.said.append(str(sub.get("message") if kind == "PlayText" else sub.get("audioPath")))
            current = sub.get("nextActionId")
            continue
        if kind == "EndCall":
            result.outcome = Outcome("hangup")
            return result
        if kind == "TransferCall":
            result.outcome = Outcome("transfer", str(sub.get("transferTo")))
            return result
        if kind != "IVRMenu":
            raise CallError(f"the emulator cannot run a {kind} action")
        # An IVRMenu: say its message, then wait for keys.
        result.said.append(str(sub.get("message") or ""))
        wrong = 0
        while True:
            if not pending:
                result.action = action["id"]
                result.outcome = Outcome("waiting")
                return result
            entry = pending.pop(0)
            if entry == "silence":
                silent += interval
                if silent >= hang_up:
                    result.said.append(str(bot.get(schema.HANG_UP_MESSAGE_FIELD) or ""))
                    result.outcome = Outcome("hangup")
                    return result
                result.said.append(str(sub.get("message") or ""))  # the last message, repeated
                continue
            if schema.SILENCE_RESETS_ON_KEY:
                silent = 0
            key = entry[:1]
            option = next((o for o in sub.get(schema.OPTIONS_FIELD) or []
                           if key.isdigit() and o.get("key") == int(key)), None)
            if option is not None:
                current = option.get(schema.OPTION_LINK)
                break
            wrong += 1
            if wrong <= int(sub.get("invalidInputRepeatTime") or 0):
                result.said += [str(sub.get("invalidInputMessage") or ""), str(sub.get("message") or "")]
                continue
            current = sub.get("actionIdWhenInvalidInput")
            break
