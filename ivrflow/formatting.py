"""`ivrflow fmt` around the formatter (compiler/format.py): reading and
writing files, --check and --diff, and what is said about each file."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from .compiler.format import FormatBug, Formatted, format_source


class Refused(Exception):
    """A file fmt cannot read or write, or a layout it will not write (a bug)."""


def _format(source: str, path: str) -> Formatted:
    try:
        return format_source(source, path)
    except FormatBug as error:  # found before anything is written
        raise Refused(f"{error}; the file is left as it is. This is a bug in ivrflow fmt: please report it "
                      "with the file") from None


def _diff(before: str, after: str, name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), name, f"{name} (formatted)"))


def standard_input(check: bool, diff: bool, show: Callable[[str, str, Sequence[Any]], None]) -> int:
    """`fmt -`: the formatted text on standard output (or the diff); the exit status."""
    source = sys.stdin.read()
    done = _format(source, "<stdin>")
    if done.text is None:
        show("<stdin>", source, done.diagnostics)
        return 1
    if check or diff:
        if diff:
            click.echo(_diff(source, done.text, "<stdin>"), nl=False)
        return 1 if done.text != source else 0
    click.echo(done.text, nl=False)
    return 0


def files(paths: Sequence[str], check: bool, diff: bool, show: Callable[[str, str, Sequence[Any]], None]) -> int:
    """Format each file in place (or only say what would change); the exit
    status: 1 when a file has syntax errors, or with --check/--diff when one
    would change. Raises Refused."""
    from .compiler.diagnostics import RULES
    from .loader import LoadError, read_source

    changed = unchanged = broken = skipped = 0
    for path in paths:
        try:
            read = read_source(path)
        except LoadError as error:
            raise Refused(str(error)) from None
        if isinstance(read, tuple):  # not UTF-8: shown like a syntax error
            show(path, "", [RULES["IVR001"].at(read[1], read[0], hint="save the file as UTF-8")])
            broken += 1
            continue
        done = _format(read, path)
        if done.text is None:
            show(path, read, done.diagnostics)
            broken += 1
            continue
        if done.skipped or done.text == read:
            skipped += done.skipped
            unchanged += not done.skipped
            continue
        changed += 1
        if diff:
            click.echo(_diff(read, done.text, path), nl=False)
        elif check:
            click.echo(f"would reformat {path}", err=True)
        else:
            try:
                Path(path).write_text(done.text, encoding="utf-8")
            except OSError as error:
                raise Refused(f"cannot write `{path}`: {error.strerror}") from None
    verb = "would be reformatted" if check or diff else "reformatted"
    parts = [f"{changed} file(s) {verb}", f"{unchanged} left unchanged"]
    if skipped:
        parts.append(f"{skipped} skipped (`# ivrflow: fmt off`)")
    if broken:
        parts.append(f"{broken} not formatted (syntax errors)")
    click.echo(", ".join(parts), err=True)
    return 1 if broken or ((check or diff) and changed) else 0
