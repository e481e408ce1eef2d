"""A flow as Telphin voice-menu objects: the desired state, before any id.

    menu      → a context per retry (Telphin has no counter: `repeat` jumps to
                the next copy, the last copy to the menu's `exhausted` context)
    play      → `play_sound` rules on the `start` option (fully → foreground)
    press KEY → an option with rules; `on timeout`/`on invalid` → the
                built-in `timeout`/`invalid` options
    goto      → `jump_to_context`; transfer → `transfer`; hangup → nothing
                (every option hangs up by default) or `hangup` after prompts
    voicemail → a transfer to the environment's `voicemail.BOX` extension
    route, ask→ `call_interactive` to the runtime server, which answers with
                a `<Jump>` to a context (a route's branches have one each)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import ir
from ...compiler.diagnostics import RULES, Diagnostic
from ...compiler.graph import menu_repeats
from ..common import TargetCompiler

MARKER = "ivrflow"  # every context we manage says so in its description


def marker(flow: str, key: str) -> str:
    return f"{MARKER}:{flow}:{key}"


def describe(flow: str, key: str, manifest: Mapping[str, int]) -> str:
    """A context's description: the marker, then the rules ivrflow made in each
    of its options (`start:1,timeout:1,invalid:0,1:2`), so options and rules
    someone else adds are told apart and left alone."""
    made = ",".join(f"{digits}:{count}" for digits, count in manifest.items())
    return f"{marker(flow, 'context:' + key)} made={made}"


def parse_manifest(text: str) -> tuple[str, dict[str, int] | None]:
    """The context key and what ivrflow made in it (None: not recorded)."""
    key, _, made = text.partition(" made=")
    if not _:
        return text, None
    manifest: dict[str, int] = {}
    for item in filter(None, made.split(",")):
        digits, _, count = item.rpartition(":")
        if digits and count.isdigit():
            manifest[digits] = int(count)
    return key, manifest


@dataclass
class Rule:
    action: str
    params: dict[str, Any]
    source: ir.Span | None = None

    def body(self) -> dict[str, Any]:
        return {"action": self.action, **self.params}


@dataclass
class Context:
    key: str  # "main", "main#1" (a retry copy), "main/exhausted", "entry" (a route), "entry/0" (its branch)
    name: str
    source: ir.Span
    digit_len: int = 1
    inter_digit_timeout: int = 2000
    timeout: int = 5000
    allow_any_dial: bool = False
    options: dict[str, list[Rule]] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "digit_len": self.digit_len, "inter_digit_timeout": self.inter_digit_timeout,
                "timeout": self.timeout, "allow_any_dial": self.allow_any_dial}


@dataclass
class Sound:
    name: str  # the prompt
    path: str | None  # the recording, relative to the flow (None: synthesized from `text`)
    title: str  # names it on the platform: the marker, the prompt and a digest of its source
    source: ir.Span
    text: str | None = None
    language: str | None = None


@dataclass
class Desired:
    flow: str
    label: str
    extension: str
    sounds: list[Sound]
    contexts: list[Context]
    entry: str  # the context key calls enter
    ivr: dict[str, Any]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    #: Set by a plan: why the extension answers with someone else's voice menu.
    held_by: str | None = None


#: Built-in options every context has; they cannot be created or deleted.
BUILT_IN = ("start", "timeout", "invalid")


def compile_flow(flow: ir.Flow, env: Mapping[str, Any], *, sources: Mapping[str, bytes] | None = None,
                 tts: bool = False) -> Desired:
    """The desired Telphin state of `flow`. `env` holds the environment's
    values (extension, runtime_url, voicemail, callback_token); `sources`
    the bytes of each prompt file (for its digest); `tts` allows `say`."""
    return _Compiler(flow, env, sources or {}, tts).run()


class _Compiler(TargetCompiler):
    def __init__(self, flow: ir.Flow, env: Mapping[str, Any], sources: Mapping[str, bytes], tts: bool):
        super().__init__(flow, env, sources, tts)
        self.contexts: list[Context] = []
        self.copies: dict[str, int] = {}  # menu → how many contexts it became

    def run(self) -> Desired:
        flow = self.flow
        extension = str(self.env.get("extension") or self.placeholder("extension"))
        sounds = [self.sound(prompt) for prompt in flow.prompts if flow.names.get(prompt.name) is prompt]
        for menu in flow.menus:
            if flow.names.get(menu.name) is menu:
                self.copies[menu.name] = copies(menu)
        for item in flow.definitions:
            if flow.names.get(item.name) is not item:
                continue
            if isinstance(item, ir.Menu):
                self.menu(item)
            elif isinstance(item, ir.Route):
                self.route(item)
        header = flow.header
        ivr: dict[str, Any] = {"sleep_time": 0, "lifetime": 0, "lifetime_exp_action": "hangup"}
        if header is not None:
            delay = header.get("answer-delay")
            if delay is not None and isinstance(delay.value, int):
                ivr["sleep_time"] = delay.value
            if header.max_duration is not None and isinstance(header.max_duration.value, int):
                ivr["lifetime"] = header.max_duration.value // 1000
                ivr.update(self.lifetime_action(header))
        label = header.label if header and header.label else flow.name
        unique = list(dict.fromkeys(self.diagnostics))  # a menu's copies repeat their handlers' findings
        return Desired(flow.name, label, extension, sounds, self.contexts, flow.start or "", ivr,
                       unique, self.placeholders)

    # --- objects -------------------------------------------------------------------

    def sound(self, prompt: ir.Prompt) -> Sound:
        if prompt.kind == "file":
            data = self.sources.get(prompt.value, prompt.value.encode())
            digest = hashlib.sha256(data).hexdigest()[:12]
            return Sound(prompt.name, prompt.value, f"{marker(self.flow.name, prompt.name)}:{digest}", prompt.span)
        if not self.tts:
            self.diagnostics.append(RULES["IVR204"].at(
                prompt.value_span, f"prompt `{prompt.name}` is text to speech; Telphin plays uploaded recordings",
                hint="record it (`file \"…\"`), or let ivrflow synthesize it: `tts = \"espeak\"` in the "
                     "environment, or `--tts espeak`"))
        language = prompt.language or self.flow.language or "en-US"
        digest = hashlib.sha256(f"{language}\n{prompt.value}".encode()).hexdigest()[:12]
        return Sound(prompt.name, None, f"{marker(self.flow.name, prompt.name)}:tts-{digest}", prompt.span,
                     text=prompt.value, language=language)

    def menu(self, menu: ir.Menu) -> None:
        copies = self.copies[menu.name]
        if copies > 1:
            self.diagnostics.append(RULES["IVR201"].at(
                menu.name_span, f"menu `{menu.name}` becomes {copies} contexts and an `exhausted` one: Telphin has "
                                "no retry counter, so each repeat jumps to the next copy"))
        for copy in range(copies):
            key = menu.name if copy == 0 else f"{menu.name}#{copy}"
            name = menu.label or menu.name
            context = Context(key, name if copy == 0 else f"{name} (retry {copy})", menu.name_span,
                              digit_len=menu.digits, inter_digit_timeout=menu.inter_digit_ms,
                              timeout=menu.timeout_ms, allow_any_dial=menu.dial_extensions)
            context.options["start"] = [
                Rule("play_sound", {"sound": {"$ref": f"sound:{play.prompt}"},
                                    "sound_type": "foreground" if play.fully else "background"}, play.span)
                for play in menu.plays]
            for press in menu.presses:
                context.options.setdefault(press.key, self.actions(press.actions, menu, copy, f"press {press.key}"))
            for event in ("timeout", "invalid"):
                handler = menu.on(event)
                if handler is not None:
                    context.options[event] = self.actions(handler.actions, menu, copy, event)
                else:
                    context.options[event] = [self.repeat(menu, copy, menu.name_span)]
            self.contexts.append(context)
        if menu_repeats(menu):  # with `retries 0` too: the first repeat is one too many
            exhausted = Context(f"{menu.name}/exhausted", f"{menu.label or menu.name} (exhausted)", menu.name_span)
            handler = menu.on("exhausted")
            exhausted.options["start"] = self.actions(handler.actions, menu, copies - 1, "exhausted", start=True) \
                if handler is not None else [Rule("hangup", {}, menu.name_span)]
            self.contexts.append(exhausted)

    def route(self, route: ir.Route) -> None:
        self.diagnostics.append(RULES["IVR202"].at(
            route.name_span, f"route `{route.name}` is decided by the runtime server (call_interactive), "
                             "which jumps to a context per branch"))
        context = Context(route.name, f"route {route.label or route.name}", route.name_span)
        context.options["start"] = [self.interactive(route.name, "route", 0, route.name_span)]
        self.contexts.append(context)
        for index, branch in enumerate(route.branches):
            label = ir.branch_event(branch)
            branch_context = Context(f"{route.name}/{index}", f"route {route.name}: {label}", branch.span)
            branch_context.options["start"] = self.actions(branch.actions, None, 0, label, start=True)
            self.contexts.append(branch_context)

    # --- rules -----------------------------------------------------------------------

    def actions(self, actions: ir.Actions, menu: ir.Menu | None, copy: int, event: str, *,
                start: bool = False) -> list[Rule]:
        """Rules for a handler. On a key or event option, a lone hangup needs no
        rule (options hang up by default); on a context's `start` (a route's
        branch, a menu's exhausted context) it does, or the context would wait
        for keys."""
        rules = [Rule("play_sound", {"sound": {"$ref": f"sound:{a.prompt}"}, "sound_type": "foreground"}, a.span)
                 for a in actions.items if isinstance(a, ir.PlayThen)]
        terminal = actions.terminal
        if isinstance(terminal, ir.Goto):
            rules.append(Rule("jump_to_context", {"context": {"$ref": f"context:{terminal.target}"},
                                                  "context_option": "start"}, terminal.span))
        elif isinstance(terminal, ir.Transfer):
            rules.append(Rule("transfer", {"transfer_dst": terminal.destination}, terminal.span))
        elif isinstance(terminal, ir.Voicemail):
            rules.append(Rule("transfer", {"transfer_dst": self.voicemail(terminal)}, terminal.span))
        elif isinstance(terminal, ir.Repeat) and menu is not None:
            rules.append(self.repeat(menu, copy, terminal.span))
        elif isinstance(terminal, ir.Ask) and menu is not None:
            self.diagnostics.append(RULES["IVR202"].at(
                terminal.span, f"`ask` in menu `{menu.name}` goes through the runtime server (call_interactive)"))
            rules.append(self.interactive(menu.name, "ask", copy, terminal.span, event))
        elif isinstance(terminal, ir.Hangup) and (rules or start):
            rules.append(Rule("hangup", {}, terminal.span))
        return rules

    def repeat(self, menu: ir.Menu, copy: int, span: ir.Span) -> Rule:
        copies = self.copies[menu.name]
        target = f"{menu.name}#{copy + 1}" if copy + 1 < copies else f"{menu.name}/exhausted"
        return Rule("jump_to_context", {"context": {"$ref": f"context:{target}"}, "context_option": "start"}, span)

    def voicemail(self, voicemail: ir.Voicemail) -> str:
        box = voicemail.box or "default"
        boxes = self.env.get("voicemail") or {}
        if isinstance(boxes, Mapping) and box in boxes:
            return str(boxes[box])
        if self.env.get("extension") is None:  # compiling without an environment
            return self.placeholder(f"voicemail.{box}")
        self.diagnostics.append(RULES["IVR203"].at(
            voicemail.span, f"voicemail box `{box}` has no extension in this environment",
            hint=f'add `voicemail.{box} = "EXTENSION"` to the environment in ivrflow.toml'))
        return "<voicemail." + box + ">"

    def interactive(self, node: str, kind: str, copy: int, span: ir.Span, event: str = "") -> Rule:
        query = {"flow": self.flow.name, "node": node, "kind": kind, "copy": str(copy)}
        if event:
            query["event"] = event
        url = self.callback_url("/telphin/interactive", query, span)
        return Rule("call_interactive", {"call_interactive_url": url, "call_interactive_method": "POST"}, span)

    def lifetime_action(self, header: ir.Header) -> dict[str, Any]:
        actions = header.max_duration_actions
        terminal = actions.terminal if actions is not None else None
        if isinstance(terminal, ir.Hangup) and actions is not None and not actions.plays:
            return {"lifetime_exp_action": "hangup"}
        if isinstance(terminal, ir.Transfer) and actions is not None and not actions.plays:
            return {"lifetime_exp_action": "transfer", "lifetime_exp_transfer_dst": terminal.destination}
        if isinstance(terminal, ir.Voicemail) and actions is not None and not actions.plays:
            return {"lifetime_exp_action": "transfer", "lifetime_exp_transfer_dst": self.voicemail(terminal)}
        span = actions.span if actions is not None else header.span
        self.diagnostics.append(RULES["IVR205"].at(
            span, "Telphin can only hang up or transfer when `max-duration` runs out",
            hint="use `max-duration D -> hangup` or `-> transfer \"DEST\"`"))
        return {"lifetime_exp_action": "hangup"}


def copies(menu: ir.Menu) -> int:
    """How many contexts a menu becomes: one per retry when it repeats."""
    return menu.retries + 1 if menu_repeats(menu) else 1

