"""Flows served by the runtime server from the start (the second edition).

A flow that uses any construct of the language's second edition (DESIGN
§2b: variables and `set`, `collect`, `lookup`, conditions, languages and
prompt variants, key ranges and patterns, end keys, separate retry counters,
`replay`, `play … first/again`, `transfer … else`) keeps state a static
call-flow XML cannot hold (the variables, the language, two retry counters)
or decides while the call runs. Such a flow is not unrolled: the SIP control
app's `call_flow_url` (method POST, so the request carries the call object
with its `uuid`; PLATFORMS.md §5) points at `ivrflow serve`
(`/opentact/xml?kind=call`), which starts a session for the call, runs the
machine, and answers each step with a small XML document (`answer`):

    the prompts heard, then one of
    <Gather … url="…kind=call&node=N">  the caller's entry comes back as `dtmf`
        (current dialect); legacy: a `<Case>` per entry the node takes,
        each a `<Callback>` with the entry in its URL, `<Default>` one with
        `event=invalid`
      <Error><Callback url="…event=silence"/></Error>
    <Dial><To>D</To><Error><Callback url="…event=failed"/></Error></Dial>
        (a transfer with `else`; current dialect only)
    <Dial><To>D</To></Dial> or <Hangup/>

The session (runtime/sessions.py: the machine's Call as JSON) is kept
between these requests under the call's uuid (`call` in a Gather's or a
Callback's query, `uuid` in the POSTed call object).

What the legacy dialect cannot carry is refused here (IVR205, `refusals`).
"""

from __future__ import annotations

import itertools
import logging
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...compiler import ir
from ...compiler.features import uses
from ...compiler.machine import Call, Collect, Effect, End, Outcome, Play, Ring
from ..signing import signature
from .dialect import DEFAULT_DIALECT, STOP_KEYS, Dialect, dialect, to_bytes

log = logging.getLogger("ivrflow.runtime")

#: In the legacy dialect each entry a menu takes is a `<Case>`: a key range
#: or pattern is listed entry by entry, up to this many per menu.
MAX_LEGACY_CASES = 200
#: The query field that carries a legacy `<Case>`'s entry (the same name a
#: current Gather's `url` sends it under, dialect.GATHER_DIGITS_PARAMETER).
ENTRY_PARAMETER = "dtmf"
#: `event` values in the URLs of `answer`: what happened instead of an entry.
SILENCE, INVALID, FAILED = "silence", "invalid", "failed"

#: Makes a signed URL to the runtime for the query given (flow, kind=call and `node`/`event` added by the caller).
UrlFor = Callable[[dict[str, str]], str]


def is_served(flow: ir.Flow) -> bool:
    """Whether the runtime server serves `flow` from the start: it uses the second edition."""
    return bool(uses(flow))


def legacy_entries(menu: ir.Menu) -> list[str] | None:
    """Every entry `menu` takes, as a legacy `<Case>` lists them; None when
    more than MAX_LEGACY_CASES (a wide range or pattern)."""
    entries: list[str] = []
    for press in menu.presses:
        if press.kind == "key":
            found: Iterable[str] = [press.key]
        elif press.kind == "range":
            low, _, high = press.key.partition("-")
            if int(high) - int(low) + 1 > MAX_LEGACY_CASES:
                return None
            found = (str(n).rjust(len(low), "0") for n in range(int(low), int(high) + 1))
        else:
            choices = ["0123456789" if ch in "XNZ" else ch for ch in press.key]  # narrowed by press_for below
            if 10 ** sum(len(c) > 1 for c in choices) > MAX_LEGACY_CASES * 10:
                return None
            found = ("".join(p) for p in itertools.product(*choices))
        for entry in found:
            if entry not in entries and menu.press_for(entry) is press:
                entries.append(entry)
        if len(entries) > MAX_LEGACY_CASES:
            return None
    return entries


def invalid_entry(menu: ir.Menu) -> str:
    """An entry `menu` does not take: what a legacy `<Default>` (which does
    not say which keys were pressed) is to the machine."""
    for length in range(1, menu.digits + 2):
        for keys in itertools.product("0123456789*#", repeat=length):
            entry = "".join(keys)
            if menu.press_for(entry) is None and entry != menu.end_key:
                return entry
    return menu.end_key or "#"  # unreachable: a menu cannot take every entry


def stop_key(node: ir.Menu | ir.Collect) -> str | None:
    """The key that ends an entry early: the node's end key; in a menu
    without one, a key it does not use (Opentact's Gather ends entries with
    one); a collect without an end key takes every key, so it has none."""
    if node.end_key is not None:
        return node.end_key
    if isinstance(node, ir.Collect):
        return None
    return next((k for k in STOP_KEYS if not any(k in p.key for p in node.presses)), STOP_KEYS[0])


