"""A flow as a Comm100 voicebot: the desired state, before any id.

    flow       → one voicebot (named after the flow, marked in its description),
                 its channel configuration (SIP or Twilio) and channel instance,
                 one response for the flow's start and the smart trigger
                 `callStarts` that points at it; a `Start` action heads it
    menu       → `PlayAudio` for its recordings, then an `IVRMenu` whose message
                 is its `say` prompts, with one option per key
    on invalid → the IVRMenu's invalidInputMessage / invalidInputRepeatTime /
                 actionIdWhenInvalidInput (`on exhausted` after the repeats)
    on timeout → bot-wide: the voicebot repeats the last message every
                 `timeout` and hangs up after `timeout × (retries + 1)`, from
                 the start menu; what differs is reported (IVR206)
    play       → PlayText / PlayAudio; goto → nextActionId; transfer →
                 TransferCall (the environment's `transfer_to` template);
                 hangup → EndCall; voicemail → TransferCall to the box's number
    collect    → CollectDTMFDigits into a scratch variable, a Condition on the
                 entry's length, SetVariableValue into the flow's variable;
                 a copy per retry (`on invalid -> repeat` goes to the next)
    lookup     → Webhook: the sent variables in its body, the answer's
                 `variables` into the received ones, 200 → `on done`, any
                 other answer → `on error`
    route      → a Condition action per `when` (one case), `otherwise` its
                 other case; `not` and nested conditions a small tree
    set NAME   → SetVariableValue; `{name}` in a text, a number or a value →
                 Comm100's variable syntax (`{key}` in a key's handler: the key)
    transfer … else → TransferCall's actionIdWhenTransferFailed
    ask, hours, `called`, `is set`, languages → refused (IVR205, conditions.py
                 and target.py say why)

Every Comm100 field name is in schema.py.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import graph as flow_graph
from ...compiler import ir, machine
from ...compiler.diagnostics import RULES, Diagnostic
from ...compiler.values import TEMPLATE
from . import canvas, conditions, schema

#: The key of the action that heads the start response.
START = "start"


def marker(flow: str) -> str:
    """What a voicebot ivrflow made says in its description."""
    return f"{schema.MARKER}:{flow}"


@dataclass
class Action:
    """One voicebot action. `links` name other actions by key (None: no
    link); `options` are an IVRMenu's keys with the key of the action each
    goes to."""

    key: str
    type: str
    fields: dict[str, Any]
    links: dict[str, str | None]
    source: ir.Span | None
    x: int
    y: int
    options: list[tuple[int, str]] = field(default_factory=list)  # (key, action key)
    menu: str | None = None  # the menu an IVRMenu asks for
    #: A Condition's cases or a Webhook's responseCodeToActions: (item, action key).
    items: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def targets(self) -> list[str]:
        return ([k for k in self.links.values() if k is not None] + [k for _, k in self.options]
                + [k for _, k in self.items])

    def live_links(self, sub: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(action key, live id) for each link a live sub-object of this
        action sets: by field, an option by its key, a list item by its place."""
        found = [(target, str(sub[slot])) for slot, target in self.links.items()
                 if target is not None and sub.get(slot) is not None]
        options = {o.get("key"): o.get(schema.OPTION_LINK) for o in sub.get(schema.OPTIONS_FIELD) or []
                   if isinstance(o, dict)}
        found += [(target, str(options[key])) for key, target in self.options if options.get(key) is not None]
        if self.type in schema.LIST_LINKS:
            name, link = schema.LIST_LINKS[self.type]
            live = [item for item in sub.get(name) or [] if isinstance(item, dict)]
            found += [(target, str(item[link])) for (_, target), item in zip(self.items, live, strict=False)
                      if item.get(link) is not None]
        return found

    def body(self, ids: Mapping[str, Any], *, linked: bool = True) -> dict[str, Any]:
        """The action as the API takes it; links as `ids` give them (a
        `{"$ref"}` for an action the plan creates), None when not `linked`."""
        sub: dict[str, Any] = dict(self.fields)
        for name, target in self.links.items():
            sub[name] = ids.get(target) if linked and target is not None else None
        if self.type == "IVRMenu":
            sub[schema.OPTIONS_FIELD] = [
                {"key": key, "text": str(key), "order": order,
                 schema.OPTION_LINK: ids.get(target) if linked else None}
                for order, (key, target) in enumerate(self.options)]
        if self.type in schema.LIST_LINKS:
            name, link = schema.LIST_LINKS[self.type]
            sub[name] = [{**item, link: ids.get(target) if linked else None} for item, target in self.items]
        return {"type": self.type, "xPosition": self.x, "yPosition": self.y, schema.sub_object(self.type): sub}


