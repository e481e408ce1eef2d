"""A flow as PortSIP virtual receptionists: the desired state, before any id.

PortSIP's receptionist plays one prompt, then takes a key (a rule in
`custom_forward_rules`) or, after `timeout` seconds of silence, replays the
prompt `repeat_times` times before its `timeout_forward_rule` action. Every
destination is a number: to go to another menu, a call is forwarded to that
menu's receptionist. So:

    menu      → a receptionist; when its handlers repeat it in ways PortSIP's
                one counter cannot follow, one receptionist per retry
                (`main`, `main#1`, …), each going on to the next; also
                per count of silences apart (`main#1t2`), for a `replay`
                that plays the `again` prompts (`main#0`), and per
                language the call can be in (`main@es-US`)
    play …, X → a receptionist that plays the prompts, then does X
                (`sorry>main#1`): PortSIP has no prompt on a forward
    press KEY → a key rule; `goto` forwards to the other receptionist, a
                route on business hours becomes the rule's office hours
    route, ask, and menus whose keys PortSIP cannot decide itself
              → an action URL (DTMF or CALLER) answered by the runtime
                server at /portsip/action, which runs the machine
    voicemail → FORWARD_TO_VOICEMAIL to the box's extension

`destination()` (routing.py) is shared with the runtime server, so both
agree on where a call goes next. What PortSIP cannot carry is refused before
this runs (target.CAPABILITIES, refusals.py).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import ir
from ...compiler.diagnostics import RULES, Diagnostic
from ...compiler.graph import menu_repeats
from ...compiler.values import TEMPLATE
from ..common import TargetCompiler
from . import audio
from .routing import (
    Dest,
    copy_key,
    counts_natively,
    destination,
    event_destination,
    needs_runtime_for_entries,
    parse_copy_key,
    plays_on,
    voicemail_key,
)

__all__ = ["Dest", "compile_flow", "copy_key", "counts_natively", "destination", "event_destination",
           "parse_copy_key", "voicemail_key"]

MARKER = "ivrflow"
#: PortSIP's limit on a receptionist's name.
NAME_MAX = 64
#: ASSUMPTION: how long a receptionist that only plays something waits before
#: its action (PortSIP's `timeout`, in seconds, counted after the prompt).
PASS_THROUGH_TIMEOUT_S = 1
#: ASSUMPTION: an `exclude_list` range covering every extension, to turn direct
#: extension dialing off (ranges compare as numbers, as in `1001-2001`).
EXCLUDE_ALL = "0-99999999999"
#: ASSUMPTION: a DTMF action URL with this mask is asked about every entry.
MASK_ALL = "ALL"
#: What a forward rule's `number` may be: "an extension or an external number
#: (with or without a leading `+`)" (PLATFORMS.md §2, from PortSIP's knowledge
#: base; the OpenAPI v22 document gives `number` no pattern). ASSUMPTION: `*`
#: and `#` are taken too (feature codes such as `*97`).
FORWARD_NUMBER = re.compile(r"\+?[0-9*#]{1,64}")
#: The longest action URL PortSIP takes: the OpenAPI v22 document (May 2025)
#: gives the action URL's `url` maxLength 128 (PLATFORMS.md §7); the seed says
#: 1024, but v22 servers that follow the document refuse a longer one.
ACTION_URL_MAX = 128
#: The length of the `&sig=…` a deploy adds to an action URL (signing.signature: 32 hex digits).
SIGNATURE_LENGTH = len("&sig=") + 32
#: The keys a one-key range or pattern may take; each becomes a key rule.
ONE_KEY = "0123456789"
#: The extension range used when no environment gives one (compile, check).
DEFAULT_EXTENSIONS = "7000-7099"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def ivr_name(flow: str, key: str) -> str:
    """The receptionist's name: the marker that tells ivrflow's own apart."""
    name = f"{MARKER}:{flow}:{key}"
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{MARKER}:{flow[:NAME_MAX - len(MARKER) - 15]}:{digest}"


def prompt_file_name(flow: str, digest: str) -> str:
    """The name ivrflow uploads a prompt file under: the flow and the digest of
    what the file is made of, so names of different contents never collide."""
    return f"{MARKER}-{flow}-{digest[:16]}.wav"


def is_prompt_file(flow: str, name: str) -> bool:
    """Whether a file on PortSIP is one ivrflow uploaded for `flow`: exactly a
    `prompt_file_name`, so a person's `ivrflow-FLOW-greeting.wav` (or another
    flow's file) is never taken for one."""
    return re.fullmatch(rf"{MARKER}-{re.escape(flow)}-[0-9a-f]{{16}}\.wav", name) is not None


