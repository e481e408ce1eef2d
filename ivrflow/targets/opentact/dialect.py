"""Opentact's call-flow XML: the two documented dialects behind one interface.

Nothing here is verified against a live Opentact account (none is public):
every element and attribute name, and every reading of what one means, is a
named constant below with its source. The compiler (compile.py) and the
emulator's interpreter (calls.py) both read them from here, so a correction
is made in one place. docs/platforms/opentact.md lists them.

Sources (PLATFORMS.md §5):
  [A] the current docs, https://doc.opentact.org/ (call XML: gather, dtmf,
      default, error, say, play, dial, answer, hangup)
  [B] the older GitBook (https://dantonia.gitbook.io/test/, sipcontrolapp/cfxml
      gather), Opentact's 2021 OpenAPI and the one public integration
      (`SimonyanSuren/fonio-api`, src/modules/facade/call_flow/)

The XML is built with xml.etree.ElementTree, never by joining strings, so
any text a flow holds (`<`, `&`, quotes, non-ASCII) is escaped right.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

#: The dialects an environment may choose (`dialect = "current"|"legacy"`).
DIALECTS = ("current", "legacy")
#: The default: the current documentation [A].
DEFAULT_DIALECT = "current"

#: The document's root element [A][B].
ROOT = "Response"
#: [A] `<Answer delay="ms">`: answers the call after `delay` milliseconds. [B] documents no Answer.
ANSWER = "Answer"
ANSWER_DELAY = "delay"
#: [A][B] `<Say>text</Say>`; [A] adds `lang` (default en-US). [B] documents no attributes:
#: ASSUMPTION: the legacy dialect speaks its default voice, so no `lang` is written.
SAY = "Say"
SAY_LANG = "lang"
SAY_DEFAULT_LANG = "en-US"
#: [A][B] `<Play>URL</Play>`: a wav or mp3 at a URL the platform can fetch.
PLAY = "Play"
#: [A] `<Dial><To>number</To></Dial>`: every `<To>` rings, the first to answer wins.
#: [B] documents `<Dial>`; ASSUMPTION: its child is `<To>` too (the child's name is unverified).
DIAL = "Dial"
DIAL_TO = "To"
#: [A] `<Dial>…<Error>…</Error></Dial>`: what runs when the Dial does not
#: connect. ASSUMPTION: nobody answering, busy and a failure all run it, and
#: it does not say which (the runtime tells the machine `failed`). [B]
#: documents no Error in a Dial: the legacy dialect cannot carry `transfer … else`.
DIAL_ERROR = "Error"
#: Neither dialect documents how long a Dial rings (no `timeout` on [A]'s
#: `<Dial>`, nothing in [B]): a transfer's `ring` is not kept, the
#: platform's own applies (compile says so, IVR206).
#: [A][B] `<Hangup/>`.
HANGUP = "Hangup"
#: [A][B] `<Gather>`: plays its prompt children and takes keys; execution
#: goes on with the Gather's next sibling when the branch taken is done.
#: ASSUMPTION: prompts are the Gather's first children (as in the docs'
#: examples and TwiML), and a key pressed during them is taken (barge-in).
GATHER = "Gather"
#: [A] `dtmf_length` (how many keys) and `dtmf_stop` (the key that ends an entry).
CURRENT_LENGTH = "dtmf_length"
CURRENT_STOP = "dtmf_stop"
#: [A] one `<DTMF value="K">` child per key.
CURRENT_BRANCH = "DTMF"
CURRENT_BRANCH_KEY = "value"
#: [B] `numDigits`, `timeout` (ms), `attempts` (default 1), `finishOnKey` (default `*`).
LEGACY_LENGTH = "numDigits"
LEGACY_TIMEOUT = "timeout"
LEGACY_ATTEMPTS = "attempts"
LEGACY_STOP = "finishOnKey"
#: [B] `<Switch><Case dtmf="K">…</Case>…</Switch>` inside the Gather.
LEGACY_SWITCH = "Switch"
LEGACY_BRANCH = "Case"
LEGACY_BRANCH_KEY = "dtmf"
#: [B] ASSUMPTION: `attempts` replays the prompts after each silence, and
#: `<Error>` runs when the last attempt also ends in silence; a wrong key
#: goes to `<Default>` at once, whatever the attempts left.
LEGACY_ATTEMPTS_COUNT_SILENCE_ONLY = True
#: [B] ASSUMPTION: `<Default>` sits inside the `<Switch>`, like a switch's default branch.
LEGACY_DEFAULT_IN_SWITCH = True
#: [A] `<Callback url method body timeout><Error/></Callback>`: fetch more XML
#: from `url` and run it; [B] lists `Callback` with no attributes: ASSUMPTION,
#: the same `url` and `method`. The runtime server answers these
#: (/opentact/xml) where a flow goes round or decides while the call runs.
#: ASSUMPTION: the fetched document runs in place of what follows the
#: Callback (ivrflow writes a Callback last in its branch, so either reading
#: runs the same), and `<Error>` inside it runs when the fetch fails.
#: ASSUMPTION: the request carries the call's `from`, `tn`, `call` and `sca`
#: in its query, as a Gather's `url` does [A].
CALLBACK = "Callback"
CALLBACK_URL = "url"
CALLBACK_METHOD = "method"
CALLBACK_PARAMETERS = ("from", "tn", "call", "sca")
#: [A] `<Gather url>`: the entry is sent to `url` (`dtmf=<keys>` with the
#: call's `from`, `tn`, `state`, `sca`, `call`) and the XML it answers runs.
#: ASSUMPTION: with a `url` the keys go to the URL (no `<DTMF>` branch is
#: taken), its answer runs in place of what follows, and silence still runs
#: `<Error>`. [B]'s `callback` gets `code`, `success`, `attempts`: too little
#: is documented to rely on it, so the legacy dialect has no such Gather.
GATHER_URL = "url"
GATHER_DIGITS_PARAMETER = "dtmf"
#: [A][B] a key that matches no branch runs `<Default>`.
DEFAULT = "Default"
#: [A][B] no key at all (silence) runs `<Error>`. The big Gather example of
#: [A] has Default and Error swapped in its comments: UNVERIFIED, we follow
#: the element pages of [A] and [B], which agree.
ERROR = "Error"
#: [A] documents no timeout: the platform's own applies. ASSUMPTION: 5 s.
CURRENT_TIMEOUT_MS = 5000
#: ASSUMPTION (UNVERIFIED): the stop key ends an entry only after at least
#: one key; pressed first, it is the entry (a key no branch has: `<Default>`,
#: or sent to a Gather's `url`), as ivrflow's language reads a key the menu
#: does not use. A platform that took it for no input would run `<Error>`.
STOP_KEY_NEEDS_A_KEY = True
#: Keys an entry may end with, in the order ivrflow picks one a menu does not use.
STOP_KEYS = ("#", "*")


@dataclass(frozen=True)
class Dialect:
    """How one dialect writes a menu's Gather and its branches."""

    name: str

    @property
    def legacy(self) -> bool:
        return self.name == "legacy"

    def root(self) -> ET.Element:
        return ET.Element(ROOT)

    def answer(self, parent: ET.Element, delay_ms: int) -> bool:
        """`<Answer delay>` where the dialect has one; False where it does not."""
        if self.legacy:
            return False
        ET.SubElement(parent, ANSWER, {ANSWER_DELAY: str(delay_ms)})
        return True

    def say(self, parent: ET.Element, text: str, language: str | None) -> None:
        element = ET.SubElement(parent, SAY, {} if self.legacy else {SAY_LANG: language or SAY_DEFAULT_LANG})
        element.text = text

    def play(self, parent: ET.Element, url: str) -> None:
        ET.SubElement(parent, PLAY).text = url

    def dial(self, parent: ET.Element, number: str) -> ET.Element:
        dial = ET.SubElement(parent, DIAL)
        ET.SubElement(dial, DIAL_TO).text = number
        return dial

    def dial_error(self, dial: ET.Element) -> ET.Element:
        """What runs when the Dial does not connect (the current dialect only: DIAL_ERROR)."""
        return ET.SubElement(dial, DIAL_ERROR)

    def hangup(self, parent: ET.Element) -> None:
        ET.SubElement(parent, HANGUP)

    def callback(self, parent: ET.Element, url: str) -> None:
        """Fetch the rest of the call from `url`; hang up when that fails."""
        callback = ET.SubElement(parent, CALLBACK, {CALLBACK_URL: url, CALLBACK_METHOD: "GET"})
        ET.SubElement(ET.SubElement(callback, ERROR), HANGUP)

    def gather(self, parent: ET.Element, digits: int, stop: str | None, timeout_ms: int, attempts: int,
               url: str | None = None) -> ET.Element:
        """A Gather of `digits` keys ended early by `stop` (None: no stop key,
        the current dialect only; the legacy one has a default, `*`)."""
        if self.legacy:
            return ET.SubElement(parent, GATHER, {LEGACY_LENGTH: str(digits), LEGACY_TIMEOUT: str(timeout_ms),
                                                  LEGACY_ATTEMPTS: str(attempts),
                                                  LEGACY_STOP: stop or STOP_KEYS[1]})
        attributes = {CURRENT_LENGTH: str(digits)}
        if stop is not None:
            attributes[CURRENT_STOP] = stop
        if url is not None:  # the current dialect only (see GATHER_URL)
            attributes[GATHER_URL] = url
        return ET.SubElement(parent, GATHER, attributes)

    def branch(self, gather: ET.Element, key: str) -> ET.Element:
        if self.legacy:
            return ET.SubElement(self._switch(gather), LEGACY_BRANCH, {LEGACY_BRANCH_KEY: key})
        return ET.SubElement(gather, CURRENT_BRANCH, {CURRENT_BRANCH_KEY: key})

    def default(self, gather: ET.Element) -> ET.Element:
        return ET.SubElement(self._switch(gather) if self.legacy and LEGACY_DEFAULT_IN_SWITCH else gather, DEFAULT)

    def error(self, gather: ET.Element) -> ET.Element:
        return ET.SubElement(gather, ERROR)

    @staticmethod
    def _switch(gather: ET.Element) -> ET.Element:
        switch = gather.find(LEGACY_SWITCH)
        return switch if switch is not None else ET.SubElement(gather, LEGACY_SWITCH)

    # --- reading (the emulator's interpreter) ---------------------------------------

    def gather_settings(self, gather: ET.Element) -> tuple[int, str, int]:
        """(digits, stop key, attempts) of a Gather as the platform reads it."""
        if self.legacy:
            return (_int(gather.get(LEGACY_LENGTH), 1), gather.get(LEGACY_STOP, "*"),
                    _int(gather.get(LEGACY_ATTEMPTS), 1))
        return _int(gather.get(CURRENT_LENGTH), 1), gather.get(CURRENT_STOP, "#"), 1

    def branches(self, gather: ET.Element) -> dict[str, ET.Element]:
        if self.legacy:
            switch = gather.find(LEGACY_SWITCH)
            cases = switch.findall(LEGACY_BRANCH) if switch is not None else []
            return {c.get(LEGACY_BRANCH_KEY, ""): c for c in cases}
        return {b.get(CURRENT_BRANCH_KEY, ""): b for b in gather.findall(CURRENT_BRANCH)}

    def default_of(self, gather: ET.Element) -> ET.Element | None:
        switch = gather.find(LEGACY_SWITCH) if self.legacy and LEGACY_DEFAULT_IN_SWITCH else gather
        return switch.find(DEFAULT) if switch is not None else None

    @staticmethod
    def is_prompt(element: ET.Element) -> bool:
        return element.tag in (SAY, PLAY)


