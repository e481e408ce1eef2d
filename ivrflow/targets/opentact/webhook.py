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

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...compiler import ir
from ...compiler.machine import Call, Keys, Line, MachineError, NeedsClock, Visited, branch_index, step
from ...runtime import ask
from ...runtime.clock import call_time
from ...runtime.http import HTTPProblem, read_json
from ...runtime.webhooks import Webhooks
from ..signing import check
from .compile import fragment
from .dialect import DEFAULT_DIALECT, DIALECTS

log = logging.getLogger("ivrflow.runtime")
#: The fields of a POSTed call object ivrflow reads.
BODY_FIELDS = {name: ((str, int), False) for name in ("uuid", "from", "to", "tn")}
XML_TYPE = "application/xml"


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
        if kind == "route" and isinstance(node, ir.Route):
            try:
                branch = node.branches[branch_index(flow, node, Line(call_time(request, runtime), caller))]
            except (MachineError, NeedsClock) as error:
                raise HTTPProblem(409, "no_branch", str(error)) from None
            log.info("call %s: route %s took %s", fields.get("call", "-"), name, ir.branch_event(branch))
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
            if handler is None and event in ("invalid", "timeout"):
                found = node.on(event)  # type: ignore[arg-type]
                handler = found.actions if found is not None else None
            if handler is None or not isinstance(handler.terminal, ir.Ask):
                raise HTTPProblem(404, "unknown_ask", f"no `ask` on `{event}` in menu `{name}`")
            reply = await ask.ask(runtime.http, flow, handler.terminal.url, {
                "flow": flow.name, "node": name, "session": fields.get("call"), "caller": caller,
                "called": fields.get("tn") or fields.get("to"), "keys": event.removeprefix("press ") or None})
            actions = ir.Actions((reply,), handler.span)
            return Response(fragment(flow, base, name, copy, branch=actions, event=event), media_type=XML_TYPE)
        raise HTTPProblem(404, "unknown_node", f"no {kind or 'node'} `{name}` in flow `{flow.name}`")

    return [Route("/xml", xml, methods=["GET", "POST"])]


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
