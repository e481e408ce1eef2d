"""A local stand-in of Opentact's REST API (PLATFORMS.md §5, seed 004), and
of its calls.

    GET  /rest/auth                          Basic email:password → {token}
    GET  /rest/sip/product
    GET|POST /rest/profile/outbound_voice    GET|PATCH|DELETE …/{uuid}
    GET|POST /rest/sip/app                   GET|PATCH|DELETE …/{uuid}
    GET|POST|DELETE /rest/sip/app/call/flow/{uuid}   (POST: multipart `file`)
    POST /rest/lease/tn/search               {tn?, sip_control_app?} → {data, total}
    POST /rest/sip/app/{uuid}/tnlease        {add: [lease uuid], remove: [...]}

Every answer is the envelope `{success: true, payload}` or `{success: false,
message, status}`; every call but /rest/auth needs `X-Auth-Token`. The
seed's validation is kept (the tech prefix's range, the enums), an uploaded
call flow must follow one dialect's schema (dialect.validate), faults can be
injected, every request is logged at /_emulator/log, and POST
/_emulator/call runs a call through the XML of the app a number is leased to, fetching its
`<Callback>`s over HTTP (from `ivrflow serve`):
{"number", "inputs", "caller"?, "clock"? (sent as X-Ivrflow-Clock)}.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..emulation import control_routes, quiet_drops, with_faults
from . import calls
from . import dialect as xml
from .state import TOKEN_LIFETIME_S, Opentact

__all__ = ["Opentact", "opentact_app"]

#: Seed 004's fields of an outbound voice profile and what each may be.
PROFILE_FIELDS = ("name", "tech_prefix", "channel_limit", "max_rate", "daily_spend_limit", "record_calls",
                  "filemat", "audio_track_type")
APP_FIELDS = ("name", "product", "is_active", "outbound_voice_profile", "call_flow_url", "call_flow_method")
#: The test clock header the runtime server honours in local trials (runtime/clock.py).
CLOCK_HEADER = "X-Ivrflow-Clock"
#: How long a Callback's fetch may take (ASSUMPTION: Opentact's default `timeout` is UNKNOWN).
CALLBACK_TIMEOUT_S = 10.0
#: The largest call flow taken (ASSUMPTION: Opentact's limit is UNKNOWN).
MAX_XML_BYTES = 2_000_000


def _ok(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "payload": payload}, status_code=status)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message, "status": status}, status_code=status)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def profile_problem(body: Any, creating: bool) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    unknown = [k for k in body if k not in PROFILE_FIELDS]
    if unknown:
        return f"unknown field `{unknown[0]}`"
    if creating and not isinstance(body.get("name"), str):
        return "`name` is required"
    checks: dict[str, Callable[[Any], bool]] = {
        "name": lambda v: isinstance(v, str) and 0 < len(v) <= 100,
        "tech_prefix": lambda v: _integer(v) and 100000 <= v <= 999999,
        "channel_limit": lambda v: _integer(v) and v >= 1,
        "max_rate": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
        "daily_spend_limit": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
        "record_calls": lambda v: _integer(v) and v in (0, 1, 2),
        "filemat": lambda v: v in ("wav", "mp3"),
        "audio_track_type": lambda v: _integer(v) and v in (0, 1),
    }
    for key, value in body.items():
        if not checks[key](value):
            return f"`{key}` is not valid: {value!r}"
    return None


def opentact_app(state: Opentact) -> Starlette:
    quiet_drops()

    def authorized(request: Request) -> bool:
        expires = state.tokens.get(request.headers.get("x-auth-token", ""))
        return expires is not None and expires > time.monotonic()

    def endpoint(handler: Callable[[Request], Awaitable[Response]], auth: bool = True) -> Any:
        async def wrapped(request: Request) -> Response:
            entry = {"method": request.method, "path": request.url.path, "status": 0}
            state.log.append(entry)

            async def handle() -> Response:
                if auth and not authorized(request):
                    return _error(401, "Unauthorized")
                try:
                    return await handler(request)
                except ValueError:
                    return _error(400, "the body is not valid JSON")
            return await with_faults(state.faults, request.method, entry, handle, _error, request)
        return wrapped

    async def auth(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        try:
            email, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _error(401, "Basic authentication required")
        if not header.startswith("Basic ") or email != state.email or password != state.password:
            return _error(401, "Invalid email or password")
        token = secrets.token_hex(16)
        state.tokens[token] = time.monotonic() + TOKEN_LIFETIME_S
        return _ok({"email": email, "token": token})

    async def products(request: Request) -> Response:
        return _ok([{"id": p, "name": f"SIP product {p}"} for p in state.products])

    def collection(items: dict[str, Any], problem_of: Callable[[Any, bool], str | None],
                   **defaults: Any) -> Callable[[Request], Awaitable[Response]]:
        """GET lists the objects; POST checks the body and creates one with a new uuid."""
        async def handle(request: Request) -> Response:
            if request.method == "GET":
                return _ok(list(items.values()))
            body = await request.json()
            problem = problem_of(body, True)
            if problem:
                return _error(400, problem)
            made = {"uuid": state.new_uuid(), **defaults, **body}
            items[made["uuid"]] = made
            return _ok(made, 201)
        return handle

    profiles = collection(state.profiles, profile_problem)

    async def profile(request: Request) -> Response:
        found = state.profiles.get(request.path_params["uuid"])
        if found is None:
            return _error(404, "Outbound voice profile not found")
        if request.method == "GET":
            return _ok(found)
        if request.method == "DELETE":
            if any(_linked(a) == found["uuid"] for a in state.apps.values()):
                return _error(409, "The profile is used by a SIP control app")
            del state.profiles[found["uuid"]]
            return _ok(None)
        body = await request.json()
        problem = profile_problem(body, creating=False)
        if problem:
            return _error(400, problem)
        found.update(body)
        return _ok(found)

    def app_problem(body: Any, creating: bool) -> str | None:
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        unknown = [k for k in body if k not in APP_FIELDS]
        if unknown:
            return f"unknown field `{unknown[0]}`"
        if creating and (not isinstance(body.get("name"), str) or "product" not in body):
            return "`name` and `product` are required"
        if "product" in body and body["product"] not in state.products:
            return f"no SIP product {body['product']!r}"
        if body.get("call_flow_method") not in (None, "GET", "POST"):
            return "`call_flow_method` must be GET or POST"
        url = body.get("call_flow_url")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            return "`call_flow_url` must be an http(s) URL"
        profile = body.get("outbound_voice_profile")
        if profile is not None and profile not in state.profiles:
            return f"no outbound voice profile {profile!r}"
        return None

    apps = collection(state.apps, app_problem, is_active=True)

    async def app(request: Request) -> Response:
        found = state.apps.get(request.path_params["uuid"])
        if found is None:
            return _error(404, "SIP control app not found")
        if request.method == "GET":
            return _ok(found)
        if request.method == "DELETE":
            del state.apps[found["uuid"]]
            state.flows.pop(found["uuid"], None)
            for lease in state.leases.values():
                if lease["sip_control_app"] == found["uuid"]:
                    lease["sip_control_app"] = None
            return _ok(None)
        body = await request.json()
        problem = app_problem(body, creating=False)
        if problem:
            return _error(400, problem)
        found.update(body)
        return _ok(found)

    async def call_flow(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        if uuid not in state.apps:
            return _error(404, "SIP control app not found")
        if request.method == "GET":
            document = state.flows.get(uuid)
            return Response(document[0] if document else b"", media_type="application/xml")
        if request.method == "DELETE":
            state.flows.pop(uuid, None)
            return _ok(None)
        async with request.form(max_part_size=MAX_XML_BYTES) as form:
            upload = form.get("file")
            data = await upload.read() if isinstance(upload, UploadFile) else None
        if data is None:
            return _error(400, "multipart form-data `file` is required")
        found = calls.detect(data)
        if found is None:
            problems = xml.validate(data, xml.DEFAULT_DIALECT)
            return _error(400, f"invalid call flow XML: {'; '.join(problems[:3])}")
        state.flows[uuid] = (data, found)
        return _ok({"uuid": uuid, "dialect": found})

    async def search(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        found = [lease for lease in state.leases.values()
                 if ("tn" not in body or lease["tn"] == body["tn"])
                 and ("sip_control_app" not in body or lease["sip_control_app"] == body["sip_control_app"])]
        return _ok({"data": found, "total": len(found)})

    async def tnlease(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        if uuid not in state.apps:
            return _error(404, "SIP control app not found")
        body = await request.json()
        if not isinstance(body, dict) or not all(isinstance(body.get(k, []), list) for k in ("add", "remove")):
            return _error(400, "`add` and `remove` must be lists of lease uuids")
        for lease_uuid in [*body.get("add", []), *body.get("remove", [])]:
            if lease_uuid not in state.leases:
                return _error(404, f"no lease {lease_uuid!r} on this account")
        for lease_uuid in body.get("add", []):
            owner = state.leases[lease_uuid]["sip_control_app"]
            if owner not in (None, uuid):
                return _error(409, f"lease {lease_uuid} is attached to another app")
        for lease_uuid in body.get("add", []):
            state.leases[lease_uuid]["sip_control_app"] = uuid
        for lease_uuid in body.get("remove", []):
            if state.leases[lease_uuid]["sip_control_app"] == uuid:
                state.leases[lease_uuid]["sip_control_app"] = None
        return _ok({"uuid": uuid, "tnleases": [x for x in state.leases.values() if x["sip_control_app"] == uuid]})

    async def call(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("number"), str):
            return _error(400, '{"number": "+1…", "inputs": [...]} expected')
        inputs = body.get("inputs", [])
        if not isinstance(inputs, list) or not all(isinstance(i, str) and i for i in inputs):
            return _error(400, "`inputs` must be a list of keys or \"silence\"")
        lease = state.lease_of(body["number"])
        if lease is None or lease["sip_control_app"] is None:
            return _error(404, f"{body['number']} reaches no SIP control app")
        app = state.apps.get(lease["sip_control_app"]) or {}
        served = app.get("call_flow_url") if app.get("call_flow_method") == "POST" else None
        document = state.flows.get(lease["sip_control_app"])
        if document is None and not served:
            return _error(404, "the app has no call flow")
        caller, clock = body.get("caller"), body.get("clock")
        params = {"tn": body["number"], "call": state.new_uuid(), "sca": str(lease["sip_control_app"])}
        if isinstance(caller, str):
            params["from"] = caller
        headers = {CLOCK_HEADER: clock} if isinstance(clock, str) else {}

        def run() -> calls.CallResult:
            with httpx.Client(timeout=CALLBACK_TIMEOUT_S, headers=headers) as client:
                def fetch(url: str) -> bytes | None:
                    try:
                        response = client.get(url)
                    except httpx.HTTPError:
                        return None
                    return response.content if response.status_code == 200 else None

                def post(url: str, body: Mapping[str, str]) -> bytes | None:
                    try:
                        response = client.post(url, json=dict(body))
                    except httpx.HTTPError:
                        return None
                    return response.content if response.status_code == 200 else None
                if served:  # the app's call_flow_url decides the call's XML (it wins over a static one)
                    return calls.run_served(str(served), inputs, fetch, post, params)
                assert document is not None
                return calls.run(document[0], document[1], inputs, fetch, params)

        result = await run_in_threadpool(run)
        return JSONResponse({**result.outcome(), "heard": result.heard,
                             "dialect": "call_flow_url" if served else document[1] if document else None,
                             "fetched": result.fetched})

    return Starlette(routes=[
        Route("/rest/auth", endpoint(auth, auth=False), methods=["GET"]),
        Route("/rest/sip/product", endpoint(products), methods=["GET"]),
        Route("/rest/profile/outbound_voice", endpoint(profiles), methods=["GET", "POST"]),
        Route("/rest/profile/outbound_voice/{uuid}", endpoint(profile), methods=["GET", "PATCH", "DELETE"]),
        Route("/rest/sip/app", endpoint(apps), methods=["GET", "POST"]),
        Route("/rest/sip/app/call/flow/{uuid}", endpoint(call_flow), methods=["GET", "POST", "DELETE"]),
        Route("/rest/sip/app/{uuid}/tnlease", endpoint(tnlease), methods=["POST"]),
        Route("/rest/sip/app/{uuid}", endpoint(app), methods=["GET", "PATCH", "DELETE"]),
        Route("/rest/lease/tn/search", endpoint(search), methods=["POST"]),
        Route("/_emulator/call", call, methods=["POST"]),
        *control_routes(state),
    ])


def _linked(app: dict[str, Any]) -> Any:
    profile = app.get("outbound_voice_profile")
    return profile.get("uuid") if isinstance(profile, dict) else profile
