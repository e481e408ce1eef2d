"""A local stand-in of the mediaservice platform.

It serves the platform API the runtime uses (prompt files, /splitconnection,
/hangupparticipant, /interruptivrcommand) and drives calls into a runtime
server by sending the callbacks in the platform's order, with payloads shaped
like the seed's request samples:

    newCall → getIvrCommand (again after each command; with the keys after a
    command that collects keys) → callEvent after a /splitconnection →
    (the `call` rings; if it fails: callEvent calledPartyFailure, whose
    answer may send the caller back into the IVR) → sessionCompleted

A command's `dtmf` block collects what the caller presses as the platform
does: up to `maxDigits` keys, ended early by its `terminationKey`, else by
`betweenTimeout` after the last key; nothing within `firstTimeout` is a
timeout. Keys are reported as in seed 002's own getIvrCommand request
sample (`dtmfBuffer` null, the keys in `dtmfParams.dtmfMatch`, the reason and
`matchedTerminationKey`), or with `dtmf="buffer"` in `dtmfBuffer` alone (the
termination key included: it was received); silence as no keys.

A script's inputs are what the caller presses ("12345678#"), "silence", or
what happens to the next `call` the platform places: one of TRANSFER_FATES
("busy", "no-answer", "failed"); a `call` without one is answered.

`ivrflow emulate mediaservice` runs it; `ivrflow simulate --via` and the
tests drive calls with `drive_call`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...compiler.machine import Outcome
from .protocol import PATH_HEADER, TERMINATION_REASON, TRACE_HEADER, WAITING_HEADER, Settings, outcome_of_uri

#: A call that has not ended after this many callbacks is stuck (a bug).
MAX_CALLBACKS = 1000
#: How keys reach the server: "seed" (seed 002's request sample) or "buffer".
DTMF_SHAPES = ("seed", "buffer")
#: ASSUMPTION: `dtmfParams.reason` when maxDigits keys were pressed, and when
#: no (further) key came within firstTimeout / betweenTimeout (only
#: "terminationKey" is documented).
MAX_DIGITS_REASON = "maxDigits"
TIMEOUT_REASON = "timeout"
#: How a `call` that does not connect is reported: a callEvent (seed 002:
#: `calledPartyFailure`, "errorDescr … what has caused the call setup
#: failure", `sipResponseCode` "the SIP status code that was received").
#: ASSUMPTION: the statuses of each fate (RFC 3261 §21): 486 Busy Here; 487
#: Request Terminated, the INVITE the platform cancels when maxRingTime runs
#: out (seed 002's sample errorDescr "Request cancelled"); 503 otherwise.
TRANSFER_FAILURE_EVENT = "calledPartyFailure"
TRANSFER_FATES = {"busy": (486, "Busy Here"), "no-answer": (487, "Request cancelled"),
                  "failed": (503, "Service Unavailable")}


@dataclass
class Platform:
    """What the stand-in keeps: prompt files, requested splits, a request log."""

    domain: str = "localhost"
    prompts: dict[str, bytes] = field(default_factory=dict)
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)  # by connectionId
    log: list[dict[str, Any]] = field(default_factory=list)
    token: str | None = None  # the bearer the API requires, if any


def platform_app(platform: Platform, settings: Settings | None = None) -> Starlette:
    settings = settings or Settings(domain=platform.domain)

    def authorized(request: Request) -> bool:
        if platform.token is None:
            return True
        return request.headers.get("authorization") == f"Bearer {platform.token}"

    async def api(request: Request) -> Response:
        domain = request.path_params["domain"]
        operation = request.path_params["operation"]
        platform.log.append({"method": request.method, "path": request.url.path})
        if not authorized(request):
            return JSONResponse({"success": False, "message": "Unauthorized"}, status_code=401)
        if domain != platform.domain:
            return JSONResponse({"success": False, "message": f"unknown domain {domain}"}, status_code=404)
        if operation == "splitconnection" and request.method == "POST":
            body = await request.json()
            if not isinstance(body, dict) or not body.get("connectionId"):
                return JSONResponse({"success": False, "message": "connectionId is required"}, status_code=400)
            platform.splits[str(body["connectionId"])] = body
            return JSONResponse({"success": True})
        if operation in ("hangupparticipant", "interruptivrcommand") and request.method == "POST":
            return JSONResponse({"success": True})
        return JSONResponse({"success": False, "message": f"unknown operation {operation}"}, status_code=404)

    async def prompt_files(request: Request) -> Response:
        platform.log.append({"method": request.method, "path": request.url.path})
        if not authorized(request):
            return JSONResponse({"success": False, "message": "Unauthorized"}, status_code=401)
        files = [{"name": name, "size": len(data)} for name, data in sorted(platform.prompts.items())]
        return JSONResponse({"success": True, "files": files, "next": None})

    async def prompt_file(request: Request) -> Response:
        name = request.path_params["filename"]
        platform.log.append({"method": request.method, "path": request.url.path})
        if not authorized(request):
            return JSONResponse({"success": False, "message": "Unauthorized"}, status_code=401)
        if request.method == "PUT":
            platform.prompts[name] = await request.body()
            return JSONResponse({"success": True})
        if request.method == "DELETE":
            found = platform.prompts.pop(name, None) is not None
            return JSONResponse({"success": found}, status_code=200 if found else 404)
        if name not in platform.prompts:
            return JSONResponse({"success": False, "message": "no such file"}, status_code=404)
        return Response(platform.prompts[name], media_type="application/octet-stream")

    async def prompt_url(request: Request) -> Response:
        """A link to download the file (the platform's is pre-signed, for 15 minutes)."""
        name = request.path_params["filename"]
        platform.log.append({"method": request.method, "path": request.url.path})
        if not authorized(request):
            return JSONResponse({"success": False, "message": "Unauthorized"}, status_code=401)
        if name not in platform.prompts:
            return JSONResponse({"success": False, "message": "no such file"}, status_code=404)
        url = str(request.url_for("download", domain=request.path_params["domain"], filename=name))
        return JSONResponse({"success": True, "url": url})

    async def request_log(request: Request) -> Response:
        return JSONResponse(platform.log)

    async def calls(request: Request) -> Response:
        """Drive a call into a runtime server: {"callback": URL or [URLs],
        "inputs": ["1", "silence"], "caller", "clock", "token", "dtmf": "seed"|"buffer"}."""
        body = await request.json()
        callbacks = body.get("callback")
        if isinstance(callbacks, str):
            callbacks = [callbacks]
        if not callbacks or not isinstance(body.get("inputs", []), list):
            return JSONResponse({"error": "give `callback` (a URL or a list) and `inputs` (a list)"}, status_code=422)
        if body.get("dtmf", "seed") not in DTMF_SHAPES:
            return JSONResponse({"error": f"`dtmf` is one of {', '.join(DTMF_SHAPES)}"}, status_code=422)
        api_base = str(request.base_url).rstrip("/") + "/mediaservice"
        async with httpx.AsyncClient(timeout=30) as client:
            try:
                transcript = await drive_call(client, callbacks, platform, api_base,
                                              [str(i) for i in body.get("inputs", [])],
                                              caller=body.get("caller"), clock=body.get("clock"),
                                              token=body.get("token"), settings=settings,
                                              dtmf=body.get("dtmf", "seed"))
            except (CallFailed, httpx.HTTPError) as error:
                return JSONResponse({"error": str(error)}, status_code=502)
        return JSONResponse(transcript.to_dict())

    return Starlette(routes=[
        Route("/_emulator/log", request_log, methods=["GET"]),
        Route("/_emulator/calls", calls, methods=["POST"]),
        Route("/mediaservice/{domain}/promptfile", prompt_files, methods=["GET"]),
        Route("/mediaservice/{domain}/promptfile/{filename}", prompt_file, methods=["GET", "PUT", "DELETE"],
              name="download"),
        Route("/mediaservice/{domain}/promptfile/{filename}/url", prompt_url, methods=["GET"]),
        Route("/mediaservice/{domain}/{operation}", api, methods=["POST"]),
    ])


@dataclass
class Transcript:
    """A driven call: how it ended, the path the server reported, what was played."""

    outcome: Outcome
    path: list[dict[str, Any]] = field(default_factory=list)
    phrases: list[dict[str, Any]] = field(default_factory=list)
    callbacks: int = 0
    waiting: str | None = None  # the menu of the last command that collected keys
    calls: list[dict[str, Any]] = field(default_factory=list)  # each `call` placed: destAddr, maxRingTime, fate
    answers: list[str] = field(default_factory=list)  # the action of each newCall and callEvent answer

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "path": self.path}


