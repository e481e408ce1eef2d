"""`/telphin/interactive`: the runtime's answers to Telphin's call_interactive.

Telphin asks (GET or POST, with CallerIDNum, CallID, …) when a call reaches a
route or an `ask`; the URL says which (`flow`, `node`, `kind`, `copy`) and is
signed (`sig`, see compile.signature). The answer is XML:

    <Response><Jump context="ID" option="start"/></Response>
    <Response><SimpleTransfer>DEST</SimpleTransfer></Response>   (ASSUMPTION)
    <Response><Hangup/></Response>

Context ids are looked up in Telphin by the marker in their description
(cached; looked up again when one is missing, as after a redeploy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...compiler import ir
from ...compiler.machine import Call, Line, MachineError, NeedsClock, branch_index
from ...runtime import ask
from ...runtime.clock import call_time
from ...runtime.directory import API_TIMEOUT_S, Lookup, retry_pause
from ...runtime.http import HTTPProblem, read_form
from ...runtime.webhooks import Webhooks
from ..signing import check
from .client import TelphinApi, find_extension
from .compile import MARKER, VARIABLE_PARAMETER, Where, parse_manifest

log = logging.getLogger("ivrflow.runtime")
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

    def jump(context_id: int) -> Response:
        return _xml(f'<Jump context="{context_id}" option="start"/>')

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
            log.info("call %s: route %s took branch %s", fields.get("CallID", "-"), node_name, index)
            return jump(await directory.context(Where(f"{node_name}/{index}", language=language).key()))
        if query.get("kind") == "ask" and isinstance(node, ir.Menu):
            url = _ask_url(node, str(query.get("event", "")))
            answer = await ask.ask(runtime.http, flow, url, {
                "flow": flow.name, "node": node_name, "session": fields.get("CallID"), "caller": caller,
                "called": called, "keys": None})
            return await _answer(directory, answer, language, str(query.get("repeat", "")))
        raise HTTPProblem(422, "bad_kind", "kind must be route (for a route) or ask (for a menu)")

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
