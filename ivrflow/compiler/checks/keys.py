"""Keys a caller can press: each handler must be reachable by some entry
(IVR106, IVR013, IVR014, IVR109), entries should not keep callers waiting
(IVR110), and `dial-extensions` must be able to work (IVR111).

A `press` takes a set of entries: one exact key, a range of numbers of one
length (`1000-1019`) or a pattern (`"7XXX"`). Which entries two of them share
is computed exactly, without listing the entries: a range is an interval of
numbers, a key or pattern a set of characters per place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, reports


@dataclass(frozen=True, slots=True)
class Entries:
    """The entries of one `press`: numbers from `low` to `high` (strings of
    one length), or, when `places` is given, the strings whose every
    character is one of its place's characters."""

    low: str = ""
    high: str = ""
    places: tuple[str, ...] | None = None

    @property
    def length(self) -> int:
        return len(self.places) if self.places is not None else len(self.low)

    def starts(self, length: int) -> Entries:
        """The first `length` keys of every entry (of a range: a range again)."""
        if self.places is not None:
            return Entries(places=self.places[:length])
        return Entries(self.low[:length], self.high[:length])

    def starting_with(self, prefix: str) -> str:
        """The first entry that starts with `prefix` (one of `starts()`'s)."""
        if self.places is not None:
            return prefix + "".join(min(place) for place in self.places[len(prefix):])
        return max(self.low, prefix + "0" * (self.length - len(prefix)))


def entries(key: str) -> Entries:
    kind = ir.key_kind(key)
    if kind == "range":
        low, _, high = key.partition("-")
        return Entries(low, high)
    return Entries(places=tuple(ir._PATTERN_DIGITS.get(ch, ch) if kind == "pattern" else ch for ch in key))


def common(a: Entries, b: Entries) -> str | None:
    """The first entry both take, or None when they share none."""
    if a.length != b.length:
        return None
    if a.places is None and b.places is None:
        low, high = max(a.low, b.low), min(a.high, b.high)
        return low if low <= high else None
    if a.places is not None and b.places is not None:
        shared = [set(x) & set(y) for x, y in zip(a.places, b.places, strict=True)]
        return "".join(min(s) for s in shared) if all(shared) else None
    ranged, placed = (a, b) if a.places is None else (b, a)
    assert placed.places is not None
    first = _first_from(placed.places, ranged.low)
    return first if first is not None and first <= ranged.high else None


def _first_from(places: tuple[str, ...], low: str) -> str | None:
    """The smallest string of digits allowed by `places` that is at least
    `low` (of the same length, so the order of strings is that of numbers):
    keep the longest prefix of `low` the places allow, then one character
    more than `low`'s there, then the smallest of each place."""
    digits = ["".join(sorted(ch for ch in place if ch.isdigit())) for place in places]
    if not all(digits):
        return None
    fits = 0
    while fits < len(low) and low[fits] in digits[fits]:
        fits += 1
    if fits == len(low):
        return low
    for at in range(fits, -1, -1):
        larger = [ch for ch in digits[at] if ch > low[at]]
        if larger:
            return low[:at] + larger[0] + "".join(place[0] for place in digits[at + 1:])
    return None


def _menus(flow: ir.Flow) -> Iterator[ir.Menu]:
    for menu in flow.menus:
        if flow.names.get(menu.name) is menu:
            yield menu


def _digits_setting(menu: ir.Menu) -> ir.Setting | None:
    """`digits N` as written (a `digits MIN-MAX` in a menu is IVR010)."""
    setting = menu.get("digits")
    return setting if setting is not None and isinstance(setting.value, int) else None


def _pressable(menu: ir.Menu) -> list[ir.Press]:
    """The presses whose key could be read (IVR004 reports the others)."""
    return [p for p in menu.presses if not p.problem]


