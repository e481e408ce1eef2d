"""A local stand-in of Telphin's voice-menu API, and of its calls.

The API keeps state like the platform: OAuth client credentials, extensions,
multipart sound uploads, IVR settings, contexts (each created with the
built-in options `start`, `timeout` and `invalid`), options and rules in
order, with the documented validation and `{"message": …}` errors. Lists are
paged (`page`, `per_page`; `Telphin.page_size` items unless asked). Faults can
be injected (a rate, kinds: 429, 500, 503, timeout, drop; latency; a call
that lands late), more than `Telphin.max_concurrent` requests at once are
answered 429 "concurrent request not allowed", and every request is logged.

It also runs calls against the configuration it holds (calls.py).
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..emulation import Faults, control_routes, quiet_drops, with_faults
from .calls import execute_call
from .state import BUILT_IN, Telphin

__all__ = ["BUILT_IN", "Faults", "Telphin", "telphin_app"]

ACTIONS = {
    "transfer": ("transfer_dst",), "simple_transfer": ("transfer_dst",), "hangup": (),
    "play_sound": ("sound", "sound_type"), "play_silence": ("silence_time",),
    "jump_to_context": ("context",), "play_digits": ("digits",), "set_variable": ("set_variable_name",),
    "call_interactive": ("call_interactive_url",), "transfer_from_variable": ("transfer_variable",),
    "record_digits": ("record_digits_variable",), "play_digits_from_variable": ("play_digits_variable",),
    "set_caller_id_number": ("caller_id_number",), "set_caller_id_name": ("caller_id_name",),
    "quality_rate": ("sound",), "voice_helper": ("sound",),
}
CONTEXT_FIELDS: dict[str, Any] = {
    "name": str, "description": (str, type(None)), "digit_len": int, "inter_digit_timeout": int,
    "timeout": int, "allow_any_dial": bool, "extra_params": (str, type(None))}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def telphin_app(state: Telphin) -> Starlette:
    quiet_drops()

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        expires = state.tokens.get(token)
        return expires is not None and expires > time.monotonic()

    async def token(request: Request) -> Response:
        async with request.form() as form:
            grant, client_id, secret = form.get("grant_type"), form.get("client_id"), form.get("client_secret")
        if grant != "client_credentials":
            return _error(400, "unsupported grant_type")
        if client_id != state.client_id or secret != state.client_secret:
            return _error(401, "invalid client credentials")
        value = f"tok-{state.next_id()}-{random.getrandbits(32):08x}"
        state.tokens[value] = time.monotonic() + state.token_lifetime_s
        return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": state.token_lifetime_s,
                             "scope": "all"})

    async def api(request: Request) -> Response:
        path = request.path_params["path"]
        method = request.method
        entry = {"method": method, "path": "/api/ver1.0/" + path, "status": 0}
        state.log.append(entry)

        async def handle() -> Response:
            if not authorized(request):
                return _error(401, "Unauthorized")
            return await _handle(state, request, method, path)
        if state.max_concurrent is not None and state.in_flight >= state.max_concurrent:
            entry["status"] = 429  # as Telphin's stats API answers concurrency (PLATFORMS.md §7)
            return _error(429, "concurrent request not allowed")
        state.in_flight += 1
        try:
            return await with_faults(state.faults, method, entry, handle, _error, request)
        finally:
            state.in_flight -= 1

    async def call(request: Request) -> Response:
        body = await request.json()
        async with httpx.AsyncClient(timeout=10) as client:
            result = await execute_call(state, client, str(body.get("extension", "")), list(body.get("inputs", [])),
                                        caller=body.get("caller"), called=body.get("called"),
                                        clock=body.get("clock"))
        return JSONResponse(result.to_dict())

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/api/ver1.0/{path:path}", api, methods=["GET", "POST", "PUT", "DELETE"]),
        *control_routes(state),
        Route("/_emulator/call", call, methods=["POST"]),
    ])


_ROUTES = [
    (re.compile(r"client/(@me|\d+)/sound/?"), "sounds"),
    (re.compile(r"client/(@me|\d+)/sound/(\d+)/?"), "sound"),
    (re.compile(r"client/(@me|\d+)/extension/?"), "extensions"),
    (re.compile(r"extension/(\d+)/ivr/?"), "ivr"),
    (re.compile(r"extension/(\d+)/ivr/context/?"), "contexts"),
    (re.compile(r"extension/(\d+)/ivr/context/(\d+)/?"), "context"),
    (re.compile(r"extension/(\d+)/ivr/context/(\d+)/options/?"), "options"),
    (re.compile(r"extension/(\d+)/ivr/context/(\d+)/options/([^/]+)/?"), "option"),
    (re.compile(r"extension/(\d+)/ivr/context/(\d+)/options/([^/]+)/rules/?"), "rules"),
    (re.compile(r"extension/(\d+)/ivr/context/(\d+)/options/([^/]+)/rules/(\d+)/?"), "rule"),
]


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _route(path: str) -> tuple[str, tuple[str, ...]] | None:
    for pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return name, match.groups()
    return None


async def _handle(state: Telphin, request: Request, method: str, path: str) -> Response:
    routed = _route(path)
    if routed is None:
        return _error(404, "Not found")
    name, args = routed

    size = state.page_size
    if method == "GET" and name in ("sounds", "extensions", "contexts", "options", "rules"):
        checked = _page_size(state, request)
        if isinstance(checked, Response):
            return checked
        size = checked
    if name == "sounds":
        if method == "GET":
            return _page(request, list(state.sounds.values()), size)
        if method == "POST":
            async with request.form() as form:
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    return _error(400, "file is required")
                data = await upload.read()
                title, filename = str(form.get("title") or ""), upload.filename
            if not data:
                return _error(400, "file is empty")
            sound: dict[str, Any] = {"id": state.next_id(), "client_id": state.client, "title": title,
                                     "dealer_id": None, "filename": filename}
            state.sounds[sound["id"]] = sound
            state.sound_data[sound["id"]] = data
            return JSONResponse(sound)
    if name == "sound" and method == "DELETE":
        if state.sounds.pop(int(args[1]), None) is None:
            return _error(404, "Sound not found")
        return Response(status_code=204)

    if name == "extensions":
        if method == "GET":
            return _page(request, list(state.extensions.values()), size)
        if method == "POST":
            body = await _json(request)
            if not isinstance(body, dict) or not re.fullmatch(r"\d{2,6}", str(body.get("name", ""))):
                return _error(400, "name must be 2 to 6 digits")
            if body.get("type") not in ("ivr", "phone", "queue", "fax"):
                return _error(400, "unknown type")
            full = f"{state.client:03d}*{body['name']}"
            if any(e["name"] == full for e in state.extensions.values()):
                return _error(400, f"extension {body['name']} already exists")
            extension = {"id": state.next_id(), "name": full, "label": body.get("label"), "type": body["type"],
                         "status": body.get("status", "active"), "client_id": state.client, "domain": "sip.example"}
            state.extensions[extension["id"]] = extension
            if extension["type"] == "ivr":
                state.ivrs[extension["id"]] = {"entry_context": 0, "lifetime": 0, "lifetime_exp_action": "hangup",
                                               "lifetime_exp_transfer_dst": None, "sleep_time": 0,
                                               "vm_enabled": False, "vm_greeting": None, "vm_mailto": None,
                                               "vm_attach_file": True}
            return JSONResponse(extension)

    extension_id = int(args[0]) if name not in ("sounds", "sound", "extensions") else 0
    if extension_id not in state.ivrs:
        return _error(404, "Extension not found or not an IVR")

    if name == "ivr":
        if method == "GET":
            return JSONResponse(state.ivrs[extension_id])
        if method == "PUT":
            body = await _json(request)
            if not isinstance(body, dict):
                return _error(400, "JSON object expected")
            ivr = state.ivrs[extension_id]
            for key, value in body.items():
                if key not in ivr:
                    return _error(400, f"unknown field {key}")
                if key == "entry_context" and value != 0 and value not in state.contexts:  # 0: no menu
                    return _error(400, f"entry_context {value} does not exist")
                if key in ("lifetime", "sleep_time") and (not isinstance(value, int) or value < 0):
                    return _error(400, f"{key} must be a non-negative integer")
                if key == "lifetime_exp_action" and value not in ("hangup", "transfer"):
                    return _error(400, "lifetime_exp_action must be hangup or transfer")
                ivr[key] = value
            return JSONResponse(ivr)

    if name == "contexts":
        if method == "GET":
            return _page(request, [_context_view(c) for c in state.contexts.values()
                                   if c["extension"] == extension_id], size)
        if method == "POST":
            body = await _json(request)
            problem = _context_problem(body, creating=True)
            if problem:
                return _error(400, problem)
            created: dict[str, Any] = {
                "id": state.next_id(), "extension": extension_id, "description": None, "extra_params": None,
                       "digit_len": 1, "inter_digit_timeout": 2000, "timeout": 5000, "allow_any_dial": False,
                **body, "options": {option: [] for option in BUILT_IN}}
            state.contexts[created["id"]] = created
            return JSONResponse(_context_view(created))

    context = state.contexts.get(int(args[1])) if len(args) > 1 else None
    if len(args) > 1 and (context is None or context["extension"] != extension_id):
        return _error(404, "Context not found")
    assert context is not None

    if name == "context":
        if method == "GET":
            return JSONResponse(_context_view(context))
        if method == "PUT":
            body = await _json(request)
            problem = _context_problem(body, creating=False)
            if problem:
                return _error(400, problem)
            context.update(body)
            return JSONResponse(_context_view(context))
        if method == "DELETE":
            del state.contexts[context["id"]]
            return Response(status_code=204)

    if name == "options":
        if method == "GET":
            return _page(request, [{"digits": d} for d in context["options"]], size)
        if method == "POST":
            body = await _json(request)
            digits = str(body.get("digits", "")) if isinstance(body, dict) else ""
            if not re.fullmatch(r"[0-9*#]{1,20}", digits):
                return _error(400, "digits must be 1 to 20 of 0-9, * and #")
            if digits in context["options"]:
                return _error(400, f"option {digits} already exists")
            context["options"][digits] = []
            return JSONResponse({"digits": digits})

    digits = args[2] if len(args) > 2 else ""
    if len(args) > 2 and digits not in context["options"]:
        return _error(404, "Option not found")

    if name == "option" and method == "DELETE":
        if digits in BUILT_IN:
            return _error(400, "built-in options cannot be deleted")
        del context["options"][digits]
        return Response(status_code=204)

    rules = context["options"].get(digits, [])
    if method in ("POST", "PUT") and name in ("rules", "rule"):  # both writes take a valid rule
        body = await _json(request)
        problem = _rule_problem(state, extension_id, body)
        if problem:
            return _error(400, problem)
    if name == "rules":
        if method == "GET":
            return _page(request, rules, size)
        if method == "POST":
            rule = {"id": state.next_id(), **body}
            rules.append(rule)
            return JSONResponse(rule)
    if name == "rule":
        found = [r for r in rules if r["id"] == int(args[3])]
        if not found:
            return _error(404, "Rule not found")
        rule = found[0]
        if method == "GET":
            return JSONResponse(rule)
        if method == "PUT":
            rule.clear()
            rule.update({"id": int(args[3]), **body})
            return JSONResponse(rule)
        if method == "DELETE":
            rules.remove(rule)
            return Response(status_code=204)
    return _error(405, "Method not allowed")


def _page_size(state: Telphin, request: Request) -> int | Response:
    """A list is read a page at a time: `page` (from 1) of `per_page` items."""
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("per_page", str(state.page_size)))
    except ValueError:
        return _error(400, "page and per_page must be integers")
    if page < 1 or size < 1:
        return _error(400, "page and per_page must be positive")
    return min(size, state.max_per_page)


def _page(request: Request, items: list[Any], size: int) -> Response:
    page = int(request.query_params.get("page", "1"))
    return JSONResponse(items[(page - 1) * size:page * size])


def _context_view(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if k not in ("options", "extension")}


def _context_problem(body: Any, *, creating: bool) -> str | None:
    if not isinstance(body, dict):
        return "JSON object expected"
    if creating and not body.get("name"):
        return "name is required"
    for key, value in body.items():
        if key not in CONTEXT_FIELDS:
            return f"unknown field {key}"
        if not isinstance(value, CONTEXT_FIELDS[key]) or (isinstance(value, bool) and key != "allow_any_dial"):
            return f"{key} has the wrong type"
    if "digit_len" in body and not 1 <= body["digit_len"] <= 20:
        return "digit_len must be between 1 and 20"
    for key in ("timeout", "inter_digit_timeout"):
        if key in body and body[key] <= 0:
            return f"{key} must be positive (milliseconds)"
    if len(str(body.get("name", ""))) > 255:
        return "name is too long"
    return None


def _rule_problem(state: Telphin, extension: int, body: Any) -> str | None:
    if not isinstance(body, dict):
        return "JSON object expected"
    action = body.get("action")
    if action not in ACTIONS:
        return f"unknown action {action!r}"
    for required in ACTIONS[action]:
        if body.get(required) in (None, ""):
            return f"{required} is required for {action}"
    if action == "play_sound" and (body["sound"] not in state.sounds or
                                   body["sound_type"] not in ("foreground", "background")):
        return "sound must exist and sound_type be foreground or background"
    if action == "record_digits" and (body.get("record_digits_sound") not in (None, *state.sounds) or
                                      not isinstance(body.get("record_digits_max", 1), int)):
        return "record_digits_sound must exist and record_digits_max be a number"
    if action == "jump_to_context" and (body["context"] not in state.contexts
                                        or state.contexts[body["context"]]["extension"] != extension):
        return f"context {body['context']} does not exist"
    if action == "transfer" and len(str(body["transfer_dst"]).split(",")) > 10:
        return "at most 10 destinations"
    return None
