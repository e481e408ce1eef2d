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

The second edition (docs/platforms/telphin.md has the table):

    counters, `play first|again`, languages
              → more copies of a context (Where: `main#t1i2`, `main#again`,
                `main@es-US`); `replay` and `set language` jump between them
    ranges, patterns, end-key → options of their own (`100`…`119`, `1#`)
    set, transfer "{NAME}", {NAME:digits} → set_variable,
                transfer_from_variable, play_digits_from_variable
    conditions, collect (record_digits), lookup → call_interactive, whose
                URL carries the variables (`var.NAME=$NAME`)
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import ir
from ...compiler.diagnostics import RULES, Diagnostic
from ...compiler.graph import menu_repeats
from ...compiler.values import TEMPLATE, fill, template_names
from ..common import TargetCompiler

MARKER = "ivrflow"  # every context we manage says so in its description
#: ivrflow's own limit (not Telphin's, whose limit on options per context is
#: UNKNOWN): a range or pattern becomes one option per entry, at most this many.
MAX_SYNTHESIZED_OPTIONS = 200
#: ASSUMPTION (VoipNow's Call Interactive "Interactive parameters", the platform
#: Telphin's IVR comes from; Telphin's page has a "Variables in the query
#: string" section whose text was not recovered): `$NAME` in a call_interactive
#: URL is replaced by the IVR variable NAME's value (recorded or set).
VARIABLE_IN_URL = "${name}"
#: ASSUMPTION (the seed names record_digits' fields only): record_digits plays
#: its sound, records up to `record_digits_max` keys into the variable, and
#: ends early at this key (not kept) or after the context's
#: inter_digit_timeout; nothing within the context's `timeout` leaves it empty.
RECORD_END_KEY = "#"
#: The variable a collect records into; the runtime copies a valid entry
#: into the collect's own variable (`<SetVar>`), so a bad entry changes nothing.
RECORD_VARIABLE = "ivrflow_keys"
#: Options of a collect's or lookup's context the runtime jumps to (`<Jump
#: option=…>`) for `on done` and `on error`: digit strings, as Telphin's
#: options are; nobody dials them, since record_digits takes the keys there.
DONE_OPTION = "*0*"
ERROR_OPTION = "*9*"
#: ASSUMPTION (the documents show one verb per example): a call_interactive
#: answer may hold several verbs, run in order (`<SetVar>`s, then `<Jump>`).
#: The query fields that carry variables to the runtime server: `var.NAME`.
VARIABLE_PARAMETER = "var."
KEYPAD = "0123456789*#"
WHOLE_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


@dataclass(frozen=True)
class Where:
    """Which context a call is in: a node, the retries counted (silences, wrong
    entries; one counter: (0, N)), whether it is entered again (after
    `repeat` or `replay`: `play … first` is skipped, `play … again` plays)
    and the language it speaks (None: the flow's own)."""

    node: str
    counters: tuple[int, int] = (0, 0)
    again: bool = False
    language: str | None = None

    def speaking(self, language: str | None) -> Where:
        return Where(self.node, self.counters, self.again, language)

    def key(self) -> str:
        """`main`, `main#2` (two retries), `main#t1i2` (separate counters),
        `main#again` (replayed), `main@es-US` (a language), `entry/0`."""
        silences, wrong = self.counters
        key = self.node
        if silences:
            key += f"#t{silences}i{wrong}"
        elif wrong:
            key += f"#{wrong}"
        elif self.again:
            key += "#again"
        return key + (f"@{self.language}" if self.language else "")

    def suffix(self) -> str:
        """What a context's name adds for the copy: ` (retry 2)`, ` (es-US)`."""
        silences, wrong = self.counters
        parts = []
        if silences or wrong:
            parts.append(f"retry {wrong}" if not silences else f"retry t{silences} i{wrong}")
        elif self.again:
            parts.append("again")
        if self.language:
            parts.append(self.language)
        return f" ({', '.join(parts)})" if parts else ""


