"""Languages: a call is only ever in one of the flow's `languages` (IVR011),
and a prompt with a variant per language has exactly one for each (IVR012)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, reports


def _listed(languages: tuple[str, ...] | list[str]) -> str:
    return ", ".join(languages)


@reports("IVR011")
def check_languages(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A language the flow does not list in `languages`: `set language L`
    would switch the call to a language no prompt is made for (prompts with
    variants would play their first one), a prompt's variant for it would
    never play, and a test's `expect language L` could never pass. The
    flow's `language` must be one of its `languages` too."""
    rule = RULES["IVR011"]
    languages = flow.languages
    header = flow.header
    if header is not None and header.get("languages") is not None and flow.language is not None:
        setting = header.get("language")
        if setting is not None and flow.language not in languages:
            yield rule.at(setting.span, f"`language {flow.language}` is not one of `languages` "
                                        f"({_listed(languages)}): calls start in it",
                          hint=f"add {flow.language} to `languages`")
    for handler in flow.handlers:
        for action in handler.actions.items:
            if isinstance(action, ir.SetLanguage) and action.language not in languages:
                yield rule.at(action.language_span, f"`set language {action.language}`: "
                                                    f"{_not_listed(action.language, languages)}",
                              hint=_hint(action.language, languages))
    if languages:
        for prompt in flow.prompts:
            for variant in prompt.variants:
                if variant.language not in languages:
                    yield rule.at(variant.span, f"prompt `{prompt.name}` has a variant for {variant.language}, "
                                                f"which is not one of `languages` ({_listed(languages)}): "
                                                "it never plays", hint=_hint(variant.language, languages))
    for test in flow.tests:
        for step in test.steps:
            if isinstance(step, ir.TestExpectState) and step.kind == "language" and step.value not in languages:
                yield rule.at(step.span, f'test "{test.name}" expects language {step.value}: '
                                         f"{_not_listed(step.value, languages)}, so it can never pass",
                              hint=_hint(step.value, languages))


def _not_listed(language: str, languages: tuple[str, ...]) -> str:
    if not languages:
        return "the flow has no `languages` (nor `language`), so a call cannot switch to it"
    return f"{language} is not one of the flow's `languages` ({_listed(languages)})"


def _hint(language: str, languages: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(language, languages, n=1)
    if close:
        return f"did you mean {close[0]}?"
    if not languages:
        return f"list the languages in the flow block: `languages en-US, {language}`"
    return f"add {language} to `languages` in the flow block"


@reports("IVR012")
def check_variants(flow: ir.Flow, graph: nx.MultiDiGraph, env: Env) -> Iterator[Diagnostic]:
    """A prompt with a variant per language that lacks one of the flow's
    `languages`: a call in that language hears the first variant instead,
    in the wrong language. Two variants for one language are an error too:
    only the first would ever play."""
    rule = RULES["IVR012"]
    languages = flow.languages
    for prompt in flow.prompts:
        if not prompt.variants or flow.names.get(prompt.name) is not prompt:
            continue
        first: dict[str, ir.Variant] = {}
        for variant in prompt.variants:
            if variant.language in first:
                earlier = first[variant.language]
                yield rule.at(variant.span, f"prompt `{prompt.name}` has two variants for {variant.language} "
                                            f"(the first on line {earlier.span.line}); only the first plays",
                              hint="keep one of them", related=((earlier.span, "first variant"),))
            else:
                first[variant.language] = variant
        missing = [language for language in languages if language not in first]
        if missing:
            fallback = prompt.variants[0].language
            yield rule.at(prompt.name_span, f"prompt `{prompt.name}` has no variant for {_listed(missing)}: "
                                            f"a call in {' or '.join(missing)} hears the {fallback} variant",
                          hint=f"add a line such as `{missing[0]} say \"…\"`")
