"""IVR114: a prompt that tells callers to press a key the menu lacks, read in
the flow's language, once per menu and prompt (issue 11)."""

from __future__ import annotations

import pytest

from ivrflow.compiler import check_source
from ivrflow.compiler.checks import menus
from ivrflow.compiler.diagnostics import Diagnostic


def ivr114(source: str) -> list[Diagnostic]:
    return [d for d in check_source(source, "keys.ivr").diagnostics if d.code == "IVR114"]


def flow(text: str, language: str | None = None, keys: str = "1") -> str:
    header = f"flow f {{\n    language {language}\n}}\n" if language else ""
    presses = "".join(f"    press {k} -> hangup\n" for k in keys)
    return f'{header}prompt p say "{text}"\nmenu main {{\n    play p\n{presses}}}\n'


# (language, prompt text, the words the warning quotes, the key it names); the menu has key 1 only.
SAID = [
    ("en-GB", "For sales press one. For support, press two.", "press two", "2"),
    ("en-US", "To go back, press the pound key.", "press the pound", "#"),
    ("es-MX", "Para ventas oprima uno. Para soporte pulse dos.", "pulse dos", "2"),
    ("es-ES", "Para volver, marque la tecla de asterisco.", "marque la tecla de asterisco", "*"),
    ("es-US", "Para facturación presione 3.", "presione 3", "3"),
    ("fr-FR", "Pour les ventes, appuyez sur un. Pour le support, appuyez sur deux.", "appuyez sur deux", "2"),
    ("fr-CA", "Pour revenir, tapez dièse.", "tapez dièse", "#"),
    ("fr-FR", "Pour le service client, composez le 4.", "composez le 4", "4"),
    ("de-DE", "Für den Verkauf drücken Sie die Eins, für den Support drücken Sie die Zwei.",
     "drücken Sie die Zwei", "2"),
    ("de-AT", "Zurück: wählen Sie die Taste Stern.", "wählen Sie die Taste Stern", "*"),
    ("ru-RU", "Для отдела продаж нажмите один. Для поддержки нажмите два.", "нажмите два", "2"),
    ("ru", "Чтобы вернуться, наберите решётку.", "наберите решётку", "#"),
    ("ru-RU", "Для оплаты нажмите на клавишу 5.", "нажмите на клавишу 5", "5"),
]


@pytest.mark.parametrize(("language", "text", "words", "key"), SAID, ids=[f"{s[0]}: {s[2]}" for s in SAID])
def test_a_key_announced_in_the_flows_language_is_found(language: str, text: str, words: str, key: str) -> None:
    (warning,) = ivr114(flow(text, language))
    assert warning.message == f'prompt `p` says "{words}", but menu `main` has no key `{key}`'
    assert (warning.span.line, warning.span.column) == (6, 5)


# Words that look like a key but are not one (the menu has key 2 only, so a misreading names key 1).
NOT_KEYS = [
    ("en-US", "Please select one of the options below, or press 2."),
    ("en-US", "Enter one digit at a time, then press 2."),
    ("es-MX", "Pulse una tecla. Marque uno de los números, o pulse 2."),
    ("fr-FR", "Tapez un numéro de dossier, ou tapez deux."),
    ("de-DE", "Wählen Sie eine Option. Drücken Sie die 2."),
    ("ru-RU", "Нажмите одну из клавиш, например нажмите 2."),
]


@pytest.mark.parametrize(("language", "text"), NOT_KEYS, ids=[t for _, t in NOT_KEYS])
def test_articles_and_phrases_are_not_keys(language: str, text: str) -> None:
    assert ivr114(flow(text, language, keys="2")) == []


def test_a_prompt_played_twice_that_offers_two_missing_keys_warns_once() -> None:
    source = ('prompt p say "For sales press 1, for support press 2, for billing press 3. Again: press 2."\n'
              "menu main {\n    play p\n    play p\n    press 1 -> hangup\n}\n")
    (warning,) = ivr114(source)
    assert warning.message == 'prompt `p` says "press 2" and "press 3", but menu `main` has no key `2` or `3`'
    assert (warning.span.line, warning.span.column) == (3, 5)
    assert warning.hint == "add `press 2 -> …`, or change the prompt"


def test_each_menu_that_plays_the_prompt_is_warned_once() -> None:
    source = ('prompt p say "Press 1 or press 2."\n'
              "menu a {\n    play p\n    press 1 -> goto b\n}\n"
              "menu b {\n    play p\n    play p\n    press 2 -> hangup\n}\n")
    assert [(d.span.line, d.message) for d in ivr114(source)] == [
        (3, 'prompt `p` says "press 2", but menu `a` has no key `2`'),
        (7, 'prompt `p` says "Press 1", but menu `b` has no key `1`'),
    ]


def test_a_prompts_own_language_wins_over_the_flows() -> None:
    source = ('flow f {\n    language en-US\n}\n'
              'prompt p say "Para soporte, oprima dos." language es-US\n'
              "menu main {\n    play p\n    press 1 -> hangup\n}\n")
    (warning,) = ivr114(source)
    assert '"oprima dos"' in warning.message


def test_english_is_read_in_every_flow_and_other_languages_only_in_their_own() -> None:
    # A Spanish line that says "For English, press 9" is read for both.
    (warning,) = ivr114(flow("Para ventas oprima 1. For English, press 9.", "es-MX"))
    assert '"press 9"' in warning.message
    # Spanish words in an English flow are not read: "marque" could be a name.
    assert ivr114(flow("Call Marque 2 times.", "en-US")) == []
    # Italian is not read (only English words are).
    assert ivr114(flow("Per le vendite premere 2.", "it-IT")) == []


def test_the_docstring_names_every_language_it_reads() -> None:
    doc = " ".join((menus.check_announced_keys.__doc__ or "").split())
    for code in menus.ANNOUNCING:
        if code != "en":
            assert f"({code})" in doc
    for table in menus.ANNOUNCING.values():
        assert any(f'"{verb}"' in doc.lower() for verb in table.verbs)