def counter_states(menu: ir.Menu | ir.Collect) -> list[tuple[int, int]]:
    """The retries a menu can have counted, a context each: (0, 0) … (0, N)
    with one counter, every (silences, wrong) pair with two."""
    if not menu_repeats(menu):
        return [(0, 0)]
    silences, wrong = menu.retry_limits
    if menu.separate_retries:
        return list(itertools.product(range(silences + 1), range(wrong + 1)))
    return [(0, count) for count in range(wrong + 1)]


def replays_fresh_plays(menu: ir.Menu | ir.Collect) -> bool:
    """Whether a menu is replayed with no retry counted while it has prompts
    for its first time only (or again only): that needs a copy of its own."""
    if all(play.when == "always" for play in menu.plays):
        return False
    handlers = [press.actions for press in menu.presses] + [on.actions for on in menu.events]
    return any(isinstance(actions.terminal, ir.Replay) for actions in handlers)


def _choices(key: str) -> list[list[str]]:
    """A pattern's keys position by position (`N` → 2…9)."""
    return [[d for d in KEYPAD if ir.key_matches(want, d)] for want in key]


def written_key(press: ir.Press) -> str:
    """A key as the flow writes it: `1000-1019`, `"7XXX"`."""
    return f'"{press.key}"' if press.kind == "pattern" else press.key


def entry_count(key: str) -> int:
    if ir.key_kind(key) == "range":
        low, _, high = key.partition("-")
        return int(high) - int(low) + 1
    count = 1
    for choices in _choices(key):
        count *= len(choices)
    return count


def expand(key: str) -> list[str] | None:
    """Every entry a range or pattern takes, in order; None past MAX_SYNTHESIZED_OPTIONS."""
    if entry_count(key) > MAX_SYNTHESIZED_OPTIONS:
        return None
    if ir.key_kind(key) == "range":
        low, _, high = key.partition("-")
        return [str(n).zfill(len(low)) for n in range(int(low), int(high) + 1)]
    return ["".join(entry) for entry in itertools.product(*_choices(key))]


def route_variables(route: ir.Route) -> tuple[str, ...]:
    """The variables a route's conditions read, besides the built-ins the
    runtime knows without Telphin (caller, called, language)."""
    names: dict[str, None] = {}
    for branch in route.branches:
        if isinstance(branch, ir.When):
            for part in ir.walk_condition(branch.condition):
                if isinstance(part, (ir.Compare, ir.IsSet)) and part.name not in ("caller", "called", "language"):
                    names[part.name] = None
    return tuple(names)


def pieces(text: str) -> list[tuple[str, str]] | None:
    """A say text cut at each `{NAME:digits}`: ("say", words) and ("digits",
    NAME) in order, words with nothing to say left out; None when it inserts
    a value any other way (`{balance}`), or a built-in Telphin does not hold."""
    found: list[tuple[str, str]] = []
    last = 0
    for match in TEMPLATE.finditer(text):
        if match.group(2) != "digits" or match.group(1) in ir.BUILTIN_VARIABLES:
            return None
        found += [("say", text[last:match.start()]), ("digits", match.group(1))]
        last = match.end()
    found.append(("say", text[last:]))
    return [(kind, value) for kind, value in found if kind == "digits" or any(ch.isalnum() for ch in value)]


def piece_text(flow: ir.Flow, name: str) -> tuple[str, str | None]:
    """The words of a sound by its name (`welcome`, `welcome@es-US`,
    `you_entered.1`: the second piece of words) and their language."""
    base, _, index = name.partition(".")
    prompt_name, _, language = base.partition("@")
    prompt = flow.prompt(prompt_name)
    assert prompt is not None
    form = prompt.variant(language) if language else prompt
    spoken = form.language if isinstance(form, ir.Variant) else prompt.language or flow.language
    if not index:
        return form.value, spoken
    words = [value for kind, value in pieces(form.value) or [] if kind == "say"]
    return words[int(index)], spoken


