"""The studio's web server: the page, its assets and a small JSON API over
the workspace (checked, drawn, watched files) and simulated calls.
docs/studio-api.md describes every route."""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import re
import socket
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from . import calls, coverage, view
from .workspace import FileState, Workspace

HERE = Path(__file__).parent
#: The largest request body the API reads.
MAX_BODY = 16 * 1024
#: A comment line on the event stream this often keeps proxies and browsers from closing it.
PING_SECONDS = 15.0
#: The names the server answers to by default: a page elsewhere cannot reach it through a DNS name it controls.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


_HTTP_CODES = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 413: "too-large",
               415: "unsupported-media-type"}


def create_app(paths: Iterable[Path | str], *, editor_url: str | None = None, watch: bool = True,
               hosts: Iterable[str] | None = LOOPBACK_HOSTS) -> Starlette:
    """The studio for these flow files. `watch`: check them again when they
    change (while the app's lifespan runs). `hosts`: the Host header names
    answered (None: any, for a server bound to every interface)."""
    workspace = Workspace(paths, editor_url)
    table = calls.CallTable()
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def state_of(fid: str) -> FileState:
        state = workspace.files.get(fid)
        if state is None:
            raise ApiError(404, "unknown-file", f"no file `{fid[:40]}` in this studio")
        return state

    def drawn(fid: str) -> view.Drawing:
        drawing = state_of(fid).drawing
        if drawing is None:
            raise ApiError(409, "no-diagram", "the file has not been drawn yet: it has syntax errors")
        return drawing

    def runnable(fid: str) -> view.Drawing:
        """The last drawn version, if `simulate` and `test` would run it (no errors but missing recordings)."""
        drawing = drawn(fid)
        if not view.callable_flow(drawing.checked):
            raise ApiError(409, "has-errors", "the flow has errors (see its diagnostics): fix them to call it "
                                              "or run its tests")
        return drawing

    def call_of(cid: str) -> calls.SimulatedCall:
        call = table.get(cid)
        if call is None:
            raise ApiError(404, "unknown-call", "no such call (it may have been closed: start a new one)")
        return call

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "studio.html", {
            "files": workspace.listing(), "editor_url": editor_url})

    async def files(request: Request) -> Response:
        return JSONResponse({"files": workspace.listing()})

    async def file_view(request: Request) -> Response:
        fid = request.path_params["fid"]
        state_of(fid)
        return JSONResponse(workspace.document(fid))

    async def file_coverage(request: Request) -> Response:
        drawing = runnable(request.path_params["fid"])
        return JSONResponse(await asyncio.to_thread(coverage.of, drawing))

    async def export_svg(request: Request) -> Response:
        fid = request.path_params["fid"]
        drawing = drawn(fid)
        document = '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + drawing.svg
        return Response(document, media_type="image/svg+xml",
                        headers={"Content-Disposition": _attachment(state_of(fid).path, "svg")})

    async def export_png(request: Request) -> Response:
        fid = request.path_params["fid"]
        drawing = drawn(fid)
        flow, graph = drawing.checked.flow, drawing.checked.graph
        assert flow is not None and graph is not None
        from ..compiler.render import to_dot

        try:
            data = await asyncio.to_thread(view.run_dot, to_dot(flow, graph, drawing.checked.diagnostics), "png")
        except view.RenderError as error:
            raise ApiError(503, "graphviz", str(error)) from None
        return Response(data, media_type="image/png",
                        headers={"Content-Disposition": _attachment(state_of(fid).path, "png")})

    async def prompt(request: Request) -> Response:
        from ..prompt_files import PromptFileError, read

        state = state_of(request.path_params["fid"])
        # The current version's prompts, else the last drawn one's (the current one does not parse)
        checked = state.checked if state.checked is not None and state.checked.flow is not None else (
            state.drawing.checked if state.drawing is not None else None)
        if checked is None or checked.flow is None:
            raise ApiError(404, "unknown-prompt", "the flow has no recorded prompts")
        # Only a path the flow itself names is opened, never the one in the request.
        value = next((v for v in view.prompt_files(checked.flow) if v == request.path_params["path"]), None)
        if value is None:
            raise ApiError(404, "unknown-prompt", "the flow has no recorded prompt at that path")
        try:
            data = await asyncio.to_thread(read, Path(checked.file).parent, value)
        except PromptFileError as error:
            raise ApiError(404, "prompt-file", str(error)) from None
        media = mimetypes.guess_type(value)[0] or "application/octet-stream"
        return Response(data, media_type=media, headers={"Cache-Control": "no-cache"})

    async def new_call(request: Request) -> Response:
        fid = request.path_params["fid"]
        drawing = runnable(fid)
        body = await _json_body(request)
        at, caller = _optional_text(body, "at"), _optional_text(body, "caller")
        flow, graph = drawing.checked.flow, drawing.checked.graph
        assert flow is not None and graph is not None
        try:
            call = calls.start(fid, flow, graph, drawing.arrow_of, at, caller)
        except calls.BadInput as error:
            raise ApiError(400, "bad-input", str(error)) from None
        table.add(call)
        return JSONResponse(calls.state(call), status_code=201)

    async def call_route(request: Request) -> Response:
        call = call_of(request.path_params["cid"])
        if request.method == "POST":
            body = await _json_body(request)
            entry = body.get("input")
            if not isinstance(entry, str):
                raise ApiError(400, "bad-input", "the body must be {\"input\": \"…\"}: a key, digits, `silence`, "
                                                 "`hangup`, `answer:ACTION`, `lookup:…` or `no-answer`")
            with call.lock:
                try:
                    calls.send(call, entry)
                except calls.BadInput as error:
                    raise ApiError(400, "bad-input", str(error)) from None
        with call.lock:
            return JSONResponse(calls.state(call))

    async def events(request: Request) -> Response:
        queue = workspace.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), PING_SECONDS)
                    except TimeoutError:
                        yield ": ping\n\n"
                        continue
                    if item is None:
                        return
                    yield f"event: file\ndata: {json.dumps(item)}\n\n"
            finally:
                workspace.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(workspace.watch(stop)) if watch else None
        try:
            yield
        finally:
            workspace.close()
            stop.set()
            if task is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 5)

    routes = [
        Route("/", page),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        Route("/api/files", files),
        Route("/api/files/{fid}", file_view),
        Route("/api/files/{fid}/coverage", file_coverage),
        Route("/api/files/{fid}/export.svg", export_svg),
        Route("/api/files/{fid}/export.png", export_png),
        Route("/api/files/{fid}/prompts/{path:path}", prompt),
        Route("/api/files/{fid}/calls", new_call, methods=["POST"]),
        Route("/api/calls/{cid}", call_route, methods=["GET", "POST"]),
        Route("/api/events", events),
    ]

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return _error(error.status, error.code, error.message)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return _error(error.status_code, _HTTP_CODES.get(error.status_code, "bad-request"), str(error.detail))

    async def internal(request: Request, error: Exception) -> Response:
        return _error(500, "internal", f"{type(error).__name__}: this is a bug in ivrflow studio")

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal})
    app.state.workspace = workspace
    app.state.calls = table
    if hosts is not None:
        app.add_middleware(_KnownHosts, hosts=tuple(hosts))
    return app


