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
    Event,
    Keys,
    Line,
    LookupResult,
    MachineError,
    Outcome,
    Play,
    Ring,
    Silence,
    Start,
    TransferFailed,
    Visited,
    handler_transfer,
    lookup_answer_problem,
    step,
)
from .compiler.simulate import (
    CallRecord,
    Cause,
    Input,
    LookupAnswer,
    has_state,
    input_text,
    lookup_of,
    parse_inputs,
    parse_lookup_answer,
    run_call,
)
from .config import CALLBACK_TOKEN_VARIABLE


def line(at: str | None, caller: str | None, called: str | None = None) -> Line:
    """The call's clock, caller and number dialled from the command line. Raises ValueError."""
    from .compiler import values

    if at is None:
        moment = dt.datetime.now(dt.UTC)
    else:
        value, problem = values.moment(at)
        if problem:
            raise ValueError(f"--at: {problem}")
        assert isinstance(value, dt.datetime)
        moment = value
    return Line(moment, caller, called)


def action(text: str, flow: ir.Flow) -> ir.Action:
    """An answer of the routing service, as written in a flow. Raises ValueError."""
    from .compiler.parse import parse_action

    parsed = parse_action(text)
    if isinstance(parsed, ir.NON_TERMINALS):
        word = text.split(maxsplit=1)[0]
        raise ValueError(f"`{text}`: the routing service answers with a terminal action, not `{word}`")
    if isinstance(parsed, ir.Goto) and flow.node(parsed.target) is None:
        raise ValueError(f"`{text}`: there is no menu or route named `{parsed.target}`")
    return parsed


def answers(texts: Sequence[str], flow: ir.Flow) -> tuple[list[ir.Action], list[tuple[str, LookupAnswer]]]:
    """The --answer options: the routing service's answers, and the lookups'
    (`find_balance:balance=42.10,status=ok`, `find_balance:error`: the text
    before the first colon names one of the flow's lookups). Raises ValueError."""
    asks: list[ir.Action] = []
    lookups: list[tuple[str, LookupAnswer]] = []
    for text in texts:
        named = lookup_of(flow, text)
        if named is None:
            asks.append(action(text, flow))
            continue
        name, rest = named
        try:
            lookups.append((name, parse_lookup_answer(rest)))
        except ValueError as error:
            raise ValueError(f"--answer `{text}`: {error}; write {name}:NAME=VALUE,… or {name}:error") from None
    return asks, lookups


def inputs(text: str) -> list[Input]:
    try:
        return list(parse_inputs(text))
    except ValueError as error:
        raise ValueError(f"--press: {error}") from None


# --- describing a call -------------------------------------------------------------

def _said(play: Play) -> str:
    """A prompt as the caller hears it: its text (variables filled in, in the
    call's language) or its recording."""
    if play.text is not None:
        return f"{play.prompt} “{play.text}”"
    return f"{play.prompt} ({play.file})" if play.file is not None else play.prompt


_REASONS = {"no-answer": "nobody answered {} (no-answer)", "busy": "{} was busy (busy)",
            "failed": "the transfer to {} failed (failed)"}


def _event(visited: Visited, flow: ir.Flow | None = None, cause: Cause | None = None) -> str:
    """What happened at a path step, in words; `flow` and `cause` (the event
    that led there) tell collect, lookup and transfer steps in full."""
    event, keys = visited.event, visited.keys
    node = flow.node(visited.node) if flow is not None else None
    if event.startswith("press ") and not event.endswith(" else"):
        return f"pressed {keys}"
    if isinstance(node, ir.Collect) and event in ("done", "invalid"):
        if event == "done":
            return f"entered {keys} into {node.name}"
        return f"entered {keys or 'nothing'}: fewer than {node.digits_range[0]} keys (invalid)"
    if isinstance(node, ir.Lookup) and event in ("done", "error"):
        answer = cause.event.variables if cause is not None and isinstance(cause.event, LookupResult) else None
        if event == "done":
            given = [f"{r.name}={answer[r.name]}" for r in node.receive if answer is not None and r.name in answer]
            return f"{node.name} answered {', '.join(given) or 'nothing'}"
        problem = lookup_answer_problem(node, answer) if answer is not None else None
        return f"{node.name} failed" + (f": {problem}" if problem else "")
    if event.endswith(" else") and flow is not None:
        before = cause.before.outcome if cause is not None else None
        destination = before.target if before is not None and before.action == "transfer" else "the transfer"
        said = _REASONS.get(keys or "", "{} did not connect").format(destination)
        transfer = handler_transfer(flow, visited.node, event[:-len(" else")])
        fallback = transfer.fallback if transfer is not None else None
        return said + (f": {describe(fallback)}" if fallback is not None else "")
    return {
        "invalid": f"pressed {keys}: not an option (invalid)",
        "timeout": "pressed nothing (timeout)",
        "exhausted": "out of retries (exhausted)",
        "dial": f"dialled extension {keys}",
        "max-duration": "reached the time limit (max-duration)",
        "answer": "the routing service answered",
    }.get(event, event)


