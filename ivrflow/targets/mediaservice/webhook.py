"""The mediaservice callbacks (seeds/002), answered by the machine.

    newCall          → start the flow: `call` (transfer), `drop` (hangup) or the IVR
    getIvrCommand    → the next prompts and key collection (the dtmf block); the
                       entry moves the machine, lookups are answered on the way
    callEvent        → a split for a transfer is answered with `call` (with
                       `maxRingTime` when the transfer has an `else`); the failure
                       of such a transfer runs the `else`: `call` onward, `drop`, or
                       the caller back into the IVR; a drop ends the call
    callAnswered     → remembered (replyId, connectionId for /splitconnection)
    sessionCompleted → the session is removed
    callNotify, recordingReady, getCallIdentifier, alarm → acknowledged and logged

A request that carries `X-Ivrflow-Trace` (the emulator's and `simulate --via`'s
do) gets in its response `X-Ivrflow-Path`: the steps of the call's path since
the previous response, as JSON, so a driver can show the same path as
`simulate`; and `X-Ivrflow-Waiting`: the menu a command that collects keys
belongs to. A platform's requests get neither: they would only cost time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from ...compiler import ir
from ...compiler.machine import MachineError, TransferFailed
from ...runtime import calllog
from ...runtime.clock import call_time
from ...runtime.core import Runtime
from ...runtime.http import Credentials, HTTPProblem, JSONResponse, ascii_json, header, read_json, text
from ...runtime.sessions import Session, check_fields, retried
from ...runtime.webhooks import Webhooks
from .protocol import (
    CALLEVENT_IVR_ACTION,
    NEWCALL_IVR_ACTION,
    PATH_HEADER,
    SPLIT_WAIT_S,
    TRACE_HEADER,
    WAITING_HEADER,
    Settings,
    api_origin,
    commands,
    destination_uri,
    entry,
    is_loopback,
    ring_seconds,
    runtime_settings,
    transfer_failure,
    trusted_api_base,
)

log = logging.getLogger("ivrflow.runtime")
STR, NUM = (str,), (str, int, float)
_TRACE_NAME = TRACE_HEADER.lower().encode()


CALLBACKS = ("newCall", "getIvrCommand", "callEvent", "callAnswered", "callNotify", "sessionCompleted",
             "recordingReady", "getCallIdentifier", "alarm")


def routes(context: Webhooks) -> list[BaseRoute]:
    """The callbacks of every flow under /FLOW/…; a server that runs one flow
    also answers them without the flow's name (/mediaservice/newCall)."""
    mounted: list[BaseRoute] = []
    for name, runtime in sorted(context.flows.items()):
        mounted.append(Mount(f"/{name}", routes=flow_routes(runtime, context.credentials, context.settings,
                                                            context.api_token)))
    if len(context.flows) == 1:
        return [*flow_routes(context.flows.only(), context.credentials, context.settings, context.api_token),
                *mounted]

    async def unnamed(request: Request) -> Response:
        context.credentials.check(request)
        context.flows.only()  # several flows: 404 saying the URL must name one
        raise AssertionError("unreachable")
    return [*(Route(f"/{callback}", unnamed, methods=["POST"]) for callback in CALLBACKS), *mounted]


