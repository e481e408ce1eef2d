"""`/portsip/action`: the runtime's answers to PortSIP's action URLs.

PortSIP asks (GET with a query, or POST with JSON: `session_id`, `from`,
`to`, `input`, `from_name`, `account_name`) when a caller's entry matches a
DTMF action URL or a call reaches a receptionist with a CALLER one. The URL
says which node it is (`flow`, `node`, `kind` menu|route, `copy`) and is
signed. The machine decides what the entry (or the caller) does; the answer
is where to go, as PortSIP's action URL response:

    {"status_code": 200, "action": "call", "destination": "7003"}
    {"status_code": 200, "action": "hangup"}

Receptionists' numbers are read from PortSIP by name (cached, read again when
one is missing, as after a redeploy).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...compiler import ir
from ...compiler.machine import Call, Keys, Line, MachineError, NeedsClock, Visited, branch_index, step
from ...runtime import ask, calllog
from ...runtime.clock import call_time
from ...runtime.core import Runtime
from ...runtime.directory import API_TIMEOUT_S, Lookup, retry_pause
from ...runtime.http import HTTPProblem, JSONResponse, read_json
from ...runtime.webhooks import Webhooks
from ..signing import check
from .client import PortSipApi, prefix
from .compile import ivr_name
from .routing import Dest, destination, event_destination, spoken, voicemail_key

#: The fields of an action URL's JSON body ivrflow reads (PortSIP sends numbers as strings or numbers).
BODY_FIELDS = {name: ((str, int), False) for name in ("session_id", "from", "to", "input")}


class Directory:
    """Receptionists' extension numbers by name, read from PortSIP (cached; see runtime.directory)."""

    def __init__(self, api: PortSipApi, flow: str):
        self.api = api
        self.flow = flow
        self.lookup = Lookup(self._read, "PortSIP")

    def _read(self) -> dict[str, str]:
        return {str(i["name"]): str(i["extension_number"]) for i in self.api.items("/ivrs")
                if str(i.get("name", "")).startswith(prefix(self.flow))}

    async def number(self, name: str) -> str:
        found = await self.lookup.get(name)
        if found is None:
            raise HTTPProblem(404, "unknown_receptionist", f"no deployed receptionist `{name}`; deploy the flow first")
        return found


def routes(context: Webhooks) -> list[Route]:
    """`/action` for every flow the server runs; the URL's `flow` picks it."""
    credentials, token = context.credentials, context.credentials.token
    directories = {name: directory_from_env(name, context.settings, context.secret) for name in context.flows}
    for directory in directories.values():
        if directory is not None:
            context.on_close(directory.api.close)

    async def action(request: Request) -> Response:
        query = dict(request.query_params)
        check(query, token, credentials.insecure, "action")
        runtime = context.flows.named(query.get("flow"))
        return await _FlowAction(runtime, directories.get(runtime.flow.name)).handle(request, query)

    return [Route("/action", action, methods=["GET", "POST"])]


