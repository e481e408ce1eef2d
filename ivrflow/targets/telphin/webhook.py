"""`/telphin/interactive`: the runtime's answers to Telphin's call_interactive.

Telphin asks (GET or POST, with CallerIDNum, CalledNumber, CallID, …) when a
call reaches a route, an `ask`, a collect's recorded entry or a lookup; the URL
says which (`flow`, `node`, `kind`, `language`, `context`, `repeat`) and is
signed (`sig`, see compile.signature); Telphin fills in the variables the
runtime needs (`var.NAME=$NAME`, unsigned: the platform writes them). The
runtime keeps no session for Telphin: the call's state is the context it is
in (node, retries counted, language) and its IVR variables. The answer is XML:

    <Response><Jump context="ID" option="start"/></Response>
    <Response><SetVar name="account">12345678</SetVar><Jump context="ID" option="*0*"/></Response>
    <Response><SimpleTransfer>DEST</SimpleTransfer></Response>   (ASSUMPTION)
    <Response><Hangup/></Response>

Context ids are looked up in Telphin by the marker in their description
(cached; looked up again when one is missing, as after a redeploy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...compiler import ir
from ...compiler.machine import (
    Call,
    Line,
    LookupService,
    MachineError,
    NeedsClock,
    branch_index,
    lookup_answer_problem,
)
from ...runtime import ask, calllog, lookup
from ...runtime.clock import call_time
from ...runtime.directory import API_TIMEOUT_S, Lookup, retry_pause
from ...runtime.http import HTTPProblem, read_form
from ...runtime.webhooks import Webhooks
from ..signing import check
from .client import TelphinApi, find_extension
from .compile import (
    DONE_OPTION,
    ERROR_OPTION,
    MARKER,
    RECORD_VARIABLE,
    VARIABLE_PARAMETER,
    Where,
    parse_manifest,
)

#: ASSUMPTION: the element that transfers a call answered by call_interactive
#: (the documents list <SimpleTransfer> but its attributes were cut off); the
#: destination is its text.
TRANSFER_ELEMENT = "SimpleTransfer"
#: ASSUMPTION (VoipNow: "if one of the variables has not been previously set
#: up in the IVR, then these variables will be null"): a variable never set
#: reaches the URL as empty text, or as this word; either is "not set".
UNSET_VALUES = ("", "null")


def call_state(fields: Mapping[str, Any], language: str | None) -> Call:
    """The machine's view of a Telphin call: the variables Telphin put in the
    URL (`var.NAME=$NAME`) and the language of the context that asked."""
    variables = {name[len(VARIABLE_PARAMETER):]: str(value) for name, value in fields.items()
                 if name.startswith(VARIABLE_PARAMETER) and str(value) not in UNSET_VALUES}
    return Call(variables=variables, language=language)


class Directory:
    """Context ids by key, read from Telphin (cached; see runtime.directory)."""

    def __init__(self, api: TelphinApi, flow: str, extension: str):
        self.api = api
        self.flow = flow
        self.extension = extension
        self.lookup = Lookup(self._read, "Telphin")

    def _read(self) -> dict[str, int]:
        found = find_extension(self.api.get_all("/client/@me/extension/"), self.extension)
        if found is None:
            return {}
        prefix = f"{MARKER}:{self.flow}:context:"
        return {parse_manifest(str(c.get("description"))[len(prefix):])[0]: int(c["id"])
                for c in self.api.get_all(f"/extension/{found['id']}/ivr/context/")
                if str(c.get("description") or "").startswith(prefix)}

    async def context(self, key: str) -> int:
        found = await self.lookup.get(key)
        if found is None:
            raise HTTPProblem(404, "unknown_context", f"no deployed context for `{key}`; deploy the flow first")
        return found


def _xml(body: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    media_type="application/xml")


def routes(context: Webhooks) -> list[Route]:
    """`/interactive` for every flow the server runs; the URL's `flow` picks it."""
    credentials, values, token = context.credentials, context.settings, context.credentials.token
    directories = {name: directory_from_env(name, values, context.secret) for name in context.flows}
    for directory in directories.values():
        if directory is not None:
            context.on_close(directory.api.close)

    def jump(context_id: int, option: str = "start", before: str = "") -> Response:
        return _xml(f'{before}<Jump context="{context_id}" option="{escape(option)}"/>')

    async def interactive(request: Request) -> Response:
        query = dict(request.query_params)
        check(query, token, credentials.insecure, "call_interactive")
        runtime = context.flows.named(query.get("flow"))
        flow = runtime.flow
        form = await read_form(request) if request.method == "POST" else {}
        fields = {**query, **form}
        node_name = str(query.get("node", ""))
        node = flow.node(node_name)
        directory = directories.get(flow.name)
        if node is None:
            raise HTTPProblem(404, "unknown_node", f"no menu or route `{node_name}` in flow `{flow.name}`")
        if directory is None:
            raise HTTPProblem(503, "no_directory", "this server has no Telphin environment to look up contexts "
                                                   "in; start it with --env")
        caller = str(fields.get("CallerIDNum") or "") or None
        called = str(fields.get("CalledNumber") or "") or None
        now = call_time(request, runtime)
        language = str(query["language"]) if query.get("language") else None
        if query.get("kind") == "route" and isinstance(node, ir.Route):
            try:
                index = branch_index(flow, node, Line(now, caller, called), 0,
                                     call_state(fields, language or flow.language))
            except (MachineError, NeedsClock) as error:
                raise HTTPProblem(409, "no_branch", str(error)) from None
            calllog.line("call %s: route %s took branch %s", fields.get("CallID", "-"), node_name, index)
            return jump(await directory.context(Where(f"{node_name}/{index}", language=language).key()))
        if query.get("kind") == "ask" and isinstance(node, ir.Menu):
            url = _ask_url(node, str(query.get("event", "")))
            answer = await ask.ask(runtime.http, flow, url, {
                "flow": flow.name, "node": node_name, "session": fields.get("CallID"), "caller": caller,
                "called": called, "keys": None})
            return await _answer(directory, answer, language, str(query.get("repeat", "")))
        here = str(query.get("context", ""))
        if query.get("kind") == "collect" and isinstance(node, ir.Collect) and here:
            entry = str(fields.get(VARIABLE_PARAMETER + RECORD_VARIABLE) or "")
            entry = "" if entry in UNSET_VALUES else entry
            option, before = collected(node, entry)
            return jump(await directory.context(here), option, before)
        if query.get("kind") == "lookup" and isinstance(node, ir.Lookup) and here:
            state = call_state(fields, language or flow.language)
            line = Line(now, caller, called)
            sent = {name: value for name in (*node.sent, "caller", "called", "language")
                    if (value := state.variable(name, line)) is not None}
            effect = LookupService(node.name, node.url, {"flow": flow.name, "node": node.name, "variables": sent},
                                   node.timeout_ms)
            found = await lookup.lookup(runtime.http, effect, str(fields.get("CallID") or "-"))
            if found is None or lookup_answer_problem(node, found) is not None:
                return jump(await directory.context(here), ERROR_OPTION)
            before = "".join(_set_var(received.name, got) for received in node.receive
                             if isinstance(got := found.get(received.name), str))
            return jump(await directory.context(here), DONE_OPTION, before)
        raise HTTPProblem(422, "bad_kind", "kind must be route (for a route), ask (for a menu), collect or lookup "
                                           "(with the context that asks)")

    async def _answer(directory: Directory, action: ir.Action, language: str | None, repeat: str) -> Response:
        if isinstance(action, ir.Transfer):
            return _xml(f"<{TRANSFER_ELEMENT}>{escape(action.destination)}</{TRANSFER_ELEMENT}>")
        if isinstance(action, ir.Voicemail):
            boxes = values.get("voicemail") or {}
            destination = boxes.get(action.box or "default") if isinstance(boxes, Mapping) else None
            if destination is None:
                return _xml("<Hangup/>")
            return _xml(f"<{TRANSFER_ELEMENT}>{escape(str(destination))}</{TRANSFER_ELEMENT}>")
        if isinstance(action, ir.Goto):
            return jump(await directory.context(Where(action.target, language=language).key()))
        if isinstance(action, ir.Repeat):
            if not repeat:
                raise HTTPProblem(422, "no_repeat", "the URL does not say where `repeat` leads")
            return jump(await directory.context(repeat))
        return _xml("<Hangup/>")

    return [Route("/interactive", interactive, methods=["GET", "POST"])]


