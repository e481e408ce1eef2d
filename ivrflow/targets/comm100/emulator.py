"""The Comm100 emulator: the v4 voicebot API under /v4 with the validation
seed 000 documents (required fields, ranges, enums, the Twilio number that
cannot change), API-key auth (Basic email:API_KEY with `siteId`) or a bearer
token, the rate limit (300 calls per 5 minutes per IP, configurable), fault
injection, a request log and POST /_emulator/call."""

from __future__ import annotations

import base64
import collections
import math
import re
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import emulation
from ..emulation import control_routes, with_faults
from . import schema
from .calls import CallError, execute_call
from .state import COLLECTIONS, Comm100


class Invalid(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def _error(status: int, message: str) -> JSONResponse:
    # ASSUMED shape (schema.ERROR_FIELDS): nothing documents Comm100's error body.
    return JSONResponse({"code": status, "message": message}, status_code=status)


_BOT_TRIGGERS = re.compile(r"/voicebot/voicebots/([^/]+)/voicebotSmartTriggers")
_ONE = re.compile(r"(/voicebot/[A-Za-z]+)/([^/]+)")


def comm100_app(state: Comm100) -> Starlette:
    emulation.quiet_drops()

    def authorized(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if header == f"Bearer {state.bearer}":
            return
        expected = base64.b64encode(f"{state.email}:{state.api_key}".encode()).decode()
        if header != f"Basic {expected}":
            raise Invalid("Unauthorized", 401)
        if request.query_params.get(schema.SITE_ID_PARAMETER) != str(state.site_id):
            raise Invalid("siteId is required with API key authentication and must be your site's id")

    def limited(request: Request) -> float | None:
        """None, or the seconds until the client's oldest call in the window leaves it."""
        client = request.client.host if request.client else "?"
        sent = state.calls.setdefault(client, collections.deque())
        now = time.monotonic()
        while sent and now - sent[0] >= state.rate_window_s:
            sent.popleft()
        if len(sent) >= state.rate_limit:
            return state.rate_window_s - (now - sent[0]) if sent else state.rate_window_s
        sent.append(now)
        return None

    async def api(request: Request) -> Response:
        path = "/" + request.path_params["path"].rstrip("/")
        method = request.method
        entry: dict[str, Any] = {"method": method, "path": "/v4" + path, "status": 0}
        state.log.append(entry)
        wait = limited(request)
        if wait is not None:
            entry["status"] = 429
            refused = _error(429, f"Too many requests: {state.rate_limit} calls per {state.rate_window_s:g} s")
            # ASSUMED (schema.RETRY_AFTER_HEADER): Comm100 documents no Retry-After; the emulator
            # sends one (whole seconds, rounded up) so that clients honouring it are tested.
            refused.headers[schema.RETRY_AFTER_HEADER] = str(max(1, math.ceil(wait)))
            return refused

        async def handle() -> Response:
            try:
                authorized(request)
                return await _handle(state, request, method, path)
            except Invalid as problem:
                return _error(problem.status, problem.message)
        return await with_faults(state.faults, method, entry, handle, _error, request)

    async def call(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("voicebot"), str) \
                or not isinstance(body.get("inputs", []), list) \
                or not isinstance(body.get("caller", ""), (str, type(None))):
            return _error(400, 'give {"voicebot": "NAME", "inputs": ["1", "silence"], "caller": "NUMBER"}')
        try:
            result = await execute_call(state, body["voicebot"], [str(i) for i in body.get("inputs", [])],
                                        caller=body.get("caller"))
        except CallError as error:
            return _error(404, str(error))
        return JSONResponse(result.to_dict())

    return Starlette(routes=[
        Route("/v4/{path:path}", api, methods=["GET", "POST", "PUT", "DELETE"]),
        *control_routes(state),
        Route("/_emulator/call", call, methods=["POST"]),
    ])


async def _handle(state: Comm100, request: Request, method: str, path: str) -> Response:
    match = _BOT_TRIGGERS.fullmatch(path)
    if match and method == "GET":
        _get(state, "voicebots", match.group(1))
        return JSONResponse([t for t in state.objects["triggers"].values() if t["voicebotId"] == match.group(1)])
    if path in COLLECTIONS:
        name = COLLECTIONS[path]
        if method == "GET":
            items = list(state.objects[name].values())
            for key in (schema.RESPONSE_FILTER, schema.ACTION_FILTER):
                if key in request.query_params:
                    items = [i for i in items if i.get(key) == request.query_params[key]]
            return JSONResponse(items)
        if method == "POST":
            body = await _body(request)
            _validate(state, name, body, None)
            made = {**body, "id": state.new_id()}
            state.objects[name][made["id"]] = made
            return JSONResponse(made, status_code=201)
        raise Invalid(f"{method} is not allowed on {path}", 405)
    match = _ONE.fullmatch(path)
    if match and match.group(1) in COLLECTIONS:
        name, key = COLLECTIONS[match.group(1)], match.group(2)
        found = _get(state, name, key)
        if method == "GET":
            return JSONResponse(found)
        if method == "PUT":
            body = await _body(request)
            _validate(state, name, body, found)
            state.objects[name][key] = {**body, "id": key}
            return JSONResponse(state.objects[name][key])
        if method == "DELETE":
            _delete(state, name, key)
            return Response(status_code=204)
    raise Invalid(f"no such resource: {path}", 404)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return {k: v for k, v in body.items() if k != "id"}


def _get(state: Comm100, name: str, key: str) -> dict[str, Any]:
    found = state.objects[name].get(key)
    if found is None:
        raise Invalid(f"{name[:-1] if name.endswith('s') else name} {key} not found", 404)
    return found


def _delete(state: Comm100, name: str, key: str) -> None:
    """ASSUMED: deleting a voicebot deletes its responses, actions and triggers; a response its actions."""
    state.objects[name].pop(key)
    if name == "voicebots":
        for response in [r for r in state.objects["responses"].values() if r.get("voicebotId") == key]:
            _delete(state, "responses", response["id"])
        for trigger in [t for t in state.objects["triggers"].values() if t.get("voicebotId") == key]:
            state.objects["triggers"].pop(trigger["id"])
    if name == "responses":
        for action in list(state.actions_of(key)):
            state.objects["actions"].pop(action)


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> None:
    value = body.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise Invalid(f"{key} is required and must be a string" if required else f"{key} must be a string")


def _number(body: dict[str, Any], key: str, low: int, high: int | None = None) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise Invalid(f"{key} must be an integer from {low}" + (f" to {high}" if high is not None else ""))


def _validate(state: Comm100, name: str, body: dict[str, Any], old: dict[str, Any] | None) -> None:
    if name == "voicebots":
        _text(body, "name", required=True)
        if not isinstance(body.get("channel"), dict):
            raise Invalid("channel is required")
        if body.get("languageId") not in (None, *schema.LANGUAGES):
            raise Invalid(f"languageId must be one of {', '.join(schema.LANGUAGES)}")
        _number(body, schema.REPEAT_INTERVAL_FIELD, *schema.REPEAT_INTERVAL_RANGE)
        _number(body, schema.HANG_UP_FIELD, *schema.HANG_UP_RANGE)
        _number(body, "botWaitingTime", 0)
        if body.get("channelId") is not None:
            _get(state, "instances", str(body["channelId"]))
    elif name == "instances":
        if body.get("channelType") not in (None, *schema.CHANNEL_TYPES):
            raise Invalid("channelType must be twilio or sip")
        if body.get("infoId") is not None:
            _get(state, "sip" if body.get("channelType") == "sip" else "twilio", str(body["infoId"]))
    elif name == "sip":
        _text(body, "sIPServer")
        _text(body, "username", required=True)
        _text(body, "password", required=True)
        for flag, dependent in (("isAuthUsernameRequired", "authUsername"),
                                ("isOutboundProxyRequired", "outboundProxy")):
            if body.get(flag) not in (None, True, False):
                raise Invalid(f"{flag} must be a boolean")
            if body.get(flag) and not body.get(dependent):
                raise Invalid(f"{dependent} is required when {flag} is true")
    elif name == "twilio":
        _text(body, "phoneNumber", required=True)
        _text(body, "phoneNumberCountry", required=True)
        if body["phoneNumberCountry"] not in schema.TWILIO_COUNTRIES:
            raise Invalid("phoneNumberCountry must be one of " + ", ".join(schema.TWILIO_COUNTRIES))
        if old is not None and old.get("phoneNumber") != body["phoneNumber"]:
            raise Invalid("phoneNumber cannot be changed after creation")
    elif name == "responses":
        _get(state, "voicebots", str(body.get("voicebotId")))
    elif name == "triggers":
        _get(state, "voicebots", str(body.get("voicebotId")))
        if body.get("trigger") not in schema.TRIGGERS:
            raise Invalid("trigger must be one of " + ", ".join(schema.TRIGGERS))
        _get(state, "responses", str(body.get("voicebotResponseId")))
    elif name == "actions":
        _validate_action(state, body)


def _validate_second_edition(kind: str, sub: dict[str, Any]) -> None:
    """The fields of CollectDTMFDigits, SetVariableValue, Condition and
    Webhook as schema.py assumes them."""
    if kind == "CollectDTMFDigits":
        _text(sub, "variableName", required=True)
        count = sub.get("numberOfDigits")
        if count != schema.VARIABLE_DIGITS and not (isinstance(count, str) and count.isdigit()
                                                     and 1 <= int(count) <= schema.DIGITS_MOST):
            raise Invalid(f"numberOfDigits must be \"1\" to \"{schema.DIGITS_MOST}\" or \"{schema.VARIABLE_DIGITS}\"")
        if sub.get("stopGatherAfterPresskey") not in (None, *schema.STOP_KEYS):
            raise Invalid("stopGatherAfterPresskey must be " + " or ".join(schema.STOP_KEYS))
    elif kind == "SetVariableValue":
        _text(sub, "variable", required=True)
        _text(sub, "value")
    elif kind == "Webhook":
        _text(sub, "url", required=True)
        for name in ("headers", "responseCodeToActions", "responseToVariables"):
            if not isinstance(sub.get(name, []), list):
                raise Invalid(f"{name} must be a list")
    elif kind == "Condition":
        cases = sub.get("cases", [])
        if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
            raise Invalid("cases must be a list of cases")
        for case in cases:
            if case.get("conditionExpressionType") not in schema.CONDITION_TYPES:
                raise Invalid("conditionExpressionType must be one of " + ", ".join(schema.CONDITION_TYPES))
            conditions = case.get("conditions", [])
            if not isinstance(conditions, list) or not all(
                    isinstance(c, dict) and c.get("operator") in schema.CONDITION_OPERATORS for c in conditions):
                raise Invalid("each condition needs an operator, one of " + ", ".join(schema.CONDITION_OPERATORS))


def _validate_action(state: Comm100, body: dict[str, Any]) -> None:
    kind = body.get("type")
    if kind not in schema.ACTION_TYPES:
        raise Invalid("type must be one of " + ", ".join(schema.ACTION_TYPES))
    response = _get(state, "responses", str(body.get("voicebotResponseId")))
    for key in ("xPosition", "yPosition"):
        if not isinstance(body.get(key, 0), (int, float)):
            raise Invalid(f"{key} must be a number")
    sub = body.get(schema.sub_object(str(kind)))
    if sub is None and kind in ("Start", "EndCall"):
        return
    if not isinstance(sub, dict):
        raise Invalid(f"{schema.sub_object(str(kind))} is required for a {kind} action")
    siblings = state.actions_of(response["id"])
    links = schema.linked_ids(str(kind), sub)
    if kind == "IVRMenu":
        options = sub.get(schema.OPTIONS_FIELD) or []
        if not isinstance(options, list):
            raise Invalid(f"{schema.OPTIONS_FIELD} must be a list")
        keys = [o.get("key") for o in options if isinstance(o, dict)]
        if len(keys) != len(options) or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= 9
                                                for k in keys) or len(set(keys)) != len(keys):
            raise Invalid("each option needs a distinct integer key from 0 to 9")
        _number(sub, "invalidInputRepeatTime", 0)
    if kind == "PlayText":
        _text(sub, "message", required=True)
    if kind == "TransferCall":
        _text(sub, "transferTo", required=True)
    _validate_second_edition(str(kind), sub)
    for link in links:
        if link is not None and (not isinstance(link, str) or link not in siblings):
            raise Invalid(f"action {link} is not an action of this response")