def pin_problem(pin: object) -> str | None:
    """PortSIP's PIN rules: 6 to 10 digits, not all one digit, not a run like 123456."""
    if not isinstance(pin, str) or not re.fullmatch(r"[0-9]{6,10}", pin):
        return "a PIN is 6 to 10 digits"
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps == {0}:
        return "a PIN must not repeat one digit"
    if steps in ({1}, {-1}):
        return "a PIN must not be a run of digits"
    return None


# --- the desired objects ---------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    kind: str  # file | say | silence
    value: str  # the path, the text, or milliseconds
    language: str = ""


@dataclass
class Audio:
    """One prompt file: its parts joined."""

    name: str  # on PortSIP: ivrflow-FLOW-DIGEST.wav
    parts: tuple[Part, ...]
    rate: int
    source: ir.Span


@dataclass
class KeyRule:
    key: str
    office: Dest
    other: Dest  # outside office hours (the same as `office` for a plain key)
    hours: ir.Hours | None
    source: ir.Span


@dataclass
class ActionUrl:
    type: str  # DTMF | CALLER
    mask: str
    url: str
    source: ir.Span


@dataclass
class Receptionist:
    key: str
    name: str
    source: ir.Span
    prompt: Audio | None
    timeout_s: int
    repeat_times: int
    on_timeout: Dest
    dtmf_interval: int = 2
    rules: list[KeyRule] = field(default_factory=list)
    dial: bool = False  # direct extension dialing
    urls: list[ActionUrl] = field(default_factory=list)
    language: str | None = None


@dataclass
class Desired:
    flow: str
    entry: str  # the receptionist callers dial
    receptionists: dict[str, Receptionist]
    audio: dict[str, Audio]  # by name
    voicemail: dict[str, str]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    numbers: dict[str, str] = field(default_factory=dict)  # receptionist key → extension number

    def forward(self, dest: Dest) -> dict[str, Any]:
        """A PortSIP forward rule: `{action, number}`."""
        key = dest.key()
        if key is not None:
            return {"action": "FORWARD_TO_NUMBER", "number": self.numbers.get(key, f"<{key}>")}
        if dest.kind == "number":
            return {"action": "FORWARD_TO_NUMBER", "number": dest.value}
        if dest.kind == "voicemail":
            return {"action": "FORWARD_TO_VOICEMAIL", "number": self.voicemail.get(dest.value,
                                                                                    f"<voicemail.{dest.value}>")}
        return {"action": "HANGUP"}

    def body(self, receptionist: Receptionist) -> dict[str, Any]:
        """The receptionist as PortSIP's `POST /ivrs` body (the prompt file by
        name: the plan puts its id in; the PIN is left to the deploy)."""
        body: dict[str, Any] = {
            "name": receptionist.name,
            "extension_number": self.numbers.get(receptionist.key, f"<{receptionist.key}>"),
            "dtmf_interval": receptionist.dtmf_interval,
            "enable_pin": False,
            "timeout_forward_rule": {"timeout": receptionist.timeout_s, "repeat_times": receptionist.repeat_times,
                                     **self.forward(receptionist.on_timeout)},
            "custom_forward_rules": [self.rule(rule) for rule in receptionist.rules],
            "exclude_list": "" if receptionist.dial else EXCLUDE_ALL,
        }
        if receptionist.language:
            body["language"] = receptionist.language
        return body

    def rule(self, rule: KeyRule) -> dict[str, Any]:
        hours: dict[str, Any] = {"mode": "GLOBAL"}
        if rule.hours is not None:
            hours = {"mode": "CUSTOM", **office_hours(rule.hours)}
        return {"user_input": rule.key, "office_hours": hours,
                "office_hours_forward_rule": self.forward(rule.office),
                "non_office_hours_forward_rule": self.forward(rule.other)}

    def url_body(self, url: ActionUrl) -> dict[str, Any]:
        mask_field = "dtmf_mask" if url.type == "DTMF" else "caller_mask"
        return {"name": f"{MARKER}:{url.type.lower()}", "enabled": True, "type": url.type, "method": "POST",
                mask_field: url.mask, "url": url.url, "auth": "DISABLE", "connection_timeout": 2,
                "request_timeout": 3}