class _FlowAction:
    """One action URL request for one flow."""

    def __init__(self, runtime: Runtime, directory: Directory | None):
        self.runtime = runtime
        self.flow = runtime.flow
        self.directory = directory
        self.language: str | None = None  # the call's (`lang` in the URL), None for the flow's
        self.timeouts = 0  # silences counted apart (after the dot of `copy`)

    async def answer(self, dest: Dest) -> Response:
        flow, directory = self.flow, self.directory
        if dest.kind == "hangup" and not dest.plays:
            return JSONResponse({"status_code": 200, "action": "hangup"})
        if dest.kind == "number" and not dest.plays:
            return JSONResponse({"status_code": 200, "action": "call", "destination": dest.value})
        key = dest.key() or voicemail_key(dest.value)  # action URLs cannot forward to voicemail
        if directory is None:
            raise HTTPProblem(503, "no_directory", "this server has no PortSIP environment to look up "
                                                   "receptionists in; start it with --env")
        number = await directory.number(ivr_name(flow.name, key))
        return JSONResponse({"status_code": 200, "action": "call", "destination": number})

    async def handle(self, request: Request, query: dict[str, str]) -> Response:
        runtime, flow = self.runtime, self.flow
        fields: dict[str, Any] = dict(query)
        if request.method == "POST":
            fields.update(await read_json(request, BODY_FIELDS))
        caller = str(fields.get("from") or "") or None
        now = call_time(request, runtime)
        name = str(query.get("node", ""))
        node = flow.node(name)
        kind = query.get("kind")
        self.language = query.get("lang") or None  # the call's language, when not the flow's
        if self.language is not None and self.language not in flow.languages:
            raise HTTPProblem(422, "bad_language", f"`lang` must be one of the flow's languages, not "
                                                   f"`{self.language}`")
        if kind == "route" and isinstance(node, ir.Route):
            try:
                branch = node.branches[branch_index(flow, node, Line(now, caller),
                                                    call=Call(language=self.language or flow.language))]
            except (MachineError, NeedsClock) as error:
                raise HTTPProblem(409, "no_branch", str(error)) from None
            calllog.line("call %s: route %s took %s", fields.get("session_id", "-"), name, ir.branch_event(branch))
            return await self.answer(await self.decide(branch.actions, None, 0, fields))
        if kind == "menu" and isinstance(node, ir.Menu):
            entry = str(fields.get("input") or "")
            if not entry or not all(c in "0123456789*#" for c in entry):
                raise HTTPProblem(422, "bad_input", "`input` must be the keys the caller pressed (0-9, * and #)")
            try:
                retries, _, timeouts = query.get("copy", "0").partition(".")  # `copy=1.2`: 2 silences apart
                copy, self.timeouts = int(retries), int(timeouts or 0)
                if copy < 0 or self.timeouts < 0:
                    raise ValueError(copy)
            except ValueError:
                raise HTTPProblem(422, "bad_copy", "`copy` must be a number, or two with a dot") from None
            return await self.answer(await self.on_entry(node, copy, entry, caller, now, fields))
        raise HTTPProblem(404, "unknown_node", f"no {kind or 'node'} `{name}` in flow `{flow.name}`")

    async def on_entry(self, menu: ir.Menu, copy: int, entry: str, caller: str | None, now: dt.datetime,
                       fields: Mapping[str, Any]) -> Dest:
        """The machine picks what the entry does; `destination` says where that leads."""
        flow = self.flow
        try:
            call = Call("input", menu.name, min(copy, menu.retries), timeouts=min(self.timeouts, menu.retry_limits[0]),
                        language=self.language or flow.language)
            _, effects = step(flow, call, Keys(entry), Line(now, caller))
        except MachineError as error:
            raise HTTPProblem(409, "machine", str(error)) from None
        visit = next(e for e in effects if isinstance(e, Visited))
        if visit.event == "dial":
            return Dest("number", visit.keys or entry)
        if visit.event.startswith("press "):
            press = next(p for p in menu.presses if f"press {p.key}" == visit.event)
            return await self.decide(press.actions, menu, copy, fields,
                                     key=visit.keys)  # the entry, without its end key: `{key}`
        handler = menu.on("invalid")
        if handler is not None and isinstance(handler.actions.terminal, ir.Ask):
            return await self.decide(handler.actions, menu, copy, fields)
        return event_destination(flow, menu, "invalid", copy, self.language, self.timeouts)

    async def decide(self, actions: ir.Actions, menu: ir.Menu | None, copy: int, fields: Mapping[str, Any],
                     key: str | None = None) -> Dest:
        flow, terminal = self.flow, actions.terminal
        if isinstance(terminal, ir.Ask):
            reply = await ask.ask(self.runtime.http, flow, terminal.url, {
                "flow": flow.name, "node": menu.name if menu else None, "session": fields.get("session_id"),
                "caller": fields.get("from"), "called": fields.get("to"), "keys": fields.get("input")})
            plays, language = spoken(flow, actions, self.language)
            return destination(flow, None, menu, copy, key=key, language=language, plays=plays, timeouts=self.timeouts,
                               terminal=None if isinstance(reply, ir.NON_TERMINALS) else reply)
        return destination(flow, actions, menu, copy, key=key, language=self.language, timeouts=self.timeouts)


def directory_from_env(flow: str, values: Mapping[str, Any], secret: Callable[[str], str | None]) -> Directory | None:
    """The directory when the environment is a PortSIP one, else None."""
    base, username, password, domain = values.get("base_url"), values.get("username"), secret("password"), \
        values.get("domain")
    if not (base and username and password and domain):
        return None
    api = PortSipApi(str(base), str(username), password, str(domain), sleep=retry_pause, timeout=API_TIMEOUT_S)
    return Directory(api, flow)
