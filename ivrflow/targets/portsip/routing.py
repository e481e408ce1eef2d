"""Where a call goes next on PortSIP: shared by the compiler, which makes a
receptionist for every place a call can be, and the runtime server, which
answers action URLs with the number of one of them.

A menu is a receptionist per place its call can be in: the retries counted
(`main#1`; silences counted apart, `main#1t2`), entered again by `replay`
(`main#0`), and the language when not the flow's (`main#1@es-US`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...compiler import ir
from ...compiler.values import fill


def copy_key(menu: str, copy: int, replayed: bool = False, timeouts: int = 0) -> str:
    """The receptionist of a menu at `copy` retries (and `timeouts` silences
    counted apart, `main#1t2`); `replayed`: at none but entered again by
    `replay` (it plays the `again` prompts, not the `first` ones, as the
    receptionists of repeats do)."""
    if copy == 0 and timeouts == 0:
        return f"{menu}#0" if replayed else menu
    return f"{menu}#{copy}" + (f"t{timeouts}" if timeouts else "")


_COPY_KEY = re.compile(r"(?P<name>[^#@]+)(?:#(?P<copy>[0-9]+)(?:t(?P<timeouts>[0-9]+))?)?(?:@.*)?")


def parse_copy_key(key: str) -> tuple[str, int, bool, int]:
    """copy_key's inverse: (menu, copy, replayed, timeouts); a language after `@` is left out."""
    found = _COPY_KEY.fullmatch(key)
    assert found is not None, key
    copy, timeouts = int(found["copy"] or 0), int(found["timeouts"] or 0)
    return found["name"], copy, found["copy"] is not None and copy == timeouts == 0, timeouts


@dataclass(frozen=True)
class Dest:
    """Where a call goes: a number, a voicemail box, a hang-up or a
    receptionist (`node`); `plays` are heard first (through a receptionist
    that plays them). `runtime`: the runtime server decides (an `ask`)."""

    kind: str  # number | voicemail | hangup | node | runtime
    value: str = ""
    plays: tuple[str, ...] = ()  # prompt names, `name@es-US` when not in the flow's language
    language: str | None = None  # a node's: the call's language there, None for the flow's

    def label(self) -> str:
        node = self.value + (f"@{self.language}" if self.language else "")
        return {"number": f"transfer:{self.value}", "voicemail": f"voicemail:{self.value}",
                "hangup": "hangup", "node": node, "runtime": "ask"}[self.kind]

    def key(self) -> str | None:
        """The receptionist a forward to this destination reaches (None: a number,
        a voicemail forward or a hang-up, which need none)."""
        if self.plays:
            return "+".join(self.plays) + ">" + self.label()
        return self.label() if self.kind == "node" else None

    def bare(self) -> Dest:
        return Dest(self.kind, self.value, language=self.language)


def counts_natively(menu: ir.Menu) -> bool:
    """Whether one receptionist, with PortSIP's own counter, is the menu: a
    timeout and a wrong key both just repeat it (ASSUMPTION: a wrong key
    counts like a timeout), every key is decided natively and none repeats."""
    for event in ("timeout", "invalid"):
        handler = menu.on(event)
        if handler is not None and (handler.actions.steps or not isinstance(handler.actions.terminal, ir.Repeat)):
            return False
    if any(isinstance(p.actions.terminal, (ir.Repeat, ir.Ask, ir.Replay)) for p in menu.presses):
        return False
    if any(play.when != "always" for play in menu.plays):
        return False  # PortSIP replays the one file: a receptionist per repeat plays the `again` prompts
    if menu.separate_retries:
        return False  # PortSIP keeps one counter: a receptionist per count of each
    return not needs_runtime_for_entries(menu)


def needs_runtime_for_entries(menu: ir.Menu) -> bool:
    """PortSIP ends an entry when the caller pauses; it cannot cut one at
    `digits` keys, nor dial what is left of it, nor take a key as the end of
    an entry (`end-key`), nor match an entry of several keys against a
    range or a pattern and keep it as `{key}`: those menus' entries are
    decided by the runtime server, which runs the machine."""
    return menu.dial_extensions or menu.digits > 1 or menu.end_key is not None or any(
        press.kind != "key" and press.length > 1 for press in menu.presses)


