"""A flow as Opentact objects: one call-flow XML document (in the
environment's dialect), the outbound voice profile its transfers use, the
SIP control app that holds the XML, and the numbers leased to the app.

The XML is static: a tree the platform walks with no server of ours.

    menu      → a `<Gather>`; each copy of it a retry leads to is nested in
                the `<Default>`/`<Error>` of the one before (unrolled), or,
                in the legacy dialect when only silences repeat it, one
                Gather with `attempts`
    play      → `<Say lang>` (say prompts) or `<Play>URL` (file prompts,
                fetched from the environment's `prompts_url`)
    press KEY → a branch (`<DTMF value>` / `<Case dtmf>`)
    goto      → the target menu's Gather nested in the branch
    transfer  → `<Dial><To>`; voicemail → `<Dial><To>` the box's number
    hangup    → `<Hangup/>`

A tree cannot go round: where a flow does (a `goto` back to a menu the
call is already in, a repeat past its copies) or decides while the call
runs (a route on hours or the caller, an `ask` in a menu), the XML says
`<Callback url>` and the runtime server answers that URL (/opentact/xml,
webhook.py) with the XML from there on, made by this same compiler
(`fragment`). A menu with `dial-extensions` sends every entry to the
runtime server (`<Gather url>`, the current dialect only; IVR205 in the
legacy one).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import ir
from ...compiler.diagnostics import RULES, Diagnostic
from ...compiler.features import uses
from ..common import TargetCompiler
from . import served
from .dialect import CURRENT_TIMEOUT_MS, DEFAULT_DIALECT, STOP_KEYS, Dialect, dialect, to_bytes
from .settings import PROFILE_DEFAULTS

MARKER = "ivrflow"
#: The most elements one document may have before unrolling is refused
#: (ASSUMPTION: Opentact's limit on an upload is UNKNOWN; this keeps it small).
MAX_ELEMENTS = 20_000
#: Past this many elements, a `goto` to another menu is fetched from the
#: runtime server (a <Callback>) instead of nesting its Gather again: each
#: retry copy nests the submenus anew, so nesting alone grows exponentially
#: with the depth of the menus.
INLINE_BUDGET = 2_000
#: The most menu copies nested in one another (gotos and retries) before
#: the next is fetched from the runtime server: keeps documents shallow.
MAX_INLINE_DEPTH = 16
#: The default menu timeout of the language (ms): a menu that sets another gets IVR206 in the current dialect.
LANGUAGE_TIMEOUT_MS = 5000


def marker(flow: str) -> str:
    """The name of what ivrflow makes for `flow`: it tells its own apart."""
    return f"{MARKER}:{flow}"


@dataclass
class Desired:
    flow: str
    label: str
    dialect: str
    #: The call-flow XML, as uploaded.
    xml: bytes
    #: The SIP control app's name and the outbound voice profile's (name and fields).
    app_name: str
    profile_name: str
    profile: dict[str, Any]
    product: int | str
    numbers: tuple[str, ...]
    entry: str
    #: The flow's line, for the plan's changes.
    source: ir.Span | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    #: For a flow the runtime server serves from the start (served.py): the
    #: app's `call_flow_url` (requested with POST); `xml` is then empty.
    call_flow_url: str | None = None

    @property
    def how(self) -> str:
        """How the platform gets the call's XML, as compile and plan say it."""
        if self.call_flow_url is not None:
            return "served by `ivrflow serve` from the start (the app's call_flow_url)"
        if b"<Callback" in self.xml or b" url=" in self.xml:
            return "static call-flow XML with Callbacks to the runtime server"
        return "static call-flow XML"

    @property
    def digest(self) -> str:
        """What tells the XML on the platform from this one: its SHA-256 (first 16 digits)."""
        return hashlib.sha256(self.xml).hexdigest()[:16]


def compile_flow(flow: ir.Flow, env: Mapping[str, Any], *, dialect_name: str | None = None) -> Desired:
    """The desired Opentact state of `flow`. `env` holds the environment's
    checked values (settings.Settings as a mapping: dialect, product,
    numbers, profile, prompts_url, voicemail)."""
    return _Compiler(flow, env, dialect(dialect_name or str(env.get("dialect") or DEFAULT_DIALECT))).run()