@dataclass
@dataclass(frozen=True, slots=True)
class Handler:
    """Where a handler's actions go: its node, the prefix of their keys,
    where `repeat` goes (None: the node's own entry) and what `{key}` is."""

    owner: str
    base: str
    again: str | None = None
    key: str | None = None


#: Why `ask` is refused.
ASK_REFUSED = ("`ask` cannot be deployed to comm100: its service answers with the next action itself, and "
               "`ivrflow serve` answers the asks of Telphin, PortSIP and mediaservice in their own protocols, none "
               "in the shape of a Comm100 Webhook (variables from a JSON answer, the next action by HTTP status)")


@dataclass
class Desired:
    flow: str
    channel: str  # sip | twilio
    channel_fields: dict[str, Any]
    bot: dict[str, Any]
    response: dict[str, Any]
    actions: list[Action]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    #: Menus where a silent caller ends otherwise than the flow says (IVR206).
    approximated: set[str] = field(default_factory=set)
    transfer_to: str = "{ext}"
    voicemail: dict[str, str] = field(default_factory=dict)
    #: Set by a plan: why the voicebot's name is someone else's.
    held_by: str | None = None

    def action(self, key: str) -> Action:
        return next(a for a in self.actions if a.key == key)


def compile_flow(flow: ir.Flow, env: Mapping[str, Any], *, layout: bool = True) -> Desired:
    """The desired voicebot of `flow`; `env` holds the checked settings
    (settings.Settings as a dict), or nothing when compiling without one;
    without `layout` every action stays at (0, 0)."""
    return _Compiler(flow, env).run(layout)


def language_of(language: str | None) -> str | None:
    """Comm100's languageId for a flow language (en-US → en), None when it has none."""
    if not language:
        return "en"
    if language in schema.LANGUAGES:
        return language
    if language.split("-")[0].lower() == "en":
        return "en"
    return None