def office_hours(hours: ir.Hours) -> dict[str, Any]:
    """PortSIP's per-weekday hours (ASSUMPTION: keys `monday` … `sunday`)."""
    days: dict[str, Any] = {day: {"enabled": False, "ranges": []} for day in WEEKDAYS}
    for span in hours.open:
        for day in span.days:
            days[WEEKDAYS[day]]["enabled"] = True
            days[WEEKDAYS[day]]["ranges"] += [{"from": _clock(a), "to": _clock(b)} for a, b in span.ranges]
    return days


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def compile_flow(flow: ir.Flow, env: Mapping[str, Any], *, sources: Mapping[str, bytes] | None = None,
                 tts: bool = False) -> Desired:
    """The desired PortSIP state of `flow`. `env` holds the environment's
    values (runtime_url, voicemail, callback_token_value); `sources` the bytes
    of each prompt file; `tts` allows `say` prompts (spoken by espeak-ng)."""
    return _Compiler(flow, env, sources or {}, tts).run()


class _Compiler(TargetCompiler):
    def __init__(self, flow: ir.Flow, env: Mapping[str, Any], sources: Mapping[str, bytes], tts: bool):
        super().__init__(flow, env, sources, tts)
        self.receptionists: dict[str, Receptionist] = {}
        self.audio: dict[str, Audio] = {}
        self.pending: list[tuple[str, tuple[str, Dest, ir.Span]]] = []  # receptionists still to build
        self.uses_runtime = False
        self.long_urls: set[str] = set()  # nodes whose action URL is too long (diagnosed once)
        boxes = env.get("voicemail") or {}
        self.voicemail = {str(k): str(v) for k, v in boxes.items()} if isinstance(boxes, Mapping) else {}

    def warn(self, span: ir.Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(RULES["IVR206"].at(span, message, hint=hint))

    def error(self, span: ir.Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(RULES["IVR205"].at(span, message, hint=hint))

    def run(self) -> Desired:
        flow = self.flow
        start = flow.start or ""
        header = flow.header
        entry = start
        delay = header.get("answer-delay") if header else None
        if delay is not None and isinstance(delay.value, int) and delay.value > 0:
            entry = self.need(Dest("node", start, (f"~{delay.value}ms",)), delay.span) or start
        if header is not None and header.max_duration is not None:
            self.warn(header.max_duration.span, "PortSIP has no limit on the time a call spends in its "
                                                "receptionists: `max-duration` is not enforced")
        start_node = flow.node(start)
        if start_node is not None:
            self.need(Dest("node", start), start_node.name_span)
        for item in flow.definitions:  # every menu and route, so the runtime can send calls to any
            if isinstance(item, (ir.Menu, ir.Route)) and flow.names.get(item.name) is item:
                self.need(Dest("node", item.name), item.name_span)
        self.build_pending()
        if self.uses_runtime:  # action URLs cannot forward to voicemail: the runtime calls these instead
            for box, span in sorted(self.boxes().items()):
                self.need(Dest("node", voicemail_key(box)), span)
            self.build_pending()
        for box in sorted(self.boxes()):
            if box not in self.voicemail:
                self.voicemail[box] = box if re.fullmatch(r"[0-9]+", box) else self.voicemail_number(box)
            elif not FORWARD_NUMBER.fullmatch(self.voicemail[box]):
                self.diagnostics.append(RULES["IVR203"].at(
                    self.boxes()[box], f"voicemail box `{box}` is `{self.voicemail[box]}` in this environment; "
                                       "PortSIP forwards to voicemail by extension number",
                    hint=f'give the box\'s extension: `voicemail.{box} = "1001"` in ivrflow.toml'))
        self.check_transfers()
        unique = list(dict.fromkeys(self.diagnostics))
        return Desired(flow.name, entry, self.receptionists, self.audio, self.voicemail, unique, self.placeholders)

    def boxes(self) -> dict[str, ir.Span]:
        """The voicemail boxes the flow leaves messages in, each with its first line."""
        found: dict[str, ir.Span] = {}
        for handler in self.flow.handlers:
            terminal = handler.actions.terminal
            if isinstance(terminal, ir.Voicemail):
                found.setdefault(terminal.box or "default", terminal.span)
        return found

    def check_transfers(self) -> None:
        """A transfer PortSIP cannot forward to would be refused at deploy (400):
        a forward rule's `number` is an extension or a phone number."""
        for handler in self.flow.handlers:
            terminal = handler.actions.terminal
            # `{key}` is filled in from keys (target.refusals refuses the other variables)
            if isinstance(terminal, ir.Transfer) and terminal.problem is None \
                    and not FORWARD_NUMBER.fullmatch(TEMPLATE.sub("1", terminal.destination)):
                self.error(terminal.span, f"PortSIP forwards calls only to numbers: it cannot transfer to "
                                          f"`{terminal.destination}`",
                           hint="transfer to an extension or a phone number (digits, `+` first allowed), e.g. "
                                "an extension that reaches that address")

    def voicemail_number(self, box: str) -> str:
        if not self.env.get("has_env"):
            return self.placeholder(f"voicemail.{box}")
        self.diagnostics.append(RULES["IVR203"].at(
            self.boxes()[box], f"voicemail box `{box}` has no extension in this environment",
            hint=f'add `voicemail.{box} = "EXTENSION"` to the environment in ivrflow.toml'))
        return f"<voicemail.{box}>"

    # --- receptionists ---------------------------------------------------------------

    def need(self, dest: Dest, span: ir.Span) -> str | None:
        """Make sure the receptionist a forward to `dest` reaches exists."""
        key = dest.key()
        if key is None or key in self.receptionists or any(k == key for k, _ in self.pending):
            return key
        if dest.plays or key.startswith(">voicemail:"):
            self.pending.append((key, ("plays", dest, span)))
        else:
            self.pending.append((key, ("node", dest, span)))
        return key

    def build_pending(self) -> None:
        while self.pending:
            key, (kind, dest, span) = self.pending.pop(0)
            self.build(key, kind, dest, span)

    def build(self, key: str, kind: str, dest: Dest, span: ir.Span) -> None:
        if kind == "plays":
            self.pass_through(key, dest, span)
            return
        name, copy, replayed, timeouts = parse_copy_key(dest.value)
        node = self.flow.node(name)
        if isinstance(node, ir.Menu):
            self.menu(node, copy, replayed, dest.language, timeouts)
        elif isinstance(node, ir.Route):
            self.route(node, dest.language)

    def pass_through(self, key: str, dest: Dest, span: ir.Span) -> None:
        """A receptionist that plays `dest.plays`, then goes on: nothing to press."""
        then = dest.bare()
        if key.startswith(">voicemail:"):
            then = Dest("voicemail", key.split(":", 1)[1])
        self.need(then, span)
        prompt = self.prompt(dest.plays, span) if dest.plays else None
        self.receptionists[key] = Receptionist(key, ivr_name(self.flow.name, key), span, prompt,
                                               PASS_THROUGH_TIMEOUT_S, 0, then)

    def menu(self, menu: ir.Menu, copy: int, replayed: bool = False, language: str | None = None,
             timeouts: int = 0) -> None:
        """The receptionist of `menu` at `copy` retries (and `timeouts`,
        counted apart; entered again by `replay`), the call being in
        `language` (None: the flow's)."""
        flow = self.flow
        key = Dest("node", copy_key(menu.name, copy, replayed, timeouts), language=language).label()
        native = counts_natively(menu)
        if native:  # PortSIP counts the repeats itself, then runs the `on exhausted` action
            repeat_times = menu.retries
            exhausted = menu.on("exhausted")
            on_timeout = destination(flow, exhausted.actions, menu, copy, language=language) \
                if exhausted is not None else Dest("hangup")
            self.need(on_timeout, exhausted.span if exhausted else menu.name_span)
        else:  # one receptionist per retry: a timeout goes on to where the flow says
            repeat_times = 0
            on_timeout = self.event(menu, "timeout", copy, language, timeouts)
        timeout_s = math.ceil(menu.timeout_ms / 1000)
        receptionist = Receptionist(key, ivr_name(flow.name, key), menu.name_span,
                                    self.prompt(plays_on(menu, copy, replayed, language, timeouts), menu.name_span),
                                    timeout_s, repeat_times, on_timeout,
                                    dtmf_interval=max(1, math.ceil(menu.inter_digit_ms / 1000)),
                                    dial=menu.dial_extensions, language=language or self.flow.language)
        if copy == 0 and not replayed:
            setting = menu.get("timeout")
            if menu.timeout_ms % 1000 and setting is not None:
                self.warn(setting.span, f"PortSIP counts timeouts in whole seconds: {menu.timeout_ms} ms "
                                        f"becomes {timeout_s} s")
            for play in menu.plays:
                if play.fully:
                    self.warn(play.span, "PortSIP lets callers key in during every prompt: `fully` is not kept")
        ask_keys: list[str] = []
        taken = {press.key for press in menu.presses if press.kind == "key"}
        for press in menu.presses:
            if press.kind != "key" and press.length > 1:
                self.runtime_press(menu, copy, press, language, timeouts)  # every entry goes to the runtime server
                continue
            keys = [press.key] if press.kind == "key" else \
                [k for k in ONE_KEY if press.matches(k) and k not in taken]  # what press_for gives it
            for entry in keys:
                rule = self.key_rule(menu, copy, press, entry, language, timeouts)
                if rule is None:
                    ask_keys.append(entry)
                else:
                    receptionist.rules.append(rule)
        invalid = on_timeout if native else self.event(menu, "invalid", copy, language, timeouts)
        everything = needs_runtime_for_entries(menu) or invalid != on_timeout or any(not k.isdigit() for k in ask_keys)
        repeats = menu_repeats(menu) or any(isinstance(p.actions.terminal, ir.Ask) for p in menu.presses)
        if copy == 0 and not replayed and not native and menu.retries and repeats:
            self.diagnostics.append(RULES["IVR201"].at(
                menu.name_span, f"menu `{menu.name}` becomes one receptionist per retry: PortSIP's one counter "
                                "cannot tell its timeouts from its other repeats"))
        if everything:
            if copy == 0 and not replayed:
                self.diagnostics.append(RULES["IVR202"].at(menu.name_span, f"the runtime server decides the keys of "
                                                                           f"menu `{menu.name}` (an action URL): "
                                                                           f"{self.why_runtime(menu)}"))
            receptionist.urls.append(self.action_url("DTMF", MASK_ALL, menu.name, "menu", copy, menu.name_span,
                                                     language, timeouts))
        elif ask_keys:
            receptionist.urls.append(self.action_url("DTMF", ";".join(ask_keys), menu.name, "menu", copy,
                                                     menu.name_span, language, timeouts))
        self.receptionists[key] = receptionist

    def event(self, menu: ir.Menu, event: str, copy: int, language: str | None, timeouts: int) -> Dest:
        handler = menu.on(event)  # type: ignore[arg-type]
        dest = event_destination(self.flow, menu, event, copy, language, timeouts)
        span = handler.span if handler is not None else menu.name_span
        if dest.kind == "runtime":
            if event == "timeout":
                self.error(span, "PortSIP asks action URLs about keys and callers, never about a timeout: "
                                 "`on timeout -> ask` cannot run", hint="ask on a key, or decide the timeout here")
                return Dest("hangup")
            return dest
        self.need(dest, span)
        return dest

    def key_rule(self, menu: ir.Menu, copy: int, press: ir.Press, entry: str, language: str | None,
                 timeouts: int) -> KeyRule | None:
        """The rule of one key `press` takes (`entry`), or None when the
        runtime server decides it (`ask`)."""
        actions = press.actions
        terminal = actions.terminal
        if isinstance(terminal, ir.Goto) and not actions.steps:
            route = self.flow.node(terminal.target)
            if isinstance(route, ir.Route):
                native = self.hours_rule(press, entry, route, language)
                if native is not None:
                    return native
        dest = destination(self.flow, actions, menu, copy, key=entry, language=language, timeouts=timeouts)
        if dest.kind == "runtime":
            if dest.plays:
                self.error(press.span, "PortSIP cannot play a prompt before asking an action URL",
                           hint="play it in the menu, or let the routing service's answer lead to it")
            self.uses_runtime = True
            return None
        self.need(dest, press.span)
        return KeyRule(entry, dest, dest, None, press.span)

    def runtime_press(self, menu: ir.Menu, copy: int, press: ir.Press, language: str | None, timeouts: int) -> None:
        """A range or pattern of several keys, decided by the runtime server:
        make the receptionist its answer forwards to. With prompts before a
        transfer to `{key}` there would be one per number: refused."""
        dest = destination(self.flow, press.actions, menu, copy, language=language, timeouts=timeouts)
        if dest.kind == "number" and dest.plays and TEMPLATE.search(dest.value):
            self.error(press.span, f"PortSIP cannot play a prompt before transferring to `{dest.value}`: a forward "
                                   "plays nothing, and a receptionist that plays it would be needed for every number "
                                   f"`{press.key}` takes", hint="play it in the menu, or transfer without it")
        elif dest.kind == "runtime":
            self.uses_runtime = True
        else:
            self.need(dest, press.span)

    def hours_rule(self, press: ir.Press, entry: str, route: ir.Route, language: str | None) -> KeyRule | None:
        """`press K -> goto R`, R being `when open H -> A; otherwise -> B`:
        the key's office hours, A in them and B outside."""
        if len(route.branches) != 2:
            return None
        first, other = route.branches
        if not (isinstance(first, ir.When) and isinstance(first.condition, ir.IsOpen)
                and isinstance(other, ir.Otherwise)):
            return None
        hours = self.flow.hours_named(first.condition.hours)
        if hours is None or hours.closed_dates:
            return None  # holidays are objects of their own on PortSIP: the runtime decides
        office = destination(self.flow, first.actions, None, 0, language=language)
        outside = destination(self.flow, other.actions, None, 0, language=language)
        if "runtime" in (office.kind, outside.kind):
            return None
        self.need(office, first.span)
        self.need(outside, other.span)
        self.warn(first.condition.span, f"PortSIP applies office hours in the PBX's time zone; hours "
                                        f"`{hours.name}` are in {hours.timezone_name}",
                  hint=f"set the PBX (or tenant) time zone to {hours.timezone_name}")
        return KeyRule(entry, office, outside, hours, press.span)

    @staticmethod
    def why_runtime(menu: ir.Menu) -> str:
        if menu.dial_extensions:
            return "PortSIP would dial the whole entry, not its first `digits` keys"
        if menu.end_key is not None:
            return f"PortSIP ends an entry at a pause; it cannot end one at `{menu.end_key}`"
        long = next((p for p in menu.presses if p.kind != "key" and p.length > 1), None)
        if long is not None:
            return f"PortSIP's key rules are single entries; it cannot take `{long.key}` as one"
        if menu.digits > 1:
            return "PortSIP ends an entry at a pause; it cannot count keys"
        return "a wrong key does something a timeout does not"

    def route(self, route: ir.Route, language: str | None = None) -> None:
        """A receptionist the runtime server answers as soon as a call
        arrives (a CALLER action URL): which branch, then where."""
        self.uses_runtime = True
        self.diagnostics.append(RULES["IVR202"].at(
            route.name_span, f"route `{route.name}` is decided by the runtime server (a CALLER action URL), "
                             "which forwards to a receptionist per branch"))
        masks = [b.condition.mask for b in route.branches
                 if isinstance(b, ir.When) and isinstance(b.condition, ir.CallerIs)]
        only_callers = all(isinstance(b, ir.Otherwise) or isinstance(b.condition, ir.CallerIs)
                           for b in route.branches)
        otherwise = next((b for b in route.branches if isinstance(b, ir.Otherwise)), None)
        on_timeout = Dest("hangup")
        mask = MASK_ALL
        if only_callers and otherwise is not None and masks and len(";".join(masks)) <= 255:
            mask = ";".join(masks)  # PortSIP matches the numbers; the otherwise branch is the timeout's
            on_timeout = destination(self.flow, otherwise.actions, None, 0, language=language)
        for branch in route.branches:
            dest = destination(self.flow, branch.actions, None, 0, language=language)
            if dest.kind != "runtime":
                self.need(dest, branch.span)
        if on_timeout.kind == "runtime":
            on_timeout = Dest("hangup")
        key = Dest("node", route.name, language=language).label()
        receptionist = Receptionist(key, ivr_name(self.flow.name, key), route.name_span, None,
                                    PASS_THROUGH_TIMEOUT_S, 0, on_timeout, language=language)
        receptionist.urls.append(self.action_url("CALLER", mask, route.name, "route", 0, route.name_span, language))
        self.receptionists[key] = receptionist

    def action_url(self, kind: str, mask: str, node: str, what: str, copy: int, span: ir.Span,
                   language: str | None = None, timeouts: int = 0) -> ActionUrl:
        self.uses_runtime = True
        runtime = self.env.get("runtime_url")
        query = {"flow": self.flow.name, "node": node, "kind": what}
        if copy or timeouts:  # the runtime takes a missing copy for 0: a shorter URL
            # silences counted apart (`retries timeout N invalid M`) follow a dot: `copy=1.2`
            query["copy"] = f"{copy}.{timeouts}" if timeouts else str(copy)
        if language:  # the call's language, when not the flow's
            query["lang"] = language
        url = self.callback_url("/portsip/action", query, span)
        base = url.split("/portsip/action", 1)[0]
        token = self.env.get("callback_token_value")
        # As deployed: signed, and with the environment's runtime URL (none yet: only the rest counts).
        length = len(url) - (0 if runtime else len(base)) + (0 if token else SIGNATURE_LENGTH)
        if length > ACTION_URL_MAX and node not in self.long_urls:
            self.long_urls.add(node)
            where = f"{len(base)} of them the runtime URL `{base}`, " if runtime else ""
            self.error(span, f"the action URL of {what} `{node}` would be {length} characters ({where}signature "
                             f"included); PortSIP takes at most {ACTION_URL_MAX}",
                       hint="give the runtime server a shorter address (`runtime_url`), or the flow and the "
                            f"{what} shorter names")
        return ActionUrl(kind, mask, url, span)

    # --- prompts -----------------------------------------------------------------------

    def prompt(self, plays: tuple[str, ...], span: ir.Span) -> Audio | None:
        """One file of the prompts, in order: its name is a digest of what it is made of."""
        if not plays:
            return None
        parts: list[Part] = []
        rate = 0
        for name in plays:
            if name.startswith("~"):
                parts.append(Part("silence", name[1:-2]))
                continue
            name, _, language = name.partition("@")  # `welcome@es-US`: its variant in that language
            found = self.flow.prompt(name)
            if found is None:
                continue
            prompt = found.variant(language or self.flow.language)
            if prompt.kind == "say":
                if not self.tts:
                    self.diagnostics.append(RULES["IVR204"].at(
                        prompt.value_span, f"prompt `{found.name}` is text to speech; PortSIP plays uploaded "
                                           "recordings", hint="record it (`file \"…\"`), or let ivrflow synthesize "
                                                              "it: `tts = \"espeak\"` in the environment, or "
                                                              "`--tts espeak`"))
                parts.append(Part("say", prompt.value, prompt.language or self.flow.language or "en-US"))
                continue
            data = self.sources.get(prompt.value)
            if data is not None:
                problem = audio.problem(data)
                if problem is not None:
                    self.diagnostics.append(RULES["IVR207"].at(
                        prompt.value_span, f"PortSIP cannot play `{prompt.value}`: {problem}",
                        hint="convert it, e.g. `sox IN -r 16000 -c 1 -b 16 OUT.wav`"))
                else:
                    this = audio.describe(data)[2]
                    if rate and this != rate:
                        self.diagnostics.append(RULES["IVR207"].at(
                            prompt.value_span, f"`{prompt.value}` is {this} Hz but the prompts before it in "
                                               f"one receptionist are {rate} Hz; PortSIP plays one file, so they "
                                               "must match", hint="record them at one rate"))
                    rate = rate or this
            parts.append(Part("file", prompt.value))
        rate = rate or audio.DEFAULT_RATE
        digest = hashlib.sha256()
        for part in parts:
            data = self.sources.get(part.value) if part.kind == "file" else None
            digest.update(f"{part.kind}\0{part.value}\0{part.language}\0".encode())
            digest.update(hashlib.sha256(data).digest() if data is not None else b"")
        name = prompt_file_name(self.flow.name, digest.hexdigest())
        return self.audio.setdefault(name, Audio(name, tuple(parts), rate, span))
