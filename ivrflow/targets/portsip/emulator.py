"""A local stand-in of PortSIP's REST API (seeds/001, PLATFORMS.md §2), and of
its calls.

It keeps state like the PBX (state.py): sign-in (`POST /api/login` with
username, password and the optional tenant domain; refresh tokens; with
`two_factor`, the second-step answer instead), the three-step blob upload
with its sha256 check, files (and their deletion), virtual receptionists
with their forward rules, and action URLs; with the documented validation
(lengths, patterns, the PIN rules, masks), GET/POST conventions, the status
codes of the OpenAPI v22 document (upload 202, append 203, create 201,
destroy 204) and `{"errors": [{code, message, detail}]}`. Faults can be
injected and every request is logged. It runs calls against what it holds
(calls.py), asking action URLs over HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import emulation
from ..emulation import control_routes, with_faults
from . import audio
from .calls import execute_call
from .compile import ACTION_URL_MAX, FORWARD_NUMBER, pin_problem
from .state import WEEKDAYS, PortSip

__all__ = ["PortSip", "pin_problem", "portsip_app"]

FORWARD_ACTIONS = ("FORWARD_TO_NUMBER", "FORWARD_TO_VOICEMAIL", "REPEAT", "HANGUP")
KEY_ACTIONS = (*FORWARD_ACTIONS, "DISA")
IVR_FIELDS = {"name", "extension_number", "language", "dtmf_interval", "prompt_file_id", "transfer_prompt_file_id",
              "enable_pin", "pin", "enable_night_mode", "exclude_list", "timeout_forward_rule",
              "failure_forward_rule", "night_mode_forward_rule", "custom_forward_rules", "outbound_caller_ids"}
URL_FIELDS = {"name", "enabled", "type", "method", "headers", "caller_mask", "dtmf_mask", "connection_timeout",
              "request_timeout", "url", "auth", "username", "password", "token"}
_MASK = re.compile(r"ALL|([0-9*]+(-[0-9]+)?)(;[0-9*]+(-[0-9]+)?)*")
_EXCLUDE = re.compile(r"([0-9]+(-[0-9]+)?)([;,][0-9]+(-[0-9]+)?)*")


class Invalid(Exception):
    def __init__(self, message: str, detail: str = "", status: int = 400, code: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.message, self.detail, self.status, self.code = message, detail, status, code


def _error(status: int, message: str, detail: str = "", code: str | None = None) -> JSONResponse:
    codes = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS",
             429: "TOO_MANY_REQUESTS"}
    return JSONResponse({"errors": [{"code": code or codes.get(status, "INTERNAL"), "message": message,
                                     "detail": detail}]}, status_code=status)


def portsip_app(state: PortSip) -> Starlette:
    emulation.quiet_drops()

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        expires = state.tokens.get(header[7:] if header.startswith("Bearer ") else "")
        return expires is not None and expires > time.monotonic()

    def tokens() -> JSONResponse:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        state.tokens[access] = time.monotonic() + state.token_lifetime_s
        state.refresh_tokens.add(refresh)
        return JSONResponse({"access_token": access, "refresh_token": refresh, "expires_in": state.token_lifetime_s,
                             "token_type": "Bearer"})

    async def login(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body.get(k)
                                                 for k in ("username", "password")):
            return _error(400, "username and password are required")
        if "domain" in body and not (isinstance(body["domain"], str) and 1 <= len(body["domain"]) <= 280):
            return _error(400, "domain must be 1 to 280 characters", "domain")
        if body["username"] != state.username or body["password"] != state.password:
            return _error(401, "Invalid username or password")
        if state.two_factor:  # a second step (an OTP) would be needed: no tokens yet
            return JSONResponse({"two_factor_enabled": True, "token": secrets.token_hex(16)})
        return tokens()

    async def refresh(request: Request) -> Response:
        body = await _json(request)
        token = body.get("refresh_token") if isinstance(body, dict) else None
        if token not in state.refresh_tokens:
            return _error(401, "Invalid refresh token")
        state.refresh_tokens.discard(token)
        return tokens()

    def logged(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            entry = {"method": request.method, "path": request.url.path, "status": 0}
            state.log.append(entry)
            response: Response = await handler(request)
            entry["status"] = response.status_code
            return response
        return run

    async def api(request: Request) -> Response:
        path = request.path_params["path"]
        method = request.method
        entry = {"method": method, "path": "/api/" + path, "status": 0}
        state.log.append(entry)

        async def handle() -> Response:
            if not authorized(request):
                return _error(401, "Unauthorized")
            try:
                return await _handle(state, request, method, path)
            except Invalid as problem:
                return _error(problem.status, problem.message, problem.detail, problem.code)
        return await with_faults(state.faults, method, entry, handle, _error)

    async def call(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("extension"), str):
            return _error(400, "give {\"extension\": \"7000\", \"inputs\": [\"1\", \"silence\"]}")
        async with httpx.AsyncClient(timeout=10) as client:
            result = await execute_call(state, client, body["extension"], [str(i) for i in body.get("inputs", [])],
                                        caller=body.get("caller"), clock=body.get("clock"))
        return JSONResponse(result.to_dict())

    return Starlette(routes=[
        Route("/api/login", logged(login), methods=["POST"]),
        Route("/api/auth/sign_in", logged(login), methods=["POST"]),
        Route("/api/auth/refresh_token", logged(refresh), methods=["POST"]),
        Route("/api/{path:path}", api, methods=["GET", "POST"]),
        *control_routes(state),
        Route("/_emulator/call", call, methods=["POST"]),
    ])


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _page(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    try:
        skip = int(request.query_params.get("skip", 0))
        top = int(request.query_params.get("top", 100))
    except ValueError:
        raise Invalid("skip and top must be integers") from None
    if not 1 <= top <= 100 or skip < 0:
        raise Invalid("top must be 1 to 100 and skip not negative")
    return JSONResponse({"count": len(items), "items": items[skip:skip + top]})


_ROUTES = [
    (re.compile(r"blobs/uploads"), "uploads"),
    (re.compile(r"blobs/uploads/([^/]+)/append"), "append"),
    (re.compile(r"blobs/uploads/([^/]+)/complete"), "complete"),
    (re.compile(r"files"), "files"),
    (re.compile(r"files/([^/]+)"), "file"),
    (re.compile(r"files/([^/]+)/destroy"), "file_destroy"),
    (re.compile(r"ivrs"), "ivrs"),
    (re.compile(r"ivrs/([^/]+)"), "ivr"),
    (re.compile(r"ivrs/([^/]+)/destroy"), "ivr_destroy"),
    (re.compile(r"ivrs/([^/]+)/action_urls"), "urls"),
    (re.compile(r"ivrs/([^/]+)/action_urls/([^/]+)"), "url"),
    (re.compile(r"ivrs/([^/]+)/action_urls/([^/]+)/destroy"), "url_destroy"),
]


async def _handle(state: PortSip, request: Request, method: str, path: str) -> Response:
    routed = next(((name, found.groups()) for pattern, name in _ROUTES
                   if (found := pattern.fullmatch(path.strip("/")))), None)
    if routed is None:
        raise Invalid("Not found", path, 404)
    name, args = routed
    if (name, method) == ("uploads", "POST"):
        filename = request.query_params.get("filename", "")
        if not filename or len(filename) > 255:
            raise Invalid("filename is required")
        upload_id, token = state.next_id(), secrets.token_hex(8)
        state.uploads[upload_id] = {"token": token, "filename": filename, "data": bytearray()}
        return Response(status_code=202, headers={"PortSIP-Upload-ID": upload_id, "PortSIP-Upload-Token": token})
    if name in ("append", "complete") and method == "POST":
        upload = state.uploads.get(args[0])
        if upload is None:
            raise Invalid("Upload not found", args[0], 404)
        if request.headers.get("portsip-upload-token") != upload["token"]:
            raise Invalid("Bad upload token", "", 401, "UNAUTHENTICATED")
        if name == "append":
            upload["data"] += await request.body()
            return Response(status_code=203, headers={"PortSIP-Upload-ID": args[0],
                                                      "PortSIP-Upload-Token": upload["token"]})
        data = bytes(upload["data"])
        if request.query_params.get("digest") != hashlib.sha256(data).hexdigest():
            raise Invalid("Digest does not match the uploaded data", "digest")
        problem = audio.problem(data)
        if problem is not None:
            raise Invalid("Unsupported file format", problem)
        del state.uploads[args[0]]
        file_id = state.next_id()
        state.files[file_id] = {"id": file_id, "name": upload["filename"], "size": len(data),
                                "media_type": "audio/wav", "created_at": dt.datetime.now(dt.UTC).isoformat()}
        state.file_data[file_id] = data
        return JSONResponse({"id": file_id}, status_code=201)
    if (name, method) == ("files", "GET"):
        return _page(request, list(state.files.values()))
    if name in ("file", "file_destroy"):
        file = state.files.get(args[0])
        if file is None:
            raise Invalid("File not found", args[0], 404, "NOT_FOUND")
        if (name, method) == ("file", "GET"):
            return JSONResponse(file)
        if (name, method) == ("file_destroy", "POST"):
            del state.files[args[0]]
            state.file_data.pop(args[0], None)
            return Response(status_code=204)
    if name in ("uploads", "append", "complete", "files", "file", "file_destroy"):
        raise Invalid("Method not allowed", f"{method} {path}", 405, "METHOD_NOT_ALLOWED")

    if name == "ivrs":
        if method == "GET":
            return _page(request, [{k: ivr[k] for k in ("id", "name", "extension_number")}
                                   for ivr in state.ivrs.values()])
        body = await _json(request)
        _check_ivr(state, body, creating=True)
        ivr_id = state.next_id()
        state.ivrs[ivr_id] = {"id": ivr_id, "language": "en-US", "dtmf_interval": 2, "enable_pin": True,
                              "enable_night_mode": False, "exclude_list": "", "prompt_file_id": "",
                              "timeout_forward_rule": {"timeout": 30, "repeat_times": 3, "action": "HANGUP"},
                              "custom_forward_rules": []}
        state.ivrs[ivr_id].update(body)
        state.urls[ivr_id] = {}
        return JSONResponse({"id": ivr_id}, status_code=201)

    ivr = state.ivrs.get(args[0])
    if ivr is None:
        raise Invalid("Virtual receptionist not found", args[0], 404)
    if name == "ivr":
        if method == "GET":
            return JSONResponse(_ivr_view(state, ivr))
        body = await _json(request)
        _check_ivr(state, body, creating=False, current=ivr)
        ivr.update(body)
        return Response(status_code=200)
    if (name, method) == ("ivr_destroy", "POST"):
        del state.ivrs[ivr["id"]]
        state.urls.pop(ivr["id"], None)
        return Response(status_code=204)

    if name == "ivr_destroy":
        raise Invalid("Method not allowed", f"{method} {path}", 405, "METHOD_NOT_ALLOWED")
    urls = state.urls.setdefault(ivr["id"], {})
    if name == "urls":
        if method == "GET":
            return JSONResponse({"count": len(urls), "items": list(urls.values())})
        body = await _json(request)
        _check_url(body, urls.values())
        url_id = state.next_id()
        urls[url_id] = {"id": url_id, "enabled": False, "method": "GET", "auth": "DISABLE",
                        "connection_timeout": 2, "request_timeout": 2, **body}
        return JSONResponse({"id": url_id}, status_code=201)
    url = urls.get(args[1])
    if url is None:
        raise Invalid("Action URL not found", args[1], 404)
    if name == "url":
        if method == "GET":
            return JSONResponse(url)
        body = await _json(request)
        _check_url(body, [u for u in urls.values() if u is not url])
        url.update(body)
        return Response(status_code=200)
    if (name, method) == ("url_destroy", "POST"):
        del urls[url["id"]]
        return Response(status_code=204)
    raise Invalid("Method not allowed", f"{method} {path}", 405, "METHOD_NOT_ALLOWED")


def _ivr_view(state: PortSip, ivr: dict[str, Any]) -> dict[str, Any]:
    """As GET /ivrs/{id} shows it: the prompt by name, size and URL."""
    view = {k: v for k, v in ivr.items() if k != "prompt_file_id"}
    prompt = state.files.get(ivr.get("prompt_file_id") or "")
    view["prompt_file_name"] = prompt["name"] if prompt else ""
    view["prompt_file_size"] = prompt["size"] if prompt else 0
    view["prompt_file_url"] = f"/api/blobs/{prompt['id']}" if prompt else ""
    return view


def _check_ivr(state: PortSip, body: Any, *, creating: bool, current: dict[str, Any] | None = None) -> None:
    if not isinstance(body, dict):
        raise Invalid("A JSON object is expected")
    unknown = set(body) - IVR_FIELDS
    if unknown:
        raise Invalid("Unknown field", ", ".join(sorted(unknown)))
    if creating:
        for required in ("name", "extension_number", "pin"):
            if required not in body:
                raise Invalid(f"{required} is required", required)
    elif "extension_number" in body:
        raise Invalid("extension_number cannot be changed", "extension_number")
    if "name" in body and not (isinstance(body["name"], str) and 1 <= len(body["name"]) <= 64):
        raise Invalid("name must be 1 to 64 characters", "name")
    if "extension_number" in body:
        number = body["extension_number"]
        if not isinstance(number, str) or not re.fullmatch(r"[0-9]{3,64}", number):
            raise Invalid("extension_number must match [0-9]{3,64}", "extension_number")
        if state.by_number(number) is not None:
            raise Invalid(f"Extension number {number} is already in use", "extension_number", 409, "ALREADY_EXISTS")
    if "pin" in body:
        problem = pin_problem(body["pin"])
        if problem:
            raise Invalid(problem, "pin")
    if "dtmf_interval" in body and not (isinstance(body["dtmf_interval"], int) and body["dtmf_interval"] >= 1):
        raise Invalid("dtmf_interval must be an integer of at least 1", "dtmf_interval")
    for key in ("enable_pin", "enable_night_mode"):
        if key in body and not isinstance(body[key], bool):
            raise Invalid(f"{key} must be a boolean", key)
    prompt = body.get("prompt_file_id")
    if prompt and prompt not in state.files:
        raise Invalid("File not found", "prompt_file_id")
    exclude = body.get("exclude_list")
    if exclude and not (isinstance(exclude, str) and _EXCLUDE.fullmatch(exclude)):
        raise Invalid("exclude_list must be numbers or ranges separated by ;", "exclude_list")
    if "timeout_forward_rule" in body:
        rule = body["timeout_forward_rule"]
        _check_forward(rule, "timeout_forward_rule", FORWARD_ACTIONS)
        if not (isinstance(rule.get("timeout"), int) and rule["timeout"] >= 1):
            raise Invalid("timeout must be an integer of at least 1 (seconds)", "timeout_forward_rule.timeout")
        if not (isinstance(rule.get("repeat_times"), int) and rule["repeat_times"] >= 0):
            raise Invalid("repeat_times must be a non-negative integer", "timeout_forward_rule.repeat_times")
    rules = body.get("custom_forward_rules", [])
    if not isinstance(rules, list):
        raise Invalid("custom_forward_rules must be a list", "custom_forward_rules")
    seen = set()
    for index, rule in enumerate(rules):
        where = f"custom_forward_rules[{index}]"
        if not isinstance(rule, dict) or not re.fullmatch(r"[0-9*#]{1,20}", str(rule.get("user_input", ""))):
            raise Invalid("user_input must be 1 to 20 of 0-9, * and #", where)
        if rule["user_input"] in seen:
            raise Invalid(f"user_input {rule['user_input']} is used twice", where)
        seen.add(rule["user_input"])
        hours = rule.get("office_hours", {"mode": "GLOBAL"})
        if not isinstance(hours, dict) or hours.get("mode") not in ("GLOBAL", "CUSTOM"):
            raise Invalid("office_hours.mode must be GLOBAL or CUSTOM", where)
        if hours["mode"] == "CUSTOM":
            for day in WEEKDAYS:
                for span in (hours.get(day) or {}).get("ranges", []):
                    if not all(re.fullmatch(r"([01][0-9]|2[0-4]):[0-5][0-9]", str(span.get(k, "")))
                               for k in ("from", "to")):
                        raise Invalid("office hours ranges are {from: HH:MM, to: HH:MM}", f"{where}.{day}")
        for key in ("office_hours_forward_rule", "non_office_hours_forward_rule"):
            _check_forward(rule.get(key), f"{where}.{key}", KEY_ACTIONS)


def _check_forward(rule: Any, where: str, actions: tuple[str, ...]) -> None:
    if not isinstance(rule, dict) or rule.get("action") not in actions:
        raise Invalid(f"action must be one of {', '.join(actions)}", where)
    if rule["action"].startswith("FORWARD_") and not FORWARD_NUMBER.fullmatch(str(rule.get("number", ""))):
        raise Invalid("number is required to forward: an extension or a phone number", f"{where}.number")


def _check_url(body: Any, others: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("A JSON object is expected")
    unknown = set(body) - URL_FIELDS
    if unknown:
        raise Invalid("Unknown field", ", ".join(sorted(unknown)))
    if not (isinstance(body.get("name"), str) and 1 <= len(body["name"]) <= 64):
        raise Invalid("name must be 1 to 64 characters", "name")
    if "enabled" in body and not isinstance(body["enabled"], bool):
        raise Invalid("enabled must be a boolean", "enabled")
    if body.get("type") not in ("DTMF", "CALLER"):
        raise Invalid("type must be DTMF or CALLER", "type")
    if body.get("method", "GET") not in ("GET", "POST"):
        raise Invalid("method must be GET or POST", "method")
    mask_field = "dtmf_mask" if body["type"] == "DTMF" else "caller_mask"
    mask = body.get(mask_field)
    if not isinstance(mask, str) or not 1 <= len(mask) <= 255 or not _MASK.fullmatch(mask):
        raise Invalid(f"{mask_field} must be ALL, or numbers, ranges and * wildcards separated by ; "
                      "(at most 255 characters)", mask_field)
    entries = mask.split(";")
    if len(set(entries)) != len(entries):
        raise Invalid(f"{mask_field} entries must be unique", mask_field)
    url = body.get("url")
    if not (isinstance(url, str) and 1 <= len(url) <= ACTION_URL_MAX and re.match(r"https?://", url)):
        raise Invalid(f"url must be an http(s) URL of at most {ACTION_URL_MAX} characters", "url")
    auth = body.get("auth", "DISABLE")
    if auth not in ("DISABLE", "BASIC", "DIGEST", "BEARER"):
        raise Invalid("auth must be DISABLE, BASIC, DIGEST or BEARER", "auth")
    if auth in ("BASIC", "DIGEST"):
        for key in ("username", "password"):
            if not re.fullmatch(r"[a-z0-9]{6,64}", str(body.get(key, ""))):
                raise Invalid(f"{key} must match [a-z0-9]{{6,64}}", key)
    if auth == "BEARER" and not body.get("token"):
        raise Invalid("token is required for BEARER", "token")
    for key in ("connection_timeout", "request_timeout"):
        if key in body and not (isinstance(body[key], int) and not isinstance(body[key], bool) and body[key] >= 0):
            raise Invalid(f"{key} must be a whole number of seconds, 0 or more", key)
    for other in others:
        if other.get("name") == body["name"]:
            raise Invalid(f"An action URL named {body['name']} exists", "name", 409, "ALREADY_EXISTS")
