"""`/opentact/xml`: the runtime's answers to the `<Callback>`s of Opentact's
call-flow XML.

The static XML (compile.py) fetches the rest of a call from here where the
flow goes round (back to a menu the call is in) or decides while the call
runs (a route on hours or the caller, an `ask`, which the server sends to
the routing service, and the entries of a menu callers may dial an
extension in, which a `<Gather url>` sends with `dtmf`). The URL says which node
(`flow`, `node`, `kind` menu|route|ask|entry, `copy`, `event`) and is signed with the callback
token (PLATFORMS.md §5: Opentact documents no signing of its own; the docs
show a token in the URL's query). Opentact adds the call's `from`, `tn`,
`call` and `sca` (the app's uuid) to the query, or POSTs the call object
(`{uuid, tn, from, to, …}`) as JSON. The answer is call-flow XML
(`application/xml`) in the environment's dialect, from the same compiler.
"""

from __future__ import annotations

from typing import Any, NoReturn

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...compiler import ir
from ...compiler.machine import (
    Call,
    Event,
    Keys,
    Line,
    MachineError,
    NeedsClock,
    Silence,
    TransferFailed,
    Visited,
    branch_index,
    step,
)
from ...runtime import ask, calllog
from ...runtime.clock import call_time
from ...runtime.core import Runtime
from ...runtime.http import HTTPProblem, read_json
from ...runtime.sessions import Session, Store, check_fields, check_id, retried
from ...runtime.webhooks import Webhooks
from ..signing import check
from . import served
from .compile import fragment
from .dialect import DEFAULT_DIALECT, DIALECTS

#: The fields of a POSTed call object ivrflow reads.
BODY_FIELDS = {name: ((str, int), False) for name in ("uuid", "from", "to", "tn", "call", "dtmf")}
#: The longest entry a request may report (a collect takes at most 32 keys).
MAX_ENTRY = 64
XML_TYPE = "application/xml"

#: A menu's events whose handler may end in an `ask` the runtime answers.
_ASK_EVENTS: tuple[ir.MenuEvent, ...] = ("invalid", "timeout")


def routes(context: Webhooks) -> list[Route]:
    """`/xml` for every flow the server runs; the URL's `flow` picks it."""
    credentials = context.credentials
    settings = context.settings
    dialect = str(settings.get("dialect") or DEFAULT_DIALECT)
    if dialect not in DIALECTS:
        dialect = DEFAULT_DIALECT
    values: dict[str, Any] = {
        "dialect": dialect, "has_env": True, "voicemail": settings.get("voicemail") or {},
        "prompts_url": settings.get("prompts_url"), "runtime_url": settings.get("runtime_url"),
        "insecure_callbacks": credentials.insecure}
    if credentials.token:
        values["callback_token_value"] = credentials.token

    async def xml(request: Request) -> Response:
        query = dict(request.query_params)
        check(query, credentials.token, credentials.insecure, "callback")
        runtime = context.flows.named(query.get("flow"))
        flow = runtime.flow
        fields: dict[str, Any] = dict(query)
        if request.method == "POST":
            fields.update(await read_json(request, BODY_FIELDS))
        caller = str(fields.get("from") or "") or None
        name = str(query.get("node", ""))
        node = flow.node(name)
        kind = query.get("kind")
        base = dict(values, runtime_url=values["runtime_url"] or f"{request.url.scheme}://{request.url.netloc}")
        if kind == "call":
            return await _served(runtime, request, fields, query, base, credentials.token)
        if kind == "route" and isinstance(node, ir.Route):
            try:
                branch = node.branches[branch_index(flow, node, Line(call_time(request, runtime), caller))]
            except (MachineError, NeedsClock) as error:
                raise HTTPProblem(409, "no_branch", str(error)) from None
            calllog.line("call %s: route %s took %s", fields.get("call", "-"), name, ir.branch_event(branch))
            return Response(fragment(flow, base, name, branch=branch.actions), media_type=XML_TYPE)
        if kind == "menu" and isinstance(node, ir.Menu):
            return Response(fragment(flow, base, name, _copy(query, node)), media_type=XML_TYPE)
        if kind == "entry" and isinstance(node, ir.Menu):
            copy = _copy(query, node)
            entry = str(fields.get("dtmf") or "")
            if not entry or not all(c in "0123456789*#" for c in entry) or len(entry) > 32:
                raise HTTPProblem(422, "bad_dtmf", "`dtmf` must be the keys the caller pressed (0-9, * and #)")
            event, actions = _on_entry(flow, node, copy, entry, Line(call_time(request, runtime), caller))
            return Response(fragment(flow, base, name, copy, branch=actions, event=event), media_type=XML_TYPE)
        if kind == "ask" and isinstance(node, ir.Menu):
            copy = _copy(query, node)
            event = str(query.get("event", ""))
            handler = next((p.actions for p in node.presses if f"press {p.key}" == event), None)
            handled = next((e for e in _ASK_EVENTS if e == event), None)
            if handler is None and handled is not None:
                found = node.on(handled)
                handler = found.actions if found is not None else None
            if handler is None or not isinstance(handler.terminal, ir.Ask):
                raise HTTPProblem(404, "unknown_ask", f"no `ask` on `{event}` in menu `{name}`")
            reply = await ask.ask(runtime.http, flow, handler.terminal.url, {
                "flow": flow.name, "node": name, "session": fields.get("call"), "caller": caller,
                "called": fields.get("tn") or fields.get("to"), "keys": event.removeprefix("press ") or None})
            actions = ir.Actions((reply,), handler.span)
            return Response(fragment(flow, base, name, copy, branch=actions, event=event), media_type=XML_TYPE)
        raise HTTPProblem(404, "unknown_node", f"no {kind or 'node'} `{name}` in flow `{flow.name}`")

    return [Route("/xml", retried(xml), methods=["GET", "POST"])]


