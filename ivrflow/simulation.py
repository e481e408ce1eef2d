"""Output of `ivrflow simulate` and `ivrflow test`: the machine's calls, shown
to people (text) or programs (JSON)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import click

from .compiler import Checked, ir
from .compiler.machine import (
    Answer,
    AskService,
    End,
    Keys,
    Line,
    MachineError,
    Outcome,
    Play,
    Silence,
    Visited,
    step,
)
from .compiler.simulate import CallRecord, Input, parse_inputs, run_call


def line(at: str | None, caller: str | None) -> Line:
    """The call's clock and caller from the command line. Raises ValueError."""
    from .compiler import values

    if at is None:
        moment = dt.datetime.now(dt.UTC)
    else:
        value, problem = values.moment(at)
        if problem:
            raise ValueError(f"--at: {problem}")
        assert isinstance(value, dt.datetime)
        moment = value
    return Line(moment, caller)


def action(text: str, flow: ir.Flow) -> ir.Action:
    """An answer of the routing service, as written in a flow. Raises ValueError."""
    from .compiler.parse import parse_action

    parsed = parse_action(text)
    if isinstance(parsed, ir.PlayThen):
        raise ValueError(f"`{text}`: the routing service answers with a terminal action, not `play`")
    if isinstance(parsed, ir.Goto) and flow.node(parsed.target) is None:
        raise ValueError(f"`{text}`: there is no menu or route named `{parsed.target}`")
    return parsed


def inputs(text: str) -> list[Input]:
    try:
        return list(parse_inputs(text))
    except ValueError as error:
        raise ValueError(f"--press: {error}") from None


# --- describing a call -------------------------------------------------------------

def _heard(flow: ir.Flow, name: str) -> str:
    prompt = flow.prompt(name)
    if prompt is None:
        return name
    return f"{name} “{prompt.value}”" if prompt.kind == "say" else f"{name} ({prompt.value})"


def _event(visited: Visited) -> str:
    event, keys = visited.event, visited.keys
    if event.startswith("press "):
        return f"pressed {keys}"
    return {
        "invalid": f"pressed {keys}: not an option (invalid)",
        "timeout": "pressed nothing (timeout)",
        "exhausted": "out of retries (exhausted)",
        "dial": f"dialled extension {keys}",
        "max-duration": "reached the time limit (max-duration)",
        "answer": "the routing service answered",
    }.get(event, event)


def describe_outcome(outcome: Outcome) -> str:
    if outcome.action == "waiting":
        return f"the caller is waiting in menu `{outcome.target}`"
    if outcome.action == "ask":
        return f"the flow asks {outcome.target} where to go (give --answer to continue)"
    return f"{outcome.action} {outcome.target}" if outcome.target else outcome.action


def transcript(flow: ir.Flow, record: CallRecord, *, colour: bool = False) -> str:
    lines = []
    for visited in record.path:
        node = click.style(visited.node, bold=True) if colour else visited.node
        lines.append(f"  {node}")
        for name in visited.played:
            lines.append(f"    ♪ {_heard(flow, name)}")
        lines.append(f"    → {_event(visited)}")
    pending = record.call.heard
    if record.call.status == "input" and record.call.node:
        lines.append(f"  {record.call.node}")
        lines += [f"    ♪ {_heard(flow, name)}" for name in pending]
    outcome = describe_outcome(record.outcome)
    lines.append(click.style(f"■ {outcome}", bold=True) if colour else f"■ {outcome}")
    return "\n".join(lines) + "\n"