@reports("IVR106")
def check_duplicate_keys(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """The same key (or the same range or pattern) twice in one menu: only the
    first handler ever runs."""
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


@reports("IVR013")
def check_overlapping_keys(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """Two ranges or patterns of one menu that take the same entry
    (`1000-1019` and `"10XX"` both take 1005): which handler the caller gets
    is a guess. An exact key inside a range or pattern is fine: the exact
    key wins (`press 1005` beside `press 1000-1019`)."""
    for menu in _menus(flow):
        seen: list[tuple[ir.Press, Entries]] = []
        for press in _pressable(menu):
            if press.kind == "key":
                continue
            mine = entries(press.key)
            for other, theirs in seen:
                if other.key == press.key:
                    continue  # the same key twice: IVR106
                shared = common(mine, theirs)
                if shared is not None:
                    yield RULES["IVR013"].at(
                        press.key_span,
                        f"`{press.key}` and `{other.key}` (line {other.span.line}) both take entries such as "
                        f"`{shared}`: which handler runs is not clear",
                        hint="make the ranges and patterns apart; give a shared entry its own exact key",
                        related=((other.key_span, "overlaps this"),))
                    break
            seen.append((press, mine))


@reports("IVR014")
def check_end_key(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A key of a menu that its `end-key` takes away: the end key ends the
    entry at once and is not part of it, so a key equal to the end key, a
    range or pattern that takes it, or a key with the end key inside
    (`1#` with `end-key "#"`) can never be entered, and its handler never
    runs."""
    for menu in _menus(flow):
        setting = menu.get("end-key")
        end = menu.end_key
        if setting is None or end is None:
            continue
        for press in _pressable(menu):
            written = entries(press.key)
            if common(written, Entries(places=(end,))) is not None:
                what = f"key `{press.key}`" if press.kind == "key" else f"`{press.key}` takes `{end}`, which"
                message = f"{what} is the menu's `end-key`: it ends the entry, so this handler never runs"
            elif written.places is not None and end in written.places:
                message = f"key `{press.key}` has the `end-key` `{end}` in it: the entry ends there, so it never runs"
            else:
                continue
            yield RULES["IVR014"].at(press.key_span, message, hint="use another end key, or another key",
                                     related=((setting.span, "the end key"),))


@reports("IVR109", "IVR110")
def check_key_length(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A key (or the entries of a range or pattern) longer than `digits` can
    never be entered (IVR109); a key that is the start of a longer one (or
    of an entry of a longer range or pattern: `1` beside `1000-1019`) makes
    its callers wait `inter-digit` before it counts, unless they press the
    `end-key` after it (IVR110)."""
    for menu in _menus(flow):
        digits = menu.digits
        setting = _digits_setting(menu)
        presses = _pressable(menu)
        if all(p.length == 1 for p in presses):
            continue  # one key each, none too long: the common menu
        longer_keys: dict[str, str] = {}  # a proper start of an exact key -> the first such key
        for press in presses:
            if press.kind == "key":
                for end in range(1, len(press.key)):
                    longer_keys.setdefault(press.key[:end], press.key)
        wider = [(p, entries(p.key)) for p in presses if p.kind != "key"]
        for press in presses:
            if setting is not None and press.length > digits:
                what = f"key `{press.key}` has" if press.kind == "key" else f"the entries of `{press.key}` have"
                yield RULES["IVR109"].at(
                    press.key_span,
                    f"{what} {press.length} keys, but an entry ends after {digits} (`digits {digits}`)",
                    hint=f"raise `digits` to {press.length}, or shorten the key",
                    related=((setting.span, "set here"),))
                continue
            if press.length >= digits:
                continue
            found = _longer(press, longer_keys, wider)
            if found is None:
                continue
            entry, longer, example = found
            seconds = menu.inter_digit_ms / 1000
            who = f"`{press.key}`" if press.kind == "key" else f"`{entry}` (of `{press.key}`)"
            because = (f"`{longer}` starts with it" if example == longer
                       else f"`{longer}` has entries that start with it, such as `{example}`")
            unless = f" (unless they press `{menu.end_key}` after it)" if menu.end_key is not None else ""
            yield RULES["IVR110"].at(
                press.key_span,
                f"callers who press {who} wait {seconds:g}s for more keys{unless}, because {because}",
                hint="use keys of one length in a menu, or lower `inter-digit`")


def _longer(press: ir.Press, longer_keys: dict[str, str],
            wider: list[tuple[ir.Press, Entries]]) -> tuple[str, str, str] | None:
    """(an entry of `press`, a longer key, its entry that starts with it) or None."""
    if press.kind == "key" and press.key in longer_keys:
        longer = longer_keys[press.key]
        return press.key, longer, longer
    mine = entries(press.key)
    for other, theirs in wider:
        if theirs.length > press.length:
            shared = common(mine, theirs.starts(press.length))
            if shared is not None:
                return shared, other.key, theirs.starting_with(shared)
    if press.kind != "key":  # exact keys that an entry of this range or pattern starts
        for start, longer in longer_keys.items():
            if len(start) == press.length and press.matches(start):
                return start, longer, longer
    return None


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