def describe_outcome(outcome: Outcome, flow: ir.Flow | None = None) -> str:
    if outcome.action == "waiting":
        kind = "collect" if flow is not None and isinstance(flow.node(outcome.target or ""), ir.Collect) else "menu"
        return f"the caller is waiting in {kind} `{outcome.target}`"
    if outcome.action == "ask":
        return f"the flow asks {outcome.target} where to go (give --answer to continue)"
    if outcome.action == "lookup":
        return (f"the call waits for lookup `{outcome.target}` (give its answer: --answer "
                f"{outcome.target}:NAME=VALUE,… or --answer {outcome.target}:error)")
    return f"{outcome.action} {outcome.target}" if outcome.target else outcome.action


def _handlers(flow: ir.Flow) -> dict[tuple[str, str], ir.Actions]:
    """The actions of each handler of a menu, collect, lookup or route, by (node, event)."""
    found: dict[tuple[str, str], ir.Actions] = {}
    for handler in flow.handlers:
        if isinstance(handler.owner, (ir.Menu, ir.Collect, ir.Lookup, ir.Route)):
            found.setdefault((handler.owner.name, handler.event), handler.actions)
    return found


def _handler_steps(handlers: dict[tuple[str, str], ir.Actions],
                   visited: Visited) -> tuple[ir.PlayThen | ir.SetVariable | ir.SetLanguage, ...]:
    """The `play` and `set` actions the handler of `visited.event` ran (after
    the cause, not before it); none when its prompts are not the last heard."""
    actions = handlers.get((visited.node, visited.event))
    if actions is None:
        return ()
    plays = actions.plays
    if plays and visited.played[-len(plays):] != plays:
        return ()
    return actions.steps


def _step_line(action: ir.SetVariable | ir.SetLanguage) -> str:
    if isinstance(action, ir.SetLanguage):
        return f"set language {action.language}"
    return f"set {action.name} = {_quoted(action.value)}"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def state_lines(flow: ir.Flow, call: Call) -> list[str]:
    """The language the call is in and its variables, for a flow that has
    them (see has_state); none for a flow of the first edition."""
    if not has_state(flow):
        return []
    shown = [f"{name}={_quoted(value)}" for name, value in sorted(call.variables.items()) if name != "key"]
    return [f"  language: {call.language or 'none'}", f"  variables: {', '.join(shown) or 'none'}"]


def transcript(flow: ir.Flow, record: CallRecord, *, colour: bool = False) -> str:
    """Each step: the node, what it played, what the caller did (the cause),
    then what its handler played and set because of it (the effect)."""
    lines = []
    handlers = _handlers(flow)
    heard, pending = record.heard()
    for visited, plays, cause in zip(record.path, heard, record.causes, strict=True):
        node = click.style(visited.node, bold=True) if colour else visited.node
        lines.append(f"  {node}")
        steps = _handler_steps(handlers, visited)
        split = len(plays) - sum(1 for s in steps if isinstance(s, ir.PlayThen))
        lines += [f"    ♪ {_said(play)}" for play in plays[:split]]
        lines.append(f"    → {_event(visited, flow, cause)}")
        after = iter(plays[split:])
        for action in steps:
            lines.append(f"      ♪ {_said(next(after))}" if isinstance(action, ir.PlayThen)
                         else f"      {_step_line(action)}")
    if record.call.status == "input" and record.call.node:
        lines.append(f"  {record.call.node}")
        lines += [f"    ♪ {_said(play)}" for play in pending]
    outcome = describe_outcome(record.outcome, flow)
    lines.append(click.style(f"■ {outcome}", bold=True) if colour else f"■ {outcome}")
    lines += state_lines(flow, record.call)
    return "\n".join(lines) + "\n"


