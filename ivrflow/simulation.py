"""Output of `ivrflow simulate` and `ivrflow test`: the machine's calls, shown
to people (text) or programs (JSON)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from .compiler import ir
from .compiler.graph import describe
from .compiler.machine import (
    Answer,
    AskService,
    Call,
    Effect,
    End,
    Keys,
    Line,
    MachineError,
    Outcome,
    Play,
    Silence,
    Start,
    Visited,
    step,
)
from .compiler.simulate import CallRecord, Input, parse_inputs, run_call
from .config import CALLBACK_TOKEN_VARIABLE


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


def _handler_plays(flow: ir.Flow, visited: Visited) -> tuple[str, ...]:
    """The prompts the handler of `visited.event` played (after the cause, not before it)."""
    node = flow.node(visited.node)
    actions: ir.Actions | None = None
    if isinstance(node, ir.Menu):
        if visited.event.startswith("press "):
            actions = next((p.actions for p in node.presses if f"press {p.key}" == visited.event), None)
        elif visited.event in ("timeout", "invalid", "exhausted"):
            handler = node.on(visited.event)  # type: ignore[arg-type]
            actions = handler.actions if handler is not None else None
    elif isinstance(node, ir.Route):
        actions = next((b.actions for b in node.branches if ir.branch_event(b) == visited.event), None)
    plays = actions.plays if actions is not None else ()
    return plays if plays and visited.played[-len(plays):] == plays else ()


def transcript(flow: ir.Flow, record: CallRecord, *, colour: bool = False) -> str:
    """Each step: the node, what it played, what the caller did (the cause),
    then what its handler played because of it (the effect)."""
    lines = []
    for visited in record.path:
        node = click.style(visited.node, bold=True) if colour else visited.node
        lines.append(f"  {node}")
        after = _handler_plays(flow, visited)
        before = visited.played[:len(visited.played) - len(after)]
        lines += [f"    ♪ {_heard(flow, name)}" for name in before]
        lines.append(f"    → {_event(visited)}")
        lines += [f"      ♪ {_heard(flow, name)}" for name in after]
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


_QUIT = ("quit", "q", "exit")
_HINT = "type one entry of digits, * or # (such as 1 or 123#), `silence` (or Enter) or `quit`"


class _HungUp(Exception):
    """The person at the keyboard ended the call (`quit` or end of input)."""


def _read(prompt: str) -> str:
    """One line typed by the caller. Piped input is echoed so the transcript
    reads like a session; end of input hangs up."""
    if sys.stdin.isatty():
        try:
            return str(click.prompt(prompt, prompt_suffix="> ", default="", show_default=False))
        except click.Abort:
            click.echo()
            raise _HungUp from None
    click.echo(prompt + "> ", nl=False)
    text = sys.stdin.readline()
    if not text:
        click.echo()
        raise _HungUp
    click.echo(text.rstrip("\n"))
    return text


def interactive(flow: ir.Flow, call_line: Line, answers: list[ir.Action], *, colour: bool) -> int:
    """You are the caller: keys in, what you hear out, until the call ends.

    Input the flow would reject as a key (`abc`, `1 2`, `help`) is explained
    and asked for again; it never reaches the call."""
    when = call_line.now.strftime("%Y-%m-%d %H:%M %Z").strip() if call_line.now else "now"
    who = call_line.caller or "a withheld number"
    click.echo(f"Calling {flow.name} at {when} from {who}. Type keys, `silence` (or just Enter) or `quit`.")
    scripted_answers = list(answers)
    call, effects = _step(flow, Call(), Start(), call_line)
    while True:
        given: ir.Action | None = None
        for effect in _show_effects(flow, effects, colour):
            if isinstance(effect, End):
                return 0
        if call.status == "answer":
            typed = not scripted_answers
            try:
                given = _scripted_answer(flow, call, scripted_answers.pop(0)) if scripted_answers \
                    else _ask_answer(flow, call)
            except _HungUp:
                asked = call.outcome.target if call.outcome else "the routing service"
                click.echo(f"■ hung up while waiting for {asked}")
                return 0
            click.echo(f"  the routing service answered `{describe(given)}`")
            try:
                call, effects = step(flow, call, Answer(given), call_line)
            except MachineError as error:
                if not typed:
                    raise click.ClickException(str(error)) from None
                click.echo(f"  the call cannot take that answer: {error}")
                effects = ()  # the call is unchanged: ask again
            continue
        try:
            event = _caller_entry(flow, call)
        except _HungUp:
            click.echo(f"■ hung up in menu `{call.node}`")
            return 0
        call, effects = _step(flow, call, event, call_line)


def _step(flow: ir.Flow, call: Call, event: Start | Keys | Silence | Answer,
          call_line: Line) -> tuple[Call, tuple[Effect, ...]]:
    try:
        return step(flow, call, event, call_line)
    except MachineError as error:
        raise click.ClickException(str(error)) from None


def _show_effects(flow: ir.Flow, effects: Sequence[Effect], colour: bool) -> Iterator[Effect]:
    """Print one step: each path step (the cause) before the prompts its
    handler played (the effect)."""
    heard: list[Play] = []

    def flush(indent: str) -> None:
        for play in heard:
            click.echo(f"{indent}♪ {_heard(flow, play.prompt)}" + ("  (cannot be interrupted)" if play.fully else ""))
        heard.clear()

    for effect in effects:
        if isinstance(effect, Play):
            heard.append(effect)
        elif isinstance(effect, Visited):
            if effect.event != "answer":  # the answer itself was shown as it came
                click.echo(f"  [{effect.node}] {_event(effect)}")
            flush("    ")
        elif isinstance(effect, End):
            flush("  ")
            click.echo(click.style(f"■ {describe_outcome(effect.outcome)}", bold=colour))
        elif isinstance(effect, AskService):
            flush("  ")
            click.echo(f"  the flow asks {effect.url} where to go")
        yield effect
    flush("  ")


def _caller_entry(flow: ir.Flow, call: Call) -> Keys | Silence:
    """Ask until the caller types one entry the menu can take."""
    menu = flow.node(call.node or "")
    where = call.node or "?"
    if isinstance(menu, ir.Menu) and call.retries:
        where += f", retry {call.retries} of {menu.retries}"
    while True:
        text = _read(f"[{where}] keys (Enter: silence)").strip()
        if text.lower() in _QUIT:
            raise _HungUp
        if text.lower() in ("help", "?", "h"):
            click.echo(f"  {_HINT}")
            continue
        if not text:
            return Silence()
        try:
            parsed = list(parse_inputs(text))
        except ValueError as error:
            click.echo(f"  {error}: {_HINT}")
            continue
        if len(parsed) != 1:
            click.echo(f"  one entry at a time (`{text}` has {len(parsed)}): {_HINT}")
            continue
        return parsed[0]


def _scripted_answer(flow: ir.Flow, call: Call, answer: ir.Action) -> ir.Action:
    """An --answer, if the `ask` the call is at allows it (UndeclaredAnswer otherwise)."""
    from .compiler.machine import answer_problem
    from .compiler.simulate import UndeclaredAnswer

    problem = answer_problem(flow, call.node, call.outcome.target if call.outcome else None, answer)
    if problem is not None:
        raise UndeclaredAnswer(problem, answer)
    return answer


def _ask_answer(flow: ir.Flow, call: Call) -> ir.Action:
    """The routing service's answer, typed by the person playing it, asked
    again until the `ask` allows it (its declared answers, when it has them)."""
    from .compiler.machine import answer_problem, asks_at

    node, url = call.node, call.outcome.target if call.outcome else None
    declared = dict.fromkeys(ir.written(a) for ask in asks_at(flow, node, url) for a in ask.answers)
    choices = " | ".join(declared) or '`transfer "100"`, `goto main`, `repeat`, `hangup`'
    while True:
        text = _read(f"  its answer ({choices}, or `quit`)").strip()
        if text.lower() in _QUIT:
            raise _HungUp
        try:
            answer = action(text, flow)
        except ValueError as error:
            click.echo(f"  {error}")
            continue
        problem = answer_problem(flow, node, url, answer)
        if problem is None:
            return answer
        click.echo(f"  {problem}")


# --- ivrflow test ---------------------------------------------------------------------

# --- simulate --via -------------------------------------------------------------------

class WrongServer(ValueError):
    """--via points at a server that cannot run this flow's call."""


