"""`check` reports every syntax error of a file in one run, each where it is,
without follow-on errors from the ones before."""

from __future__ import annotations

from ivrflow.compiler import check_source
from ivrflow.compiler.parse import MAX_SYNTAX_ERRORS

FIVE_MISTAKES = '''\
prompt hi say "Hi"

menu main {
    play hi
    press 1 transfer "100"
    press 2 -> goto sales
    timeout 5 s
    on timeout -> repeat
}

menu sales {
    play hi
    press 1 -> transfer "200"

menu billing "Billing {
    play hi
    press 1 -> hangup
}

route entry {
    when open -> goto main
    otherwise -> goto main
}
'''


def _places(source: str) -> list[tuple[int, int]]:
    result = check_source(source, "f.ivr")
    assert result.flow is None and all(d.code == "IVR001" for d in result.diagnostics)
    return [(d.span.line, d.span.column) for d in result.diagnostics]


def test_every_syntax_error_is_reported_once_where_it_is() -> None:
    result = check_source(FIVE_MISTAKES, "f.ivr")
    assert [(d.span.line, d.span.column) for d in result.diagnostics] == [
        (5, 13),   # press 1 transfer: no arrow
        (7, 15),   # timeout 5 s
        (15, 1),   # menu sales is never closed before menu billing
        (15, 14),  # the unclosed string
        (21, 15),  # when open -> with no hours
    ]
    assert "`menu sales` block opened on line 11" in result.diagnostics[2].message
    assert result.diagnostics[2].related[0][0].line == 11


def test_an_unclosed_block_at_the_end_and_a_stray_brace() -> None:
    assert _places('prompt hi say "Hi"\n}\nmenu main {\n    play hi\n    press 1 -> hangup\n') == [(2, 1), (5, 22)]


def test_a_broken_block_header_does_not_turn_its_body_into_errors() -> None:
    source = 'prompt hi say "Hi"\nmenu main "Main {\n' + "    press 1 -> hangup\n" * 30 + "}\n"
    assert _places(source) == [(2, 11)]


def test_a_file_of_mistakes_shows_the_first_ones_and_stops() -> None:
    source = "".join(f"menu m{i} {{\n    press {i} transfer \"1\"\n}}\n" for i in range(100))
    places = _places(source)
    assert len(places) == MAX_SYNTAX_ERRORS
    assert places[:3] == [(2, 13), (5, 13), (8, 13)]
