"""`ask "URL" -> goto pin | repeat | transfer "200"`: a flow declares what its
routing service may answer (issue 11). The checks, the diagrams, `simulate`,
`ivrflow test` and the runtime all hold the service to that list."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from ivrflow.cli import cli, main
from ivrflow.compiler import check_source, ir
from ivrflow.compiler.graph import reachable
from ivrflow.compiler.render import to_dot, to_mermaid
from ivrflow.compiler.testing import run_test
from ivrflow.runtime import ask

from .check_cases import ASKS

URL = "https://crm.example.com/route"
UNDECLARED_TEST = ASKS + """
test "the service sends the caller to sales" {
    press 9
    answer transfer "300"
    expect transfer "300"
}
"""


def flow_of(source: str) -> ir.Flow:
    result = check_source(source, "asks.ivr")
    assert result.flow is not None, [d.message for d in result.diagnostics]
    return result.flow


def test_the_declared_answers_are_in_the_ir() -> None:
    menu = flow_of(ASKS).menus[0]
    terminal = menu.presses[1].actions.terminal
    assert isinstance(terminal, ir.Ask)
    assert terminal.url == URL
    assert [ir.written(a) for a in terminal.answers] == ["goto pin", "repeat", 'transfer "200"']
    assert terminal.allows(ir.Goto("pin", terminal.span, terminal.span))
    assert not terminal.allows(ir.Goto("main", terminal.span, terminal.span))
    undeclared = flow_of(ASKS.replace(" -> goto pin | repeat | transfer \"200\"", "")).menus[0]
    plain = undeclared.presses[1].actions.terminal
    assert isinstance(plain, ir.Ask) and plain.answers == ()
    assert plain.allows(ir.Goto("main", plain.span, plain.span))  # no declaration: any answer


def test_a_menu_reached_only_through_an_answer_is_reachable_and_clean() -> None:
    result = check_source(ASKS, "asks.ivr")
    assert [d.check_tuple() for d in result.diagnostics] == []
    assert result.graph is not None and "pin" in reachable(result.graph)


def test_a_pipe_out_of_place_is_a_syntax_error_in_words() -> None:
    result = check_source(ASKS.replace("goto pin | repeat", "goto pin repeat"), "asks.ivr")
    (error,) = result.diagnostics
    assert error.code == "IVR001"
    assert "`|`" in error.message and "_PIPE" not in error.message


def test_the_diagrams_draw_each_answer_dashed_and_labelled() -> None:
    result = check_source(ASKS, "asks.ivr")
    assert result.flow is not None and result.graph is not None
    dot = to_dot(result.flow, result.graph)
    asking = '"main/press 9"'
    assert f'{asking} -> pin [label="goto pin" color="#00838f" fontcolor="#00838f" style=dashed]' in dot
    assert f'{asking} -> main [label=repeat color="#00838f" fontcolor="#00838f" style=dashed]' in dot
    assert f'{asking} -> "main/press 9/answer 3" [label="transfer 200"' in dot
    pin_line = next(line for line in dot.splitlines() if line.lstrip().startswith("pin ["))
    assert "#9aa0a6" not in pin_line  # not greyed out as unreachable
    mermaid = to_mermaid(result.flow, result.graph)
    assert ' -.->|"goto pin"| ' in mermaid
    assert ' -.->|"transfer 200"| ' in mermaid
    assert "ivr_unreachable" not in "".join(line for line in mermaid.splitlines() if line.startswith("    class "))


@pytest.fixture
def asks_file(tmp_path: Path) -> str:
    path = tmp_path / "asks.ivr"
    path.write_text(ASKS, encoding="utf-8")
    return str(path)


def test_simulate_refuses_an_undeclared_answer_as_a_usage_error(
        asks_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", asks_file, "--press", "9", "--answer", "goto main"])
    out, err = capsys.readouterr()
    assert status == 2
    assert err == (f'ivrflow: error: --answer `goto main` is not an answer `ask "{URL}"` declares; '
                   'it may answer goto pin | repeat | transfer "200"\n')
    assert "Traceback" not in out + err


def test_simulate_follows_a_declared_answer(asks_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", asks_file, "--press", "9", "--answer", "goto pin", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert document["outcome"] == {"action": "waiting", "target": "pin"}
    assert main(["simulate", asks_file, "--press", "9", "--answer", 'transfer "200"']) == 0


def test_interactive_simulate_asks_again_for_an_undeclared_answer(asks_file: str) -> None:
    result = CliRunner().invoke(cli, ["simulate", asks_file], input="9\ngoto main\ngoto pin\nquit\n")
    assert result.exit_code == 0, result.output
    assert 'its answer (goto pin | repeat | transfer "200", or `quit`)' in result.output  # the choices it has
    assert "`goto main` is not an answer" in result.output
    assert "Enter your PIN." in result.output  # the declared answer was followed


def test_interactive_simulate_refuses_an_undeclared_answer_given_up_front(asks_file: str) -> None:
    result = CliRunner().invoke(cli, ["simulate", asks_file, "--answer", "hangup"], input="9\n")
    assert result.exit_code == 2
    assert "--answer `hangup` is not an answer" in result.output


def test_ivrflow_test_reports_an_undeclared_answer_with_its_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "asks.ivr"
    path.write_text(UNDECLARED_TEST, encoding="utf-8")
    status = main(["test", str(path)])
    out, _ = capsys.readouterr()
    assert status == 1
    assert f'{path}:21:12: error[IVR128]: test "the service sends the caller to sales": `transfer "300"`' in out


def test_running_a_test_with_an_undeclared_answer_fails_at_that_answer() -> None:
    flow = check_source(UNDECLARED_TEST, "asks.ivr").flow
    assert flow is not None
    result = run_test(flow, flow.tests[0])
    assert result.failure is not None
    assert (result.failure.span.line, result.failure.span.column) == (21, 5)
    assert result.failure.expected == "an answer the `ask` declares"


def _ask(flow: ir.Flow, answer: dict[str, str], node: str = "main") -> ir.Action:
    async def run() -> ir.Action:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
        async with httpx.AsyncClient(transport=transport) as client:
            return await ask.ask(client, flow, URL, {"flow": flow.name, "node": node, "session": "s1"})
    return asyncio.run(run())


def test_the_runtime_falls_back_on_an_answer_the_ask_does_not_declare() -> None:
    flow = flow_of(ASKS)
    assert isinstance(_ask(flow, {"action": "goto", "target": "main"}), ir.Repeat)  # the menu's fallback
    assert isinstance(_ask(flow, {"action": "hangup"}), ir.Repeat)
    followed = _ask(flow, {"action": "goto", "target": "pin"})
    assert isinstance(followed, ir.Goto) and followed.target == "pin"
    transfer = _ask(flow, {"action": "transfer", "target": "200"})
    assert isinstance(transfer, ir.Transfer) and transfer.destination == "200"


def test_the_runtime_takes_any_answer_when_the_ask_declares_none() -> None:
    flow = flow_of(ASKS.replace(' -> goto pin | repeat | transfer "200"', ""))
    answer = _ask(flow, {"action": "goto", "target": "main"})
    assert isinstance(answer, ir.Goto) and answer.target == "main"


def test_an_ask_in_max_duration_is_held_to_its_answers_wherever_the_call_is() -> None:
    flow = flow_of('flow f {\n    max-duration 10m -> ask "' + URL + '" -> transfer "0"\n}\n' + ASKS)
    assert isinstance(_ask(flow, {"action": "transfer", "target": "0"}, node="pin"), ir.Transfer)
    assert isinstance(_ask(flow, {"action": "transfer", "target": "1"}, node="pin"), ir.Repeat)


def test_a_live_call_takes_the_fallback_when_the_service_answers_out_of_list() -> None:
    from ivrflow.compiler.machine import Call, Keys
    from ivrflow.runtime.core import Runtime
    from ivrflow.runtime.sessions import MemoryStore

    flow = flow_of(ASKS)

    async def run(answer: dict[str, str]) -> Call:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
        async with httpx.AsyncClient(transport=transport) as client:
            runtime = Runtime(flow, MemoryStore(), client)
            session = runtime.new_session("s1", "+442071234567", "100")
            await runtime.start(session)
            await runtime.advance(session, Keys("9"))
            return session.call

    # `goto main` is not declared: the menu is repeated (the fallback, one retry used), not entered afresh
    fallback = asyncio.run(run({"action": "goto", "target": "main"}))
    assert (fallback.status, fallback.node, fallback.retries) == ("input", "main", 1)
    followed = asyncio.run(run({"action": "goto", "target": "pin"}))
    assert (followed.status, followed.node, followed.retries) == ("input", "pin", 0)
