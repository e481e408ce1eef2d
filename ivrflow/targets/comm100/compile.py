"""A flow as a Comm100 voicebot: the desired state, before any id.

    flow       → one voicebot (named after the flow, marked in its description),
                 its channel configuration (SIP or Twilio) and channel instance,
                 one response for the flow's start and the smart trigger
                 `callStarts` that points at it; a `Start` action heads it
    menu       → `PlayAudio` for its recordings, then an `IVRMenu` whose message
                 is its `say` prompts, with one option per key (a one-key
                 range or pattern: an option per digit it takes)
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
    canvas     → each action's xPosition / yPosition from the diagram's
                 Graphviz layout (canvas.py)

The actions themselves are built in actions.py; every Comm100 field name is
in schema.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import graph as flow_graph
from ...compiler import ir
from ...compiler.diagnostics import Diagnostic
from . import canvas, schema
from .actions import START, Action, ActionBuilder, Handler, uses_key


def marker(flow: str) -> str:
    """What a voicebot ivrflow made says in its description."""
    return f"{schema.MARKER}:{flow}"


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


class _Compiler(ActionBuilder):
    """The voicebot around the actions: its timers, language, channel and canvas."""

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
        texts = [self.said(p) for p in handler.actions.plays]
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
        self.no_sets(timeout, "Comm100 handles silence for the whole voicebot")
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
        taken = {press.key for press in menu.presses if press.kind == "key"}
        for press in menu.presses:
            base = f"{menu.name}/press {press.key}"
            if press.kind != "key" and press.length == 1:
                # a one-key range or pattern: an option per digit it takes (an exact key wins)
                digits = [d for d in schema.MENU_KEYS if press.matches(d) and d not in taken]
                taken.update(digits)
                shared = None if uses_key(self.flow, press.actions) else self.chain(press.actions, Handler(
                    menu.name, base))
                ivr.options += [(int(d), shared or self.chain(press.actions, Handler(menu.name, f"{base}/{d}", key=d)))
                                for d in digits]
                continue
            if press.kind != "key" or len(press.key) != 1 or press.key not in schema.MENU_KEYS:
                what = {"key": "key", "range": "the key range", "pattern": "the key pattern"}[press.kind]
                self.report("IVR205", press.key_span,
                            f"{what} `{press.key}` cannot be a Comm100 menu option: an option's key is one digit "
                            "(an integer), so `*`, `#` and entries of more than one key cannot be pressed")
                continue
            ivr.options.append((int(press.key), self.chain(press.actions, Handler(menu.name, base, key=press.key))))
        invalid = menu.on("invalid")
        if invalid is None or isinstance(invalid.actions.terminal, ir.Repeat):
            said = [self.said(p) for p in (invalid.actions.plays if invalid else ())]
            self.no_sets(invalid, "Comm100 repeats the menu itself on a wrong key")
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
