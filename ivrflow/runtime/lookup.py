"""`lookup NAME "URL" { … }`: the runtime fetches data for a live call.

Request: POST URL with JSON {"flow", "node", "call", "variables": {the sent
names, plus caller, called and language}} (DESIGN §2b). Answer: JSON
{"variables": {name: "text", …}} within the lookup's `timeout`. Anything else
(no answer in time, a connection error, a status that is not 2xx, an answer
that is not that JSON or larger than MAX_ANSWER_BYTES) is a failed lookup:
the flow's `on error` runs, and the platform never sees a 500.

The URL is the flow author's, never taken from a request, and no credential
of ours goes with it. Logs name the lookup and the URL's host only: a query
string or the body may carry an account number or a key.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..compiler.machine import LookupService

#: The largest answer read from a lookup service; a bigger one is a failure.
MAX_ANSWER_BYTES = 64 * 1024
log = logging.getLogger("ivrflow.runtime")


class _Failed(Exception):
    """Why a lookup failed, for the log."""


async def lookup(client: httpx.AsyncClient, effect: LookupService, call_id: str) -> Mapping[str, object] | None:
    """The answer's variables, or None when the lookup failed (the reason is logged)."""
    try:
        return await _fetch(client, effect, call_id)
    except _Failed as failure:
        host = urlsplit(effect.url).hostname or "?"
        log.warning("session %s: lookup %s at %s failed (%s); on error runs", call_id, effect.lookup, host, failure)
        return None


async def _fetch(client: httpx.AsyncClient, effect: LookupService, call_id: str) -> Mapping[str, object]:
    payload = {**effect.payload, "call": call_id}
    body = bytearray()
    seconds = effect.timeout_ms / 1000
    try:  # the timeout bounds the whole exchange, not each read
        async with asyncio.timeout(seconds), client.stream("POST", effect.url, json=payload,
                                                          timeout=seconds) as response:
            if not 200 <= response.status_code < 300:
                raise _Failed(f"HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise _Failed(f"an answer over {MAX_ANSWER_BYTES} bytes")
    except (httpx.TimeoutException, TimeoutError):
        raise _Failed(f"no answer within {effect.timeout_ms} ms") from None
    except httpx.HTTPError as error:
        raise _Failed(type(error).__name__) from None
    try:
        answer: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise _Failed("an answer that is not JSON") from None
    variables = answer.get("variables") if isinstance(answer, dict) else None
    if not isinstance(variables, dict):
        raise _Failed('an answer without a "variables" object')
    return variables
