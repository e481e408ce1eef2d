"""What every platform emulator shares: injected faults (429, 5xx, timeouts,
dropped connections, latency) around the handling of an API call."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

FAULTS = ("429", "500", "503", "timeout", "drop")


@dataclass
class Faults:
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULTS
    latency_ms: int = 0
    timeout_s: float = 12.0  # longer than the deploy client waits
    seed: int | None = None
    # Requests whose "METHOD /path" matches `slow` (a regular expression) are
    # carried out `slow_s` late, after their body is read: a client that gave
    # up waiting does not know the call will still land. The first
    # `slow_times` matching requests only.
    slow: str = ""
    slow_s: float = 0.0
    slow_times: int = 1

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)


class Dropped(Response):
    """Starts an answer and breaks the connection: the client cannot know
    whether the call was carried out."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")]})
        await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
        raise ConnectionResetError("the emulator dropped the connection on purpose")


class _QuietDrops(logging.Filter):
    """The connections an emulator drops on purpose are not errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, ConnectionResetError) and "on purpose" in str(error))


def quiet_drops() -> None:
    error_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in error_log.filters):
        error_log.addFilter(_QuietDrops())


async def with_faults(faults: Faults, method: str, entry: dict[str, Any], handle: Callable[[], Awaitable[Response]],
                      error: Callable[[int, str], Response], request: Request | None = None) -> Response:
    """Handle a call as the platform would on a bad day. A refused call
    (429, or a 5xx before anything is done) changes nothing; a 5xx after, a
    timeout or a dropped connection leave the client not knowing; a slow
    call (`request` given) lands after the client stopped waiting."""
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if request is not None and faults.slow and faults.slow_times > 0 \
            and re.search(faults.slow, f"{method} {entry['path']}"):
        faults.slow_times -= 1
        await request.body()  # kept by the request: the handler reads it after the client has gone
        await asyncio.sleep(faults.slow_s)
    fault = faults.random.choice(faults.kinds) if faults.rate and faults.random.random() < faults.rate else None
    if fault in ("429", "500", "503") and (method == "GET" or faults.random.random() < 0.5):
        entry["status"] = int(fault)
        return error(int(fault), "Too many requests" if fault == "429" else "Internal error")
    if fault == "timeout":
        await asyncio.sleep(faults.timeout_s)
    try:
        response = await handle()
    except ClientDisconnect:  # the client gave up (a timeout) before its body was read: nothing was done
        entry["status"] = 499
        return Response(status_code=499)
    entry["status"] = response.status_code
    if fault in ("500", "503"):
        return error(int(fault), "Internal error")
    if fault == "drop":
        return Dropped()
    return response


def control_routes(state: Any) -> list[Any]:
    """`/_emulator/faults` (GET, or POST {rate, kinds, latency_ms, seed, slow, slow_s, slow_times}) and
    `/_emulator/log` for an emulator whose state has `faults` and `log`."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def control(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            state.faults = Faults(rate=float(body.get("rate", 0)), kinds=tuple(body.get("kinds") or FAULTS),
                                  latency_ms=int(body.get("latency_ms", 0)), seed=body.get("seed"),
                                  slow=str(body.get("slow", "")), slow_s=float(body.get("slow_s", 0)),
                                  slow_times=int(body.get("slow_times", 1)))
        f = state.faults
        return JSONResponse({"rate": f.rate, "kinds": list(f.kinds), "latency_ms": f.latency_ms})

    async def request_log(request: Request) -> Response:
        return JSONResponse(state.log)

    return [Route("/_emulator/faults", control, methods=["GET", "POST"]),
            Route("/_emulator/log", request_log, methods=["GET"])]