class _Compiler:
    def __init__(self, flow: ir.Flow, env: Mapping[str, Any]):
        self.flow = flow
        self.env = env
        self.diagnostics: list[Diagnostic] = []
        self.placeholders: list[str] = []
        self.actions: dict[str, Action] = {}
        self.columns: dict[str, int] = {}
        self.rows: dict[int, int] = {}  # actions in each block (0: the Start action, then one per menu)
        self.blocks: dict[str, tuple[int, int]] = {}  # action → (block, row in it)
        self.entries: dict[str, str] = {}  # menu → the key of its first action
        self.approximated: set[str] = set()
        self.unpublished: set[str] = set()  # recordings reported without audio_base_url

    # --- helpers ---------------------------------------------------------------------

    def placeholder(self, name: str) -> str:
        if name not in self.placeholders:
            self.placeholders.append(name)
            self.placeholders.sort()
        return "<" + name + ">"

    def report(self, code: str, span: ir.Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(RULES[code].at(span, message, hint))

    def add(self, key: str, kind: str, column: int, fields: dict[str, Any], links: dict[str, str | None],
            source: ir.Span | None, **extra: Any) -> Action:
        row = self.rows.get(column, 0)
        self.rows[column] = row + 1
        action = Action(key, kind, fields, links, source, 0, 0, **extra)
        self.actions[key] = action
        self.blocks[key] = (column, row)
        return action

    def lay_out(self) -> None:
        """Canvas positions from the diagram's Graphviz layout (canvas.py);
        without Graphviz, columns by distance in gotos from the start."""
        positions = canvas.node_positions(self.flow)
        if positions is None:
            self.lay_out_columns()
            return
        owners = [(key, flow_graph.CALL if key == START else canvas.owner_node(key, positions))
                  for key in self.actions]
        for key, (x, y) in canvas.place(owners, positions).items():
            self.actions[key].x, self.actions[key].y = x, y

    def lay_out_columns(self) -> None:
        """Canvas positions read left to right like the diagram: the Start
        action, then each menu's actions stacked in a block, a block's column
        its distance in gotos from the start (unreached menus last), blocks
        of one column one under the other in the flow's order."""
        block_of = {key: block for key, (block, _) in self.blocks.items()}
        following: dict[int, set[int]] = {}
        for action in self.actions.values():
            for target in action.targets():
                if target in block_of and block_of[target] != block_of[action.key]:
                    following.setdefault(block_of[action.key], set()).add(block_of[target])
        rank = {0: 0}
        queue = [0]
        while queue:
            block = queue.pop(0)
            for nxt in sorted(following.get(block, ())):
                if nxt not in rank:
                    rank[nxt] = rank[block] + 1
                    queue.append(nxt)
        last = max(rank.values(), default=0) + 1
        offsets: dict[int, int] = {}
        tops: dict[int, int] = {}
        for block in sorted(self.rows):
            column = rank.get(block, last)
            tops[block] = offsets.get(column, 0)
            offsets[column] = tops[block] + self.rows[block] + 1
        for key, (block, row) in self.blocks.items():
            action = self.actions[key]
            action.x = rank.get(block, last) * schema.COLUMN_WIDTH
            action.y = (tops[block] + row) * schema.ROW_HEIGHT

    def text(self, name: str) -> str | None:
        prompt = self.flow.prompt(name)
        return prompt.value if prompt is not None and prompt.kind == "say" else None

    # --- the flow ----------------------------------------------------------------------

    def run(self, layout: bool = True) -> Desired:
        flow = self.flow
        menus = [m for m in flow.menus if flow.names.get(m.name) is m]
        every: tuple[ir.Menu | ir.Collect | ir.Lookup | ir.Route, ...] = (
            *menus, *flow.collects, *flow.lookups, *flow.routes)
        nodes = [node for node in every if flow.names.get(node.name) is node]
        for column, node in enumerate(nodes, start=1):
            self.columns[node.name] = column
            self.entries[node.name] = self.entry_key(node)
        start = flow.start
        self.add(START, "Start", 0, {}, {"nextActionId": self.entries.get(start or "")}, flow.header.span
                 if flow.header else None)
        for node in nodes:
            if isinstance(node, ir.Menu):
                self.menu(node)
            elif isinstance(node, ir.Collect):
                self.collect(node)
            elif isinstance(node, ir.Lookup):
                self.lookup(node)
            else:
                self.route(node)
        self.header()
        if layout:
            self.lay_out()
        first = flow.node(start or "")
        bot = self.bot(first if isinstance(first, ir.Menu) else (menus[0] if menus else None))
        channel = str(self.env.get("channel") or "sip")
        fields = dict(self.env.get("channel_fields") or {})
        if not fields:
            fields = {"sIPServer": self.placeholder("sip_server"), "username": self.placeholder("sip_username"),
                      "password": {"$secret": "sip_password"}, "isAuthUsernameRequired": False, "authUsername": "",
                      "isOutboundProxyRequired": False, "outboundProxy": ""}
        response = {"name": f"{flow.name}: start"}
        unique = list(dict.fromkeys(self.diagnostics))
        return Desired(flow.name, channel, fields, bot, response, list(self.actions.values()), unique,
                       self.placeholders, self.approximated, str(self.env.get("transfer_to") or "{ext}"),
                       dict(self.env.get("voicemail") or {}))

    def header(self) -> None:
        header = self.flow.header
        if header is None:
            return
        delay = header.get("answer-delay")
        if delay is not None:
            self.report("IVR206", delay.span, "Comm100 answers at once: `answer-delay` is left out")
        if header.max_duration is not None:
            self.report("IVR206", header.max_duration.span,
                        "Comm100 has no limit on a call's time in the voicebot: `max-duration` is left out")

    def bot(self, first: ir.Menu | None) -> dict[str, Any]:
        """The voicebot's fields; the no-input timers come from the first menu."""
        flow = self.flow
        language = self.env.get("language")
        if language is None:
            language = language_of(flow.language)
            if language is None:
                setting = flow.header.get("language") if flow.header else None
                span = setting.span if setting is not None else (flow.header.span if flow.header else
                                                                 ir.Span(flow.file, 1, 1, 1, 2))
                self.report("IVR205", span, f"Comm100 voicebots speak {', '.join(schema.LANGUAGES)}, not "
                                            f"{flow.language}", hint='or set `language = "en"` in the environment')
                language = "en"
        interval, hang_up, message = 20, 90, ""
        if first is not None:
            interval, hang_up = _timers(first)
            message = self.hang_up_message(first)
        for prompt in flow.prompts:
            if prompt.kind == "say" and prompt.language and language_of(prompt.language) != language \
                    and flow.names.get(prompt.name) is prompt:
                self.report("IVR206", prompt.value_span,
                            f"a Comm100 voicebot speaks one language ({language}): prompt `{prompt.name}` "
                            f"({prompt.language}) is read in it")
        bot: dict[str, Any] = {
            "name": flow.name, "description": marker(flow.name), "languageId": language,
            schema.REPEAT_INTERVAL_FIELD: interval, schema.HANG_UP_FIELD: hang_up,
            schema.HANG_UP_MESSAGE_FIELD: message,
        }
        if self.env.get("voice"):
            bot["voiceNameId"] = self.env["voice"]
        if self.env.get("engine"):
            bot["engineId"] = self.env["engine"]
        waiting: tuple[ir.Menu | ir.Collect, ...] = (*self.flow.menus, *self.flow.collects)
        for waits in waiting:
            if self.flow.names.get(waits.name) is waits:
                self.silence(waits, first, interval, hang_up, message)
        if first is not None and menu_repeats_on_invalid(first):
            self.report("IVR206", first.name_span,
                        "Comm100 counts silences (for the whole voicebot) and wrong keys (per menu) apart, where "
                        "the flow counts them together: a caller who mixes them gets more tries on Comm100")
        return bot

    def hang_up_message(self, menu: ir.Menu | ir.Collect) -> str:
        handler = menu.on("exhausted")
        if handler is None or not isinstance(handler.actions.terminal, ir.Hangup):
            return ""
        texts = [self.text(p) for p in handler.actions.plays]
        return " ".join(t for t in texts if t)

    def silence(self, menu: ir.Menu | ir.Collect, first: ir.Menu | None, interval: int, hang_up: int,
                message: str) -> None:
        """IVR206 where a silent caller in `menu` ends otherwise than the flow says."""
        own = _timers(menu)
        timeout = menu.on("timeout")
        exhausted = menu.on("exhausted")
        if timeout is not None and not isinstance(timeout.actions.terminal, ir.Repeat):
            self.approximated.add(menu.name)
            self.report("IVR206", timeout.span,
                        f"Comm100 handles silence for the whole voicebot: it repeats the last message every "
                        f"{interval} s and hangs up after {hang_up} s; `on timeout -> "
                        f"{ir.written(timeout.actions.terminal) if timeout.actions.terminal else ''}` does not run")
            return
        if timeout is not None and timeout.actions.plays:
            self.report("IVR206", timeout.span, "Comm100 repeats the menu on silence without the prompts of "
                                                "`on timeout`")
        if own != (interval, hang_up) or menu.timeout_ms % 1000:
            self.approximated.add(menu.name)
            retries = f"{menu.retries} {'retry' if menu.retries == 1 else 'retries'}"
            self.report("IVR206", menu.name_span,
                        f"{'menu' if isinstance(menu, ir.Menu) else 'collect'} `{menu.name}` waits "
                        f"{menu.timeout_ms / 1000:g} s with {retries}, but "
                        f"Comm100's no-input timers are one for the whole voicebot (repeat every {interval} s, hang "
                        f"up after {hang_up} s, from `{first.name if first else menu.name}`)")
        elif exhausted is not None and (not isinstance(exhausted.actions.terminal, ir.Hangup)
                                        or self.hang_up_message(menu) != message):
            self.approximated.add(menu.name)
            self.report("IVR206", exhausted.span,
                        f"a silent caller is hung up after {hang_up} s on Comm100; `on exhausted` runs only after "
                        "wrong keys")

    # --- menus -----------------------------------------------------------------------

    def entry_key(self, node: ir.Menu | ir.Collect | ir.Lookup | ir.Route) -> str:
        """The key of a node's first action (a `goto` goes there)."""
        if isinstance(node, ir.Route):
            return f"{node.name}/if 1" if isinstance(node.branches[0], ir.When) else f"{node.name}/otherwise"
        if isinstance(node, ir.Lookup):
            return node.name
        prefix = node.name
        files = [p for p in node.plays if self.text(p.prompt) is None]
        if files:
            return f"{prefix}/play/0"
        return prefix if isinstance(node, ir.Menu) else f"{prefix}/collect"

    def menu(self, menu: ir.Menu) -> None:
        column = self.columns[menu.name]
        audio = [p for p in menu.plays if self.text(p.prompt) is None]
        for index, play in enumerate(audio):
            following = f"{menu.name}/play/{index + 1}" if index + 1 < len(audio) else menu.name
            self.add(f"{menu.name}/play/{index}", "PlayAudio", column, {"audioPath": self.audio(play.prompt)},
                     {"nextActionId": following}, play.span)
        if audio and menu_repeats_on_invalid(menu):
            self.report("IVR206", audio[0].span,
                        f"recordings play once before menu `{menu.name}`: when Comm100 repeats the menu it says "
                        "only the menu's text")
        for play in menu.plays:
            if play.fully:
                self.report("IVR206", play.span, "Comm100 has no setting for playing a prompt to the end: "
                                                 "`fully` is left out")
        texts = [self.words(text, span) for text, span in self.play_texts(menu)]
        if menu.end_key is not None:
            setting = menu.get("end-key")
            self.report("IVR205", setting.span if setting else menu.name_span,
                        f"`end-key` in menu `{menu.name}` cannot be deployed to comm100: an IVRMenu takes one key per "
                        "option and has no end key")
        if menu.dial_extensions:
            setting = menu.get("dial-extensions")
            self.report("IVR206", setting.span if setting else menu.name_span,
                        "a Comm100 IVRMenu takes only its options' keys: `dial-extensions` is left out")
        ivr = self.add(menu.name, "IVRMenu", column, {"message": " ".join(texts)}, {"actionIdWhenInvalidInput": None},
                       menu.name_span, menu=menu.name)
        for press in menu.presses:
            if len(press.key) != 1 or press.key not in schema.MENU_KEYS:
                self.report("IVR205", press.key_span,
                            f"key `{press.key}` cannot be a Comm100 menu option: an option's key is one digit "
                            "(an integer), so `*`, `#` and longer entries cannot be pressed")
                continue
            ivr.options.append((int(press.key), self.chain(press.actions, Handler(
                menu.name, f"{menu.name}/press {press.key}", key=press.key))))
        invalid = menu.on("invalid")
        if invalid is None or isinstance(invalid.actions.terminal, ir.Repeat):
            said = [self.text(p) for p in (invalid.actions.plays if invalid else ())]
            if invalid is not None and None in said:
                self.report("IVR206", invalid.span, "Comm100 says a text on a wrong key, not a recording: the "
                                                    "recording of `on invalid` is left out")
            ivr.fields["invalidInputMessage"] = " ".join(t for t in said if t)
            ivr.fields["invalidInputRepeatTime"] = menu.retries
            ivr.links["actionIdWhenInvalidInput"] = self.exhausted(menu)
        else:
            ivr.fields["invalidInputMessage"] = ""
            ivr.fields["invalidInputRepeatTime"] = 0
            ivr.links["actionIdWhenInvalidInput"] = self.chain(invalid.actions,
                                                               Handler(menu.name, f"{menu.name}/invalid"))

    def exhausted(self, node: ir.Menu | ir.Collect) -> str:
        handler = node.on("exhausted")
        if handler is None:
            key = f"{node.name}/exhausted/end"
            if key not in self.actions:
                self.add(key, "EndCall", self.columns[node.name], {}, {}, node.name_span)
            return key
        return self.chain(handler.actions, Handler(node.name, f"{node.name}/exhausted"))

    def audio(self, prompt: str) -> str:
        """A recording's audioPath: under the environment's `audio_base_url`
        (Comm100 fetches audio by URL; ivrflow does not upload it)."""
        found = self.flow.prompt(prompt)
        path = found.value if found is not None else prompt
        base = self.env.get("audio_base_url")
        if base:
            return urllib.parse.urljoin(str(base).rstrip("/") + "/", urllib.parse.quote(path))
        if found is not None and prompt not in self.unpublished:
            self.unpublished.add(prompt)
            self.report("IVR206", found.value_span,
                        f"Comm100 plays recordings from a URL and ivrflow does not upload them: `{path}` is sent "
                        "as it is", hint="publish the recordings and set `audio_base_url` in the environment")
        return path

    # --- the second edition's nodes -------------------------------------------------------

    def collect(self, collect: ir.Collect) -> None:
        """A copy of the collect per retry its wrong entries may take: copy N's
        `on invalid -> repeat` goes to copy N+1, the last one's to `on
        exhausted` (Comm100 keeps no count of them)."""
        column = self.columns[collect.name]
        fewest, most = collect.digits_range
        end_key = collect.end_key
        if end_key is not None and end_key not in schema.STOP_KEYS:
            setting = collect.get("end-key")
            self.report("IVR205", setting.span if setting else collect.name_span,
                        f"Comm100 ends an entry only at {' or '.join(schema.STOP_KEYS)}: `end-key \"{end_key}\"` "
                        "cannot be its stop key")
        fixed = end_key is None and fewest == most and most <= schema.DIGITS_MOST
        if not fixed:
            setting = collect.get("digits")
            self.report("IVR206", setting.span if setting else collect.name_span,
                        f"Comm100 collects a variable number of keys until "
                        f"{'the end key' if end_key else 'the caller stops'}: an entry of more than {most} keys "
                        f"is invalid there, where `collect {collect.name}` would "
                        f"take the first {most}")
        done = collect.on("done")
        done_key = self.chain(done.actions, Handler(collect.name, f"{collect.name}/done",
                                                    key=schema.variable_text(collect.name))) \
            if done is not None else self.end_call(f"{collect.name}/done", column, collect.name_span)
        texts = [self.words(t, span) for t, span in self.play_texts(collect)]
        wrong = collect.retry_limits[1]
        invalid = collect.on("invalid")
        copies = [collect.name if n == 0 else f"{collect.name}/try {n}" for n in range(wrong + 1)]
        pattern = f"^[0-9*#]{{{fewest},{most}}}$"
        for number, prefix in enumerate(copies):
            again = (self.entry_of_copy(collect, copies[number + 1]) if number + 1 < len(copies)
                     else self.exhausted(collect))
            bad = (self.chain(invalid.actions, Handler(collect.name, f"{prefix}/invalid", again=again))
                   if invalid is not None else again)
            keep = f"{prefix}/keep"
            self.add(keep, "SetVariableValue", column,
                     {"variable": collect.name, "value": schema.variable_text(schema.ENTRY_VARIABLE),
                      schema.SAVE_TO_FIELD: schema.SAVE_TO_VARIABLE}, {"nextActionId": done_key}, collect.span)
            check = self.add(f"{prefix}/check", "Condition", column, {}, {"otherCaseActionId": bad}, collect.span)
            check.items.append(({"order": 0, "conditionExpressionType": "all", "conditions": [
                {"fieldName": schema.variable_field(schema.ENTRY_VARIABLE), "operator": "regularExpression",
                 "value": pattern, "order": 0}]}, keep))
            fields: dict[str, Any] = {"message": " ".join(texts), "variableName": schema.ENTRY_VARIABLE,
                                      "numberOfDigits": str(most) if fixed else schema.VARIABLE_DIGITS}
            if not fixed:
                fields["stopGatherAfterPresskey"] = end_key if end_key in schema.STOP_KEYS else None
            self.add(f"{prefix}/collect", "CollectDTMFDigits", column, fields, {"nextActionId": f"{prefix}/check"},
                     collect.name_span)
            self.recordings(collect, prefix, f"{prefix}/collect")

    def entry_of_copy(self, collect: ir.Collect, prefix: str) -> str:
        files = [p for p in collect.plays if self.text(p.prompt) is None]
        return f"{prefix}/play/0" if files else f"{prefix}/collect"

    def recordings(self, node: ir.Menu | ir.Collect, prefix: str, following: str) -> None:
        """PlayAudio for a node's recordings, before the action that waits."""
        audio = [p for p in node.plays if self.text(p.prompt) is None]
        for index, play in enumerate(audio):
            after = f"{prefix}/play/{index + 1}" if index + 1 < len(audio) else following
            self.add(f"{prefix}/play/{index}", "PlayAudio", self.columns[node.name],
                     {"audioPath": self.audio(play.prompt)}, {"nextActionId": after}, play.span)

    def play_texts(self, node: ir.Menu | ir.Collect) -> list[tuple[str, ir.Span]]:
        found = []
        for play in node.plays:
            prompt = self.flow.prompt(play.prompt)
            if prompt is not None and prompt.kind == "say":
                found.append((prompt.value, prompt.value_span))
        return found

    def lookup(self, lookup: ir.Lookup) -> None:
        """A Webhook: what the runtime would POST, as its body; the answer's
        `variables` into the received names; 200 → `on done`, else `on error`."""
        column = self.columns[lookup.name]
        done, error = lookup.on("done"), lookup.on("error")
        done_key = (self.chain(done.actions, Handler(lookup.name, f"{lookup.name}/done")) if done is not None
                    else self.end_call(f"{lookup.name}/done", column, lookup.span))
        error_key = (self.chain(error.actions, Handler(lookup.name, f"{lookup.name}/error")) if error is not None
                     else self.end_call(f"{lookup.name}/error", column, lookup.span))
        sent = {name: schema.variable_text(name) for name in (*lookup.sent, "caller")}
        body = {"flow": self.flow.name, "node": lookup.name, "variables": sent}
        if "called" in lookup.sent:
            self.report("IVR205", lookup.span, f"lookup `{lookup.name}` sends `called`: {conditions.NO_CALLED}")
        required = [r.name for r in lookup.receive if not r.optional]
        if required:
            self.report("IVR206", lookup.name_span,
                        f"Comm100 maps what an answer has into variables and goes on: an answer without "
                        f"{', '.join(f'`{n}`' for n in required)} runs `on done` there, not `on error`")
        if lookup.get("timeout") is not None:
            setting = lookup.get("timeout")
            assert setting is not None
            self.report("IVR206", setting.span, "a Comm100 Webhook has no timeout setting: it waits as long as "
                                                "Comm100 does")
        webhook = self.add(lookup.name, "Webhook", column, {
            "url": lookup.url, "additionalPostBody": json.dumps(body, ensure_ascii=False), "headers": [],
            "responseToVariables": [{"responseKey": schema.RESPONSE_KEY.format(name=r.name), "variableName": r.name,
                                     "order": order} for order, r in enumerate(lookup.receive)],
        }, {"otherResponseToActionId": error_key}, lookup.name_span)
        webhook.items.append(({"responseCode": schema.WEBHOOK_DONE_STATUS, "order": 0}, done_key))

    def route(self, route: ir.Route) -> None:
        """A Condition action per `when`, its other case the next `when` (or `otherwise`)."""
        following: str | None = None
        for index in reversed(range(len(route.branches))):
            branch = route.branches[index]
            event = ir.branch_event(branch)
            target = self.chain(branch.actions, Handler(route.name, f"{route.name}/{event}"))
            if isinstance(branch, ir.Otherwise):
                following = target
                continue
            why = conditions.problem(branch.condition)
            if why is not None:
                self.report("IVR205", branch.condition.span, f"`when {ir.condition_text(branch.condition)}` "
                                                             f"cannot be deployed to comm100: {why}")
            otherwise = following or self.end_call(f"{route.name}/none", self.columns[route.name], route.span)
            following = self.decide(branch.condition, target, otherwise, route, f"{route.name}/if {index + 1}")

    def decide(self, condition: ir.Condition, yes: str, no: str, route: ir.Route, key: str) -> str:
        """The key of the Condition action (or tree) that goes to `yes` when
        `condition` holds, else to `no`; `key` names the first of them."""
        if isinstance(condition, ir.Compare) and condition.name == "language":
            holds = machine.compare(condition, self.flow.language)  # one language: known now
            return yes if holds else no
        if isinstance(condition, ir.Not):
            return self.decide(condition.inner, no, yes, route, key)
        single = conditions.case(condition)
        if single is not None or not isinstance(condition, (ir.AllOf, ir.AnyOf)):
            kind, items = single or ("all", [])
            action = self.add(key, "Condition", self.columns[route.name], {}, {"otherCaseActionId": no},
                              condition.span)
            action.items.append(({"order": 0, "conditionExpressionType": kind, "conditions": items}, yes))
            return key
        # `and` / `or` of parts that are not all comparisons: one decision per part, last first.
        parts = condition.items
        following = yes if isinstance(condition, ir.AllOf) else no
        for index in reversed(range(len(parts))):
            part_key = key if index == 0 else f"{key}.{index}"
            if isinstance(condition, ir.AllOf):
                following = self.decide(parts[index], following, no, route, part_key)
            else:
                following = self.decide(parts[index], yes, following, route, part_key)
        return following

    # --- handlers --------------------------------------------------------------------

    def chain(self, actions: ir.Actions, handler: Handler) -> str:
        """The actions of a handler; the key of the first (or of the action a
        lone `goto` or `repeat` goes to)."""
        column = self.columns[handler.owner]
        base = handler.base
        terminal = actions.terminal
        following = self.terminal(terminal, handler, column) if terminal is not None else None
        steps = list(actions.steps)
        for index in reversed(range(len(steps))):
            step = steps[index]
            key = f"{base}/step/{index}" if not isinstance(step, ir.PlayThen) else f"{base}/play/{index}"
            if isinstance(step, ir.SetVariable):
                self.add(key, "SetVariableValue", column,
                         {"variable": step.name, "value": self.words(step.value, step.span, handler.key),
                          schema.SAVE_TO_FIELD: schema.SAVE_TO_VARIABLE}, {"nextActionId": following}, step.span)
            elif isinstance(step, ir.SetLanguage):
                continue  # refused: `set-language` is "no" (one languageId per voicebot)
            elif (prompt := self.flow.prompt(step.prompt)) is not None and prompt.kind == "say":
                self.add(key, "PlayText", column, {"message": self.words(prompt.value, prompt.value_span,
                                                                         handler.key)},
                         {"nextActionId": following}, step.span)
            else:
                self.add(key, "PlayAudio", column, {"audioPath": self.audio(step.prompt)},
                         {"nextActionId": following}, step.span)
            following = key
        return following if following is not None else self.end_call(base, column, actions.span)

    def end_call(self, base: str, column: int, span: ir.Span) -> str:
        key = f"{base}/end"
        if key not in self.actions:
            self.add(key, "EndCall", column, {}, {}, span)
        return key

    def terminal(self, terminal: ir.Action, handler: Handler, column: int) -> str | None:
        base = handler.base
        if isinstance(terminal, ir.Goto):
            if terminal.target in self.entries:
                return self.entries[terminal.target]
            return self.end_call(base, column, terminal.span)  # not a node: the checks report it
        if isinstance(terminal, (ir.Repeat, ir.Replay)):
            if handler.again is not None:
                return handler.again
            if not base.endswith(("/invalid", "/timeout")):
                self.report("IVR206", terminal.span, f"`repeat` goes back to menu `{handler.owner}` on Comm100 "
                                                     "without counting a retry")
            return self.entries.get(handler.owner, handler.owner)
        if isinstance(terminal, (ir.Transfer, ir.Voicemail)):
            key = f"{base}/transfer" if isinstance(terminal, ir.Transfer) else f"{base}/voicemail"
            number = (self.dialable(self.words(terminal.destination, terminal.span, handler.key))
                      if isinstance(terminal, ir.Transfer) else self.voicemail(terminal))
            failed = None
            if isinstance(terminal, ir.Transfer) and terminal.fallback is not None:
                if terminal.ring is not None:
                    self.report("IVR206", terminal.ring.span, "Comm100 has no ring time for a transfer: it gives up "
                                                              "after its own wait, then runs the `else`")
                failed = self.terminal(terminal.fallback, Handler(handler.owner, f"{base} else", handler.again,
                                                                  handler.key), column)
            self.add(key, "TransferCall", column, {"transferTo": number}, {"actionIdWhenTransferFailed": failed},
                     terminal.span)
            return key
        if isinstance(terminal, ir.Ask):
            self.report("IVR205", terminal.span, ASK_REFUSED)
            return self.end_call(base, column, terminal.span)
        return self.end_call(base, column, terminal.span)  # hangup

    def words(self, text: str, span: ir.Span, key: str | None = None) -> str:
        """A text with its `{name}`s in Comm100's variable syntax; `{key}` is
        `key` (a menu option's own key, or the variable a collect fills)."""
        if "{" not in text:
            return text

        def variable(match: re.Match[str]) -> str:
            name, digits = match.group(1), match.group(2)
            if digits:
                self.report("IVR206", span, f"Comm100 reads `{{{name}:digits}}` as it reads the value, not digit "
                                            "by digit")
            if name == "key":
                if key is None:
                    self.report("IVR205", span, f"`{{key}}` cannot be deployed to comm100 here: {conditions.NO_KEY}")
                    return ""
                return key
            if name == "called":
                self.report("IVR205", span, f"`{{called}}` cannot be deployed to comm100: {conditions.NO_CALLED}")
                return ""
            if name == "language":
                return self.flow.language or ""
            return schema.variable_text(name)
        return TEMPLATE.sub(variable, text)

    def dialable(self, destination: str) -> str:
        """A number as Comm100 transfers to it: the environment's `transfer_to`
        template ("sip:{ext}@pbx.example.com") around internal numbers; numbers
        starting with + and SIP URIs as written."""
        if destination.startswith(("+", "sip:")):
            return destination
        template = str(self.env.get("transfer_to") or "{ext}")
        return template.replace("{ext}", destination)

    def voicemail(self, voicemail: ir.Voicemail) -> str:
        box = voicemail.box or "default"
        boxes = self.env.get("voicemail") or {}
        if box in boxes:
            return self.dialable(str(boxes[box]))
        if not self.env:
            return self.placeholder(f"voicemail.{box}")
        self.report("IVR203", voicemail.span, f"voicemail box `{box}` has no number in this environment "
                                              "(Comm100 has no voicemail: ivrflow transfers to the box's number)",
                    hint=f'add `voicemail = {{ {box} = "NUMBER" }}` to the environment in ivrflow.toml')
        return "<voicemail." + box + ">"


def menu_repeats_on_invalid(menu: ir.Menu) -> bool:
    invalid = menu.on("invalid")
    return invalid is None or isinstance(invalid.actions.terminal, ir.Repeat)


def _timers(menu: ir.Menu | ir.Collect) -> tuple[int, int]:
    """The no-input timers that give `menu`'s behaviour: repeat every
    `timeout`, hang up at the silence after the last retry."""
    low, high = schema.REPEAT_INTERVAL_RANGE
    interval = min(high, max(low, round(menu.timeout_ms / 1000)))
    low, high = schema.HANG_UP_RANGE
    silences = menu.retry_limits[0]
    return interval, min(high, max(low, interval * (silences + 1)))
