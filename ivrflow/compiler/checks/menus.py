"""Menus as a caller meets them: keys that can be pressed (IVR106, IVR109,
IVR110, IVR111), prompts that match the keys (IVR114, IVR119), and menus a
caller can hold in their head (IVR117)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, reports

#: More keys than this in one menu and callers forget the first before the last.
MAX_OPTIONS = 9

_ANNOUNCED = re.compile(
    r"\b(?:press|dial|push|enter|key|select)\s+(?:the\s+)?(\d+|star|hash|pound|\*|#)(?![\w])", re.I)
_KEY_WORDS = {"star": "*", "hash": "#", "pound": "#"}


def _menus(flow: ir.Flow) -> Iterator[ir.Menu]:
    for menu in flow.menus:
        if flow.names.get(menu.name) is menu:
            yield menu


@reports("IVR106")
def check_duplicate_keys(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """The same key twice in one menu: only the first handler ever runs."""
    for menu in _menus(flow):
        first: dict[str, ir.Press] = {}
        for press in menu.presses:
            if press.key in first:
                line = first[press.key].span.line
                yield RULES["IVR106"].at(press.key_span,
                                         f"key `{press.key}` is already handled on line {line}; this one never runs",
                                         hint="remove one, or give it another key",
                                         related=((first[press.key].key_span, "first handled here"),))
            else:
                first[press.key] = press


@reports("IVR109", "IVR110")
def check_key_length(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A key longer than `digits` can never be entered (IVR109); a key that is
    the start of a longer one makes its callers wait `inter-digit` before it
    counts (IVR110)."""
    for menu in _menus(flow):
        digits = menu.digits
        setting = menu.get("digits")
        keys = [p.key for p in menu.presses]
        for press in menu.presses:
            if setting is not None and len(press.key) > digits:
                yield RULES["IVR109"].at(
                    press.key_span,
                    f"key `{press.key}` has {len(press.key)} keys, "
                    f"but an entry ends after {digits} (`digits {digits}`)",
                    hint=f"raise `digits` to {len(press.key)}, or shorten the key",
                    related=((setting.span, "set here"),))
                continue
            longer = next((k for k in keys if len(k) > len(press.key) and k.startswith(press.key)), None)
            if longer is not None and len(press.key) < digits:
                seconds = menu.inter_digit_ms / 1000
                yield RULES["IVR110"].at(
                    press.key_span,
                    f"callers who press `{press.key}` wait {seconds:g}s for more keys, "
                    f"because `{longer}` starts with it",
                    hint="use keys of one length in a menu, or lower `inter-digit`")


@reports("IVR111")
def check_dial_extensions(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """`dial-extensions` where an entry ends after one key: no extension of two
    or more digits can be dialled, so the setting does nothing."""
    for menu in _menus(flow):
        setting = menu.get("dial-extensions")
        if setting is not None and menu.digits == 1:
            yield RULES["IVR111"].at(
                setting.span,
                f"menu `{menu.name}` ends an entry after 1 key, so callers cannot dial an extension",
                hint="set `digits` to the length of your extensions, such as `digits 3`")


@reports("IVR114")
def check_announced_keys(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A spoken prompt says "press 4" in a menu with no key 4: the caller does
    as told and hears "invalid". (Only `say` prompts can be read; English.)"""
    for menu in _menus(flow):
        keys = {p.key for p in menu.presses}
        for play in menu.plays:
            prompt = flow.prompt(play.prompt)
            if prompt is None or prompt.kind != "say":
                continue
            for match in _ANNOUNCED.finditer(prompt.value):
                key = _KEY_WORDS.get(match.group(1).lower(), match.group(1))
                if key in keys or (menu.dial_extensions and key.isdigit() and len(key) > 1):
                    continue
                yield RULES["IVR114"].at(
                    play.span,
                    f'prompt `{prompt.name}` says "{match.group(0)}", but menu `{menu.name}` has no key `{key}`',
                    hint=f"add `press {key if key != '#' else chr(34) + '#' + chr(34)} -> …`, or change the prompt",
                    related=((prompt.value_span, "said here"),))


@reports("IVR117")
def check_option_count(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """More than nine keys in one menu: callers cannot keep the options in
    mind and pick the wrong one or give up."""
    for menu in _menus(flow):
        if len(menu.presses) > MAX_OPTIONS:
            yield RULES["IVR117"].at(
                menu.name_span,
                f"menu `{menu.name}` offers {len(menu.presses)} keys; callers remember about {MAX_OPTIONS} at most",
                hint="group the options into submenus")


@reports("IVR119")
def check_no_prompt(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A menu that plays nothing: the caller hears silence and cannot know what
    to press."""
    for menu in _menus(flow):
        if not menu.plays:
            yield RULES["IVR119"].at(menu.name_span, f"menu `{menu.name}` plays no prompt: callers hear silence",
                                     hint="add `play NAME` so callers know their options")
