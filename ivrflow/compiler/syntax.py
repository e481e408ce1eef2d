"""Syntax errors (IVR001) in words: what was expected, after what, and which
block is still open. Lark's terminal names never reach the user."""

from __future__ import annotations

import difflib
import re
from typing import Any

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .diagnostics import RULES, Diagnostic
from .ir import Span

_WORDS = {
    "NAME": "a name",
    "STRING": "a quoted string",
    "KEY": "a key (digits, `*`, or `\"#\"` in quotes)",
    "NUMBER": "a number",
    "DURATION": "a duration such as `5s` or `500ms`",
    "TIMERANGE": "a time range such as `09:00-18:00`",
    "DATE": "a date such as `2026-12-31`",
    "DAYS": "days such as `mon-fri`",
    "LANG": "a language such as `en-US`",
    "_NL": "the end of the line",
    "$END": "the end of the file",
    "_ARROW": "`->`",
    "_LBRACE": "`{`",
    "RBRACE": "`}`",
    "_COMMA": "`,`",
    "_PIPE": "`|`",
    "RANGE": "a range such as `1000-1019`",
    "NUMERIC": "a number",
    "COMPARE": "a comparison (`==`, `!=`, `<`, `<=`, `>` or `>=`)",
    "EQUALS": "`=`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "OPTIONAL": "`?`",
    "TRANSFER_RESULT": "`no-answer`, `busy` or `failed`",
}

# Sets of terminals that read better as one phrase (checked in this order).
_GROUPS = (
    ({"FLOW", "INCLUDE", "PROMPT", "MENU", "COLLECT", "LOOKUP", "HOURS", "ROUTE", "TEST"},
     "`flow`, `include`, `prompt`, `menu`, `collect`, `lookup`, `hours`, `route` or `test`"),
    ({"PLAY", "DIGITS", "INTER_DIGIT", "TIMEOUT", "RETRIES", "DIAL_EXTENSIONS", "END_KEY", "PRESS", "ON"},
     "a menu statement (`play`, `press`, `on`, `timeout`, `retries`, `digits`, "
     "`inter-digit`, `end-key` or `dial-extensions`)"),
    ({"GOTO", "TRANSFER", "HANGUP", "REPEAT", "REPLAY", "VOICEMAIL", "PLAY", "SET", "ASK"},
     "an action (`goto`, `transfer`, `hangup`, `repeat`, `replay`, `voicemail`, `ask`, `play` or `set`)"),
    ({"LANGUAGE", "LANGUAGES", "START", "ANSWER_DELAY", "MAX_DURATION", "TIMEZONE"},
     "a flow setting (`language`, `languages`, `start`, `answer-delay`, `max-duration` or `timezone`)"),
    ({"DAYS", "TIMEZONE", "CLOSED"},
     "`timezone`, days with times (`mon-fri 09:00-18:00`) or `closed`"),
    ({"WHEN", "OTHERWISE"}, "`when` or `otherwise`"),
    ({"PRESS", "SILENCE", "AT", "CALLER", "CALLED", "ANSWER", "EXPECT", "TRANSFER_FAILS"},
     "a test step (`press`, `silence`, `expect`, `answer`, `transfer-fails`, `at`, `caller` or `called`)"),
    ({"SEND", "RECEIVE", "TIMEOUT", "ON"}, "a lookup statement (`send`, `receive`, `timeout` or `on`)"),
    ({"TIMEOUT", "INVALID", "EXHAUSTED", "DONE", "ERROR"},
     "`timeout`, `invalid`, `exhausted`, `done` or `error`"),
    ({"OPEN", "CALLER", "CALLED", "NAME", "NOT", "LPAR"},
     "a condition (`open HOURS`, `caller \"MASK\"`, `called \"MASK\"`, `NAME == \"text\"`, `not …` or `(…)`)"),
    ({"COMPARE", "MATCHES", "IS"}, "`==`, `!=`, `<`, `<=`, `>`, `>=`, `matches` or `is set`"),
    ({"FILE", "SAY"}, "`file \"path\"` or `say \"text\"`"),
)
_BLOCKS = {"FLOW": "flow", "MENU": "menu", "COLLECT": "collect", "LOOKUP": "lookup", "HOURS": "hours",
           "ROUTE": "route", "TEST": "test"}
_TOKEN = r'"(?:\\.|[^"\\\n])*"|->|[{},]|[^\s{},"#]+'
_NEXT = re.compile(_TOKEN)
_WORD_OR_COMMENT = re.compile(f"{_TOKEN}|#")


