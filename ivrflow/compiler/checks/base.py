"""What every check shares: its inputs and the rule table."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import networkx as nx

from .. import ir
from ..diagnostics import RULES, Diagnostic

__all__ = ["RULES", "Check", "Env", "kind_word", "reports"]


@dataclass(frozen=True, slots=True)
class Env:
    """What the checks may know beyond the file itself.

    `file_exists` answers whether a prompt's audio file is there (a path as
    written, relative to the flow file); None means it is not checked.
    """

    file_exists: Callable[[str], bool] | None = None


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
