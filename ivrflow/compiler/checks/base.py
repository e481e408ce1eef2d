"""What every check shares: its inputs and the rule table."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import networkx as nx

from .. import ir
from ..diagnostics import RULES, Diagnostic

__all__ = ["RULES", "Check", "Env", "FileProblem", "is_library", "kind_word", "kinds_word", "reports"]


class FileProblem(NamedTuple):
    """Why a prompt's audio file will not be read: a code of check_audio_files
    (IVR112, IVR124 to IVR126), a message and a hint."""

    code: str
    message: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Env:
    """What the checks may know beyond the file itself.

    `prompt_file` looks at a prompt's audio file (a path as written, relative
    to the flow file) and says what is wrong with it, or None; without it,
    files are not checked. ivrflow.prompt_files gives the real one.
    `include` reads an included file (see compiler.includes); ivrflow.loader
    gives the real one.
    """

    prompt_file: Callable[[str], FileProblem | None] | None = None
    #: Finds and reads an included file (includes.Reader); without it, `include` is IVR007.
    include: Callable[[str, str], tuple[str, str]] | None = None


Check = Callable[[ir.Flow, nx.MultiDiGraph, Env], Iterable[Diagnostic]]
F = TypeVar("F", bound=Callable[..., Any])


_KIND_WORDS = {ir.Menu: "menu", ir.Route: "route", ir.Collect: "collect", ir.Lookup: "lookup",
               ir.Prompt: "prompt", ir.Hours: "hours block"}


def kind_word(kind: type, article: bool = True) -> str:
    """`a menu`, `an hours block`, … as a user would say it."""
    word = _KIND_WORDS.get(kind, "something else")
    if not article:
        return word
    return ("an " if word[0] in "aeiouh" else "a ") + word


def kinds_word(kinds: tuple[type, ...]) -> str:
    """`prompt`, `menu or route`, `menu, route, collect or lookup`."""
    words = [kind_word(k, article=False) for k in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def is_library(flow: ir.Flow) -> bool:
    """A file only meant to be included (examples/common.ivr): no `flow`
    block and no menu, route, collect or lookup, only prompts and hours for
    the flows that include it. Checked on its own, nothing in it is used
    and nothing starts, and that is as it should be."""
    return (flow.header is None and bool(flow.definitions)
            and not any(isinstance(d, ir.NODE_TYPES) for d in flow.definitions))


def reports(*codes: str) -> Callable[[F], F]:
    """Mark a check with the codes it reports (docs/checks.md is built from them)."""
    def mark(check: F) -> F:
        check.codes = codes  # type: ignore[attr-defined]
        return check
    return mark