def serve(app: Starlette, listening: socket.socket) -> None:
    """Run the studio with uvicorn on a bound socket until Ctrl-C. The pages'
    event streams end as the server starts to stop, so that it need not cut them."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app.state.workspace.close()
            await super().shutdown(sockets)

    Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)).run(sockets=[listening])


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, at most MAX_BODY bytes; an empty body is `{}`."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise ApiError(413, "too-large", f"the body is larger than {MAX_BODY // 1024} KiB")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "too-large", f"the body is larger than {MAX_BODY // 1024} KiB")
    if not body.strip():
        return {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "unsupported-media-type", "send the body as application/json")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "bad-json", f"the body is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad-input", "the body must be a JSON object")
    return value


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 100 or any(ch < " " or ch == "\x7f" for ch in value):
        raise ApiError(400, "bad-input", f"`{name}` must be a string of at most 100 characters on one line, or null")
    return value


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _attachment(path: str, suffix: str) -> str:
    stem = _UNSAFE_NAME.sub("_", Path(path).stem) or "flow"
    return f'attachment; filename="{stem}.{suffix}"'


class _KnownHosts:
    """Answers 400 to a request whose Host is not one of ours (a DNS-rebinding
    page), and 403 to one a page of another origin sends (another site, or
    another server on this machine): only the studio's own page uses the API."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...]):
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            host = headers.get("host", "").lower()
            name = host[:host.find("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
            if name not in self.hosts:
                await _error(400, "unknown-host", "this server answers only to its own address")(scope, receive, send)
                return
            origin = headers.get("origin")
            if origin is not None and origin.lower() != f"http://{host}":
                await _error(403, "foreign-origin", "only the studio's own page may use it")(scope, receive, send)
                return
        await self.app(scope, receive, send)
