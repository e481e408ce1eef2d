"""`include "path.ivr"`: the included files' definitions join the flow.

Pure like the rest of the core: the caller gives a `Reader` that finds and
reads a file (the loader's checks where it may be and how large). Files are
included once each, however many paths lead to them; an include that leads
back to a file on its own chain is a cycle (IVR008). Definitions keep the
spans of the file that wrote them, so diagnostics point into that file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import ir
from .diagnostics import RULES, Diagnostic


class IncludeError(Exception):
    """Why an included file cannot be read: a sentence for the user."""


#: (the including file, the path as written) -> (the included file's name, its text).
Reader = Callable[[str, str], tuple[str, str]]


@dataclass
class Included:
    """The definitions of every included file, and what reading them found."""

    definitions: list[ir.Definition] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # file -> text, for its suppressions


def resolve(flow: ir.Flow, read: Reader | None) -> tuple[ir.Flow, Included]:
    """The flow with its includes' definitions added (after its own)."""
    found = Included()
    if not flow.includes:
        return flow, found
    _include(flow, read, found, chain=(flow.file,), seen={flow.file})
    if not found.definitions:
        return flow, found
    from .parse import assemble

    joined = assemble(flow.file, flow.headers, flow.definitions, flow.tests, flow.includes,
                      tuple(found.definitions))
    return joined, found


def _include(flow: ir.Flow, read: Reader | None, found: Included, chain: tuple[str, ...], seen: set[str]) -> None:
    """Depth first, in the order written (a loop, not recursion: a chain of
    thousands of files is not a RecursionError)."""
    from .parse import parse

    path = list(chain)  # the files from the root flow to the one being read
    on_path = set(path)
    pending: list[Iterator[ir.Include]] = [iter(flow.includes)]
    while pending:
        include = next(pending[-1], None)
        if include is None:  # this file is done: back to the one that included it
            pending.pop()
            on_path.discard(path.pop())
            continue
        if read is None:
            found.diagnostics.append(RULES["IVR007"].at(
                include.path_span, f"`{include.path}` cannot be read here: includes need a file on disk"))
            continue
        try:
            name, source = read(path[-1], include.path)
        except IncludeError as error:
            found.diagnostics.append(RULES["IVR007"].at(include.path_span, f"`{include.path}`: {error}"))
            continue
        if name in on_path:
            loop = " → ".join((*path[path.index(name):], name))
            found.diagnostics.append(RULES["IVR008"].at(
                include.path_span, f"`{include.path}` includes itself through {loop}",
                hint="remove one of the includes; shared definitions can live in a third file"))
            continue
        if name in seen:
            continue  # included already, through another path
        seen.add(name)
        parsed = parse(source, name)
        found.sources[name] = source
        if parsed.flow is None:
            found.diagnostics.extend(parsed.diagnostics)
            continue
        found.definitions.extend(parsed.flow.definitions)
        path.append(name)
        on_path.add(name)
        pending.append(iter(parsed.flow.includes))
