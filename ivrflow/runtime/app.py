"""The runtime server: an ASGI app (Starlette) answering platform callbacks
with the flows' machines. `ivrflow serve` runs it under uvicorn.

The app knows no platform: each target hands it a route factory
(`runtime.webhooks.WebhookFactory`), mounted at /NAME."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from ..compiler import ir
from .core import Runtime
from .http import Credentials, HTTPProblem, JSONResponse
from .sessions import Store
from .webhooks import Flows, WebhookFactory, Webhooks

log = logging.getLogger("ivrflow.runtime")


def create_app(flows: ir.Flow | Sequence[ir.Flow], store: Store, credentials: Credentials, *,
               webhooks: Mapping[str, WebhookFactory] | None = None, settings: Mapping[str, Any] | None = None,
               secret: Callable[[str], str | None] | None = None, api_token: Callable[[], str] | None = None,
               accept_test_clock: bool = False, http: httpx.AsyncClient | None = None) -> Starlette:
    """The app for one or more flows. `webhooks` maps a mount name (a
    target's name) to its route factory; `settings` and `secret` are the
    environment's values and secrets; `api_token` makes the bearer for calls
    to the platform's API; `http` is the client for those calls and for `ask`
    (injected, so tests can point it at local services)."""
    if isinstance(flows, ir.Flow):
        flows = [flows]
    http = http or httpx.AsyncClient()
    runtimes = Flows({flow.name: Runtime(flow, store, http, accept_test_clock=accept_test_clock)
                      for flow in flows})
    context = Webhooks(runtimes, credentials, dict(settings or {}), secret or (lambda key: None), api_token, http)
    mounts = [Mount(f"/{name}", routes=factory(context)) for name, factory in sorted((webhooks or {}).items())]

    async def healthz(request: Request) -> Response:
        names = sorted(runtimes)
        return JSONResponse({"status": "ok", "flow": names[0] if len(names) == 1 else None, "flows": names})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.ping()  # a session store that is down stops the server at once
        yield
        await http.aclose()
        await store.close()
        for close in context.closers:
            close()

    def rejected(request: Request, status: int, code: str, message: str) -> None:
        """Every refused callback is logged with its reason and flow (never the query: it may be signed)."""
        flow = request.query_params.get("flow") or request.path_params.get("flow") or "-"
        level = logging.ERROR if status >= 500 else logging.WARNING
        log.log(level, "%s %s -> %d %s (flow %s): %s", request.method, request.url.path, status, code, flow,
                message)

    async def problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPProblem)
        rejected(request, error.status, error.code, error.message)
        return error.response()

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        rejected(request, error.status_code, "http", str(error.detail))
        return JSONResponse({"error": {"code": "http", "message": str(error.detail)}}, status_code=error.status_code)

    async def disconnected(request: Request, error: Exception) -> Response:
        # The client went away mid-body (a platform's timeout, a dropped line): nobody to answer, no fault here.
        log.info("%s %s: the client disconnected before its body was read", request.method, request.url.path)
        return Response(status_code=400)

    async def crash(request: Request, error: Exception) -> Response:
        # A bug, not the client's fault: logged with the session, answered without details.
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": {"code": "internal", "message": "the server could not handle this callback"}},
                            status_code=500)

    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), *mounts], lifespan=lifespan,
                    exception_handlers={HTTPProblem: problem, HTTPException: http_error,
                                        ClientDisconnect: disconnected, Exception: crash})
    app.state.flows = runtimes
    app.state.runtime = next(iter(runtimes.values())) if len(runtimes) == 1 else None
    return app