def _set_var(name: str, value: str) -> str:
    return f'<SetVar name="{escape(name, {chr(34): "&quot;"})}">{escape(value)}</SetVar>'


def collected(collect: ir.Collect, entry: str) -> tuple[str, str]:
    """What a recorded entry means, as the machine decides it: nothing is a
    timeout, too few keys are invalid, else the variable is set and `on done`
    runs. Returns the option to jump to and the verbs that go before."""
    fewest, most = collect.digits_range
    if not entry:
        return "timeout", ""
    if len(entry) < fewest:
        return "invalid", ""
    return DONE_OPTION, _set_var(collect.name, entry[:most])


def _ask_url(menu: ir.Menu, event: str) -> str:
    for press in menu.presses:
        if f"press {press.key}" == event and isinstance(press.actions.terminal, ir.Ask):
            return press.actions.terminal.url
    for on in menu.events:
        if on.event == event and isinstance(on.actions.terminal, ir.Ask):
            return on.actions.terminal.url
    raise HTTPProblem(404, "unknown_ask", f"menu `{menu.name}` has no `ask` under `{event}`")


def directory_from_env(flow: str, values: Mapping[str, Any], secret: Callable[[str], str | None]) -> Directory | None:
    """The directory when the environment is a Telphin one, else None."""
    base, client_id, client_secret = values.get("base_url"), values.get("client_id"), secret("client_secret")
    extension = values.get("extension")
    if not (base and client_id and client_secret and extension):
        return None
    api = TelphinApi(str(base), str(client_id), client_secret, sleep=retry_pause, timeout=API_TIMEOUT_S)
    return Directory(api, flow, str(extension))
