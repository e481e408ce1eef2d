"""`ask "URL"`: the runtime asks the user's routing service where a call goes.

Request: POST URL with JSON {"flow", "node", "session", "caller", "called",
"keys"}. Answer: JSON {"action": "transfer"|"voicemail"|"goto"|"repeat"|
"hangup", "target": "…"}. A service that is slow (ASK_TIMEOUT_S), down or
answers nonsense gets the fallback: `repeat` in a menu, else `hangup`. So
does an answer the `ask` does not declare (`ask "URL" -> goto pin | hangup`).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ..compiler import ir
from ..compiler.machine import answer_problem

ASK_TIMEOUT_S = 3.0
_SPAN = ir.Span("<ask>", 1, 1, 1, 1)
log = logging.getLogger("ivrflow.runtime")


def action_from_answer(flow: ir.Flow, answer: Any) -> ir.Action | None:
    """The routing service's JSON as an action, or None when it makes no sense."""
    if not isinstance(answer, dict):
        return None
    action, target = answer.get("action"), answer.get("target")
    if action == "transfer" and isinstance(target, str) and target:
        return ir.Transfer(target, _SPAN)
    if action == "voicemail":
        return ir.Voicemail(target if isinstance(target, str) else None, _SPAN)
    if action == "goto" and isinstance(target, str) and flow.node(target) is not None:
        return ir.Goto(target, _SPAN, _SPAN)
    if action == "repeat":
        return ir.Repeat(_SPAN)
    if action == "hangup":
        return ir.Hangup(_SPAN)
    return None


def fallback(flow: ir.Flow, node: str | None) -> ir.Action:
    return ir.Repeat(_SPAN) if isinstance(flow.node(node or ""), ir.Menu) else ir.Hangup(_SPAN)


async def ask(client: httpx.AsyncClient, flow: ir.Flow, url: str, payload: dict[str, Any]) -> ir.Action:
    try:
        response = await client.post(url, json=payload, timeout=ASK_TIMEOUT_S)
        response.raise_for_status()
        action = action_from_answer(flow, response.json())
    except (httpx.HTTPError, ValueError, RecursionError) as error:  # RecursionError: absurdly nested JSON
        log.warning("session %s: ask %s failed (%s); falling back", payload.get("session"), url,
                    type(error).__name__)
        action = None
    if action is not None:
        problem = answer_problem(flow, payload.get("node"), url, action)
        if problem is not None:
            log.warning("session %s: %s; falling back", payload.get("session"), problem)
            action = None
    if action is None:
        action = fallback(flow, payload.get("node"))
    return action
