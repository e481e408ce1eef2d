"""The runtime's `lookup`: a real HTTP service on loopback answers (or fails),
and the call takes `on done` with the variables, or `on error` — never a crash."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ivrflow.compiler import check_source
from ivrflow.compiler.machine import Keys
from ivrflow.runtime.core import Runtime
from ivrflow.runtime.sessions import MemoryStore

from .servers import serve_app

FLOW = """
flow shop {
    start order
}
prompt ask say "Your order number, please."
prompt status say "Order {order}: {state}."
prompt sorry say "Sorry."
collect order {
    play ask
    digits 4
    on done -> goto find
}
lookup find "URL/KIND?key=s3cret" {
    send order
    receive state
    timeout 300ms
    on done -> play status, hangup
    on error -> play sorry, transfer "100"
}
"""
SEEN: list[dict[str, Any]] = []


async def _answer(request: Request) -> Response:
    SEEN.append(await request.json())
    kind = request.path_params["kind"]
    if kind == "good":
        return JSONResponse({"variables": {"state": "shipped"}})
    if kind == "slow":
        await asyncio.sleep(2)
        return JSONResponse({"variables": {"state": "late"}})
    if kind == "missing":
        return JSONResponse({"variables": {"other": "x"}})
    if kind == "huge":
        return Response(b'{"variables": {"state": "' + b"x" * 100_000 + b'"}}', media_type="application/json")
    if kind == "notjson":
        return Response(b"<html>", media_type="text/html")
    return Response(status_code=500)


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve_app(Starlette(routes=[Route("/{kind}", _answer, methods=["POST"])])) as url:
        yield url


def _call(service: str, kind: str) -> tuple[list[Any], Any]:
    source = FLOW.replace("URL", service).replace("KIND", kind)
    flow = check_source(source, "shop.ivr").flow
    assert flow is not None

    async def run() -> tuple[list[Any], Any]:
        async with httpx.AsyncClient() as http:
            runtime = Runtime(flow, MemoryStore(), http)
            session = runtime.new_session("call-1", "+15550001", "+15550002")
            await runtime.start(session)
            effects = await runtime.advance(session, Keys("1234"))
            return effects, session
    return asyncio.run(run())


def _texts(effects: list[Any]) -> list[str]:
    return [e.text for e in effects if getattr(e, "text", None)]


def test_a_good_answer_sets_the_variables_and_runs_on_done(service: str) -> None:
    SEEN.clear()
    effects, session = _call(service, "good")
    assert _texts(effects) == ["Order 1234: shipped."]
    assert session.call.outcome.action == "hangup"
    assert session.call.variables["state"] == "shipped"
    assert SEEN == [{"flow": "shop", "node": "find", "call": "call-1",
                     "variables": {"order": "1234", "caller": "+15550001", "called": "+15550002"}}]


@pytest.mark.parametrize("kind", ["slow", "missing", "huge", "notjson", "broken"])
def test_a_failed_lookup_runs_on_error_and_logs_no_secret(service: str, kind: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ivrflow.runtime"):
        effects, session = _call(service, kind)
    assert _texts(effects) == ["Sorry."]
    assert (session.call.outcome.action, session.call.outcome.target) == ("transfer", "100")
    logged = caplog.text
    if kind != "missing":  # a missing name is the machine's decision, not the fetch's
        assert "lookup find at 127.0.0.1 failed" in logged
    assert "s3cret" not in logged and "1234" not in logged
