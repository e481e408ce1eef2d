"""The runtime server: an ASGI app (Starlette) answering platform callbacks
with the flow's machine. `ivrflow serve` runs it under uvicorn."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from ..compiler import ir
from .core import Runtime
from .http import Credentials, HTTPProblem
from .sessions import Store

log = logging.getLogger("ivrflow.runtime")


def create_app(flow: ir.Flow, store: Store, credentials: Credentials, *, settings: dict | None = None,
               api_token: Callable[[], str] | None = None, accept_test_clock: bool = False,
               http: httpx.AsyncClient | None = None, telphin: Any = None, portsip: Any = None) -> Starlette:
    """The app for one flow. `settings` are the environment's values the
    protocols need (domain, sip_domain, …); `api_token` makes the bearer for
    calls to the platform's API; `http` is the client for those calls and
    for `ask` (injected, so tests can point it at local services); `telphin`
    is the directory of deployed contexts that Telphin's answers jump to;
    `portsip` the directory of receptionists PortSIP's answers call."""
    from ..targets.mediaservice.callbacks import mediaservice_routes
    from ..targets.portsip.action import portsip_routes
    from ..targets.telphin.interactive import telphin_routes

    http = http or httpx.AsyncClient()
    runtime = Runtime(flow, store, http, accept_test_clock=accept_test_clock)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "flow": flow.name})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.ping()  # a session store that is down stops the server at once
        yield
        await http.aclose()
        await store.close()
        for directory in (telphin, portsip):
            if directory is not None:
                directory.api.close()

    async def problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPProblem)
        if error.status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, error.message)
        return error.response()

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return JSONResponse({"error": {"code": "http", "message": str(error.detail)}}, status_code=error.status_code)

    async def crash(request: Request, error: Exception) -> Response:
        # A bug, not the client's fault: logged with the session, answered without details.
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": {"code": "internal", "message": "the server could not handle this callback"}},
                            status_code=500)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/mediaservice", routes=mediaservice_routes(runtime, credentials, settings or {}, api_token)),
        Mount("/telphin", routes=telphin_routes(runtime, credentials, settings or {}, telphin, credentials.token)),
        Mount("/portsip", routes=portsip_routes(runtime, credentials, portsip, credentials.token)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPProblem: problem, HTTPException: http_error, Exception: crash})
    app.state.runtime = runtime
    return app
