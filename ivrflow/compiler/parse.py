"""Source text → IR. The only module (with syntax.py) that knows Lark exists.

The LALR parser calls the `_Build` methods as it reduces, so no parse tree is
built: each method turns its tokens into an IR value and computes its span
from the first and last token. Keywords are named terminals, so they are in
`children` and give spans their start.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedInput

from . import ir, values
from .diagnostics import Diagnostic

_file: contextvars.ContextVar[str] = contextvars.ContextVar("ivrflow_file", default="<input>")


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parse: the flow, or (on a syntax error) None and the IVR001 diagnostic."""

    flow: ir.Flow | None
    diagnostics: tuple[Diagnostic, ...]


def parse(source: str, file: str = "<input>") -> Parsed:
    """Parse one flow file. Pure: the file name is only used in spans."""
    from .syntax import syntax_error  # error paths only

    if not source.endswith("\n"):
        source += "\n"  # the grammar ends every statement with a newline
    file_token = _file.set(file)
    try:
        flow = cast(ir.Flow, parser().parse(source))  # the callbacks build IR, not a tree
    except UnexpectedInput as error:
        return Parsed(None, _syntax_errors(error, source, file, syntax_error))
    except TooDeep as error:
        return Parsed(None, (error.diagnostic,))
    finally:
        _file.reset(file_token)
    return Parsed(flow, ())


#: A file with more syntax errors than this shows the first ones only.
MAX_SYNTAX_ERRORS = 20
#: Recovery re-parses the file after each error; past this many seconds it
#: stops and shows what it found (a huge file with many errors stays fast).
RECOVERY_BUDGET_S = 1.0
_BLOCK_WORDS = ("flow", "menu", "collect", "lookup", "hours", "route", "test", "prompt")


def _syntax_errors(first: UnexpectedInput, source: str, file: str,
                   describe: Callable[[UnexpectedInput, str, str], Diagnostic]) -> tuple[Diagnostic, ...]:
    """Every syntax error of a file, not only the first: after each one the
    parse resumes at the next line, with the broken line blanked (a broken
    block header becomes a placeholder block, so its body is not reported
    again), a missing `}` supplied where the next block starts or at the
    end. Line numbers stay those of the file."""
    lines = source.split("\n")
    inserted: list[int] = []  # where recovery added a `}` line (0-based, in today's `lines`)
    found: list[Diagnostic] = []
    reported: set[tuple[int, int]] = set()
    error: UnexpectedInput | None = first
    deadline = time.monotonic() + RECOVERY_BUDGET_S
    while error is not None and len(found) < MAX_SYNTAX_ERRORS and time.monotonic() < deadline:
        diagnostic = _in_file(describe(error, "\n".join(lines), file), inserted)
        place = (diagnostic.span.line, diagnostic.span.column)
        if place in reported:
            break  # the same place again: recovery is going nowhere
        reported.add(place)
        found.append(diagnostic)
        if not _recover(error, lines, inserted):
            break
        try:
            parser().parse("\n".join(lines))
            error = None
        except UnexpectedInput as again:
            error = again
        except TooDeep as deep:
            found.append(_in_file(deep.diagnostic, inserted))
            break
    return tuple(found)


def _recover(error: UnexpectedInput, lines: list[str], inserted: list[int]) -> bool:
    """Change `lines` so the parse can go on past `error`; False if it cannot."""
    token = getattr(error, "token", None)
    kind = getattr(token, "type", None)
    expected = set(getattr(error, "expected", ()) or ())
    at = max(0, min(int(getattr(error, "line", 1) or 1) - 1, len(lines) - 1))
    if kind == "$END":
        if "RBRACE" not in expected:
            return False
        _insert(lines, inserted, len(lines) - 1, "}")  # an unclosed block: close it at the end
        return True
    if kind in ("FLOW", "MENU", "COLLECT", "LOOKUP", "HOURS", "ROUTE", "TEST", "PROMPT", "INCLUDE") \
            and "RBRACE" in expected:
        _insert(lines, inserted, at, "}")  # the next block starts inside this one: close this one first
        return True
    line = lines[at]
    if not line.strip():
        return False
    words = line.split()
    if line.rstrip().endswith("{") and words[0] in _BLOCK_WORDS:
        # A broken header: keep a block of the same kind so its body parses as before.
        header = {"flow": "flow recovered", "test": 'test "recovered"',
                  "lookup": f'lookup recovered_{at} "https://recovered.invalid"'}.get(
            words[0], f"{words[0]} recovered_{at}")
        replacement = f"{header} {{"
        if replacement == line.strip():
            return False
        lines[at] = replacement
        return True
    lines[at] = ""
    return True