def flow_routes(runtime: Runtime, credentials: Credentials, values: Mapping[str, Any],
                api_token: Callable[[], str] | None) -> list[Route]:
    flow = runtime.flow
    store = runtime.store
    settings, warnings = runtime_settings(flow, Settings.from_env(values))
    for warning in warnings:
        log.warning("%s", warning)

    async def reply(request: Request, session: Session, body: dict[str, Any], *, keep: bool = True) -> Response:
        """Store the session (unless it is over) and answer, reporting the new
        steps of its path in a header when the request asks for them."""
        headers = {}
        if header(request, _TRACE_NAME) is not None:
            if session.path:
                headers[PATH_HEADER] = ascii_json(session.path)
            if "dtmf" in body and session.call.node:
                headers[WAITING_HEADER] = session.call.node
        session.path = []
        if keep:
            await store.put(session)
        return JSONResponse(body, headers=headers)

    async def load(session_id: str) -> Session:
        session = await store.get(session_id)
        if session is None:
            raise HTTPProblem(404, "unknown_session", f"no call with sessionId {session_id}")
        return session

    def plan(session: Session, effects: list[Any]) -> None:
        result = commands(flow, effects, settings)
        session.pending = result.commands
        end = result.end
        session.transfer = destination_uri(end, settings) if end and end.action in ("transfer", "voicemail") else None

    def connect(session: Session) -> dict[str, Any]:
        """The `call` that moves the caller on; a transfer with `else` rings
        for its `ring` time (the platform then reports a failure)."""
        body: dict[str, Any] = {"action": "call", "destAddr": session.transfer}
        ring = ring_seconds(flow, session.call)
        if ring is not None:
            body["maxRingTime"] = ring
        return body

    def leave_ivr(session: Session) -> dict[str, Any] | None:
        """The answer that moves the caller on when there is nothing to hear
        first: `call` (transfer, voicemail) or `drop` (hangup); None when the
        IVR must play or collect."""
        if not session.pending and session.transfer:
            return connect(session)
        if session.call.status == "ended" and not any(command.get("phrases") for command in session.pending):
            session.pending = []
            return {"action": "drop", "dropCode": "dropNoMsg"}
        return None

    async def new_call(request: Request) -> Response:
        credentials.check(request)
        data = await read_json(request, {"sessionId": (STR, True), "callingParty": (NUM, False),
                                         "calledParty": (NUM, False), "siteBaseUrl": (STR, False)})
        started = call_time(request, runtime)
        session = runtime.new_session(data["sessionId"], text(data.get("callingParty")),
                                      text(data.get("calledParty")), started)
        session.api_base = site_base(session, data.get("siteBaseUrl"))
        check_fields(session)  # over-long fields: 422 before the flow runs
        effects = await runtime.start(session)
        plan(session, effects)
        calllog.line("session %s: new call from %s", session.id, session.caller or "a withheld number")
        return await reply(request, session, leave_ivr(session) or {"action": NEWCALL_IVR_ACTION})

    async def get_ivr_command(request: Request) -> Response:
        credentials.check(request)
        data = await read_json(request, {"sessionId": (STR, True), "dtmfBuffer": (NUM, False),
                                         "dtmfParams": ((dict,), False), "replyId": (STR, False),
                                         "siteBaseUrl": (STR, False)})
        session = await load(data["sessionId"])
        session.reply_id = data.get("replyId") or session.reply_id
        session.api_base = site_base(session, data.get("siteBaseUrl")) or session.api_base
        if not session.pending and session.call.status == "input":
            waiting = flow.node(session.call.node or "")
            try:
                event = entry(data.get("dtmfBuffer"), data.get("dtmfParams"),
                              waiting if isinstance(waiting, (ir.Menu, ir.Collect)) else None)
            except ValueError as error:
                raise HTTPProblem(422, "bad_dtmf", str(error)) from None
            try:  # lookups on the way are answered inside advance
                effects = await runtime.advance(session, event)
            except MachineError as error:
                raise HTTPProblem(409, "call_over", str(error)) from None
            plan(session, effects)
        if session.pending:
            command = session.pending.pop(0)
        elif session.transfer and await split(session):
            command = {"phrases": [], "getIVRCommandAfter": SPLIT_WAIT_S}
        elif session.transfer:  # no API to transfer through: end the call rather than leave it silent
            command = {"phrases": [], "hangup": True}
        else:  # the call is over (a hangup was sent): keep the line quiet
            command = {"phrases": [], "hangup": True}
        body = {"sessionId": session.id, **command}
        if session.reply_id:
            body["replyId"] = session.reply_id
        return await reply(request, session, body)

    def site_base(session: Session, url: str | None) -> str | None:
        """A callback's `siteBaseUrl` if the server may call it; else None, logged."""
        if not url or trusted_api_base(url, settings) or (credentials.insecure and is_loopback(url)):
            return url or None
        log.warning("session %s: siteBaseUrl refused: %s is not the origin of the environment's base_url or "
                    "site_base_urls; API calls go to base_url", session.id, api_origin(url) or "not an http(s) URL")
        return None

    async def split(session: Session) -> bool:
        """Ask the platform to split the IVR connection; its callEvent gets `call`.
        The bearer goes only to the environment's API origins. False if there
        is no API to ask (no base_url and no siteBaseUrl it may follow)."""
        site = session.api_base if session.api_base and site_base(session, session.api_base) else None
        base = (site or settings.base_url or "").rstrip("/")
        if not base:
            log.error("session %s: cannot transfer: no base_url for the platform API; hanging up", session.id)
            return False
        trusted = trusted_api_base(base, settings)
        headers = {"Authorization": f"Bearer {api_token()}"} if api_token and trusted else {}
        payload = {"replyId": session.reply_id, "connectionId": session.connection_id or session.id}
        try:
            response = await runtime.http.post(f"{base}/{settings.domain}/splitconnection", json=payload,
                                               headers=headers, timeout=5.0)
            response.raise_for_status()
        except Exception as error:  # the platform is unreachable: log it, the caller hears silence
            log.error("session %s: /splitconnection failed: %s", session.id, type(error).__name__)
        return True

    async def call_event(request: Request) -> Response:
        credentials.check(request)
        data = await read_json(request, {"sessionId": (STR, True), "event": (STR, True),
                                         "participantId": (STR, False), "sipResponseCode": (NUM, False)})
        session = await load(data["sessionId"])
        event = data["event"]
        if event == "callerConnectionSplit" and session.transfer:
            calllog.line("session %s: transferred to %s", session.id, session.transfer)
            return await reply(request, session, connect(session))
        reason = transfer_failure(event, data.get("sipResponseCode")) if session.call.status == "ringing" else None
        if reason is not None:
            calllog.line("session %s: the transfer to %s failed (%s); its else runs", session.id, session.transfer,
                     reason)
            try:
                effects = await runtime.advance(session, TransferFailed(reason))
            except MachineError as error:
                raise HTTPProblem(409, "call_over", str(error)) from None
            plan(session, effects)
            return await reply(request, session, leave_ivr(session) or {"action": CALLEVENT_IVR_ACTION})
        if event in ("callingPartyDrop", "callingPartyFailure"):
            calllog.line("session %s: the caller hung up", session.id)
            await store.delete(session.id)
            return await reply(request, session, {"action": "drop", "dropCode": "dropNoMsg"}, keep=False)
        return await reply(request, session, {"action": "drop", "dropCode": "dropNoMsg"})

    async def call_answered(request: Request) -> Response:
        credentials.check(request)
        data = await read_json(request, {"sessionId": (STR, False), "connectionId": (STR, False),
                                         "replyId": (STR, False)})
        if data.get("sessionId"):
            session = await store.get(data["sessionId"])
            if session is not None:
                session.connection_id = data.get("connectionId") or session.connection_id
                session.reply_id = data.get("replyId") or session.reply_id
                await store.put(session)
        return JSONResponse({})

    async def session_completed(request: Request) -> Response:
        credentials.check(request)
        data = await read_json(request, {"sessionId": (STR, True)})
        await store.delete(data["sessionId"])
        log.debug("session %s: completed (%s)", data["sessionId"], data.get("reason") or "no reason given")
        return JSONResponse({})

    def acknowledge(name: str, required: tuple[str, ...] = ()) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            credentials.check(request)
            data = await read_json(request, {field: (STR, True) for field in required})
            calllog.line("session %s: %s %s", data.get("sessionId", "-"), name,
                     data.get("event") or data.get("type") or "")
            if name == "getCallIdentifier":
                return JSONResponse({"sessionId": data.get("sessionId")})
            return JSONResponse({})
        return endpoint

    async def alarm(request: Request) -> Response:
        credentials.check(request)
        data = await read_json(request, {"type": (STR, False), "error": (STR, False), "sessionId": (STR, False)})
        log.warning("session %s: alarm %s: %s", data.get("sessionId", "-"), data.get("type"), data.get("error"))
        return JSONResponse({})

    return [
        Route("/newCall", retried(new_call), methods=["POST"]),
        Route("/getIvrCommand", retried(get_ivr_command), methods=["POST"]),
        Route("/callEvent", retried(call_event), methods=["POST"]),
        Route("/callAnswered", retried(call_answered), methods=["POST"]),
        Route("/callNotify", acknowledge("callNotify"), methods=["POST"]),
        Route("/sessionCompleted", session_completed, methods=["POST"]),
        Route("/recordingReady", acknowledge("recordingReady"), methods=["POST"]),
        Route("/getCallIdentifier", acknowledge("getCallIdentifier", ("sessionId",)), methods=["POST"]),
        Route("/alarm", alarm, methods=["POST"]),
    ]