def plays_on(menu: ir.Menu, copy: int, replayed: bool, language: str | None = None,
             timeouts: int = 0) -> tuple[str, ...]:
    """What a menu's receptionist plays: on entering, all but the `again`
    prompts; at a repeat or a replay, all but the `first` ones."""
    skip = "again" if copy == 0 and timeouts == 0 and not replayed else "first"
    return tuple(in_language(play.prompt, language) for play in menu.plays if play.when != skip)


def in_language(prompt: str, language: str | None) -> str:
    """A prompt to play, in `language` (None: the flow's)."""
    return f"{prompt}@{language}" if language else prompt


def spoken(flow: ir.Flow, actions: ir.Actions, language: str | None) -> tuple[tuple[str, ...], str | None]:
    """What a handler's steps play (each in the language the call is in when
    it plays), and the language after them (None: the flow's)."""
    plays = []
    for step in actions.steps:
        if isinstance(step, ir.PlayThen):
            plays.append(in_language(step.prompt, language))
        elif isinstance(step, ir.SetLanguage):
            language = None if step.language == flow.language else step.language
    return tuple(plays), language


def destination(flow: ir.Flow, actions: ir.Actions | None, menu: ir.Menu | None, copy: int, *,
                key: str | None = None, language: str | None = None, terminal: ir.Terminal | None = None,
                plays: tuple[str, ...] = (), timeouts: int = 0, silence: bool = False) -> Dest:
    """Where a handler's `actions` send a call that is at `copy` of `menu`
    (with `timeouts` counted apart) in `language` (None: the flow's);
    `key`: the entry that chose the handler, the `{key}` of a transfer
    number; `silence`: the handler is `on timeout`. `terminal` stands for
    the actions' own (a routing service's answer); `plays`: heard before them."""
    if actions is not None:
        more, language = spoken(flow, actions, language)
        plays += more
        terminal = terminal or actions.terminal
    if isinstance(terminal, ir.Replay) and menu is not None:  # the counters stay as they are
        replayed = any(p.when != "always" for p in menu.plays)
        return Dest("node", copy_key(menu.name, copy, replayed, timeouts), plays, language)
    if isinstance(terminal, ir.Repeat) and menu is not None:
        silences, wrong = menu.retry_limits
        if menu.separate_retries and silence:  # a silence counts on its own counter
            if timeouts + 1 <= silences:
                return Dest("node", copy_key(menu.name, copy, timeouts=timeouts + 1), plays, language)
        elif copy + 1 <= wrong:
            return Dest("node", copy_key(menu.name, copy + 1, timeouts=timeouts), plays, language)
        exhausted = menu.on("exhausted")
        if exhausted is None:
            return Dest("hangup", "", plays)
        return destination(flow, exhausted.actions, menu, copy, key=key, language=language, plays=plays,
                           timeouts=timeouts)
    if isinstance(terminal, ir.Goto):
        return Dest("node", terminal.target, plays, language)
    if isinstance(terminal, ir.Transfer):
        number = terminal.destination
        if key is not None and "{" in number:
            number = fill(number, {"key": key})
        return Dest("number", number, plays)
    if isinstance(terminal, ir.Voicemail):
        return Dest("voicemail", terminal.box or "default", plays)
    if isinstance(terminal, ir.Ask):
        return Dest("runtime", terminal.url, plays)
    return Dest("hangup", "", plays)


def event_destination(flow: ir.Flow, menu: ir.Menu, event: str, copy: int, language: str | None = None,
                      timeouts: int = 0) -> Dest:
    handler = menu.on(event)  # type: ignore[arg-type]
    silence = event == "timeout"
    if handler is None:
        return destination(flow, None, menu, copy, terminal=ir.Repeat(menu.name_span), language=language,
                           timeouts=timeouts, silence=silence)
    return destination(flow, handler.actions, menu, copy, language=language, timeouts=timeouts, silence=silence)


def voicemail_key(box: str) -> str:
    """The receptionist the runtime sends a call to for voicemail (action URLs
    can only call, hang up or repeat)."""
    return f">voicemail:{box}"
