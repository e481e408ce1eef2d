"""Menus as a caller meets them: prompts that match the keys (IVR114,
IVR119), and menus a caller can hold in their head (IVR117). The keys
themselves are checked in keys.py."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, kind_word, reports

#: More keys than this in one menu and callers forget the first before the last.
MAX_OPTIONS = 9



@dataclass(frozen=True, slots=True)
class Announcing:
    """How prompts in one language tell a caller which key to press: a verb
    (`press`), optional words before the key (`the`, `la touche`), then the
    key as digits, `*`/`#`, a key word (`star`) or a digit spelled out (`two`).
    A spelled-out digit counts only before punctuation, the end of the text
    or one of `joiners` (`for`, `or`), so that "press one of the keys" or
    "tapez un numéro" (an article, not a digit) announce nothing."""

    verbs: tuple[str, ...]
    fillers: tuple[str, ...]
    keys: dict[str, str]
    numbers: dict[str, str]
    joiners: tuple[str, ...]


ENGLISH = Announcing(
    verbs=("press", "dial", "push", "enter", "key", "select"),
    fillers=("the",),
    keys={"star": "*", "hash": "#", "pound": "#"},
    numbers={"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
             "seven": "7", "eight": "8", "nine": "9"},
    joiners=("for", "or", "and", "to"),
)
SPANISH = Announcing(
    verbs=("oprima", "pulse", "marque", "presione", "digite", "teclee"),
    fillers=("el", "la", "la tecla", "la tecla de", "el número"),
    keys={"asterisco": "*", "almohadilla": "#", "numeral": "#", "gato": "#"},
    numbers={"cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6",
             "siete": "7", "ocho": "8", "nueve": "9"},
    joiners=("para", "o", "y", "si"),
)
FRENCH = Announcing(
    verbs=("appuyez sur", "appuyer sur", "tapez", "taper", "composez", "faites", "pressez"),
    fillers=("la touche", "le"),
    keys={"étoile": "*", "dièse": "#"},
    numbers={"zéro": "0", "un": "1", "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "six": "6",
             "sept": "7", "huit": "8", "neuf": "9"},
    joiners=("pour", "ou", "et", "si"),
)
GERMAN = Announcing(
    verbs=("drücken sie", "wählen sie", "tippen sie", "drücke", "wähle", "drücken", "wählen"),
    fillers=("die", "die taste", "taste"),
    keys={"stern": "*", "sterntaste": "*", "raute": "#", "rautetaste": "#"},
    numbers={"null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4", "fünf": "5",
             "sechs": "6", "sieben": "7", "acht": "8", "neun": "9"},
    joiners=("für", "oder", "und", "um", "wenn"),
)
RUSSIAN = Announcing(
    verbs=("нажмите", "наберите", "нажми", "набери"),
    fillers=("на", "клавишу", "кнопку", "цифру", "на клавишу", "на кнопку", "на цифру"),
    keys={"звёздочку": "*", "звездочку": "*", "решётку": "#", "решетку": "#"},
    numbers={"ноль": "0", "один": "1", "два": "2", "три": "3", "четыре": "4", "пять": "5", "шесть": "6",
             "семь": "7", "восемь": "8", "девять": "9"},
    joiners=("для", "или", "и", "если", "чтобы"),
)

#: The languages IVR114 reads, by primary language subtag (`es` of `es-MX`).
ANNOUNCING: dict[str, Announcing] = {"en": ENGLISH, "es": SPANISH, "fr": FRENCH, "de": GERMAN, "ru": RUSSIAN}


def _words(phrases: Iterable[str]) -> str:
    """Phrases as one alternation, longest first, any spaces between words."""
    return "|".join(r"\s+".join(map(re.escape, p.split())) for p in sorted(phrases, key=len, reverse=True))


@functools.cache
def _announced(language: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The pattern of "press KEY" in a language, and what may follow a spelled-out digit."""
    table = ANNOUNCING[language]
    key = rf"\d+|[*#]|{_words([*table.keys, *table.numbers])}"
    pattern = re.compile(rf"(?<!\w)(?:{_words(table.verbs)})\s+(?:(?:{_words(table.fillers)})\s+)?"
                         rf"(?P<key>{key})(?![\w*#])", re.I)
    after = re.compile(rf"\s*(?:$|[,.;:!?)»”\"]|(?:{_words(table.joiners)})(?!\w))", re.I)
    return pattern, after


def _prompt_languages(flow: ir.Flow, language: str | None) -> list[str]:
    """The tables to read a prompt in `language` with (else the flow's), and
    English, which bilingual lines mix in ("For English, press 1")."""
    spoken = (language or flow.language or "en").split("-")[0].lower()
    return ["en"] + ([spoken] if spoken in ANNOUNCING and spoken != "en" else [])


