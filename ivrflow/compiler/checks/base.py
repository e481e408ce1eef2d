"""What every check shares: its inputs and the rule table."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import networkx as nx

from .. import ir
from ..diagnostics import RULES, Diagnostic

__all__ = ["RULES", "Check", "Env", "FileProblem", "kind_word", "reports"]


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


_KIND_WORDS = {ir.Menu: "menu", ir.Route: "route", ir.Prompt: "prompt", ir.Hours: "hours block"}


def kind_word(kind: type, article: bool = True) -> str:
    """`a menu`, `an hours block`, … as a user would say it."""
    word = _KIND_WORDS.get(kind, "something else")
    if not article:
        return word
    return ("an " if word[0] in "aeiouh" else "a ") + word


def reports(*codes: str) -> Callable[[F], F]:
    """Mark a check with the codes it reports (docs/checks.md is built from them)."""
    def mark(check: F) -> F:
        check.codes = codes  # type: ignore[attr-defined]
        return check
    return mark