def sound_name(flow: ir.Flow, prompt: str, language: str | None) -> str:
    """The sound a prompt plays in `language`: `welcome@es-US` for a variant."""
    found = flow.prompt(prompt)
    if found is None or not found.variants:
        return prompt
    form = found.variant(language)
    return f"{prompt}@{form.language}" if isinstance(form, ir.Variant) else prompt


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
        default = flow.language
        #: The languages contexts are made for: None (the flow's own), then each other one.
        self.languages: list[str | None] = [None] + [lang for lang in flow.languages if lang != default]

    def run(self) -> Desired:
        flow = self.flow
        extension = str(self.env.get("extension") or self.placeholder("extension"))
        sounds = [sound for prompt in flow.prompts if flow.names.get(prompt.name) is prompt
                  for form in prompt.forms for sound in self.sounds(prompt, form)]
        for item in flow.definitions:
            if flow.names.get(item.name) is not item:
                continue
            if isinstance(item, ir.Menu):
                self.menu(item)
            elif isinstance(item, ir.Collect):
                self.collect(item)
            elif isinstance(item, ir.Lookup):
                self.lookup(item)
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

    def sounds(self, prompt: ir.Prompt, form: ir.Prompt | ir.Variant) -> list[Sound]:
        """A prompt's sounds, one per language variant (`welcome@es-US`); a say
        text with `{NAME:digits}` is a sound per piece of words around them
        (`you_entered.0`), the digits being play_digits_from_variable."""
        name = f"{prompt.name}@{form.language}" if isinstance(form, ir.Variant) else prompt.name
        if not template_names(form.value):
            return [self.sound(prompt, form, name, form.value)]
        cut = pieces(form.value) if form.kind == "say" else None
        if cut is None:
            self.diagnostics.append(RULES["IVR205"].at(
                form.value_span, f"prompt `{prompt.name}` inserts a variable's value as words: Telphin plays "
                                 "uploaded sounds (and call_interactive's PlaySound only uploaded files), so a text "
                                 "made during the call cannot be spoken; only digits can "
                                 "(`{NAME:digits}`, play_digits_from_variable)",
                hint="say the value digit by digit with `{NAME:digits}`, or record the fixed part"))
            return []
        words = [value for kind, value in cut if kind == "say"]
        return [self.sound(prompt, form, f"{name}.{index}", text) for index, text in enumerate(words)]

    def sound(self, prompt: ir.Prompt, form: ir.Prompt | ir.Variant, name: str, text: str) -> Sound:
        title = marker(self.flow.name, name)
        if form.kind == "file":
            data = self.sources.get(form.value, form.value.encode())
            digest = hashlib.sha256(data).hexdigest()[:12]
            return Sound(name, form.value, f"{title}:{digest}", prompt.span)
        if not self.tts:
            self.diagnostics.append(RULES["IVR204"].at(
                form.value_span, f"prompt `{prompt.name}` is text to speech; Telphin plays uploaded recordings",
                hint="record it (`file \"…\"`), or let ivrflow synthesize it: `tts = \"espeak\"` in the "
                     "environment, or `--tts espeak`"))
        language = form.language if isinstance(form, ir.Variant) else \
            prompt.language or self.flow.language or "en-US"
        digest = hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()[:12]
        return Sound(name, None, f"{title}:tts-{digest}", prompt.span, text=text, language=language)

    def menu(self, menu: ir.Menu) -> None:
        keys = self.option_keys(menu)
        for where in self.copies(menu):
            self.menu_context(menu, where, keys)
        self.exhausted(menu)

    def copies(self, node: ir.Menu | ir.Collect) -> list[Where]:
        """Where a menu or collect can be, a context each (see Where), per language."""
        states = counter_states(node)
        if len(states) > 1:
            self.diagnostics.append(RULES["IVR201"].at(
                node.name_span, f"`{node.name}` becomes {len(states)} contexts and an `exhausted` one: Telphin "
                                "has no retry counter, so each repeat jumps to the next copy"))
        wheres = [Where(node.name, counters, counters != (0, 0)) for counters in states]
        if replays_fresh_plays(node):  # `play … first|again` and `replay`: a replayed copy with no retry counted
            wheres.insert(1, Where(node.name, (0, 0), True))
        return [where.speaking(language) for language in self.languages for where in wheres]

    def exhausted(self, node: ir.Menu | ir.Collect) -> None:
        """A repeating menu's or collect's `exhausted` context, per language."""
        if not menu_repeats(node):  # with `retries 0` too: the first repeat is one too many
            return
        for language in self.languages:
            where = Where(f"{node.name}/exhausted", language=language)
            exhausted = Context(where.key(), f"{node.label or node.name} (exhausted)" + where.suffix(),
                                node.name_span)
            handler = node.on("exhausted")
            exhausted.options["start"] = self.actions(handler.actions, node, where, "exhausted", start=True) \
                if handler is not None else [Rule("hangup", {}, node.name_span)]
            self.contexts.append(exhausted)

    def plays(self, node: ir.Menu | ir.Collect, where: Where, *, fully: bool = True) -> list[Rule]:
        """`play_sound` rules for the prompts a copy plays (`first` only when
        entered fresh, `again` only when entered again)."""
        skip = "first" if where.again else "again"
        return [rule for play in node.plays if play.when != skip
                for rule in self.play(play.prompt, where.language, play.span,
                                      "foreground" if play.fully or fully else "background")]

    def play(self, prompt: str, language: str | None, span: ir.Span, sound_type: str = "foreground") -> list[Rule]:
        """The rules that play a prompt in `language`: its sound, or its pieces
        of words and play_digits_from_variable for each `{NAME:digits}`."""
        name = sound_name(self.flow, prompt, language or self.flow.language)
        found = self.flow.prompt(prompt)
        form = found.variant(language or self.flow.language) if found is not None else None
        cut = pieces(form.value) if form is not None and form.kind == "say" and "{" in form.value else None
        if cut is None:
            return [Rule("play_sound", {"sound": {"$ref": f"sound:{name}"}, "sound_type": sound_type}, span)]
        rules, index = [], 0
        for kind, value in cut:
            if kind == "digits":
                rules.append(Rule("play_digits_from_variable", {"play_digits_variable": value}, span))
            else:
                rules.append(Rule("play_sound", {"sound": {"$ref": f"sound:{name}.{index}"},
                                                 "sound_type": sound_type}, span))
                index += 1
        return rules

    def events(self, node: ir.Menu | ir.Collect, where: Where, context: Context) -> None:
        """The `timeout` and `invalid` options: their handlers, or a repeat."""
        for event in ("timeout", "invalid"):
            handler = node.on(event)
            if handler is not None:
                context.options[event] = self.actions(handler.actions, node, where, event)
            else:
                context.options[event] = [self.repeat(node, where, event, node.name_span)]

    def collect(self, collect: ir.Collect) -> None:
        """A context per copy: its prompts, `record_digits` (the last prompt as
        its sound) into RECORD_VARIABLE, then call_interactive: the runtime
        jumps to this context's `timeout` or `invalid` option, or sets the
        collect's variable and jumps to its DONE_OPTION."""
        if collect.end_key not in (None, RECORD_END_KEY):
            setting = collect.get("end-key")
            self.diagnostics.append(RULES["IVR205"].at(
                setting.span if setting is not None else collect.name_span,
                f"`end-key {collect.end_key}` in `{collect.name}`: Telphin's record_digits ends an entry with "
                f"`{RECORD_END_KEY}` only", hint=f'use `end-key "{RECORD_END_KEY}"`'))
        if collect.end_key == RECORD_END_KEY:
            setting = collect.get("end-key")
            self.diagnostics.append(RULES["IVR206"].at(
                setting.span if setting is not None else collect.name_span,
                f"`{RECORD_END_KEY}` pressed alone in `{collect.name}`: Telphin's record_digits records nothing, "
                f"so the call takes `on timeout` where simulate takes `on invalid` (an empty entry)",
                hint="give `on timeout` and `on invalid` the same actions if the difference matters"))
        self.diagnostics.append(RULES["IVR202"].at(
            collect.name_span, f"collect `{collect.name}` records with record_digits; the runtime server "
                               "(call_interactive) checks the entry and sets the variable"))
        _, most = collect.digits_range
        for where in self.copies(collect):
            context = Context(where.key(), (collect.label or collect.name) + where.suffix(), collect.name_span,
                              inter_digit_timeout=collect.inter_digit_ms, timeout=collect.timeout_ms)
            rules = self.plays(collect, where)
            record: dict[str, Any] = {"record_digits_variable": RECORD_VARIABLE, "record_digits_max": most}
            if rules and rules[-1].action == "play_sound":  # the last prompt, as record_digits' own sound
                record["record_digits_sound"] = rules.pop().params["sound"]
            rules.append(Rule("record_digits", record, collect.name_span))
            rules.append(self.interactive(collect.name, "collect", collect.name_span, where,
                                          variables=(RECORD_VARIABLE,), context=where.key()))
            context.options["start"] = rules
            handler = collect.on("done")
            if handler is not None:
                context.options[DONE_OPTION] = self.actions(handler.actions, collect, where, "done")
            self.events(collect, where, context)
            self.contexts.append(context)
        self.exhausted(collect)

    def lookup(self, lookup: ir.Lookup) -> None:
        """A context per language whose start asks the runtime, which makes the
        request, sets the received variables and jumps to DONE_OPTION or
        ERROR_OPTION (the `on done` and `on error` handlers)."""
        self.diagnostics.append(RULES["IVR202"].at(
            lookup.name_span, f"lookup `{lookup.name}` is made by the runtime server (call_interactive)"))
        for name, span in lookup.send:
            if name == "key":
                self.refuse_key(span, f"lookup `{lookup.name}` sends `key`")
        sent = tuple(name for name in lookup.sent if name not in ("caller", "called", "language", "key"))
        for language in self.languages:
            where = Where(lookup.name, language=language)
            context = Context(where.key(), f"lookup {lookup.name}" + where.suffix(), lookup.name_span)
            context.options["start"] = [self.interactive(lookup.name, "lookup", lookup.name_span, where,
                                                         variables=sent, context=where.key())]
            events: tuple[tuple[ir.MenuEvent, str], ...] = (("done", DONE_OPTION), ("error", ERROR_OPTION))
            for event, option in events:
                handler = lookup.on(event)
                if handler is not None:
                    context.options[option] = self.actions(handler.actions, lookup, where, event)
            self.contexts.append(context)

    def menu_context(self, menu: ir.Menu, where: Where, keys: list[tuple[str, ir.Press]]) -> None:
        name = menu.label or menu.name
        context = Context(where.key(), name + where.suffix(), menu.name_span,
                          digit_len=menu.digits, inter_digit_timeout=menu.inter_digit_ms,
                          timeout=menu.timeout_ms, allow_any_dial=menu.dial_extensions)
        context.options["start"] = self.plays(menu, where, fully=False)
        for digits, press in keys:
            context.options.setdefault(digits, self.actions(press.actions, menu, where, f"press {press.key}",
                                                            key=digits))
        end_key = menu.end_key
        if end_key is not None:  # Telphin has no end key: an entry that ends with it is an option of its own
            for digits, _ in keys:
                if len(digits) < menu.digits:
                    context.options.setdefault(digits + end_key, context.options[digits])
        self.events(menu, where, context)
        self.contexts.append(context)

    def option_keys(self, menu: ir.Menu) -> list[tuple[str, ir.Press]]:
        """Each entry an option stands for, with the press it chooses: exact
        keys first (they win over a range or pattern), then every number of
        a range and every entry of a pattern, up to MAX_SYNTHESIZED_OPTIONS."""
        keys = [(press.key, press) for press in menu.presses if press.kind == "key"]
        for press in menu.presses:
            if press.kind == "key":
                continue
            entries = expand(press.key)
            if entries is None:
                self.diagnostics.append(RULES["IVR205"].at(
                    press.key_span, f"`press {written_key(press)}` in `{menu.name}` stands for "
                                    f"{entry_count(press.key)} entries: Telphin options are literal digits, and "
                                    f"ivrflow makes at most {MAX_SYNTHESIZED_OPTIONS} options for one key",
                    hint="narrow the range or pattern, or list the entries that matter"))
                continue
            keys += [(entry, press) for entry in entries]
        return keys

    def route(self, route: ir.Route) -> None:
        self.diagnostics.append(RULES["IVR202"].at(
            route.name_span, f"route `{route.name}` is decided by the runtime server (call_interactive), "
                             "which jumps to a context per branch"))
        names = route_variables(route)
        for branch in route.branches:
            if isinstance(branch, ir.When) and any(isinstance(part, (ir.Compare, ir.IsSet)) and part.name == "key"
                                                   for part in ir.walk_condition(branch.condition)):
                self.refuse_key(branch.condition.span, f"route `{route.name}` reads `key`")
        for language in self.languages:
            where = Where(route.name, language=language)
            context = Context(where.key(), f"route {route.label or route.name}" + where.suffix(), route.name_span)
            context.options["start"] = [self.interactive(route.name, "route", route.name_span, where,
                                                         variables=names)]
            self.contexts.append(context)
            for index, branch in enumerate(route.branches):
                label = ir.branch_event(branch)
                branch_where = Where(f"{route.name}/{index}", language=language)
                branch_context = Context(branch_where.key(), f"route {route.name}: {label}" + where.suffix(),
                                         branch.span)
                branch_context.options["start"] = self.actions(branch.actions, None, branch_where, label,
                                                               start=True)
                self.contexts.append(branch_context)

    # --- rules -----------------------------------------------------------------------

    def actions(self, actions: ir.Actions, node: ir.Menu | ir.Collect | ir.Lookup | None, where: Where, event: str, *,
                start: bool = False, key: str | None = None) -> list[Rule]:
        """Rules for a handler. On a key or event option, a lone hangup needs no
        rule (options hang up by default); on a context's `start` (a route's
        branch, a menu's exhausted context) it does, or the context would wait
        for keys. `key` is the entry the option stands for (`{key}`)."""
        language = where.language
        rules: list[Rule] = []
        for step in actions.steps:
            if isinstance(step, ir.PlayThen):
                rules += self.play(step.prompt, language, step.span)
            elif isinstance(step, ir.SetVariable):
                value = self.fixed(step.value, key, step.span, f"`set {step.name}`")
                if value is not None:
                    rules.append(Rule("set_variable", {"set_variable_name": step.name,
                                                       "set_variable_value": value}, step.span))
            else:
                language = None if step.language == self.flow.language else step.language
        terminal = actions.terminal
        if isinstance(terminal, ir.Goto):
            rules.append(self.jump(Where(terminal.target, language=language), terminal.span))
        elif isinstance(terminal, ir.Transfer):
            rules.append(self.transfer(terminal, key))
        elif isinstance(terminal, ir.Voicemail):
            rules.append(Rule("transfer", {"transfer_dst": self.voicemail(terminal)}, terminal.span))
        elif isinstance(terminal, ir.Repeat) and isinstance(node, (ir.Menu, ir.Collect)):
            rules.append(self.repeat(node, where.speaking(language), event, terminal.span))
        elif isinstance(terminal, ir.Replay) and node is not None:
            rules.append(self.jump(Where(node.name, where.counters, True, language), terminal.span))
        elif isinstance(terminal, ir.Ask) and isinstance(node, ir.Menu):
            self.diagnostics.append(RULES["IVR202"].at(
                terminal.span, f"`ask` in menu `{node.name}` goes through the runtime server (call_interactive)"))
            repeat = self.next_copy(node, where.speaking(language), event)
            rules.append(self.interactive(node.name, "ask", terminal.span, where.speaking(language), event=event,
                                          repeat=repeat.key()))
        elif isinstance(terminal, ir.Hangup) and (rules or start):
            rules.append(Rule("hangup", {}, terminal.span))
        return rules

    def refuse_key(self, span: ir.Span, what: str) -> None:
        self.diagnostics.append(RULES["IVR205"].at(
            span, f"{what}: Telphin keeps no variable of the key pressed (an option's own handler knows it, "
                  "and ivrflow fills it in there)", hint="`set` a variable in the key's handler and read that"))

    def fixed(self, text: str, key: str | None, span: ir.Span, what: str) -> str | None:
        """`text` with `{key}` filled in (the option's own entry); None (and an
        IVR205) when it needs another variable's value."""
        names = set(template_names(text))
        if key is not None and names == {"key"}:
            return fill(text, {"key": key})
        if not names:
            return text
        self.diagnostics.append(RULES["IVR205"].at(
            span, f"{what} inserts a variable's value into text: Telphin's rules take fixed values (only "
                  "`transfer \"{NAME}\"` of a variable the flow sets can use one, with transfer_from_variable; "
                  "caller, called and language are not Telphin variables, and `{key}` is known only in a key's "
                  "own handler)",
            hint="use a fixed value, or `{key}` in a key's own handler"))
        return None

    def transfer(self, terminal: ir.Transfer, key: str | None) -> Rule:
        whole = WHOLE_VARIABLE.fullmatch(terminal.destination)
        if whole is not None and whole.group(1) not in ir.BUILTIN_VARIABLES:
            return Rule("transfer_from_variable", {"transfer_variable": whole.group(1)}, terminal.span)
        destination = self.fixed(terminal.destination, key, terminal.span, f'`transfer "{terminal.destination}"`')
        return Rule("transfer", {"transfer_dst": destination or terminal.destination}, terminal.span)

    def jump(self, where: Where, span: ir.Span) -> Rule:
        return Rule("jump_to_context", {"context": {"$ref": f"context:{where.key()}"}, "context_option": "start"},
                    span)

    def next_copy(self, menu: ir.Menu | ir.Collect, where: Where, event: str) -> Where:
        """Where a repeat leads: the copy with one more retry counted (on the
        silence counter for a timeout with `retries timeout N invalid M`), or
        the menu's exhausted context."""
        silences, wrong = where.counters
        limit_silences, limit_wrong = menu.retry_limits
        if menu.separate_retries and event == "timeout":
            counters, over = (silences + 1, wrong), silences + 1 > limit_silences
        else:
            counters, over = (silences, wrong + 1), wrong + 1 > limit_wrong
        if over:
            return Where(f"{menu.name}/exhausted", language=where.language)
        return Where(menu.name, counters, True, where.language)

    def repeat(self, menu: ir.Menu | ir.Collect, where: Where, event: str, span: ir.Span) -> Rule:
        return self.jump(self.next_copy(menu, where, event), span)

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

    def interactive(self, node: str, kind: str, span: ir.Span, where: Where, *, event: str = "",
                    repeat: str = "", variables: tuple[str, ...] = (), context: str = "") -> Rule:
        """A call_interactive rule. Variables the runtime needs are appended as
        `var.NAME=$NAME`: Telphin puts each variable's value in their place
        (VARIABLE_IN_URL); they are not signed (the platform writes them)."""
        query = {"flow": self.flow.name, "node": node, "kind": kind}
        if where.language:
            query["language"] = where.language
        if event:
            query["event"] = event
        if repeat:
            query["repeat"] = repeat
        if context:
            query["context"] = context
        url = self.callback_url("/telphin/interactive", query, span)
        url += "".join(f"&{VARIABLE_PARAMETER}{name}={VARIABLE_IN_URL.format(name=name)}" for name in variables)
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