def respond(flow: ir.Flow, effects: Iterable[Effect], call: Call, values: Mapping[str, Any], token: str | None,
            delay_ms: int | None = None, call_id: str = "-") -> bytes:
    """`answer` for the runtime server's environment `values` (dialect,
    runtime_url, prompts_url, voicemail), its URLs signed with `token`."""
    opentact = dialect(str(values.get("dialect") or DEFAULT_DIALECT))
    base = str(values.get("runtime_url") or "").rstrip("/")

    def url_for(extra: dict[str, str]) -> str:
        query = {"flow": flow.name, "kind": "call", **extra}
        if token:
            query["sig"] = signature(token, query)
        return f"{base}/opentact/xml?{urllib.parse.urlencode(query)}"

    def speak(parent: ET.Element, play: Play) -> None:
        if play.text is not None:
            opentact.say(parent, play.text, play.language or flow.language)
            return
        prompts = values.get("prompts_url")
        if not prompts:
            log.warning("call %s: prompt %s is a recording and the environment has no prompts_url; not played",
                        call_id, play.prompt)
            return
        opentact.play(parent, f"{str(prompts).rstrip('/')}/{(play.file or play.prompt).lstrip('/')}")

    def number_of(outcome: Outcome) -> str | None:
        if outcome.action == "transfer":
            return outcome.target
        if outcome.action != "voicemail":
            return None
        boxes = values.get("voicemail") or {}
        number = boxes.get(outcome.target or "default") if isinstance(boxes, Mapping) else None
        if number is None:
            log.error("call %s: voicemail box %s has no number in the environment; hanging up", call_id,
                      outcome.target or "default")
        return str(number) if number is not None else None

    return answer(flow, effects, call, opentact, url_for, speak, number_of, delay_ms)


def answer(flow: ir.Flow, effects: Iterable[Effect], call: Call, dialect: Dialect, url_for: UrlFor,
           speak: Callable[[ET.Element, Play], None], number_of: Callable[[Outcome], str | None],
           delay_ms: int | None = None) -> bytes:
    """The XML that carries one step of the machine: what the caller hears,
    then the Gather that takes the next entry, or the call's end."""
    root = dialect.root()
    if delay_ms is not None:
        dialect.answer(root, delay_ms)
    plays: list[Play] = []
    waiting: ir.Menu | ir.Collect | None = None
    ring: Ring | None = None
    end = None
    for effect in effects:
        if isinstance(effect, Play):
            plays.append(effect)
        elif isinstance(effect, Collect):
            node = flow.node(effect.menu)
            waiting = node if isinstance(node, (ir.Menu, ir.Collect)) else None
        elif isinstance(effect, Ring):
            ring = effect
        elif isinstance(effect, End):
            end = effect.outcome
    if waiting is not None and call.status == "input":
        gather = _gather(root, waiting, dialect, url_for)
        for play in plays:
            speak(gather, play)
        _close_gather(gather, waiting, dialect, url_for)
        return to_bytes(root)
    for play in plays:
        speak(root, play)
    if ring is not None and call.status == "ringing" and not dialect.legacy:
        dial = dialect.dial(root, ring.destination)
        dialect.callback(dialect.dial_error(dial), url_for({"node": call.node or "", "event": FAILED}))
        return to_bytes(root)
    destination = ring.destination if ring is not None else number_of(end) if end is not None else None
    if destination:
        dialect.dial(root, destination)
    else:
        dialect.hangup(root)
    return to_bytes(root)


def _gather(root: ET.Element, node: ir.Menu | ir.Collect, dialect: Dialect, url_for: UrlFor) -> ET.Element:
    digits = node.digits if isinstance(node, ir.Menu) else node.digits_range[1]
    stop = stop_key(node)
    if dialect.legacy:
        return dialect.gather(root, digits, stop or STOP_KEYS[0], node.timeout_ms, 1)
    return dialect.gather(root, digits, stop, node.timeout_ms, 1, url_for({"node": node.name}))


def _close_gather(gather: ET.Element, node: ir.Menu | ir.Collect, dialect: Dialect, url_for: UrlFor) -> None:
    if dialect.legacy and isinstance(node, ir.Menu):
        for entry in legacy_entries(node) or []:
            dialect.callback(dialect.branch(gather, entry), url_for({"node": node.name}) + "&"
                             + urllib.parse.urlencode({ENTRY_PARAMETER: entry}))
        dialect.callback(dialect.default(gather), url_for({"node": node.name, "event": INVALID}))
    dialect.callback(dialect.error(gather), url_for({"node": node.name, "event": SILENCE}))