def fragment(flow: ir.Flow, env: Mapping[str, Any], node: str, copy: int = 0,
             branch: ir.Actions | None = None, event: str = "") -> bytes:
    """The XML the runtime server answers a Callback with: the call from
    menu `node` after `copy` retries, or `branch`: the actions of a route's
    branch, or (with the menu `node` and its `event`) what an `ask` answered."""
    compiler = _Compiler(flow, env, dialect(str(env.get("dialect") or DEFAULT_DIALECT)))
    root = compiler.dialect.root()
    menu = flow.node(node)
    if branch is not None:
        compiler.actions(root, branch, menu if isinstance(menu, ir.Menu) else None, copy, frozenset(), event)
    elif isinstance(menu, ir.Menu):
        compiler.menu(root, menu, copy, frozenset())
    return to_bytes(root)


class _Compiler(TargetCompiler):
    def __init__(self, flow: ir.Flow, env: Mapping[str, Any], dialect: Dialect):
        super().__init__(flow, env, {}, True)
        self.dialect = dialect
        self.elements = 0
        self.too_big = False
        self.reported: set[tuple[str, int, int]] = set()

    def run(self) -> Desired:
        flow = self.flow
        root = self.dialect.root()
        header = flow.header
        served_url = self.served() if served.is_served(flow) else None
        if header is not None:
            delay = header.get("answer-delay")
            if delay is not None and isinstance(delay.value, int) and not self.dialect.answer(root, delay.value):
                self.warn(delay.span, "the legacy dialect documents no `<Answer delay>`: `answer-delay` is not kept")
            if header.max_duration is not None:
                self.warn(header.max_duration.span, "Opentact's call-flow XML has no limit on a call's length: "
                                                    "`max-duration` is not kept")
        start = flow.node(flow.start or "")
        xml = b""  # a served flow has no static XML: its call_flow_url answers every step
        if served_url is None:
            if isinstance(start, ir.Menu):
                self.menu(root, start, 0, frozenset())
            elif isinstance(start, ir.Route):
                self.route(root, start, start.name_span)
            self.check_the_rest()
            xml = to_bytes(root)
        label = header.label if header is not None and header.label else flow.name
        product = self.env.get("product") or self.placeholder("product")
        numbers = tuple(self.env.get("numbers") or ())
        profile = dict(self.env.get("profile") or PROFILE_DEFAULTS)
        return Desired(flow.name, label, self.dialect.name, xml, marker(flow.name), marker(flow.name), profile,
                       product, numbers, flow.start or "", header.span if header is not None else None,
                       list(dict.fromkeys(self.diagnostics)), self.placeholders, served_url)

    # --- a flow served from the start (served.py) ------------------------------------------

    def served(self) -> str:
        """The app's call_flow_url for a flow of the second edition, and what
        the dialect cannot carry of it (IVR205) or keeps only in part (IVR206)."""
        flow = self.flow
        first = uses(flow)[0]
        span = flow.header.span if flow.header is not None else first.span
        self.once(span, "IVR202", f"flow `{flow.name}` uses {first.description} (the language's second edition): "
                                  "the runtime server serves the call from the start: the app's call_flow_url "
                                  "(POST) points at `ivrflow serve`, which answers each step with call-flow XML "
                                  "from the machine")
        legacy = self.dialect.legacy
        languages = flow.header.get("languages") if flow.header is not None else None
        if legacy and languages is not None:
            self.warn(languages.span,
                      "the legacy dialect's <Say> has no `lang`: every language's text is spoken in the "
                      "platform's default voice")
        for node in flow.definitions:
            if flow.names.get(node.name) is not node:
                continue
            if isinstance(node, ir.Menu):
                self.check_menu(node)
                if legacy and not node.dial_extensions and served.legacy_entries(node) is None:
                    wide = next(p for p in node.presses if p.kind != "key")
                    self.once(wide.key_span, "IVR205", f"menu `{node.name}` takes more than "
                                                       f"{served.MAX_LEGACY_CASES} entries: the legacy dialect's "
                                                       "Gather sends no keys to a URL, so each entry the runtime "
                                                       "server must hear is a <Case> of its own",
                              hint='use `dialect = "current"` (a <Gather url> sends any entry)')
            elif isinstance(node, ir.Collect):
                self.check_wait(node)
                if legacy:
                    self.once(node.name_span, "IVR205", f"`collect {node.name}` keys in a value the runtime "
                                                        "server must hear, and the legacy dialect's Gather sends "
                                                        "no keys to a URL (its `callback` reports only `code`, "
                                                        "`success` and `attempts`), nor can a <Case> list every "
                                                        "value",
                              hint='use `dialect = "current"` (a <Gather url> sends the entry as `dtmf`)')
        for handler in flow.handlers:
            terminal = handler.actions.terminal
            while terminal is not None:
                if isinstance(terminal, ir.Voicemail):
                    self.voicemail(terminal)
                if not isinstance(terminal, ir.Transfer) or terminal.fallback is None:
                    break
                if legacy:
                    self.once(terminal.span, "IVR205", "`transfer … else` needs to know that the transfer did not "
                                                       "connect, and the legacy dialect documents no <Error> in a "
                                                       "<Dial> (what follows a Dial also runs after a call that "
                                                       "connected and ended)",
                              hint='use `dialect = "current"` (<Dial><Error>), or drop the `else`')
                elif terminal.ring is not None:
                    self.warn(terminal.ring.span, "Opentact's <Dial> documents no ring time: `ring` is not kept, "
                                                  "the platform's own applies before <Error> runs the `else`")
                terminal = terminal.fallback
        for prompt in flow.prompts:
            for form in prompt.forms:
                if form.kind == "file" and self.env.get("prompts_url") is None and self.env.get("has_env"):
                    self.once(form.value_span, "IVR207", f"prompt `{prompt.name}` is a recording, and Opentact "
                                                         "plays recordings from a URL: this environment has no "
                                                         "`prompts_url`",
                              hint='add `prompts_url = "https://…"` where the files of the flow\'s folder are '
                                   "served")
        return self.callback_url("/opentact/xml", {"flow": flow.name, "kind": "call"}, span)

    # --- diagnostics -------------------------------------------------------------------

    def once(self, span: ir.Span, code: str, message: str, hint: str | None = None) -> None:
        """A finding reported once at its place, however many copies of a menu meet it."""
        if (span.file, span.line, span.column) in self.reported:
            return
        self.reported.add((span.file, span.line, span.column))
        self.diagnostics.append(RULES[code].at(span, message, hint=hint))

    def warn(self, span: ir.Span, message: str) -> None:
        self.once(span, "IVR206", message)

    def dynamic(self, span: ir.Span, why: str) -> None:
        self.once(span, "IVR205", f"{why}: Opentact's static call-flow XML cannot express it, and this target "
                                  "does not yet have the runtime server decide it",
                  hint="`ivrflow targets` lists what opentact carries; `ivrflow simulate` and `ivrflow test` run "
                       "the flow today")

    def count(self, n: int = 1) -> bool:
        self.elements += n
        if self.elements > MAX_ELEMENTS and not self.too_big:
            self.too_big = True
            start = self.flow.node(self.flow.start or "")
            span = start.name_span if isinstance(start, (ir.Menu, ir.Route)) else ir.Span("", 1, 1, 1, 2)
            self.once(span, "IVR205", f"the flow unrolls into more than {MAX_ELEMENTS} XML elements (each retry "
                                      "and each submenu is a copy in the static XML)",
                      hint="fewer retries or shallower menus")
        return not self.too_big

    def check_the_rest(self) -> None:
        """What the runtime server would answer later is compiled now too, and
        thrown away: its findings (IVR205 for `ask`, …) are the flow's, at compile."""
        elements, too_big = self.elements, self.too_big
        for item in self.flow.definitions:
            if self.flow.names.get(item.name) is not item:
                continue
            scratch = self.dialect.root()
            if isinstance(item, ir.Menu):
                self.menu(scratch, item, 0, frozenset())
            elif isinstance(item, ir.Route):
                for branch in item.branches:
                    self.actions(scratch, branch.actions, None, 0, frozenset())
            self.elements, self.too_big = elements, too_big

    # --- the tree ----------------------------------------------------------------------

    def menu(self, parent: ET.Element, menu: ir.Menu, copy: int, path: frozenset[tuple[str, int]],
             via: ir.Span | None = None) -> None:
        """The Gather of `menu` after `copy` retries, nested in `parent`.
        `path`: the menus (and copies) the call is in on the way here."""
        if (menu.name, copy) in path:
            span = via or menu.name_span
            self.once(span, "IVR202", f"going back to menu `{menu.name}` goes round: the XML fetches it from the "
                                      "runtime server (a <Callback>)")
            self.callback(parent, menu.name, "menu", copy, span)
            return
        if len(path) >= MAX_INLINE_DEPTH:
            span = via or menu.name_span
            self.once(span, "IVR202", f"the call-flow XML nests {MAX_INLINE_DEPTH} menus deep here: menu "
                                      f"`{menu.name}` is fetched from the runtime server (a <Callback>)")
            self.callback(parent, menu.name, "menu", copy, span)
            return
        if not self.count():
            return
        path = path | {(menu.name, copy)}
        dialect = self.dialect
        if copy == 0:
            self.check_menu(menu)
        native = dialect.legacy and counts_silence_natively(menu)
        stop = next((k for k in STOP_KEYS if not any(k in p.key for p in menu.presses)), STOP_KEYS[0])
        if menu.dial_extensions and not dialect.legacy:  # the runtime server decides every entry
            gather = dialect.gather(parent, menu.digits, stop, menu.timeout_ms, 1,
                                    self.callback_url_for(menu.name, "entry", copy, menu.name_span))
            for play in menu.plays:
                self.prompt(gather, play.prompt)
            self.event(dialect.error(gather), menu, "timeout", copy, path)
            return
        gather = dialect.gather(parent, menu.digits, stop, menu.timeout_ms, menu.retries + 1 if native else 1)
        for play in menu.plays:
            self.prompt(gather, play.prompt)
        for press in menu.presses:
            self.actions(dialect.branch(gather, press.key), press.actions, menu, copy, path, f"press {press.key}")
        self.event(dialect.default(gather), menu, "invalid", copy, path)
        if native:
            self.event(dialect.error(gather), menu, "exhausted", copy, path)
        else:
            self.event(dialect.error(gather), menu, "timeout", copy, path)

    def check_menu(self, menu: ir.Menu) -> None:
        if menu.dial_extensions and self.dialect.legacy:
            self.once(menu.name_span, "IVR205", f"menu `{menu.name}` dials the extension the caller keys in: the "
                                                "runtime server must hear each entry, and the legacy dialect's "
                                                "Gather sends no keys to a URL (its `callback` reports only "
                                                "`code`, `success` and `attempts`), nor can a <Case> list every "
                                                "extension",
                      hint='use `dialect = "current"`, or drop `dial-extensions`')
        elif menu.dial_extensions:
            self.once(menu.name_span, "IVR202", f"the runtime server decides the entries of menu `{menu.name}` (a "
                                                "<Gather url>): callers may dial an extension")
        if any(k in p.key for p in menu.presses for k in STOP_KEYS) and all(
                any(k in p.key for p in menu.presses) for k in STOP_KEYS):
            self.once(menu.name_span, "IVR205", f"menu `{menu.name}` uses both * and #: Opentact ends an entry "
                                                "with one of them, so one key cannot be a choice")
        for play in menu.plays:
            if play.fully:
                self.warn(play.span, "Opentact takes keys during a Gather's prompts: `fully` is not kept")
        self.check_wait(menu)

    def check_wait(self, node: ir.Menu | ir.Collect) -> None:
        """The settings of a menu or collect that the Gather does not keep (IVR206)."""
        timeout = node.get("timeout")
        if not self.dialect.legacy and timeout is not None and node.timeout_ms != CURRENT_TIMEOUT_MS:
            self.warn(timeout.span, f"the current dialect documents no Gather timeout: the platform's own "
                                    f"(assumed {CURRENT_TIMEOUT_MS // 1000} s) applies, not {node.timeout_ms} ms")
        inter = node.get("inter-digit")
        if inter is not None:
            self.warn(inter.span, "Opentact's Gather documents no pause between keys: `inter-digit` is not kept")

    def route(self, parent: ET.Element, route: ir.Route, span: ir.Span) -> None:
        self.once(route.name_span, "IVR202", f"route `{route.name}` is decided by the runtime server while the "
                                             "call runs (a <Callback>), which answers with the branch's XML")
        self.callback(parent, route.name, "route", 0, span)

    def callback(self, parent: ET.Element, node: str, kind: str, copy: int, span: ir.Span, event: str = "") -> None:
        self.count()
        self.dialect.callback(parent, self.callback_url_for(node, kind, copy, span, event))

    def callback_url_for(self, node: str, kind: str, copy: int, span: ir.Span, event: str = "") -> str:
        query = {"flow": self.flow.name, "node": node, "kind": kind}
        if copy:
            query["copy"] = str(copy)
        if event:
            query["event"] = event
        return self.callback_url("/opentact/xml", query, span)

    def event(self, parent: ET.Element, menu: ir.Menu, event: ir.MenuEvent, copy: int,
              path: frozenset[tuple[str, int]]) -> None:
        handler = menu.on(event)
        if handler is not None:
            self.actions(parent, handler.actions, menu, copy, path, event)
        elif event == "exhausted":
            self.dialect.hangup(parent)
        else:  # a missing `on timeout` / `on invalid` repeats the menu
            self.repeat(parent, menu, copy, path, menu.name_span)

    def repeat(self, parent: ET.Element, menu: ir.Menu, copy: int, path: frozenset[tuple[str, int]],
               span: ir.Span) -> None:
        if copy < menu.retries:
            self.menu(parent, menu, copy + 1, path, span)
        else:
            self.event(parent, menu, "exhausted", copy, path)

    def actions(self, parent: ET.Element, actions: ir.Actions, menu: ir.Menu | None, copy: int,
                path: frozenset[tuple[str, int]], event: str = "") -> None:
        for step in actions.steps:
            if isinstance(step, ir.PlayThen):
                self.prompt(parent, step.prompt)
        terminal = actions.terminal
        if isinstance(terminal, ir.Goto):
            node = self.flow.node(terminal.target)
            if isinstance(node, ir.Menu) and self.elements > INLINE_BUDGET and (node.name, 0) not in path:
                self.once(terminal.span, "IVR202", f"the call-flow XML is large: `goto {node.name}` here is fetched "
                                                   "from the runtime server (a <Callback>) instead of nesting it "
                                                   "again")
                self.callback(parent, node.name, "menu", 0, terminal.span)
            elif isinstance(node, ir.Menu):
                self.menu(parent, node, 0, path, terminal.span)
            elif isinstance(node, ir.Route):
                self.route(parent, node, terminal.span)
            else:
                self.dialect.hangup(parent)
        elif isinstance(terminal, ir.Repeat):
            if event == "exhausted" or menu is None:
                self.dialect.hangup(parent)  # the checks refuse it; nothing to unroll
            elif self.dialect.legacy and event == "timeout" and counts_silence_natively(menu):
                self.dialect.hangup(parent)  # not reached: the Gather's attempts repeat it
            else:
                self.repeat(parent, menu, copy, path, terminal.span)
        elif isinstance(terminal, ir.Transfer):
            self.count()
            self.dialect.dial(parent, terminal.destination)
        elif isinstance(terminal, ir.Voicemail):
            self.count()
            self.dialect.dial(parent, self.voicemail(terminal))
        elif isinstance(terminal, ir.Ask) and menu is not None and event:
            self.once(terminal.span, "IVR202", f"`ask` in menu `{menu.name}` goes through the runtime server (a "
                                               "<Callback>), which asks the routing service and answers with XML")
            self.callback(parent, menu.name, "ask", copy, terminal.span, event)
        elif isinstance(terminal, ir.Ask):
            self.dynamic(terminal.span, "`ask` here asks a routing service while the call runs")
            self.dialect.hangup(parent)
        else:
            self.count()
            self.dialect.hangup(parent)

    def voicemail(self, voicemail: ir.Voicemail) -> str:
        box = voicemail.box or "default"
        boxes = self.env.get("voicemail") or {}
        if isinstance(boxes, Mapping) and box in boxes:
            return str(boxes[box])
        if not self.env.get("has_env"):
            return self.placeholder(f"voicemail.{box}")
        self.once(voicemail.span, "IVR203", f"voicemail box `{box}` has no number in this environment: Opentact "
                                            "has no voicemail of its own, so the call is transferred to one",
                  hint=f'add `voicemail = {{ {box} = "+1…" }}` to the environment in ivrflow.toml')
        return f"<voicemail.{box}>"

    def prompt(self, parent: ET.Element, name: str) -> None:
        prompt = self.flow.prompt(name)
        if prompt is None:
            return
        self.count()
        if prompt.kind == "say":
            self.dialect.say(parent, prompt.value, prompt.language or self.flow.language)
            return
        base = self.env.get("prompts_url")
        if base is None and self.env.get("has_env"):
            self.once(prompt.value_span, "IVR207", f"prompt `{prompt.name}` is a recording, and Opentact plays "
                                                   "recordings from a URL: this environment has no `prompts_url`",
                      hint='add `prompts_url = "https://…"` where the files of the flow\'s folder are served')
        prefix = str(base).rstrip("/") if base else self.placeholder("prompts_url")
        self.dialect.play(parent, f"{prefix}/{prompt.value.lstrip('/')}")


def counts_silence_natively(menu: ir.Menu) -> bool:
    """Whether the legacy Gather's `attempts` can count the menu's retries:
    only silences repeat it (`on timeout -> repeat`, nothing played first),
    and no other handler does, so one counter is the machine's one counter."""
    timeout = menu.on("timeout")
    if timeout is not None and not (isinstance(timeout.actions.terminal, ir.Repeat) and not timeout.actions.plays):
        return False
    invalid = menu.on("invalid")
    if invalid is None or isinstance(invalid.actions.terminal, ir.Repeat):
        return False
    return not any(isinstance(p.actions.terminal, ir.Repeat) for p in menu.presses)
