"""The runtime server: an ASGI app (Starlette) answering platform callbacks
with the flows' machines. `ivrflow serve` runs it under uvicorn.

The app knows no platform: each target hands it a route factory
(`runtime.webhooks.WebhookFactory`), mounted at /NAME."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

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

    routes = [Route("/healthz", healthz, methods=["GET"]), *mounts]
    app = RuntimeApp(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPProblem: problem, HTTPException: http_error,
                                         ClientDisconnect: disconnected, Exception: crash})
    app.state.flows = runtimes
    app.state.runtime = next(iter(runtimes.values())) if len(runtimes) == 1 else None
    return app


Handler = Callable[[Request, Exception], Awaitable[Response]]


class RuntimeApp(Starlette):
    """Starlette, plus a short way for callbacks. On every request Starlette
    passes through its error and exception middleware, then tries its routes
    (and those of its mounts) in order, and wraps the endpoint in exception
    handling of its own: together more CPU than a bare callback server spends
    in all (bench/runtime.py). Every fixed path (a callback's: no path
    parameters) is looked up in a table made once by Starlette's own
    matching, and its endpoint is called directly, its errors answered by the
    same exception handlers. Any other request takes Starlette's way."""

    def __init__(self, *, routes: Sequence[BaseRoute], exception_handlers: Mapping[type[Exception], Handler],
                 **options: Any):
        super().__init__(routes=list(routes), exception_handlers=dict(exception_handlers), **options)
        # Most specific first, as Starlette picks a handler by the exception's class hierarchy.
        self._handlers = sorted(exception_handlers.items(), key=lambda item: -len(item[0].__mro__))
        self._fixed: dict[tuple[str, str], tuple[Callable[[Request], Awaitable[Response]], dict[str, Any]]] = {}
        # An app with middleware of its own takes Starlette's way for every request (the short way would skip it).
        for path, methods in _fixed_paths(self.router.routes, "") if not self.user_middleware else []:
            for method in methods:
                scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "root_path": ""}
                route = _resolve(self.router.routes, scope)
                if route is not None and (method, path) not in self._fixed and \
                        (inspect.isfunction(route.endpoint) or inspect.ismethod(route.endpoint)):
                    for key in ("type", "method", "path", "path_params"):  # the request's own
                        scope.pop(key, None)
                    self._fixed[method, path] = (route.endpoint, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fixed = self._fixed.get((scope.get("method", ""), scope.get("path", "")))
        if fixed is None or scope["type"] != "http" or scope.get("root_path"):
            await super().__call__(scope, receive, send)
            return
        endpoint, matched = fixed
        scope["app"] = self
        scope.update(matched)
        scope["path_params"] = {}  # a request's own (the table's scope is shared)
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as error:
            handler = next(handler for kind, handler in self._handlers if isinstance(error, kind))
            response = await handler(request, error)
        await response(scope, receive, send)


def _fixed_paths(routes: Sequence[BaseRoute], prefix: str) -> list[tuple[str, set[str]]]:
    """(path, methods) of the routes without path parameters, in mounts without them."""
    found = []
    for route in routes:
        if isinstance(route, Route) and not route.param_convertors and route.methods:
            found.append((prefix + route.path, route.methods))
        elif isinstance(route, Mount) and type(route.app) is Router and set(route.param_convertors) == {"path"}:
            found += _fixed_paths(route.app.routes, prefix + route.path)
    return found


def _resolve(routes: Sequence[BaseRoute], scope: dict[str, Any]) -> Route | None:
    """The route that Router.app would hand `scope` to by a full match, when
    it is a Route reached through plain mounts (`scope` then holds what the
    matching added); None otherwise."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            scope["route"] = route
            scope.update(child)
            if isinstance(route, Mount) and type(route.app) is Router:
                return _resolve(route.app.routes, scope)
            return route if isinstance(route, Route) else None
    return None