async def _served(runtime: Runtime, request: Request, fields: dict[str, Any], query: dict[str, str],
                  values: dict[str, Any], token: str | None) -> Response:
    """One step of a flow the runtime serves from the start (served.py): the
    call_flow_url's request starts the call; a Gather's `url` brings an
    entry (`dtmf`); a Callback `event=silence|invalid|failed`, or a legacy
    `<Case>`'s entry. The session keeps the machine's Call in between."""
    flow, store = runtime.flow, runtime.store
    session_id = str(fields.get("call") or fields.get("uuid") or "")
    if not session_id:
        raise HTTPProblem(422, "no_call", "the request names no call: `call` in the query, or the call object's "
                                          "`uuid` (give the app `call_flow_method` POST)")
    check_id(session_id)
    name = query.get("node")
    delay = None
    if not name:  # the app's call_flow_url: the call arrives
        called = str(fields.get("tn") or fields.get("to") or "") or None
        session = runtime.new_session(session_id, str(fields.get("from") or "") or None, called,
                                      call_time(request, runtime))
        check_fields(session)
        setting = flow.header.get("answer-delay") if flow.header is not None else None
        delay = setting.value if setting is not None and isinstance(setting.value, int) else None
        event: Event | None = None
    else:
        found = await store.get(session_id)
        if found is None:
            raise HTTPProblem(404, "unknown_session", f"no call {session_id} (it ended, or expired)")
        session = found
        if session.call.node != name:
            await _refuse(store, session, HTTPProblem(409, "stale", f"the call is at `{session.call.node}`, "
                                                                     f"not at `{name}`"))
        event = _event(flow, session, query, fields)
    try:
        effects = await (runtime.start(session) if event is None else runtime.advance(session, event))
    except MachineError as error:
        problem = HTTPProblem(409, "call_over", str(error))
        if event is None:
            raise problem from None
        await _refuse(store, session, problem)
    session.path = []  # nothing reports the path to Opentact
    document = served.respond(flow, effects, session.call, values, token, delay, session.id)
    if session.call.status in ("input", "ringing"):
        await store.put(session)
    else:
        await store.delete(session.id)
    calllog.line("call %s: %s at %s", session.id, session.call.status, session.call.node or "-")
    return Response(document, media_type=XML_TYPE)


async def _refuse(store: Store, session: Session, problem: HTTPProblem) -> NoReturn:
    """Refuse a request the stored call does not fit. The copy this server
    kept may be behind another server's write (RedisStore): writing it back,
    unchanged, fails then (SessionConflict), and the request is handled again
    from the stored session; otherwise `problem` stands."""
    await store.put(session)
    raise problem


def _event(flow: ir.Flow, session: Session, query: dict[str, str], fields: dict[str, Any]) -> Event:
    """What a request reports while the call waits at its node."""
    reported = query.get("event", "")
    node = flow.node(session.call.node or "")
    if reported == served.FAILED:
        return TransferFailed("failed")  # Opentact's Dial <Error> does not say why (dialect.DIAL_ERROR)
    if reported == served.SILENCE:
        return Silence()
    if reported == served.INVALID and isinstance(node, ir.Menu):
        return Keys(served.invalid_entry(node))
    entry = str(fields.get("dtmf") or "")
    if not entry or len(entry) > MAX_ENTRY or not all(c in "0123456789*#" for c in entry):
        raise HTTPProblem(422, "bad_dtmf", "`dtmf` must be the keys the caller pressed (0-9, * and #)")
    return Keys(entry)


def _copy(query: dict[str, str], menu: ir.Menu) -> int:
    try:
        copy = int(query.get("copy", "0"))
    except ValueError:
        raise HTTPProblem(422, "bad_copy", "`copy` must be a number") from None
    if not 0 <= copy <= menu.retries:
        raise HTTPProblem(422, "bad_copy", f"menu `{menu.name}` has no retry {copy}")
    return copy


def _on_entry(flow: ir.Flow, menu: ir.Menu, copy: int, entry: str, line: Line) -> tuple[str, ir.Actions]:
    """What the machine says the entry does in `menu` after `copy` retries: the event and its actions."""
    try:
        _, effects = step(flow, Call("input", menu.name, min(copy, menu.retries)), Keys(entry), line)
    except MachineError as error:
        raise HTTPProblem(409, "machine", str(error)) from None
    visit = next((e for e in effects if isinstance(e, Visited)), None)
    if visit is None:
        raise HTTPProblem(409, "machine", f"the entry `{entry}` led nowhere in menu `{menu.name}`")
    if visit.event == "dial":
        transfer = ir.Transfer(visit.keys or entry, menu.name_span)
        return "dial", ir.Actions((transfer,), menu.name_span)
    press = next((p for p in menu.presses if f"press {p.key}" == visit.event), None)
    if press is not None:
        return visit.event, press.actions
    handler = menu.on("invalid")
    if handler is not None:
        return "invalid", handler.actions
    return "invalid", ir.Actions((ir.Repeat(menu.name_span),), menu.name_span)