def scripted(flow: ir.Flow, call_line: Line, inputs: list[Input], answers: list[ir.Action],
             fmt: str, *, colour: bool) -> int:
    try:
        record, unused = run_call(flow, inputs, call_line, answers)
    except MachineError as error:
        raise click.ClickException(str(error)) from None
    if fmt == "json":
        click.echo(json.dumps(record.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(transcript(flow, record, colour=colour), nl=False)
    if unused:
        names = ", ".join(i.keys if isinstance(i, Keys) else "silence" for i in unused)
        click.echo(f"note: the call ended before these inputs: {names}", err=True)
    return 0


def interactive(flow: ir.Flow, call_line: Line, answers: list[ir.Action], *, colour: bool) -> int:
    """You are the caller: keys in, what you hear out, until the call ends."""
    when = call_line.now.strftime("%Y-%m-%d %H:%M %Z").strip() if call_line.now else "now"
    who = call_line.caller or "a withheld number"
    click.echo(f"Calling {flow.name} at {when} from {who}. Type keys, `silence` or `quit`.")
    record = CallRecord(flow, call_line, answers=list(answers))
    event: Keys | Silence | Answer | None = None
    from .compiler.machine import Call, Start

    call = Call()
    while True:
        try:
            call, effects = step(flow, call, event or Start(), call_line)
        except MachineError as error:
            raise click.ClickException(str(error)) from None
        record.call = call
        for effect in effects:
            if isinstance(effect, Play):
                click.echo(f"  ♪ {_heard(flow, effect.prompt)}" + ("  (cannot be interrupted)" if effect.fully else ""))
            elif isinstance(effect, Visited):
                click.echo(f"  [{effect.node}] {_event(effect)}")
                record.path.append(effect)
            elif isinstance(effect, End):
                click.echo(click.style(f"■ {describe_outcome(effect.outcome)}", bold=colour))
                return 0
            elif isinstance(effect, AskService):
                click.echo(f"  the flow asks {effect.url} where to go")
        if call.status == "answer":
            event = Answer(_ask_answer(record))
            continue
        text = click.prompt(f"[{call.node}] keys", prompt_suffix="> ", default="silence", show_default=False)
        text = text.strip()
        if text.lower() in ("quit", "q", "exit"):
            click.echo(f"■ hung up in menu `{call.node}`")
            return 0
        try:
            parsed = list(parse_inputs(text))
        except ValueError as error:
            click.echo(f"  {error}; type digits, * or #, `silence` or `quit`")
            event = None
            continue
        if len(parsed) != 1:
            click.echo("  one entry at a time, please")
            event = None
            continue
        event = parsed[0]


def _ask_answer(record: CallRecord) -> ir.Action:
    """The next --answer (UndeclaredAnswer when the `ask` does not declare it),
    else one typed in, asked again until the `ask` allows it."""
    from .compiler.machine import answer_problem, asks_at
    from .compiler.simulate import UndeclaredAnswer

    node, url = record.call.node, record.call.outcome.target if record.call.outcome else None
    if record.answers:
        answer = record.answers.pop(0)
        problem = answer_problem(record.flow, node, url, answer)
        if problem is not None:
            raise UndeclaredAnswer(problem, answer)
        return answer
    declared = dict.fromkeys(ir.written(a) for ask in asks_at(record.flow, node, url) for a in ask.answers)
    choices = " | ".join(declared) or '`transfer "100"`, `goto main`, `repeat`, `hangup`'
    while True:
        text = click.prompt(f"  its answer ({choices})", prompt_suffix="> ")
        try:
            answer = action(text.strip(), record.flow)
        except ValueError as error:
            click.echo(f"  {error}")
            continue
        problem = answer_problem(record.flow, node, url, answer)
        if problem is None:
            return answer
        click.echo(f"  {problem}")


# --- ivrflow test ---------------------------------------------------------------------

def run_test_files(results: Sequence[Checked], *, colour: bool) -> int:
    from . import report
    from .compiler.testing import run_tests

    def paint(text: str, **style: object) -> str:
        return click.style(text, **style) if colour else text  # type: ignore[arg-type]

    passed = failed = broken = 0
    missed_lines: list[str] = []
    total_handlers = total_missed = 0
    for result in results:
        if not result.ok or result.flow is None or result.graph is None:
            click.echo(report.text([result], colour=colour), nl=False)
            click.echo(paint(f"{result.file}: not run, the flow has errors\n", fg="red", bold=True))
            broken += 1
            continue
        tests, coverage = run_tests(result.flow, result.graph)
        click.echo(paint(result.file, bold=True) + ("" if tests else "  (no tests)"))
        for outcome in tests:
            if outcome.passed:
                passed += 1
                click.echo(f"  {paint('✓', fg='green')} {outcome.test.name}")
                continue
            failed += 1
            failure = outcome.failure
            assert failure is not None
            click.echo(f"  {paint('✗', fg='red', bold=True)} {outcome.test.name}")
            click.echo(f"      {failure.span}: expected {failure.expected}")
            click.echo(f"      but: {failure.actual}")
            if outcome.record is not None and outcome.record.path:
                steps = " → ".join(f"{v.node} ({_event(v)})" for v in outcome.record.path)
                click.echo(f"      path: {steps}")
        if tests:
            total_handlers += len(coverage.handlers)
            total_missed += len(coverage.missed)
            for owner, event, span in coverage.missed:
                missed_lines.append(f"    {span.file}:{span.line}  {owner}: {event}")
    if total_handlers:
        covered = total_handlers - total_missed
        click.echo(f"\ncoverage: {covered} of {total_handlers} handlers exercised "
                   f"({100.0 * covered / total_handlers:.0f}%)")
        if missed_lines:
            click.echo("  not exercised by any test:")
            click.echo("\n".join(missed_lines))
    parts = [paint(f"{passed} passed", fg="green")]
    if failed:
        parts.append(paint(f"{failed} failed", fg="red", bold=True))
    if broken:
        parts.append(paint(f"{broken} file(s) with errors", fg="red", bold=True))
    click.echo("\n" + ", ".join(parts))
    return 1 if failed or broken else 0


# --- simulate --via -------------------------------------------------------------------

def via(flow: ir.Flow, url: str, inputs: list[Input], at: str | None, caller: str | None, fmt: str,
        *, colour: bool) -> int:
    """The scripted call through a live server, with this process as the platform."""
    import asyncio
    import os

    import httpx

    from .targets.mediaservice.emulator import CallFailed, Platform, drive_call, platform_app, serve_in_background

    entries = ["silence" if isinstance(i, Silence) else i.keys for i in inputs]
    clock = None
    if at is not None:
        moment = line(at, caller).now
        clock = moment.isoformat() if moment else None

    async def run() -> Any:
        platform = Platform()
        server, task, base = await serve_in_background(platform_app(platform))
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                return await drive_call(client, [url], platform, base + "/mediaservice", entries, caller=caller,
                                        clock=clock, token=os.environ.get("IVRFLOW_CALLBACK_TOKEN"))
        finally:
            server.should_exit = True
            await task

    try:
        transcript = asyncio.run(run())
    except (CallFailed, httpx.HTTPError) as error:
        raise click.ClickException(f"the call through {url} failed: {error}") from None
    document = transcript.to_dict()
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        for step_ in document["path"]:
            played = ", ".join(step_["played"])
            click.echo(f"  {step_['node']}: {'♪ ' + played + ' ' if played else ''}→ {step_['event']}")
        click.echo(f"■ {describe_outcome(transcript.outcome)}")
    if at is not None:
        click.echo("note: a server started without --insecure ignores --at and uses its own clock", err=True)
    return 0
