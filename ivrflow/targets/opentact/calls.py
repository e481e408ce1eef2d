"""The emulator's call executor: runs a call through a call-flow XML
document of either dialect, as PLATFORMS.md §5 describes Opentact running
one (the readings that are not verified are dialect.py's constants).

The document is walked in order. `<Say>`/`<Play>` are heard; `<Dial>` ends
the call's time in the IVR (a transfer to its first `<To>`); `<Hangup/>`
and the end of the document hang up. A `<Gather>` plays its prompts and
takes the next input: keys (up to its length, or to its stop key) pick a
branch (`<DTMF value>` / `<Case dtmf>`) or `<Default>`; silence runs
`<Error>` (in the legacy dialect after `attempts` silences, the prompts
again before each). When the branch is done, the walk goes on after the
Gather. When the inputs run out at a Gather, the call is waiting there.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from . import dialect as xml
from .dialect import Dialect

SILENCE = "silence"
#: Inputs that make a `<Dial>` with an `<Error>` fail (as `simulate` names them); any other input lets it connect.
DIAL_FAILURES = ("no-answer", "busy", "failed")
#: The most elements one call walks (a document is a tree, so a call ends; this bounds a hostile one).
MAX_STEPS = 100_000


@dataclass
class CallResult:
    #: transfer | hangup | waiting
    action: str
    target: str | None = None
    #: What the caller heard, in order: `say:TEXT` and `play:URL`.
    heard: list[str] = field(default_factory=list)
    #: How many Gathers took an input, and how many Callbacks were fetched.
    gathers: int = 0
    fetched: int = 0

    def outcome(self) -> dict[str, str | None]:
        return {"action": self.action, "target": self.target}


class _Ended(Exception):
    """The call has ended (its result is set): stop interpreting."""


def detect(document: bytes) -> str | None:
    """The dialect `document` follows (the current one first), None: neither."""
    for name in xml.DIALECTS:
        if not xml.validate(document, name):
            return name
    return None


#: Fetches a Callback's URL (with the call's parameters added): the XML, or None when that fails.
Fetch = Callable[[str], "bytes | None"]
#: POSTs the call object (JSON) to the app's call_flow_url: the XML, or None when that fails.
Post = Callable[[str, Mapping[str, str]], "bytes | None"]


def run_served(url: str, inputs: Sequence[str], fetch: Fetch, post: Post, call: Mapping[str, str]) -> CallResult:
    """Run one call of an app with a call_flow_url (method POST): the call
    object (`uuid`, `from`, `tn`, `to`, `sip_control_app`) is POSTed there,
    and the XML it answers runs in the dialect it follows; its Gathers and
    Callbacks fetch the rest. `call` holds `call` (the uuid), `from`, `tn`, `sca`."""
    body = {"uuid": call.get("call", ""), "tn": call.get("tn", ""), "to": call.get("tn", ""),
            "sip_control_app": call.get("sca", ""), "state": "ringing"}
    if call.get("from"):
        body["from"] = call["from"]
    document = post(url, body)
    name = detect(document) if document is not None else None
    if document is None or name is None:
        return CallResult("hangup", fetched=1)
    result = run(document, name, inputs, fetch, call)
    result.fetched += 1
    return result


def run(document: bytes, dialect_name: str, inputs: Sequence[str], fetch: Fetch | None = None,
        call: Mapping[str, str] | None = None) -> CallResult:
    """Run one call: `inputs` are keys ("1", "23#") or "silence", one per
    Gather reached; `fetch` gets a Callback's XML; `call` holds the
    parameters a Callback's request carries (`from`, `tn`, `call`, `sca`)."""
    return _Call(xml.dialect(dialect_name), list(inputs), fetch, dict(call or {})).run(ET.fromstring(document))