class CallFailed(Exception):
    """The server answered a callback with an error, or the call never ended."""


async def drive_call(client: httpx.AsyncClient, callbacks: Sequence[str], platform: Platform, api_base: str,
                     inputs: Sequence[str], *, caller: str | None = None, called: str = "ivr",
                     clock: str | None = None, token: str | None = None,
                     settings: Settings | None = None, dtmf: str = "seed") -> Transcript:
    """Play one call against runtime server(s) at `callbacks` (round robin,
    as behind a load balancer). `inputs` are key entries or "silence";
    `dtmf` is how keys are reported (DTMF_SHAPES)."""
    if dtmf not in DTMF_SHAPES:
        raise ValueError(f"dtmf must be one of {DTMF_SHAPES}")
    settings = settings or Settings(domain=platform.domain)
    targets = itertools.cycle([c.rstrip("/") for c in callbacks])
    session = str(uuid.uuid4())
    headers = {TRACE_HEADER: "1", **({"Authorization": f"Bearer {token}"} if token else {})}
    transcript = Transcript(Outcome("waiting"))
    pending = list(inputs)

    async def send(name: str, payload: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, Any]:
        transcript.callbacks += 1
        if transcript.callbacks > MAX_CALLBACKS:
            raise CallFailed(f"the call did not end after {MAX_CALLBACKS} callbacks")
        response = await client.post(f"{next(targets)}/{name}", json=payload, headers={**headers, **(extra or {})})
        if response.status_code != 200:
            raise CallFailed(f"{name} → {response.status_code}: {response.text}")
        steps = response.headers.get(PATH_HEADER)
        if steps:
            transcript.path.extend(json.loads(steps))
        transcript.waiting = response.headers.get(WAITING_HEADER) or transcript.waiting
        body = response.json()
        if not isinstance(body, dict):
            raise CallFailed(f"{name} answered {body!r}")
        return body

    async def complete(reason: str) -> None:
        await send("sessionCompleted", {"sessionId": session, "domain": platform.domain, "reason": reason,
                                        "sessionDuration": 0, "ivrServer": "127.0.0.1"})

    answer: dict[str, Any] | None = await send("newCall", {
        "sessionId": session, "sipCallId": uuid.uuid4().hex, "ivrServer": "127.0.0.1",
        "callingPartyPrivacy": "public" if caller else "secret", "callingParty": caller or "anonymous",
        "fromUser": caller or "anonymous", "calledParty": called, "xHeaders": {}, "pHeaders": {},
        "siteBaseUrl": api_base,
    }, {"X-Ivrflow-Clock": clock} if clock else None)
    what = "newCall"
    while answer is not None:
        action = answer.get("action")
        transcript.answers.append(str(action))
        if action == "call":
            destination = str(answer.get("destAddr"))
            fate = pending.pop(0) if pending and pending[0] in TRANSFER_FATES else "answered"
            transcript.calls.append({"destAddr": destination, "maxRingTime": answer.get("maxRingTime"),
                                     "fate": fate})
            if fate == "answered":
                transcript.outcome = outcome_of_uri(destination, settings)
                await complete("transferred")
                return transcript
            status, description = TRANSFER_FATES[fate]
            answer = await send("callEvent", {
                "sessionId": session, "event": TRANSFER_FAILURE_EVENT, "domain": platform.domain,
                "connectionId": session, "participantId": f"{session}-callee", "remoteUser": destination,
                "sipResponseCode": status, "errorDescr": description, "ivrServer": "127.0.0.1"})
            what = TRANSFER_FAILURE_EVENT
        elif action == "drop":
            transcript.outcome = Outcome("hangup")
            await complete("dropped")
            return transcript
        elif action == "ivr":
            answer = await _ivr(send, complete, session, platform, transcript, pending, dtmf)
            what = "callerConnectionSplit"
        else:
            raise CallFailed(f"{what} answered with action {action!r}")
    return transcript