def dialect(name: str) -> Dialect:
    if name not in DIALECTS:
        raise ValueError(f"unknown dialect `{name}`")
    return Dialect(name)


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


#: Documents of up to this many elements are indented (readable, and the
#: golden files show them so); larger ones are written without indentation,
#: which in a deeply nested document would be most of its bytes.
INDENT_MAX_ELEMENTS = 2_000


def to_bytes(root: ET.Element) -> bytes:
    """The document as uploaded: UTF-8 with its declaration, indented when small."""
    if sum(1 for _ in root.iter()) <= INDENT_MAX_ELEMENTS:
        ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# --- the schema (PLATFORMS.md §5, one per dialect) ------------------------------------------
#: What each element may hold: its attributes, its children, and whether it has text.
#: Written from the table of PLATFORMS.md §5, with only what that table names;
#: the emulator refuses an upload that does not follow it.
_ACTIONS = (SAY, PLAY, DIAL, HANGUP, GATHER, CALLBACK)
Rule = tuple[frozenset[str], frozenset[str], bool]


def _rule(attributes: tuple[str, ...], children: tuple[str, ...], text: bool = False) -> Rule:
    return frozenset(attributes), frozenset(children), text


SCHEMAS: dict[str, dict[str, Rule]] = {
    "current": {
        ROOT: _rule((), (ANSWER, *_ACTIONS)),
        ANSWER: _rule((ANSWER_DELAY,), ()),
        SAY: _rule(("type", "gender", "code", SAY_LANG, "loop"), (), True),
        PLAY: _rule(("loop", "leg"), (), True),
        DIAL: _rule((), (DIAL_TO, ERROR)),
        DIAL_TO: _rule((), (), True),
        HANGUP: _rule((), ()),
        CALLBACK: _rule((CALLBACK_URL, CALLBACK_METHOD, "body", "timeout"), (ERROR,)),
        GATHER: _rule((CURRENT_LENGTH, CURRENT_STOP, "url"), (SAY, PLAY, CURRENT_BRANCH, DEFAULT, ERROR)),
        CURRENT_BRANCH: _rule((CURRENT_BRANCH_KEY,), _ACTIONS),
        DEFAULT: _rule((), _ACTIONS),
        ERROR: _rule((), _ACTIONS),
    },
    "legacy": {
        ROOT: _rule((), _ACTIONS),
        SAY: _rule((), (), True),
        PLAY: _rule((), (), True),
        DIAL: _rule((), (DIAL_TO,)),
        DIAL_TO: _rule((), (), True),
        HANGUP: _rule((), ()),
        CALLBACK: _rule((CALLBACK_URL, CALLBACK_METHOD), (ERROR,)),
        GATHER: _rule((LEGACY_LENGTH, LEGACY_TIMEOUT, LEGACY_ATTEMPTS, LEGACY_STOP, "callback", "method"),
                      (SAY, PLAY, LEGACY_SWITCH, ERROR)),
        LEGACY_SWITCH: _rule((), (LEGACY_BRANCH, DEFAULT)),
        LEGACY_BRANCH: _rule((LEGACY_BRANCH_KEY,), _ACTIONS),
        DEFAULT: _rule((), _ACTIONS),
        ERROR: _rule((), _ACTIONS),
    },
}
#: Attributes that hold a number, and the keys a branch or stop may be.
_NUMBERS = (ANSWER_DELAY, CURRENT_LENGTH, LEGACY_LENGTH, LEGACY_TIMEOUT, LEGACY_ATTEMPTS)
_KEYS = frozenset("0123456789*#")
#: The deepest document the schema takes (ivrflow's own stay far below it:
#: compile.MAX_INLINE_DEPTH); the interpreter walks one recursively.
MAX_DEPTH = 200