def _insert(lines: list[str], inserted: list[int], at: int, text: str) -> None:
    lines.insert(at, text)
    inserted[:] = [added + 1 if added >= at else added for added in inserted] + [at]


def _original_line(line: int, inserted: list[int]) -> int:
    """A line of the recovering text as a line of the file."""
    return line - sum(1 for added in inserted if added < line - 1)


def _in_file(diagnostic: Diagnostic, inserted: list[int]) -> Diagnostic:
    if not inserted:
        return diagnostic

    def move(span: ir.Span) -> ir.Span:
        shift = span.line - _original_line(span.line, inserted)
        return span._replace(line=span.line - shift, end_line=span.end_line - shift)
    return dataclasses.replace(diagnostic, span=move(diagnostic.span),
                               related=tuple((move(where), note) for where, note in diagnostic.related))


@functools.cache
def parser() -> Lark:
    """The grammar, built once per process (and cached on disk by Lark)."""
    return Lark.open_from_package(
        "ivrflow", "ivr.lark", ("grammar",),
        parser="lalr", lexer="contextual", transformer=_Build(), cache=True,
    )


#: How deeply conditions (`not`, `and`/`or` in parentheses) and actions
#: (`transfer … else transfer … else …`) may nest. The parser itself has no
#: limit (LALR keeps its own stack), but everything that walks the IR
#: (condition_text, the machine, the checks, the targets) recurses; past this
#: the file is a syntax error (IVR001) instead of a RecursionError anywhere.
MAX_NESTING = 50