def syntax_error(error: UnexpectedInput, source: str, file: str) -> Diagnostic:
    rule = RULES["IVR001"]
    stack = list(getattr(getattr(error, "state", None), "value_stack", None) or ())
    block = _open_block(stack, file)
    if isinstance(error, UnexpectedCharacters):
        expected = set(error.allowed or ())
        offset = error.pos_in_stream or 0
        span = Span(file, error.line, error.column, error.line, error.column + 1)
        found = _describe_text(source[offset:offset + 1])
        if source[offset:offset + 1] == '"':
            return rule.at(span, "this string is not closed before the end of the line",
                           hint='close it with `"`; write `\\"` for a quote inside it')
        token_type = None
    else:
        assert isinstance(error, UnexpectedToken)
        expected = set(error.expected)
        token = error.token
        token_type = token.type
        if token_type == "$END":
            span = _end_of(source, file)
            offset = len(source)
        elif token_type == "_NL":
            span = Span(file, token.line, token.column, token.line, token.column + 1)
            offset = token.start_pos or 0
        else:
            offset = token.start_pos or 0
            word = _NEXT.match(source, offset)
            width = len(word.group(0)) if word else 1
            line, column = int(token.line or 1), int(token.column or 1)
            span = Span(file, line, column, line, column + width)
        found = _describe_token(token) if token_type in ("$END", "_NL") else _found(source, offset)

    if block is not None:
        keyword, name, where = block
        opened = f"the `{keyword} {name}` block opened on line {where.line}"
        if token_type == "$END" and "RBRACE" in expected:
            return rule.at(span, f"{opened} is never closed", hint="add `}` at its end",
                           related=((where, "opened here"),))
        if token_type in _BLOCKS or token_type == "PROMPT":
            return rule.at(span, f"`{token}` cannot start inside {opened}",
                           hint="is a `}` missing before this line?",
                           related=((where, "opened here"),))
    elif token_type == "RBRACE":
        return rule.at(span, "this `}` closes no block", hint="remove it, or open a block before it")

    message = f"expected {_expected_words(expected)}"
    previous = _previous(source, offset, span.line)
    if previous:
        message += f" after {previous}"
    message += f", found {found}"
    hint = _did_you_mean(source, offset, expected)
    if hint is None and token_type == "_NL":
        at_hash = _key_comment(source, span.line)
        if at_hash is not None:  # `press # -> …`: the key became a comment
            span = Span(file, span.line, at_hash, span.line, at_hash + 1)
            hint = '`#` starts a comment: write the key in quotes, `"#"`'
            message = "expected a key after `press`, found `#`, which starts a comment"
    if hint is None and block is not None and token_type == "$END":
        hint = f"the file ends inside the `{block[0]} {block[1]}` block opened on line {block[2].line}"
    return rule.at(span, message, hint=hint)


def _open_block(stack: list[Any], file: str) -> tuple[str, str, Span] | None:
    """(keyword, name, span of the header) of the block the parser is inside."""
    for index in range(len(stack) - 1, -1, -1):
        item = stack[index]
        if isinstance(item, Token) and item.type == "_LBRACE":
            for back in range(index - 1, -1, -1):
                keyword = stack[back]
                if isinstance(keyword, Token) and keyword.type in _BLOCKS:
                    name = stack[back + 1]
                    where = Span(file, int(keyword.line or 1), int(keyword.column or 1),
                                 int(name.end_line or 1), int(name.end_column or 1))
                    return str(keyword), str(name), where
            return None
    return None


def _expected_words(expected: set[str]) -> str:
    remaining = set(expected)
    phrases: list[str] = []
    for group, phrase in _GROUPS:
        if group <= remaining:
            phrases.append(phrase)
            remaining -= group
    if phrases:
        remaining.discard("_NL")  # blank lines are always allowed between statements
    order = list(_WORDS)
    for name in sorted(remaining, key=lambda n: (n not in order, order.index(n) if n in order else 0, n)):
        phrases.append(_WORDS.get(name) or f"`{name.lower().replace('_', '-')}`")
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _describe_token(token: Token) -> str:
    if token.type in ("$END", "_NL"):
        return _WORDS[token.type]
    return _describe_text(str(token))


def _found(source: str, offset: int) -> str:
    word = _NEXT.match(source, offset)
    return _describe_text(word.group(0) if word else source[offset:offset + 1])


def _key_comment(source: str, line: int) -> int | None:
    """The column of `#` in `press #`, where a key was meant and a comment began."""
    lines = source.split("\n")
    match = re.search(r"\bpress\s+(#)", lines[line - 1]) if line <= len(lines) else None
    return match.start(1) + 1 if match else None


def _describe_text(text: str) -> str:
    if not text or text in "\r\n":
        return "the end of the line"
    if len(text) > 30:
        text = text[:27] + "…"
    return f"`{text}`"


def _previous(source: str, offset: int, line: int) -> str | None:
    """The token before `offset` on the same line, in words: "the key `1`".

    Only the error's line is read, left to right, once: searching backwards
    from the offset with an anchored pattern costs the square of the length
    of a long word or string before the error."""
    lines = source[:offset].split("\n")
    if line > len(lines) or any(_tokens(rest) for rest in lines[line:]):
        return None  # the last token before the error is on a later line
    tokens = _tokens(lines[line - 1])
    if not tokens:
        return None
    if len(tokens) > 1 and tokens[-2] == "press":
        return f"the key `{tokens[-1]}`"
    return _describe_text(tokens[-1])


def _tokens(line: str) -> list[str]:
    """The words, strings and punctuation of one line, up to any comment."""
    tokens: list[str] = []
    for match in _WORD_OR_COMMENT.finditer(line):
        text = match.group(0)
        if text == "#":
            break
        tokens.append(text)
    return tokens


def _did_you_mean(source: str, offset: int, expected: set[str]) -> str | None:
    word = re.match(r"[A-Za-z_-]+", source[offset:])
    if word is None:
        return None
    keywords = [name.lower().replace("_", "-") for name in expected if name.isupper() and name not in _WORDS]
    close = difflib.get_close_matches(word.group(0), keywords, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def _end_of(source: str, file: str) -> Span:
    stripped = source.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return Span(file, line, column, line, column + 1)