def validate(document: bytes, name: str) -> list[str]:
    """What in `document` does not follow the dialect's schema (empty: it does)."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        return [f"not well-formed XML: {error}"]
    schema = SCHEMAS[name]
    if root.tag != ROOT:
        return [f"the root element must be <{ROOT}>, not <{root.tag}>"]
    problems: list[str] = []
    stack: list[tuple[ET.Element, str, int]] = [(root, "", 1)]
    while stack:  # iterative: a hostile document may nest deeper than Python recurses
        element, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [f"{where}: the document nests deeper than {MAX_DEPTH} elements"]
        attributes, children, text = schema[element.tag]
        here = f"{where}/{element.tag}"
        for attribute, value in element.attrib.items():
            if attribute not in attributes:
                problems.append(f"{here}: <{element.tag}> has no attribute `{attribute}`")
            elif attribute in _NUMBERS and not value.isdigit():
                problems.append(f"{here}: `{attribute}` must be a whole number, not {value!r}")
            elif attribute in (CURRENT_BRANCH_KEY, LEGACY_BRANCH_KEY, CURRENT_STOP, LEGACY_STOP) \
                    and (not value or not set(value) <= _KEYS):
                problems.append(f"{here}: `{attribute}` must be keys of a phone, not {value!r}")
        if not text and (element.text or "").strip():
            problems.append(f"{here}: <{element.tag}> holds no text")
        if text and not (element.text or "").strip():
            problems.append(f"{here}: <{element.tag}> needs its text")
        for child in reversed(element):
            if child.tag not in children or child.tag not in schema:
                problems.append(f"{here}: <{child.tag}> cannot be inside <{element.tag}>")
                continue
            stack.append((child, here, depth + 1))
    return problems
