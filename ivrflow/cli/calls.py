"""The commands that call a flow offline: simulate and test."""

from __future__ import annotations

from pathlib import Path

import click

from . import _colour, _flow_files, _load_all, _load_one, _Usage, _watch, cli


@cli.command()
@click.argument("file", metavar="FLOW")
@click.option("--press", "presses", metavar="KEYS", help="A scripted call: entries separated by commas, "
                                                          "such as `1,2,silence` (`silence` lets the timeout pass); "
                                                          "`12345678#` is an entry ended by its end key; "
                                                          "`no-answer`, `busy` or `failed`: the transfer that "
                                                          "rings does not connect.")
@click.option("--at", "at", metavar="TIME", help='The time of the call, such as "2026-11-23 10:00" (wall-clock '
                                                  "time where the hours are) or with a zone. Default: now.")
@click.option("--caller", metavar="NUMBER", help="The calling number, such as +442071234567. Default: withheld.")
@click.option("--called", metavar="NUMBER", help="The number the caller dialled, such as 18005550199 (for `called` "
                                                  "conditions and the variable `called`). Default: not known.")
@click.option("--answer", "answers", multiple=True, metavar="ACTION",
              help='What the routing service answers when the flow asks, such as `transfer "100"` or '
                   "`goto main`; or what a lookup's web service answers: `find_balance:balance=42.10,status=ok` "
                   "or `find_balance:error`. Repeat for several asks and lookups.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--via", metavar="URL", help="Run the scripted call through a live runtime server, such as "
                                           "http://127.0.0.1:8080/mediaservice (token: IVRFLOW_CALLBACK_TOKEN). "
                                           "The server must run this flow (its /healthz lists them).")
def simulate(file: str, presses: str | None, at: str | None, caller: str | None, called: str | None,
             answers: tuple[str, ...], fmt: str, via: str | None) -> int:
    """Call the flow offline and hear what a caller would hear.

    With --press, the call is scripted and the outcome printed. Without it you
    are the caller: type one entry a line (keys, `silence` or just Enter to let
    the timeout pass, `help`, `quit`); input that is not an entry is asked for
    again. When the flow asks a routing service or runs a lookup, you type its
    answer (unless --answer gave it).

    \b
      ivrflow simulate examples/support.ivr --press 1,2 --at "2026-11-23 10:00"
      ivrflow simulate examples/support.ivr --press 2,silence --format json
      ivrflow simulate examples/clinic.ivr --answer 'transfer "100"'
      ivrflow simulate examples/bank.ivr --at "2026-11-23 10:00" --press 1,12345678# \\
          --answer find_balance:balance=42.10,status=ok
      ivrflow simulate examples/bank.ivr --at "2026-11-23 10:00" --press 0,no-answer
      ivrflow simulate examples/support.ivr --via http://127.0.0.1:8080/mediaservice --press 3,2
    """
    from .. import simulation
    from ..compiler.machine import TransferFailed
    from ..compiler.simulate import MisplacedInput, UndeclaredAnswer

    result = _load_one(file)
    assert result.flow is not None
    try:
        line = simulation.line(at, caller, called)
        parsed_answers, lookups = simulation.answers(answers, result.flow)
        inputs = simulation.inputs(presses) if presses is not None else None
    except ValueError as error:
        raise _Usage(str(error)) from None
    if via is not None:
        if answers:
            raise _Usage("--answer cannot be used with --via: the server asks the real routing service")
        failed = next((i for i in inputs or [] if isinstance(i, TransferFailed)), None)
        if failed is not None:
            raise _Usage(f"--press: `{failed.reason}` cannot be used with --via: the platform's transfer "
                         "connects or fails")
        try:
            callbacks = simulation.via_callbacks(via, result.flow.name, file)
        except simulation.WrongServer as error:
            raise _Usage(str(error)) from None
        return simulation.via(result.flow, callbacks, inputs or [], at, caller, fmt, colour=_colour(),
                              called=called)
    try:
        if inputs is None and fmt == "text":
            return simulation.interactive(result.flow, line, parsed_answers, colour=_colour(), lookups=lookups)
        return simulation.scripted(result.flow, line, inputs or [], parsed_answers, fmt, colour=_colour(),
                                   lookups=lookups)
    except UndeclaredAnswer as error:
        raise _Usage(f"--answer {error}") from None
    except MisplacedInput as error:
        raise _Usage(f"--press: {error}") from None


@cli.command(name="test")
@click.argument("files", nargs=-1, required=True, metavar="FLOW...")
@click.option("-k", "keyword", metavar="EXPR", help="Run only the tests whose `FILE::NAME` matches EXPR: "
                                                  "words are case-insensitive substrings, combined with and, "
                                                  "or, not and parentheses, as in pytest.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: {files, coverage, summary} for scripts.")
@click.option("--junit-xml", metavar="FILE", help="Also write the results as JUnit XML, which CI systems read.")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Exit 1 when tests exercise less than PERCENT of the keys, menu events and route branches.")
@click.option("--no-coverage", is_flag=True, help="Do not report which keys, events and branches went untested.")
@click.option("--watch", is_flag=True, help="Run again whenever a flow file or prompt changes (Ctrl-C stops).")
def test_command(files: tuple[str, ...], keyword: str | None, fmt: str, junit_xml: str | None,
                 fail_under: float | None, no_coverage: bool, watch: bool) -> int:
    """Run the `test` blocks of the flow files (or directories of them).

    Each failure shows its line, what was expected, what happened and the
    path the call took. Then coverage: the keys, menu events and route
    branches no test exercised. Exit status 1 on any failure or a flow with
    errors, or when coverage is under --fail-under.

    \b
      ivrflow test examples/
      ivrflow test examples/quickstart.ivr -k "wrong key or sales"
      ivrflow test examples/ --junit-xml results.xml --fail-under 90
      ivrflow test examples/ --format json --no-coverage
      ivrflow test examples/ --watch
    """
    from .. import testrun
    from ..compiler.testing import name_filter

    if no_coverage and fail_under is not None:
        raise _Usage("--fail-under needs coverage: leave out --no-coverage")
    try:
        select = name_filter(keyword) if keyword is not None else None
    except ValueError as error:
        raise _Usage(str(error)) from None
    paths = _flow_files(files)

    def run_once() -> int:
        results = _load_all(paths, check_files=False)
        if select is not None:
            names = [f"{Path(r.file).name}::{t.name}" for r in results if r.flow is not None for t in r.flow.tests]
            if names and not any(select(name) for name in names):
                raise _Usage(f"-k `{keyword}` matches none of the {len(names)} tests")
        return testrun.run_files(results, colour=_colour(), select=select, fmt=fmt, junit_xml=junit_xml,
                                 coverage=not no_coverage, fail_under=fail_under)

    return _watch(paths, run_once) if watch else run_once()
