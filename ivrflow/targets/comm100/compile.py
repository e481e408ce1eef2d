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
    route, ask → refused (IVR205): Comm100's Condition and Webhook fields are
                 not documented well enough to carry them yet

Every Comm100 field name is in schema.py.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import graph as flow_graph
from ...compiler import ir
from ...compiler.diagnostics import RULES, Diagnostic
from . import canvas, schema

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

    def targets(self) -> list[str]:
        return [k for k in self.links.values() if k is not None] + [k for _, k in self.options]

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
        return {"type": self.type, "xPosition": self.x, "yPosition": self.y, schema.sub_object(self.type): sub}


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


def compile_flow(flow: ir.Flow, env: Mapping[str, Any]) -> Desired:
    """The desired voicebot of `flow`; `env` holds the checked settings
    (settings.Settings as a dict), or nothing when compiling without one."""
    return _Compiler(flow, env).run()


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

    def run(self) -> Desired:
        flow = self.flow
        menus = [m for m in flow.menus if flow.names.get(m.name) is m]
        for route in flow.routes:
            if flow.names.get(route.name) is route:
                self.report("IVR205", route.name_span,
                            f"route `{route.name}` cannot be deployed to comm100: its conditions would need a "
                            "Condition action, whose fields Comm100 does not document", hint="start the flow at a menu")
        for column, menu in enumerate(menus, start=1):
            self.columns[menu.name] = column
            self.entries[menu.name] = self.menu_entry_key(menu)
        start = flow.start
        self.add(START, "Start", 0, {}, {"nextActionId": self.entries.get(start or "")}, flow.header.span
                 if flow.header else None)
        for menu in menus:
            self.menu(menu)
        self.header()
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
        for menu in self.flow.menus:
            if self.flow.names.get(menu.name) is menu:
                self.silence(menu, first, interval, hang_up, message)
        if first is not None and menu_repeats_on_invalid(first):
            self.report("IVR206", first.name_span,
                        "Comm100 counts silences (for the whole voicebot) and wrong keys (per menu) apart, where "
                        "the flow counts them together: a caller who mixes them gets more tries on Comm100")
        return bot

    def hang_up_message(self, menu: ir.Menu) -> str:
        handler = menu.on("exhausted")
        if handler is None or not isinstance(handler.actions.terminal, ir.Hangup):
            return ""
        texts = [self.text(p) for p in handler.actions.plays]
        return " ".join(t for t in texts if t)

    def silence(self, menu: ir.Menu, first: ir.Menu | None, interval: int, hang_up: int, message: str) -> None:
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
                        f"menu `{menu.name}` waits {menu.timeout_ms / 1000:g} s with {retries}, but "
                        f"Comm100's no-input timers are one for the whole voicebot (repeat every {interval} s, hang "
                        f"up after {hang_up} s, from `{first.name if first else menu.name}`)")
        elif exhausted is not None and (not isinstance(exhausted.actions.terminal, ir.Hangup)
                                        or self.hang_up_message(menu) != message):
            self.approximated.add(menu.name)
            self.report("IVR206", exhausted.span,
                        f"a silent caller is hung up after {hang_up} s on Comm100; `on exhausted` runs only after "
                        "wrong keys")

    # --- menus -----------------------------------------------------------------------

    def menu_entry_key(self, menu: ir.Menu) -> str:
        files = [p for p in menu.plays if self.text(p.prompt) is None]
        return f"{menu.name}/play/0" if files else menu.name

    def menu(self, menu: ir.Menu) -> None:
        column = self.columns[menu.name]
        texts: list[str] = []
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
            text = self.text(play.prompt)
            if text is not None:
                texts.append(text)
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
            ivr.options.append((int(press.key), self.chain(press.actions, menu, f"press {press.key}")))
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
            ivr.links["actionIdWhenInvalidInput"] = self.chain(invalid.actions, menu, "invalid")

    def exhausted(self, menu: ir.Menu) -> str:
        handler = menu.on("exhausted")
        if handler is None:
            key = f"{menu.name}/exhausted/end"
            self.add(key, "EndCall", self.columns[menu.name], {}, {}, menu.name_span)
            return key
        return self.chain(handler.actions, menu, "exhausted")

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

    # --- handlers --------------------------------------------------------------------

    def chain(self, actions: ir.Actions, menu: ir.Menu, event: str) -> str:
        """The actions of a handler; the key of the first (or of the action a
        lone `goto` or `repeat` goes to)."""
        column = self.columns[menu.name]
        base = f"{menu.name}/{event}"
        terminal = actions.terminal
        end = self.terminal(terminal, menu, base, column) if terminal is not None else None
        plays = [a for a in actions.items if isinstance(a, ir.PlayThen)]
        following = end
        keys = [f"{base}/play/{i}" for i in range(len(plays))]
        for index in reversed(range(len(plays))):
            play = plays[index]
            text = self.text(play.prompt)
            if text is not None:
                self.add(keys[index], "PlayText", column, {"message": text}, {"nextActionId": following}, play.span)
            else:
                self.add(keys[index], "PlayAudio", column, {"audioPath": self.audio(play.prompt)},
                         {"nextActionId": following}, play.span)
            following = keys[index]
        assert following is not None or not plays
        return following if following is not None else self.end_call(base, column, actions.span)

    def end_call(self, base: str, column: int, span: ir.Span) -> str:
        key = f"{base}/end"
        if key not in self.actions:
            self.add(key, "EndCall", column, {}, {}, span)
        return key

    def terminal(self, terminal: ir.Action, menu: ir.Menu, base: str, column: int) -> str | None:
        if isinstance(terminal, ir.Goto):
            if terminal.target in self.entries:
                return self.entries[terminal.target]
            return self.end_call(base, column, terminal.span)  # a route: refused above
        if isinstance(terminal, ir.Repeat):
            if not base.endswith(("/invalid", "/timeout")):
                self.report("IVR206", terminal.span, f"`repeat` goes back to menu `{menu.name}` on Comm100 "
                                                     "without counting a retry")
            return menu.name
        if isinstance(terminal, ir.Transfer):
            key = f"{base}/transfer"
            self.add(key, "TransferCall", column, {"transferTo": self.dialable(terminal.destination)},
                     {"actionIdWhenTransferFailed": None}, terminal.span)
            return key
        if isinstance(terminal, ir.Voicemail):
            key = f"{base}/voicemail"
            self.add(key, "TransferCall", column, {"transferTo": self.voicemail(terminal)},
                     {"actionIdWhenTransferFailed": None}, terminal.span)
            return key
        if isinstance(terminal, ir.Ask):
            self.report("IVR205", terminal.span, "`ask` cannot be deployed to comm100: a Webhook action's answers "
                                                 "cannot choose the next action by the routing service's answer yet")
            return self.end_call(base, column, terminal.span)
        return self.end_call(base, column, terminal.span)  # hangup

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


def _timers(menu: ir.Menu) -> tuple[int, int]:
    """The no-input timers that give `menu`'s behaviour: repeat every
    `timeout`, hang up at the silence after the last retry."""
    low, high = schema.REPEAT_INTERVAL_RANGE
    interval = min(high, max(low, round(menu.timeout_ms / 1000)))
    low, high = schema.HANG_UP_RANGE
    silences = menu.retry_limits[0]
    return interval, min(high, max(low, interval * (silences + 1)))