class _Call:
    def __init__(self, dialect: Dialect, inputs: list[str], fetch: Fetch | None, call: dict[str, str]):
        self.dialect = dialect
        self.inputs = inputs
        self.fetch = fetch
        self.call = call
        self.result = CallResult("hangup")
        self.steps = 0

    def run(self, root: ET.Element) -> CallResult:
        try:
            self.block(root)
            self.end("hangup")
        except _Ended:
            pass
        return self.result

    def end(self, action: str, target: str | None = None) -> None:
        self.result.action, self.result.target = action, target
        raise _Ended

    def block(self, parent: ET.Element) -> None:
        for element in parent:
            self.element(element)

    def element(self, element: ET.Element) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.end("hangup")
        tag = element.tag
        if tag == xml.SAY:
            self.result.heard.append(f"say:{element.text or ''}")
        elif tag == xml.PLAY:
            self.result.heard.append(f"play:{(element.text or '').strip()}")
        elif tag == xml.DIAL:
            to = element.find(xml.DIAL_TO)
            error = element.find(xml.DIAL_ERROR)
            if error is not None and self.inputs and self.inputs[0] in DIAL_FAILURES:
                self.inputs.pop(0)  # nobody answers, busy, or failed: the Dial's <Error> runs
                self.block(error)
                return
            self.end("transfer", (to.text or "").strip() if to is not None else None)
        elif tag == xml.HANGUP:
            self.end("hangup")
        elif tag == xml.GATHER:
            self.gather(element)
        elif tag == xml.CALLBACK:
            self.callback(element)
        # <Answer> and anything else: nothing the caller hears or does

    def gather(self, gather: ET.Element) -> None:
        digits, stop, attempts = self.dialect.gather_settings(gather)
        prompts = [child for child in gather if self.dialect.is_prompt(child)]
        for attempt in range(1, max(1, attempts) + 1):
            for prompt in prompts:
                self.element(prompt)
            if not self.inputs:
                self.end("waiting")
            given = self.inputs.pop(0)
            self.result.gathers += 1
            entry = "" if given == SILENCE else _entry(given, digits, stop)
            if entry and gather.get(xml.GATHER_URL) is not None and not self.dialect.legacy:
                self.fetch_and_run(gather.get(xml.GATHER_URL, ""), {xml.GATHER_DIGITS_PARAMETER: entry}, None)
            if entry:
                branch = self.dialect.branches(gather).get(entry)
                chosen = branch if branch is not None else self.dialect.default_of(gather)
                if chosen is not None:
                    self.block(chosen)
                return
            if attempt < attempts:
                continue  # the legacy dialect's attempts: the prompts again
            error = gather.find(xml.ERROR)
            if error is not None:
                self.block(error)
            return


    def callback(self, element: ET.Element) -> None:
        """Fetch more XML and run it in place of the rest; `<Error>` when that fails."""
        self.fetch_and_run(element.get(xml.CALLBACK_URL, ""), {}, element.find(xml.ERROR))

    def fetch_and_run(self, url: str, parameters: dict[str, str], error: ET.Element | None) -> None:
        extra = {**parameters, **{k: v for k, v in self.call.items() if k in xml.CALLBACK_PARAMETERS}}
        if extra:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(extra)
        self.result.fetched += 1
        document = self.fetch(url) if self.fetch is not None else None
        root = None
        if document is not None and not xml.validate(document, self.dialect.name):
            root = ET.fromstring(document)  # valid: well-formed, and shallow enough to walk
        if root is None or root.tag != xml.ROOT:
            if error is not None:
                self.block(error)
            self.end("hangup")
            return
        self.block(root)
        self.end("hangup")


def _entry(keys: str, digits: int, stop: str) -> str:
    """The keys a Gather takes: up to `digits`, ended early by the stop key
    (which is not part of the entry, unless it comes first:
    dialect.STOP_KEY_NEEDS_A_KEY). Fewer keys end at a pause."""
    if stop and stop in keys[:digits + 1] and not (xml.STOP_KEY_NEEDS_A_KEY and keys.index(stop) == 0):
        return keys[:keys.index(stop)]
    return keys[:digits]