class TooDeep(Exception):
    """A condition or an action nested more than MAX_NESTING levels deep."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _nesting(item: Any) -> int:
    """How many `not`/`and`/`or` (or `else` and `ask … ->`) levels a condition
    (or an action) has; its parts were checked when they were built."""
    if isinstance(item, ir.Not):
        return 1 + _nesting(item.inner)
    if isinstance(item, (ir.AllOf, ir.AnyOf)):
        return 1 + max(_nesting(part) for part in item.items)
    if isinstance(item, ir.Transfer) and item.fallback is not None:
        return 1 + _nesting(item.fallback)
    if isinstance(item, ir.Ask) and item.answers:
        return 1 + max(_nesting(answer) for answer in item.answers)
    return 0


_TOO_DEEP = {
    "condition": ("the condition nests more than {} levels deep (`not`, or `and`/`or` in parentheses)",
                  "write it with fewer levels: a branch can `goto` another route that tests the rest"),
    "action": ("the action nests more than {} levels deep (`else` fallbacks in `else` fallbacks)",
               "write it with fewer levels: a fallback can `goto` a route or menu that goes on from there"),
}


def _bounded(item: Any, kind: str) -> Any:
    """`item`, unless it nests deeper than MAX_NESTING (then TooDeep)."""
    if _nesting(item) > MAX_NESTING:
        from .diagnostics import RULES

        message, hint = _TOO_DEEP[kind]
        raise TooDeep(RULES["IVR001"].at(item.span, message.format(MAX_NESTING), hint=hint))
    return item


def _span(first: Any, last: Any) -> ir.Span:
    """From the start of `first` to the end of `last` (tokens or IR values)."""
    a: Any = first if isinstance(first, Token) else first.span
    b: Any = last if isinstance(last, Token) else last.span
    return ir.Span(_file.get(), a.line, a.column, b.end_line, b.end_column)


def _token_span(token: Any) -> ir.Span:
    return ir.Span(_file.get(), token.line, token.column, token.end_line, token.end_column)


def _setting(name: str, keyword: Token, value: Token, reader: Any = None) -> ir.Setting:
    parsed, problem = reader(str(value)) if reader else (str(value), None)
    return ir.Setting(name, parsed, str(value), _span(keyword, value), problem, _token_span(value))


def _label(children: Sequence[Any]) -> str | None:
    for child in children:
        if isinstance(child, Token) and child.type == "STRING":
            return values.unquote(child)
    return None


class _Build:
    """LALR callbacks: one method per grammar rule, each returning IR."""

    # --- top level ---------------------------------------------------------

    def start(self, items: list[Any]) -> ir.Flow:
        headers = tuple(i for i in items if isinstance(i, ir.Header))
        return assemble(_file.get(), headers, tuple(i for i in items if isinstance(i, ir.DEFINITION_TYPES)),
                        tuple(i for i in items if isinstance(i, ir.Test)),
                        tuple(i for i in items if isinstance(i, ir.Include)))

    def include(self, c: list[Token]) -> ir.Include:
        return ir.Include(values.unquote(c[1]), _span(c[0], c[1]), _token_span(c[1]))

    def flow(self, c: list[Any]) -> ir.Header:
        body = c[2:-1]
        if body and isinstance(body[0], Token):  # the label
            body = body[1:]
        limits = [s for s in body if isinstance(s, tuple)]
        limit = limits[-1] if limits else None
        settings = tuple(s[0] if isinstance(s, tuple) else s for s in body)
        return ir.Header(
            name=str(c[1]), label=_label(c[2:3]), settings=settings,
            max_duration=limit[0] if limit else None,
            max_duration_actions=limit[1] if limit else None,
            span=_span(c[0], c[1]), name_span=_token_span(c[1]),
        )

    def language(self, c: list[Token]) -> ir.Setting:
        return _setting("language", c[0], c[1])

    def languages(self, c: list[Token]) -> ir.Setting:
        names = tuple(str(t) for t in c[1:])
        repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
        problem = f"`{repeated}` is listed twice" if repeated else None
        return ir.Setting("languages", None if problem else names, ", ".join(names), _span(c[0], c[-1]),
                          problem, _span(c[1], c[-1]))

    def start_node(self, c: list[Token]) -> ir.Setting:
        return _setting("start", c[0], c[1])

    def answer_delay(self, c: list[Token]) -> ir.Setting:
        return _setting("answer-delay", c[0], c[1],
                        functools.partial(values.duration, allow_zero=True, most=values.MAX_ANSWER_DELAY_MS))

    def max_duration(self, c: list[Any]) -> tuple[ir.Setting, ir.Actions]:
        return _setting("max-duration", c[0], c[1], values.duration), c[2]

    def timezone(self, c: list[Token]) -> ir.Setting:
        return _setting("timezone", c[0], c[1],
                        lambda text: values.timezone(values.unquote(text)))

    def prompt(self, c: list[Token]) -> ir.Prompt:
        kind, value = c[2], c[3]
        language = str(c[5]) if len(c) > 5 else None
        return ir.Prompt(
            name=str(c[1]), kind="file" if kind.type == "FILE" else "say",
            value=values.unquote(value), language=language,
            span=_span(c[0], c[-1]), name_span=_token_span(c[1]), value_span=_token_span(value),
        )

    def prompt_variants(self, c: list[Any]) -> ir.Prompt:
        variants = tuple(v for v in c[2:-1] if isinstance(v, ir.Variant))
        first = variants[0] if variants else None
        return ir.Prompt(
            name=str(c[1]), kind=first.kind if first else "say", value=first.value if first else "",
            language=first.language if first else None,
            span=_span(c[0], c[1]), name_span=_token_span(c[1]),
            value_span=first.value_span if first else _token_span(c[1]), variants=variants,
        )

    def variant(self, c: list[Token]) -> ir.Variant:
        return ir.Variant(str(c[0]), "file" if c[1].type == "FILE" else "say", values.unquote(c[2]),
                          _span(c[0], c[2]), _token_span(c[2]))

    # --- menus -------------------------------------------------------------

    def menu(self, c: list[Any]) -> ir.Menu:
        return self._waits(ir.Menu, c)

    def collect(self, c: list[Any]) -> ir.Collect:
        return self._waits(ir.Collect, c)

    @staticmethod
    def _waits(kind: Any, c: list[Any]) -> Any:
        body = c[2:-1]
        head_end = c[1]
        if body and isinstance(body[0], Token):  # the label
            head_end, body = body[0], body[1:]
        parts: dict[type, list[Any]] = {ir.Play: [], ir.Setting: [], ir.Press: [], ir.OnEvent: []}
        for statement in body:  # one pass: menus are most of a large file
            parts[type(statement)].append(statement)
        return kind(
            name=str(c[1]), label=_label(c[2:3]),
            plays=tuple(parts[ir.Play]), settings=tuple(parts[ir.Setting]),
            presses=tuple(parts[ir.Press]), events=tuple(parts[ir.OnEvent]),
            span=_span(c[0], head_end), name_span=_token_span(c[1]), end_line=c[-1].line,
        )

    def play(self, c: list[Token]) -> ir.Play:
        fully = any(t.type == "FULLY" for t in c[2:])
        when = next((str(t) for t in c[2:] if t.type in ("FIRST", "AGAIN")), "always")
        return ir.Play(str(c[1]), fully, _span(c[0], c[-1]), _token_span(c[1]), when)  # type: ignore[arg-type]

    def digits(self, c: list[Token]) -> ir.Setting:
        return _setting("digits", c[0], c[1], values.digit_count)

    def end_key(self, c: list[Token]) -> ir.Setting:
        return _setting("end-key", c[0], c[1], lambda t: values.end_key(values.unquote(t) if t[:1] == '"' else t))

    def retries_split(self, c: list[Any]) -> ir.Setting:
        counts: dict[str, int] = {}
        problem = None
        for word, number in c[1:]:
            if word in counts:
                problem = problem or f"`retries` gives `{word}` twice"
            value, issue = values.count(str(number), low=0, high=20, what=f"retries {word}")
            problem = problem or issue
            counts[word] = int(value) if isinstance(value, int) else 0
        if problem is None and len(counts) < 2:
            missing = "invalid" if "timeout" in counts else "timeout"
            problem = f"give both counters: `retries timeout N invalid M` (`{missing}` is missing)"
        last = c[-1][1]
        text = " ".join(f"{w} {n}" for w, n in c[1:])
        return ir.Setting("retries", None if problem else (counts["timeout"], counts["invalid"]), text,
                          _span(c[0], last), problem, _span(c[1][0], last))

    def retry_count(self, c: list[Token]) -> tuple[Token, Token]:
        return c[0], c[1]

    def inter_digit(self, c: list[Token]) -> ir.Setting:
        return _setting("inter-digit", c[0], c[1], values.duration)

    def timeout(self, c: list[Token]) -> ir.Setting:
        return _setting("timeout", c[0], c[1], values.duration)

    def retries(self, c: list[Token]) -> ir.Setting:
        return _setting("retries", c[0], c[1],
                        lambda t: values.count(t, low=0, high=20, what="retries"))

    def dial_extensions(self, c: list[Token]) -> ir.Setting:
        return ir.Setting("dial-extensions", True, str(c[0]), _token_span(c[0]))

    def press(self, c: list[Any]) -> ir.Press:
        key, problem = _key(c[1], patterns=True)
        return ir.Press(key, c[2], _span(c[0], c[2]), _token_span(c[1]), problem)

    # --- lookups -----------------------------------------------------------

    def lookup(self, c: list[Any]) -> ir.Lookup:
        body = c[3:-1]
        url = values.unquote(c[2])
        _, problem = values.url(url)
        return ir.Lookup(
            name=str(c[1]), url=url,
            send=tuple(pair for s in body if isinstance(s, _Send) for pair in s.names),
            receive=tuple(r for s in body if isinstance(s, _Receive) for r in s.names),
            settings=tuple(s for s in body if isinstance(s, ir.Setting)),
            events=tuple(s for s in body if isinstance(s, ir.OnEvent)),
            span=_span(c[0], c[2]), name_span=_token_span(c[1]), url_span=_token_span(c[2]),
            end_line=c[-1].line, problem=problem,
        )

    def send(self, c: list[Token]) -> _Send:
        return _Send(tuple((str(t), _token_span(t)) for t in c[1:]))

    def receive(self, c: list[Any]) -> _Receive:
        return _Receive(tuple(c[1:]))

    def received(self, c: list[Token]) -> ir.Received:
        return ir.Received(str(c[0]), len(c) > 1, _span(c[0], c[-1]))

    def on_event(self, c: list[Any]) -> ir.OnEvent:
        return ir.OnEvent(str(c[1]), c[2], _span(c[0], c[2]))  # type: ignore[arg-type]

    # --- hours and routes --------------------------------------------------

    def hours(self, c: list[Any]) -> ir.Hours:
        body = c[2:-1]
        return ir.Hours(
            name=str(c[1]),
            settings=tuple(s for s in body if isinstance(s, ir.Setting)),
            open=tuple(s for s in body if isinstance(s, ir.DayRange)),
            span=_span(c[0], c[1]), name_span=_token_span(c[1]),
        )

    def open_days(self, c: list[Token]) -> ir.DayRange:
        ranges: list[tuple[int, int]] = []
        problem = None
        for token in c[1:]:
            value, issue = values.time_range(str(token))
            if issue:
                problem = problem or issue
            else:
                ranges.append(cast(tuple[int, int], value))
        return ir.DayRange(values.days(str(c[0])), tuple(ranges), _span(c[0], c[-1]), problem)

    def closed(self, c: list[Token]) -> ir.Setting:
        return _setting("closed", c[0], c[1], values.date)

    def route(self, c: list[Any]) -> ir.Route:
        body = c[2:-1]
        head_end = c[1]
        if body and isinstance(body[0], Token):
            head_end, body = body[0], body[1:]
        return ir.Route(str(c[1]), _label(c[2:3]), tuple(body),
                        _span(c[0], head_end), _token_span(c[1]), c[-1].line)

    def when(self, c: list[Any]) -> ir.When:
        return ir.When(c[1], c[2], _span(c[0], c[2]))

    def is_open(self, c: list[Token]) -> ir.IsOpen:
        return ir.IsOpen(str(c[1]), _span(c[0], c[1]), _token_span(c[1]))

    def caller_is(self, c: list[Token]) -> ir.CallerIs:
        mask = values.unquote(c[1])
        return ir.CallerIs(mask, _span(c[0], c[1]), values.caller_mask(mask))

    def called_is(self, c: list[Token]) -> ir.CalledIs:
        mask = values.unquote(c[1])
        return ir.CalledIs(mask, _span(c[0], c[1]), values.caller_mask(mask))

    def compare(self, c: list[Token]) -> ir.Compare:
        operator, value = str(c[1]), c[2]
        text = values.unquote(value) if value.type == "STRING" else str(value)
        problem = None
        if operator in ("==", "!=") and value.type != "STRING":
            problem = f'`{operator}` compares text: write `{c[0]} {operator} "{text}"`'
        elif operator not in ("==", "!=") and value.type == "STRING":
            problem = f"`{operator}` compares numbers: write a number such as `{c[0]} {operator} 0`, not text"
        return ir.Compare(str(c[0]), operator, text, _span(c[0], value), _token_span(c[0]), problem)  # type: ignore[arg-type]

    def matches(self, c: list[Token]) -> ir.Compare:
        mask = values.unquote(c[2])
        return ir.Compare(str(c[0]), "matches", mask, _span(c[0], c[2]), _token_span(c[0]),
                          values.caller_mask(mask))

    def is_set(self, c: list[Token]) -> ir.IsSet:
        return ir.IsSet(str(c[0]), _span(c[0], c[2]), _token_span(c[0]))

    def negated(self, c: list[Any]) -> ir.Not:
        return cast(ir.Not, _bounded(ir.Not(c[1], _span(c[0], c[1])), "condition"))

    def grouped(self, c: list[Any]) -> ir.Condition:
        return cast(ir.Condition, c[1])

    def any_of(self, c: list[Any]) -> ir.Condition:
        items = tuple(x for x in c if not isinstance(x, Token))
        return items[0] if len(items) == 1 else _bounded(ir.AnyOf(items, _span(items[0], items[-1])), "condition")

    def all_of(self, c: list[Any]) -> ir.Condition:
        items = tuple(x for x in c if not isinstance(x, Token))
        return items[0] if len(items) == 1 else _bounded(ir.AllOf(items, _span(items[0], items[-1])), "condition")

    def otherwise(self, c: list[Any]) -> ir.Otherwise:
        return ir.Otherwise(c[1], _span(c[0], c[1]))

    # --- tests -------------------------------------------------------------

    def test(self, c: list[Any]) -> ir.Test:
        body = c[2:-1]
        return ir.Test(
            name=values.unquote(c[1]),
            settings=tuple(s for s in body if isinstance(s, ir.Setting)),
            steps=tuple(s for s in body if not isinstance(s, ir.Setting)),
            span=_span(c[0], c[1]), name_span=_token_span(c[1]),
        )

    def test_press(self, c: list[Token]) -> ir.TestPress:
        key, problem = _key(c[1])
        return ir.TestPress(key, _span(c[0], c[1]), problem)

    def test_silence(self, c: list[Token]) -> ir.TestSilence:
        return ir.TestSilence(_token_span(c[0]))

    def test_at(self, c: list[Token]) -> ir.Setting:
        return _setting("at", c[0], c[1], lambda t: values.moment(values.unquote(t)))

    def test_caller(self, c: list[Token]) -> ir.Setting:
        return _setting("caller", c[0], c[1], lambda t: (values.unquote(t), None))

    def test_called(self, c: list[Token]) -> ir.Setting:
        return _setting("called", c[0], c[1], lambda t: (values.unquote(t), None))

    def test_answer(self, c: list[Any]) -> ir.TestAnswer:
        return ir.TestAnswer(c[1], _span(c[0], c[1]))

    def test_lookup_answer(self, c: list[Any]) -> ir.TestLookupAnswer:
        pairs = tuple(x for x in c[2:] if isinstance(x, tuple))
        last = c[-1] if isinstance(c[-1], Token) else c[-1][2]
        return ir.TestLookupAnswer(str(c[1]), None if not pairs else tuple((n, v) for n, v, _ in pairs),
                                   _span(c[0], last), _token_span(c[1]))

    def assignment(self, c: list[Token]) -> tuple[str, str, Token]:
        return str(c[0]), values.unquote(c[2]), c[2]

    def test_transfer_fails(self, c: list[Token]) -> ir.TestTransferFails:
        return ir.TestTransferFails(str(c[1]), _span(c[0], c[1]))  # type: ignore[arg-type]

    def test_expect(self, c: list[Any]) -> ir.TestExpect | ir.TestExpectState:
        if isinstance(c[1], ir.SetLanguage):
            return ir.TestExpectState("language", c[1].language, _span(c[0], c[1]))
        return ir.TestExpect(c[1], _span(c[0], c[1]))

    def test_expect_language(self, c: list[Token]) -> ir.TestExpectState:
        return ir.TestExpectState("language", str(c[2]), _span(c[0], c[2]))

    def test_expect_say(self, c: list[Token]) -> ir.TestExpectState:
        return ir.TestExpectState("say", values.unquote(c[2]), _span(c[0], c[2]))

    def test_expect_set(self, c: list[Token]) -> ir.TestExpectState:
        problem = str(c[3]) != "=="
        span = _span(c[0], c[4])
        if problem:  # only `==` can be expected; keep the statement, the checks say why
            return ir.TestExpectState("set", values.unquote(c[4]), span, f"{c[2]} {c[3]}")
        return ir.TestExpectState("set", values.unquote(c[4]), span, str(c[2]))

    # --- actions -----------------------------------------------------------

    def actions(self, c: list[ir.Action]) -> ir.Actions:
        first, last = c[0].span, c[-1].span
        return ir.Actions(tuple(c), ir.Span(first.file, first.line, first.column, last.end_line, last.end_column))

    def goto(self, c: list[Token]) -> ir.Goto:
        return ir.Goto(str(c[1]), _span(c[0], c[1]), _token_span(c[1]))

    def transfer(self, c: list[Any]) -> ir.Transfer:
        destination = values.unquote(c[1])
        _, problem = values.destination(destination)
        ring = next((x for x in c[2:] if isinstance(x, ir.Setting)), None)
        fallback = next((x[1] for x in c[2:] if isinstance(x, tuple)), None)
        transfer = ir.Transfer(destination, _span(c[0], c[-1] if isinstance(c[-1], Token) else _last_span(c[-1])),
                               problem, ring, fallback)
        return cast(ir.Transfer, _bounded(transfer, "action") if fallback is not None else transfer)

    def ring(self, c: list[Token]) -> ir.Setting:
        return _setting("ring", c[0], c[1], values.duration)

    def fallback(self, c: list[Any]) -> tuple[Token, ir.Terminal]:
        return c[0], c[1]

    def hangup(self, c: list[Token]) -> ir.Hangup:
        return ir.Hangup(_token_span(c[0]))

    def repeat(self, c: list[Token]) -> ir.Repeat:
        return ir.Repeat(_token_span(c[0]))

    def replay(self, c: list[Token]) -> ir.Replay:
        return ir.Replay(_token_span(c[0]))

    def set_var(self, c: list[Token]) -> ir.SetVariable:
        return ir.SetVariable(str(c[1]), values.unquote(c[3]), _span(c[0], c[3]), _token_span(c[1]))

    def set_language(self, c: list[Token]) -> ir.SetLanguage:
        return ir.SetLanguage(str(c[2]), _span(c[0], c[2]), _token_span(c[2]))

    def voicemail(self, c: list[Token]) -> ir.Voicemail:
        box = values.unquote(c[1]) if len(c) > 1 else None
        return ir.Voicemail(box, _span(c[0], c[-1]))

    def play_then(self, c: list[Token]) -> ir.PlayThen:
        return ir.PlayThen(str(c[1]), _span(c[0], c[1]), _token_span(c[1]))

    def ask(self, c: list[Any]) -> ir.Ask:
        address = values.unquote(c[1])
        _, problem = values.url(address)
        ask = ir.Ask(address, _span(c[0], c[-1]), problem, tuple(c[2:]))
        return cast(ir.Ask, _bounded(ask, "action") if ask.answers else ask)


def _last_span(item: Any) -> Any:
    """What ends a `transfer … ring … else …` (a Setting or a fallback pair)."""
    if isinstance(item, tuple):
        return item[1]
    return item


@dataclass(frozen=True, slots=True)
class _Send:
    names: tuple[tuple[str, ir.Span], ...]


@dataclass(frozen=True, slots=True)
class _Receive:
    names: tuple[ir.Received, ...]


def assemble(file: str, headers: tuple[ir.Header, ...], definitions: tuple[ir.Definition, ...],
             tests: tuple[ir.Test, ...], includes: tuple[ir.Include, ...] = (),
             included: tuple[ir.Definition, ...] = ()) -> ir.Flow:
    """A Flow from its parts (the parser's, or a file's plus its includes')."""
    everything = definitions + included
    names: dict[str, ir.Definition] = {}
    for definition in everything:
        names.setdefault(definition.name, definition)
    header = headers[0] if headers else None
    menus = tuple(i for i in everything if isinstance(i, ir.Menu))
    routes = tuple(i for i in everything if isinstance(i, ir.Route))
    collects = tuple(i for i in everything if isinstance(i, ir.Collect))
    lookups = tuple(i for i in everything if isinstance(i, ir.Lookup))
    return ir.Flow(
        file=file, header=header, headers=headers,
        prompts=tuple(i for i in everything if isinstance(i, ir.Prompt)),
        menus=menus, hours=tuple(i for i in everything if isinstance(i, ir.Hours)), routes=routes,
        tests=tests, definitions=everything, names=names,
        handlers=ir.collect_handlers(header, menus + routes + collects + lookups),
        collects=collects, lookups=lookups, includes=includes, included=included,
    )


def _key(token: Token, patterns: bool = False) -> tuple[str, str | None]:
    text = values.unquote(token) if token.type == "STRING" else str(token)
    _, problem = values.press_key(text) if patterns else values.key(text)
    return text, problem


_ACTION_WORDS = frozenset({"goto", "transfer", "hangup", "repeat", "replay", "voicemail", "ask", "play", "set"})


def parse_action(text: str) -> ir.Action:
    """One action as written in a flow (`transfer "100"`, `goto main`), for the
    command line's --answer. Raises ValueError with the syntax error's words."""
    if "\n" in text:
        raise ValueError("an action is one line")
    word = text.split(maxsplit=1)[0] if text.strip() else ""
    if word not in _ACTION_WORDS:
        raise ValueError(f"`{text}` is not an action: expected an action (goto, transfer, hangup, repeat, "
                         f"replay, voicemail or ask), found `{word}`")
    parsed = parse(f'test "-" {{\n    answer {text}\n}}\n', "<action>")
    if parsed.flow is None:
        message = parsed.diagnostics[0].message
        raise ValueError(f"`{text}` is not an action: {message}")
    step = parsed.flow.tests[0].steps[0]
    assert isinstance(step, ir.TestAnswer)
    return step.action