async def _ivr(send: Any, complete: Any, session: str, platform: Platform, transcript: Transcript,
               pending: list[str], dtmf: str) -> dict[str, Any] | None:
    """The caller in the IVR: getIvrCommand until the call hangs up (None),
    the script ends while keys are wanted (None), or the server splits the
    connection: the callEvent's answer."""
    request: dict[str, Any] = {"sessionId": session, "replyId": None, "ivrServer": "127.0.0.1"}
    while True:
        command = await send("getIvrCommand", request)
        request = {"sessionId": session, "replyId": command.get("replyId"), "ivrServer": "127.0.0.1"}
        transcript.phrases.extend(command.get("phrases") or [])
        if command.get("hangup"):
            transcript.outcome = Outcome("hangup")
            await complete("hangup")
            return None
        block = command.get("dtmf")
        if block is not None:
            if not pending or pending[0] in TRANSFER_FATES:  # the script is over while the caller is in a menu
                await send("callEvent", {"sessionId": session, "event": "callingPartyDrop",
                                         "domain": platform.domain, "connectionId": session})
                transcript.outcome = Outcome("waiting", transcript.waiting)
                return None
            request.update(_keys_report(pending.pop(0), block, dtmf))
            continue
        split = platform.splits.pop(session, None)
        if split is not None:
            answer = await send("callEvent", {"sessionId": session, "event": "callerConnectionSplit",
                                              "domain": platform.domain, "connectionId": session,
                                              "participantId": f"{session}-caller", "ivrServer": "127.0.0.1"})
            assert isinstance(answer, dict)
            return answer
        await asyncio.sleep(0)  # getIVRCommandAfter: ask again for the next command