def announced_keys(flow: ir.Flow, prompt: ir.Prompt) -> list[tuple[str, str]]:
    """(key, words) for each key a `say` prompt tells the caller to press, in
    the order it says them, each key once: `[("2", "press 2")]`. A prompt
    with a variant per language is read variant by variant, each in its
    own language."""
    found: dict[str, tuple[tuple[int, int], str]] = {}
    for index, form in enumerate(prompt.forms):
        if form.kind != "say":
            continue
        language = form.language if isinstance(form, ir.Variant) else prompt.language
        text = form.value
        for spoken in _prompt_languages(flow, language):
            pattern, after = _announced(spoken)
            table = ANNOUNCING[spoken]
            for match in pattern.finditer(text):
                word = match.group("key").lower()
                if word in table.numbers and not after.match(text, match.end()):
                    continue
                key = table.keys.get(word) or table.numbers.get(word) or word
                at = (index, match.start())
                if key not in found or at < found[key][0]:
                    found[key] = (at, " ".join(match.group(0).split()))
    return [(key, words) for key, (_, words) in sorted(found.items(), key=lambda item: item[1][0])]


def _offers(menu: ir.Menu, key: str) -> bool:
    """Whether pressing `key` does what the prompt promises: a key, an entry
    of a range or pattern, the end key, or an extension to dial."""
    if key == menu.end_key or menu.press_for(key) is not None:
        return True
    return menu.dial_extensions and key.isdigit() and len(key) > 1


def _menus(flow: ir.Flow) -> Iterator[ir.Menu]:
    for menu in flow.menus:
        if flow.names.get(menu.name) is menu:
            yield menu


@reports("IVR114")
def check_announced_keys(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A spoken prompt says "press 4" in a menu with no key 4: the caller does
    as told and hears "invalid". Only `say` prompts can be read, in English
    and in the prompt's language (its own `language`, else the flow's) when
    that is Spanish (es), French (fr), German (de) or Russian (ru); prompts in
    other languages are read for English words only. It reads a verb, then
    the key: "press", "dial", "push", "enter", "key", "select" (en); "oprima",
    "pulse", "marque", "presione", "digite", "teclee" (es); "appuyez sur",
    "tapez", "composez", "faites", "pressez" (fr); "drücken Sie", "wählen
    Sie", "tippen Sie" (de); "нажмите", "наберите" (ru); with words such as
    "the", "la tecla", "la touche", "die Taste" or "клавишу" between. The key
    is digits, `*`/`#`, a word for them ("star", "pound", "asterisco",
    "almohadilla", "étoile", "dièse", "Stern", "Raute", "звёздочку",
    "решётку") or a digit spelled out ("two", "dos", "deux", "zwei", "два")
    followed by punctuation, the end, or a word such as "for", "para", "pour",
    "für" or "для". A key before its verb ("Taste 1 drücken") is not read.
    A prompt with a variant per language is read variant by variant, each
    in its own language. A key is offered when it is a key of the menu, an
    entry of one of its ranges or patterns, or its `end-key`.
    One warning per menu and prompt, at the prompt's first `play` in the
    menu, naming every key it announces that the menu lacks."""
    for menu in _menus(flow):
        reported: set[str] = set()
        for play in menu.plays:
            prompt = flow.prompt(play.prompt)
            if prompt is None or prompt.name in reported or all(f.kind != "say" for f in prompt.forms):
                continue
            reported.add(prompt.name)
            missing = [(key, words) for key, words in announced_keys(flow, prompt) if not _offers(menu, key)]
            if not missing:
                continue
            said = " and ".join(f'"{words}"' for _, words in missing)
            lacking = " or ".join(f"`{key}`" for key, _ in missing)
            first = missing[0][0]
            yield RULES["IVR114"].at(
                play.span,
                f"prompt `{prompt.name}` says {said}, but menu `{menu.name}` has no key {lacking}",
                hint=f"add `press {first if first != '#' else chr(34) + '#' + chr(34)} -> …`, or change the prompt",
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
    """A menu or collect that plays nothing: the caller hears silence and
    cannot know what to press."""
    waits: tuple[ir.Menu | ir.Collect, ...] = (*flow.menus, *flow.collects)
    for menu in waits:
        if flow.names.get(menu.name) is menu and not menu.plays:
            what = f"{kind_word(type(menu), article=False)} `{menu.name}`"
            yield RULES["IVR119"].at(menu.name_span, f"{what} plays no prompt: callers hear silence",
                                     hint="add `play NAME` so callers know their options")
