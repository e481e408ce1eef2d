"""`ivrflow fmt`: one canonical layout for a flow file, comments kept.

The language is line-oriented (one statement per line, `{` ends the line
that opens a block, `}` stands on its own line), so formatting works on the
parser's own tokens, line by line; it never rebuilds statements from the IR,
so nothing the IR does not keep (comments, key quoting, string escapes) can
be lost. The tokens come from the real parser (Lark's lexer callbacks also
see the comments it ignores), so they are split exactly as the compiler
splits them.

The layout:
- four spaces of indentation per block; single spaces between tokens, none
  before a comma, before the `?` of `receive name?`, inside parentheses, or
  around the `=` of a test's `answer LOOKUP name="v"` (the `=` of the action
  `set name = "v"` is spaced); `->` with a space on each side; an empty
  block is `{}`;
- consecutive top-level `prompt` lines align their kind (`file`/`say`);
- a trailing comment is two spaces after the code, aligned with the
  trailing comments of the lines right above and below it;
- at most one blank line in a row, none at the start or end of the file or
  of a block (unless a comment needs it: a comment on a line of its own
  silences the line after it), and one blank line around every top-level
  block, before the comments that introduce it;
- `\\n` line ends and a final newline.

A file with a line `# ivrflow: fmt off` is left as it is. Formatting is
idempotent, and `same_flow` checks that the result parses to
the same IR (ignoring positions).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token
from lark.exceptions import LarkError

from . import ir
from .diagnostics import Diagnostic, Severity
from .parse import parse

INDENT = "    "
COMMENT_GAP = "  "  # between code and its trailing comment

_LINE_BREAK = re.compile(r"\r?\n")


@dataclass
class _Line:
    """One line of the output before layout: code tokens, a comment, or neither (blank)."""

    tokens: list[Token] = field(default_factory=list)
    comment: str | None = None
    depth: int = 0

    @property
    def blank(self) -> bool:
        return not self.tokens and self.comment is None

    @property
    def comment_only(self) -> bool:
        return not self.tokens and self.comment is not None

    @property
    def opens(self) -> bool:
        return bool(self.tokens) and self.tokens[-1].type == "_LBRACE"

    @property
    def closes(self) -> bool:
        return bool(self.tokens) and self.tokens[0].type == "RBRACE"


@dataclass(frozen=True, slots=True)
class Formatted:
    """The formatted text, or None and the syntax errors that stopped it.
    A file that opts out (`# ivrflow: fmt off`) is `skipped`, its text unchanged."""

    text: str | None
    diagnostics: tuple[Diagnostic, ...] = ()
    skipped: bool = False


#: A line of its own that leaves the whole file as it is written (like
#: black's `# fmt: off`): for files whose layout is the point, such as the
#: deliberately broken examples.
FMT_OFF = re.compile(r"^[\t ]*#[\t ]*ivrflow:[\t ]*fmt[\t ]+off\b", re.MULTILINE)


def format_source(source: str, file: str = "<input>") -> Formatted:
    """The canonical layout of `source`; a file with syntax errors is not formatted."""
    if FMT_OFF.search(source):
        return Formatted(source, skipped=True)
    try:
        tokens = _tokens(source)
    except LarkError:
        tokens = None
    parsed = parse(source, file) if tokens is None or not _formatted(source, tokens) else None
    if parsed is not None:  # the compiler's own word on the syntax, and the meaning to keep
        errors = tuple(d for d in parsed.diagnostics if d.severity is Severity.ERROR)
        if parsed.flow is None or errors or tokens is None:
            return Formatted(None, errors or parsed.diagnostics)
        text = _layout(_lines(tokens))
        if shape(parse(text, file).flow) != shape(parsed.flow):
            raise FormatBug(f"{file}: formatting would change what the flow means")
        return Formatted(text)
    return Formatted(source)


def _formatted(source: str, tokens: list[Token]) -> bool:
    """Whether the layout leaves `source` as it is (then nothing needs proving)."""
    return _layout(_lines(tokens)) == source


class FormatBug(Exception):
    """The layout would change the flow: a bug in the formatter, never written."""


# --- tokens ---------------------------------------------------------------------------

@functools.cache
def _lexing_parser() -> tuple[Lark, list[Token]]:
    """A parser of the same grammar whose lexer hands every token, ignored
    comments included, to a list (emptied before each use)."""
    sink: list[Token] = []

    def keep(token: Token) -> Token:
        sink.append(token)
        return token

    names = [t.name for t in _grammar().terminals]
    lark = Lark.open_from_package("ivrflow", "ivr.lark", ("grammar",), parser="lalr", lexer="contextual",
                                  lexer_callbacks={name: keep for name in names})
    return lark, sink


@functools.cache
def _grammar() -> Lark:
    return Lark.open_from_package("ivrflow", "ivr.lark", ("grammar",), parser="lalr", lexer="contextual")


def _tokens(source: str) -> list[Token]:
    lark, sink = _lexing_parser()
    sink.clear()
    if not source.endswith("\n"):
        source += "\n"
    lark.parse(source)
    tokens = [t for t in sink if not t.type.startswith("__IGNORE")]
    sink.clear()
    return tokens


def _lines(tokens: list[Token]) -> list[_Line]:
    """Tokens → lines: a newline token also carries the blank and comment
    lines after it (the grammar swallows them), which become lines here."""
    lines: list[_Line] = []
    current = _Line()
    for token in tokens:
        if token.type == "_NL":
            lines.append(current)
            pieces = _LINE_BREAK.split(str(token))
            # pieces[0] is the rest of the line just ended (nothing), pieces[-1]
            # the indentation of the next code line; between them, whole lines
            for piece in pieces[1:-1]:
                text = piece.strip()
                lines.append(_Line(comment=text) if text else _Line())
            current = _Line()
            last = pieces[-1].strip()
            if last:  # a comment on the last line of the file
                current.comment = last
        elif token.type == "COMMENT":
            current.comment = str(token).rstrip()
        else:
            current.tokens.append(token)
    lines.append(current)
    return lines


# --- layout ---------------------------------------------------------------------------

def _layout(lines: list[_Line]) -> str:
    depth = 0
    for line in lines:
        if line.closes:
            depth = max(depth - 1, 0)
        line.depth = depth
        if line.opens:
            depth += 1
    lines = _blank_lines(lines)
    code = [_code(line) for line in lines]
    _align_prompts(lines, code)
    _align_comments(lines, code)
    out = []
    for line, text in zip(lines, code, strict=True):
        indent = INDENT * line.depth
        if line.blank:
            out.append("")
        elif line.comment_only:
            out.append(indent + str(line.comment))
        else:
            out.append(indent + text + (f"{COMMENT_GAP}{line.comment}" if line.comment else ""))
    text = "\n".join(out).rstrip("\n")
    return text + "\n" if text else ""


def _blank_lines(lines: list[_Line]) -> list[_Line]:
    """One blank line at most, none at the edges of the file and of blocks,
    one around each top-level block (before the comments introducing it)."""
    kept: list[_Line] = []
    for line in lines:
        if line.blank:
            if not kept or kept[-1].blank or kept[-1].opens:
                continue
        elif line.closes and kept and kept[-1].blank and not (len(kept) > 1 and kept[-2].comment_only):
            kept.pop()
        kept.append(line)
    while kept and kept[-1].blank and not (len(kept) > 1 and kept[-2].comment_only):
        kept.pop()
    result: list[_Line] = []
    for index, line in enumerate(kept):
        result.append(line)
        if line.depth == 0 and line.closes and index + 1 < len(kept) and not kept[index + 1].blank:
            result.append(_Line())
    # a blank line before each top-level block that does not follow one, above its comments
    index = 0
    while index < len(result):
        line = result[index]
        if line.depth == 0 and line.opens:
            start = index
            while start > 0 and result[start - 1].comment_only and result[start - 1].depth == 0:
                start -= 1
            if start > 0 and not result[start - 1].blank:
                result.insert(start, _Line())
                index += 1
        index += 1
    return result


#: Tokens written with no space before them: `a, b`, `balance?`, `(a or b)`.
_TIGHT_BEFORE = frozenset({"_COMMA", "OPTIONAL", "RPAR"})
#: Tokens written with no space after them: `(a or b)`.
_TIGHT_AFTER = frozenset({"LPAR"})


def _code(line: _Line) -> str:
    # `=` is tight in a test's `answer LOOKUP name="v"` (one word per variable,
    # as §2b writes it) and spaced in the action `set name = "v"`
    tight_equals = bool(line.tokens) and line.tokens[0].type == "ANSWER"
    words: list[str] = []  # joined once: a line can have a hundred thousand tokens
    previous: Token | None = None
    for token in line.tokens:
        if previous is not None and not (
                token.type in _TIGHT_BEFORE or previous.type in _TIGHT_AFTER
                or (token.type == "RBRACE" and previous.type == "_LBRACE")
                or (tight_equals and "EQUALS" in (token.type, previous.type))):
            words.append(" ")
        words.append(str(token))
        previous = token
    return "".join(words)


def _align_prompts(lines: list[_Line], code: list[str]) -> None:
    """Consecutive top-level `prompt NAME KIND …` lines: KIND in one column."""
    for run in _runs(lines, lambda line: line.depth == 0 and bool(line.tokens) and line.tokens[0].type == "PROMPT"
                     and len(line.tokens) >= 3):
        width = max(len(str(lines[i].tokens[1])) for i in run)
        for i in run:
            tokens = lines[i].tokens
            head = f"{tokens[0]} {str(tokens[1]).ljust(width)}"
            code[i] = head + " " + _code(_Line(tokens[2:]))


def _align_comments(lines: list[_Line], code: list[str]) -> None:
    """Trailing comments of consecutive lines start in one column."""
    for run in _runs(lines, lambda line: bool(line.tokens) and line.comment is not None):
        width = max(len(INDENT * lines[i].depth + code[i]) for i in run)
        for i in run:
            code[i] = code[i].ljust(width - len(INDENT * lines[i].depth))


def _runs(lines: list[_Line], member: Any) -> Iterator[list[int]]:
    run: list[int] = []
    for index, line in enumerate(lines):
        if member(line):
            run.append(index)
            continue
        if run:
            yield run
        run = []
    if run:
        yield run


# --- meaning ------------------------------------------------------------------------

_POSITIONS = ("span", "end_line", "file")
#: Flow fields that index its other fields (compared through those).
_DERIVED = ("header", "definitions", "names", "handlers")


@functools.cache
def _compared(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)
                 if not (f.name in _POSITIONS or f.name.endswith("_span") or (cls is ir.Flow and f.name in _DERIVED)))


def shape(value: Any) -> Any:
    """An IR value without its positions, for comparing two parses."""
    if isinstance(value, tuple):
        return None if isinstance(value, ir.Span) else tuple(shape(v) for v in value)
    cls = type(value)
    if dataclasses.is_dataclass(cls):
        return (cls.__name__, tuple(shape(getattr(value, name)) for name in _compared(cls)))
    if isinstance(value, list):
        return tuple(shape(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, shape(v)) for k, v in value.items()))
    return value


def same_flow(before: str, after: str) -> bool:
    """Whether two sources parse to the same flow, positions aside."""
    first, second = parse(before), parse(after)
    return first.flow is not None and second.flow is not None and shape(first.flow) == shape(second.flow)
