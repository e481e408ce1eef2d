"""Calls on what the PortSIP emulator holds, following PortSIP's documented
behaviour and the assumptions named here, not the compiler's.

A receptionist plays its prompt; a CALLER action URL whose mask matches the
caller is asked at once. Then the caller's entries: a DTMF action URL whose
mask matches is asked (its answer overrides the key); else a key rule, in or
out of its office hours; else a number dialed directly unless excluded; else
the entry is wrong. A wrong entry and a timeout both replay the prompt until
`repeat_times` is used up, then run `timeout_forward_rule`. A forward to a
receptionist's number enters it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import httpx

from ...compiler.conditions import caller_matches
from ...compiler.machine import Outcome
from .state import WEEKDAYS, PortSip

#: ASSUMPTION: a caller takes this long to key in after a prompt; a
#: receptionist whose timeout is shorter goes on before any key arrives.
THINK_S = 2
#: ASSUMPTION: a wrong entry replays the prompt and counts like a timeout.
WRONG_ENTRY_COUNTS = True


@dataclass
class CallResult:
    outcome: Outcome
    played: list[str] = field(default_factory=list)  # prompt file names
    receptionist: str | None = None  # where a waiting call is (its name)
    asked: int = 0  # action URL requests

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "played": self.played, "receptionist": self.receptionist,
                "asked": self.asked}


class _Left(Exception):
    def __init__(self, outcome: Outcome):
        self.outcome = outcome


async def execute_call(state: PortSip, client: httpx.AsyncClient, extension: str, inputs: list[str], *,
                       caller: str | None = None, clock: str | None = None, max_steps: int = 300) -> CallResult:
    """A call to `extension`: `inputs` are key entries or "silence"."""
    result = CallResult(Outcome("waiting"))
    pending = list(inputs)
    now = dt.datetime.fromisoformat(clock) if clock else dt.datetime.now()
    session = f"session-{state.next_id()}"
    try:
        ivr = state.by_number(extension)
        if ivr is None:
            raise _Left(Outcome("transfer", extension))
        steps = 0
        while True:
            steps += 1
            if steps > max_steps:
                raise _Left(Outcome("hangup"))
            target = await _visit(state, client, ivr, pending, result, caller, now, session, clock)
            if target is None:
                result.receptionist = ivr["name"]
                return result
            ivr = target
    except _Left as left:
        result.outcome = left.outcome
        return result


async def _visit(state: PortSip, client: httpx.AsyncClient, ivr: dict[str, Any], pending: list[str],
                 result: CallResult, caller: str | None, now: dt.datetime, session: str,
                 clock: str | None) -> dict[str, Any] | None:
    """The call at one receptionist: the next receptionist, or None when the
    caller has nothing more to press; leaving the PBX raises _Left."""
    urls = [u for u in state.urls.get(ivr["id"], {}).values() if u.get("enabled")]
    for url in urls:
        if url["type"] == "CALLER" and caller_matches(url.get("caller_mask", ""), caller):
            answer = await _ask(client, url, ivr, caller, "", session, clock, result)
            if answer is not None:
                return _answered(state, answer)
    rule = ivr["timeout_forward_rule"]
    repeats = 0
    while True:
        _play(state, ivr, result)
        if rule["timeout"] < THINK_S or not pending:
            if rule["timeout"] >= THINK_S:
                return None  # the caller is still deciding
            entry = "silence"
        else:
            entry = pending.pop(0)
        if entry != "silence":
            target = await _entry(state, client, ivr, urls, entry, caller, now, session, clock, result)
            if target is not None:
                return target
            if not WRONG_ENTRY_COUNTS:
                continue
        if repeats < rule["repeat_times"]:
            repeats += 1
            continue
        return _forward(state, rule)


async def _entry(state: PortSip, client: httpx.AsyncClient, ivr: dict[str, Any], urls: list[dict[str, Any]],
                 entry: str, caller: str | None, now: dt.datetime, session: str, clock: str | None,
                 result: CallResult) -> dict[str, Any] | None:
    """What an entry does: the next receptionist (leaving raises), or None for a wrong entry."""
    for url in urls:
        if url["type"] == "DTMF" and caller_matches(url.get("dtmf_mask", ""), entry):
            answer = await _ask(client, url, ivr, caller, entry, session, clock, result)
            if answer is not None:
                return _answered(state, answer)
    rules = {r["user_input"]: r for r in ivr["custom_forward_rules"]}
    taken = _match(entry, rules)
    if taken is not None:
        rule = rules[taken]
        inside = _in_office(rule.get("office_hours") or {"mode": "GLOBAL"}, now)
        return _forward(state, rule["office_hours_forward_rule" if inside else "non_office_hours_forward_rule"])
    if entry.isdigit() and not _excluded(ivr.get("exclude_list") or "", entry):
        return _forward(state, {"action": "FORWARD_TO_NUMBER", "number": entry})
    return None


def _match(entry: str, rules: dict[str, Any]) -> str | None:
    """ASSUMPTION: PortSIP takes a key rule as soon as the keys pressed equal
    it and no longer rule begins with them; else it waits for the pause."""
    for length in range(1, len(entry) + 1):
        keys = entry[:length]
        if keys in rules and not any(k != keys and k.startswith(keys) for k in rules):
            return keys
    return entry if entry in rules else None


def _in_office(hours: dict[str, Any], now: dt.datetime) -> bool:
    if hours.get("mode") != "CUSTOM":
        return True  # the tenant's global hours: the emulator has none, so always open
    day = hours.get(WEEKDAYS[now.weekday()]) or {}
    if not day.get("enabled"):
        return False
    clock = now.strftime("%H:%M")
    return any(span["from"] <= clock < span["to"] for span in day.get("ranges", []))


def _excluded(exclude: str, number: str) -> bool:
    for part in exclude.replace(",", ";").split(";"):
        low, _, high = part.partition("-")
        if low and int(low) <= int(number) <= int(high or low):
            return True
    return False


def _forward(state: PortSip, rule: dict[str, Any]) -> dict[str, Any]:
    action = rule["action"]
    if action == "HANGUP":
        raise _Left(Outcome("hangup"))
    if action == "FORWARD_TO_VOICEMAIL":
        raise _Left(Outcome("voicemail", str(rule["number"])))
    number = str(rule.get("number", ""))
    target = state.by_number(number)
    if target is None:
        raise _Left(Outcome("transfer", number))
    return target


def _answered(state: PortSip, answer: dict[str, Any]) -> dict[str, Any]:
    action = answer.get("action")
    if action == "call":
        return _forward(state, {"action": "FORWARD_TO_NUMBER", "number": str(answer.get("destination", ""))})
    raise _Left(Outcome("hangup"))


def _play(state: PortSip, ivr: dict[str, Any], result: CallResult) -> None:
    prompt = state.files.get(ivr.get("prompt_file_id") or "")
    if prompt is not None:
        result.played.append(prompt["name"])


async def _ask(client: httpx.AsyncClient, url: dict[str, Any], ivr: dict[str, Any], caller: str | None, entry: str,
               session: str, clock: str | None, result: CallResult) -> dict[str, Any] | None:
    """Ask an action URL as the PBX does; None when it fails (non-200 or no
    answer): ASSUMPTION: the receptionist then goes on without it."""
    fields = {"session_id": session, "from": caller or "", "to": ivr["extension_number"], "input": entry,
              "from_name": "", "account_name": ivr["name"]}
    headers = {"X-Ivrflow-Clock": clock} if clock else {}
    timeout = float(url.get("request_timeout", 2)) + float(url.get("connection_timeout", 2))
    result.asked += 1
    try:
        if url.get("method") == "POST":
            response = await client.post(url["url"], json=fields, headers=headers, timeout=timeout)
        else:
            response = await client.get(url["url"], params=fields, headers=headers, timeout=timeout)
        answer = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(answer, dict) or answer.get("status_code") != 200:
        return None
    if answer.get("action") == "repeat":
        return None  # replays the prompt: as a wrong entry would
    return answer