def collect_keys(pressed: str, block: dict[str, Any]) -> tuple[str, str, str | None]:
    """What a dtmf block collects of the keys pressed: (keys, reason, the
    termination key that ended them). Keys after the end are not collected."""
    most = block.get("maxDigits")
    most = most if isinstance(most, int) and not isinstance(most, bool) and most > 0 else None
    terminator = block.get("terminationKey") or None
    keys = ""
    for key in pressed:
        if key == terminator:
            return keys, TERMINATION_REASON, terminator
        keys += key
        if most is not None and len(keys) >= most:
            return keys, MAX_DIGITS_REASON, None
    return keys, TIMEOUT_REASON, None  # betweenTimeout after the last key (firstTimeout: none)


def _keys_report(pressed: str, block: dict[str, Any], shape: str) -> dict[str, Any]:
    """The fields of a getIvrCommand request that report what the caller pressed."""
    keys, reason, terminator = collect_keys("" if pressed == "silence" else pressed, block)
    if shape == "buffer":
        received = keys + (terminator or "")
        return {"dtmfBuffer": received} if received else {}
    params: dict[str, Any] = {"dtmfMatch": keys or None, "reason": reason, "encryption": {}}
    if terminator is not None:
        params.update(dtmfMatch=keys, matchedTerminationKey=terminator)
    return {"dtmfBuffer": None, "dtmfParams": params}


async def serve_in_background(app: Starlette, host: str = "127.0.0.1") -> tuple[Any, asyncio.Task, str]:
    """Run `app` under uvicorn in this event loop on a free port: (server, task, URL)."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, f"http://{host}:{port}"