def scripted(flow: ir.Flow, call_line: Line, inputs: list[Input], answers: list[ir.Action],
             fmt: str, *, colour: bool, lookups: Sequence[tuple[str, LookupAnswer]] = ()) -> int:
    try:
        record, unused = run_call(flow, inputs, call_line, answers, lookups)
    except MachineError as error:
        raise click.ClickException(str(error)) from None
    if fmt == "json":
        click.echo(json.dumps(record.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(transcript(flow, record, colour=colour), nl=False)
    if unused:
        names = ", ".join(input_text(i) for i in unused)
        waiting = record.waiting_lookup
        if waiting is not None:
            click.echo(f"note: the call waits for lookup `{waiting}`, so these inputs were not used: {names}",
                       err=True)
        else:
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


def interactive(flow: ir.Flow, call_line: Line, answers: list[ir.Action], *, colour: bool,
                lookups: Sequence[tuple[str, LookupAnswer]] = ()) -> int:
    """You are the caller: keys in, what you hear out, until the call ends.

    Input the flow would reject as a key (`abc`, `1 2`, `help`) is explained
    and asked for again; it never reaches the call. A lookup's answer and a
    ringing transfer's fate come from --answer, or are typed when needed."""
    when = call_line.now.strftime("%Y-%m-%d %H:%M %Z").strip() if call_line.now else "now"
    who = call_line.caller or "a withheld number"
    dialled = f" to {call_line.called}" if call_line.called else ""
    click.echo(f"Calling {flow.name} at {when} from {who}{dialled}. "
               "Type keys, `silence` (or just Enter) or `quit`.")
    call = _converse(flow, call_line, answers, lookups, colour)
    for text in state_lines(flow, call):
        click.echo(text)
    return 0


def _converse(flow: ir.Flow, call_line: Line, answers: list[ir.Action],
              lookups: Sequence[tuple[str, LookupAnswer]], colour: bool) -> Call:
    """The call, step by step, until it ends or the caller hangs up; the call as it was then."""
    scripted_answers = list(answers)
    scripted_lookups: dict[str, list[LookupAnswer]] = {}
    for name, answer in lookups:
        scripted_lookups.setdefault(name, []).append(answer)
    call, effects = _step(flow, Call(), Start(), call_line)
    cause = Cause(Start(), Call())
    while True:
        given: ir.Action | None = None
        for effect in _show_effects(flow, effects, colour, cause):
            if isinstance(effect, End):
                return call
        event: Event
        if call.status == "answer":
            typed = not scripted_answers
            try:
                given = _scripted_answer(flow, call, scripted_answers.pop(0)) if scripted_answers \
                    else _ask_answer(flow, call)
            except _HungUp:
                asked = call.outcome.target if call.outcome else "the routing service"
                click.echo(f"■ hung up while waiting for {asked}")
                return call
            click.echo(f"  the routing service answered `{describe(given)}`")
            try:
                cause = Cause(Answer(given), call)
                call, effects = step(flow, call, Answer(given), call_line)
            except MachineError as error:
                if not typed:
                    raise click.ClickException(str(error)) from None
                click.echo(f"  the call cannot take that answer: {error}")
                effects = ()  # the call is unchanged: ask again
            continue
        try:
            if call.status == "lookup":
                queued = scripted_lookups.get(call.node or "")
                event = LookupResult(queued.pop(0) if queued else _lookup_answer(flow, call))
            elif call.status == "ringing":
                failed = _transfer_result(call)
                if failed is None:
                    click.echo(click.style(f"■ {describe_outcome(call.outcome or Outcome('transfer'))}",
                                           bold=colour))
                    return call
                event = failed
            else:
                event = _caller_entry(flow, call)
        except _HungUp:
            if call.status == "lookup":
                click.echo(f"■ hung up while waiting for lookup `{call.node}`")
            elif call.status == "ringing":
                click.echo("■ hung up while the transfer rang")
            else:
                click.echo(f"■ hung up in menu `{call.node}`")
            return call
        cause = Cause(event, call)
        call, effects = _step(flow, call, event, call_line)


def _step(flow: ir.Flow, call: Call, event: Event, call_line: Line) -> tuple[Call, tuple[Effect, ...]]:
    try:
        return step(flow, call, event, call_line)
    except MachineError as error:
        raise click.ClickException(str(error)) from None


def _show_effects(flow: ir.Flow, effects: Sequence[Effect], colour: bool,
                  cause: Cause | None = None) -> Iterator[Effect]:
    """Print one step: each path step (the cause) before the prompts its
    handler played (the effect)."""
    heard: list[Play] = []

    def flush(indent: str) -> None:
        for play in heard:
            click.echo(f"{indent}♪ {_said(play)}" + ("  (cannot be interrupted)" if play.fully else ""))
        heard.clear()

    for effect in effects:
        if isinstance(effect, Play):
            heard.append(effect)
        elif isinstance(effect, Visited):
            if effect.event != "answer":  # the answer itself was shown as it came
                click.echo(f"  [{effect.node}] {_event(effect, flow, cause)}")
            flush("    ")
        elif isinstance(effect, End):
            flush("  ")
            click.echo(click.style(f"■ {describe_outcome(effect.outcome)}", bold=colour))
        elif isinstance(effect, AskService):
            flush("  ")
            click.echo(f"  the flow asks {effect.url} where to go")
        elif isinstance(effect, Ring):
            flush("  ")  # what played before the transfer; how it goes is asked next
        yield effect
    flush("  ")


def _caller_entry(flow: ir.Flow, call: Call) -> Keys | Silence:
    """Ask until the caller types one entry the menu or collect can take."""
    node = flow.node(call.node or "")
    where = call.node or "?"
    if isinstance(node, (ir.Menu, ir.Collect)):
        silences, wrong = node.retry_limits
        if call.retries:
            where += f", retry {call.retries} of {wrong}"
        if call.timeouts and node.separate_retries:
            where += f", silence {call.timeouts} of {silences}"
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
        entry = parsed[0]
        if isinstance(entry, TransferFailed):
            click.echo(f"  `{text}` is how a transfer ends, and no transfer rings: {_HINT}")
            continue
        return entry


def _lookup_answer(flow: ir.Flow, call: Call) -> LookupAnswer:
    """A lookup's answer, typed by the person playing the web service."""
    name = call.node or "?"
    lookup = flow.node(name)
    received = ", ".join(r.name for r in lookup.receive) if isinstance(lookup, ir.Lookup) else ""
    wanted = f"NAME=VALUE,… for {received}" if received else "NAME=VALUE,…"
    while True:
        text = _read(f"  {name}'s answer ({wanted}; `error`; or `quit`)").strip()
        if text.lower() in _QUIT:
            raise _HungUp
        try:
            return parse_lookup_answer(text)
        except ValueError as error:
            click.echo(f"  {error}: type NAME=VALUE pairs separated by commas, or `error`")


def _transfer_result(call: Call) -> TransferFailed | None:
    """How the ringing transfer goes, typed: None when it connects."""
    destination = call.outcome.target if call.outcome else "?"
    while True:
        text = _read(f"  the transfer to {destination} rings (Enter: it connects; `no-answer`, `busy`, "
                     "`failed` or `quit`)").strip().lower()
        if text in _QUIT:
            raise _HungUp
        if not text:
            return None
        parsed = list(parse_inputs(text)) if text in ("no-answer", "busy", "failed") else []
        if parsed and isinstance(parsed[0], TransferFailed):
            return parsed[0]
        click.echo(f"  `{text}` is not how a transfer ends: press Enter, or type `no-answer`, `busy` or `failed`")


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
        *, colour: bool, called: str | None = None) -> int:
    """The scripted call through a live server, with this process as the
    platform; `url` is the flow's own callback URL (see via_callbacks)."""
    import asyncio
    import os

    import httpx

    from .targets.mediaservice.emulator import CallFailed, Platform, drive_call, platform_app, serve_in_background

    entries = [input_text(i) for i in inputs]
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
                                        called=called or "ivr", clock=clock,
                                        token=os.environ.get(CALLBACK_TOKEN_VARIABLE))
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