#: Where the runtime server mounts the mediaservice callbacks (runtime/app.py
#: mounts each target's webhooks under its name).
MEDIASERVICE_MOUNT = "/mediaservice"


def via_callbacks(url: str, flow: str, file: str, client: Any = None) -> str:
    """The callback URL that runs `flow` on the server at `url`, after asking
    its /healthz which flows it runs. Raises WrongServer: a server running
    other flows would answer with them, silently."""
    import httpx

    parsed = httpx.URL(url)
    path = parsed.path.rstrip("/")
    named = None
    head, mount, tail = path.rpartition(MEDIASERVICE_MOUNT + "/")
    if mount and tail and "/" not in tail:
        path, named = head + MEDIASERVICE_MOUNT, tail
    if named is not None and named != flow:
        raise WrongServer(f"--via {url} names flow `{named}`, but {file} is flow `{flow}`")
    if path.endswith(MEDIASERVICE_MOUNT):
        path = path[: -len(MEDIASERVICE_MOUNT)]
    base = str(parsed.copy_with(path=path or "/", query=None, fragment=None)).rstrip("/")
    health = base + "/healthz"
    try:
        response = (client or httpx).get(health, timeout=10)
    except httpx.HTTPError as error:
        raise WrongServer(f"--via: cannot reach {health}: {error}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    flows = body.get("flows") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(flows, list):
        raise WrongServer(f"--via: {health} answered {response.status_code} without a list of flows; "
                          "is this an `ivrflow serve` server?")
    if flow not in flows:
        running = ", ".join(f"`{name}`" for name in flows) or "no flows"
        raise WrongServer(f"--via: the server at {base} runs {running}, not `{flow}` ({file}); start it with "
                          f"`ivrflow serve {file}` or point --via at a server that runs it")
    if len(flows) == 1 and named is None:
        return base + MEDIASERVICE_MOUNT
    return f"{base}{MEDIASERVICE_MOUNT}/{flow}"


def via(flow: ir.Flow, url: str, inputs: list[Input], at: str | None, caller: str | None, fmt: str,
        *, colour: bool) -> int:
    """The scripted call through a live server, with this process as the
    platform; `url` is the flow's own callback URL (see via_callbacks)."""
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
                                        clock=clock, token=os.environ.get(CALLBACK_TOKEN_VARIABLE))
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
