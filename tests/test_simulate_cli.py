"""Interactive `ivrflow simulate`: rejected input is asked again, causes come
before their effects, retries are counted, `quit` works at every prompt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ivrflow.cli import cli, main

from .conftest import EXAMPLES
from .servers import serve_app

QUICKSTART = str(EXAMPLES / "quickstart.ivr")
CLINIC = str(EXAMPLES / "clinic.ivr")


def call(flow: str, typed: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["simulate", flow, *args], input=typed)
    return result.exit_code, result.output


@pytest.mark.parametrize("rejected", ["abc", "help", "1 2", "1,2"])
def test_rejected_input_is_asked_again(rejected: str) -> None:
    status, output = call(QUICKSTART, f"{rejected}\n2\n")
    assert status == 0, output
    assert "cannot happen" not in output
    assert output.count("[main] keys") == 2  # asked again after the rejected line
    assert "type one entry of digits" in output
    assert output.rstrip().endswith("■ transfer 102")


def test_the_cause_is_shown_before_its_effect_with_the_retry_count() -> None:
    status, output = call(QUICKSTART, "9\n2\n")
    assert status == 0
    cause = output.index("[main] pressed 9: not an option (invalid)")
    effect = output.index("♪ sorry “Sorry, that is not an option.”")
    assert cause < effect
    assert "[main, retry 1 of 3] keys" in output


def test_an_empty_line_is_silence_and_the_prompt_says_so() -> None:
    status, output = call(QUICKSTART, "\n")
    assert status == 0
    assert "keys (Enter: silence)>" in output
    assert "[main] pressed nothing (timeout)" in output
    assert "[main, retry 1 of 3] keys" in output


def test_quit_works_at_the_answer_prompt() -> None:
    status, output = call(CLINIC, "1\nquit\n")
    assert status == 0
    assert "its answer" in output and "`quit`" in output
    assert "there is no menu or route named `quit`" not in output
    assert output.rstrip().endswith("■ hung up while waiting for https://appointments.riverside.example/ivr")


def test_the_routing_service_answer_is_shown() -> None:
    status, output = call(CLINIC, "1\ntransfer \"+15550100\"\n")
    assert status == 0
    assert "the routing service answered `transfer +15550100`" in output
    status, output = call(CLINIC, "1\n", "--answer", "hangup")
    assert "the routing service answered `hangup`" in output
    assert output.rstrip().endswith("■ hangup")


def test_piped_stdin_in_a_real_process() -> None:
    done = subprocess.run([sys.executable, "-m", "ivrflow", "simulate", QUICKSTART], input="abc\n1,2\n9\n1\n",
                          capture_output=True, text=True, timeout=60, env={"NO_COLOR": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr and "cannot happen" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "[main] keys (Enter: silence)> abc" in lines  # piped entries are echoed like typed ones
    assert lines.index("  [main] pressed 9: not an option (invalid)") < lines.index(
        "    ♪ sorry “Sorry, that is not an option.”")
    assert lines[-1] == "■ transfer 101"


def test_end_of_input_hangs_up() -> None:
    status, output = call(QUICKSTART, "")
    assert status == 0
    assert output.rstrip().endswith("■ hung up in menu `main`")


# --- simulate --via: the server must run the flow being simulated ------------------

def _server(*names: str) -> Any:
    from ivrflow import targets
    from ivrflow.loader import load
    from ivrflow.runtime.app import create_app
    from ivrflow.runtime.http import Credentials
    from ivrflow.runtime.sessions import MemoryStore

    flows = [load(str(EXAMPLES / f"{name}.ivr"), check_files=False).flow for name in names]
    return serve_app(create_app(flows, MemoryStore(), Credentials(insecure=True), webhooks=targets.webhooks(),
                                accept_test_clock=True))


SCRIPT = ["--press", "3,2", "--at", "2026-11-23 10:00", "--format", "json"]


def test_via_refuses_a_server_that_runs_another_flow(capsys: pytest.CaptureFixture[str]) -> None:
    with _server("quickstart") as url:
        status = main(["simulate", str(EXAMPLES / "support.ivr"), "--via", f"{url}/mediaservice", *SCRIPT])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1
    assert f"the server at {url} runs `quickstart`, not `support`" in err


def test_via_refuses_a_url_naming_another_flow(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", str(EXAMPLES / "support.ivr"), "--via", "http://127.0.0.1:9/mediaservice/quickstart",
                   *SCRIPT])
    assert status == 2
    assert "names flow `quickstart`, but" in capsys.readouterr().err


def test_via_refuses_what_is_not_an_ivrflow_server(capsys: pytest.CaptureFixture[str]) -> None:
    from starlette.applications import Starlette

    with serve_app(Starlette()) as url:
        status = main(["simulate", str(EXAMPLES / "support.ivr"), "--via", f"{url}/mediaservice", *SCRIPT])
    assert status == 2
    assert "answered 404 without a list of flows" in capsys.readouterr().err


def test_via_a_server_running_several_flows_calls_the_right_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(EXAMPLES / "support.ivr"), *SCRIPT]) == 0
    offline = json.loads(capsys.readouterr().out)
    with _server("quickstart", "support") as url:
        status = main(["simulate", str(EXAMPLES / "support.ivr"), "--via", f"{url}/mediaservice", *SCRIPT])
        out, err = capsys.readouterr()
        assert status == 0, err
        assert json.loads(out) == offline
        status = main(["simulate", str(EXAMPLES / "quickstart.ivr"), "--via", url, "--press", "2",
                       "--format", "json"])
        assert status == 0
        assert json.loads(capsys.readouterr().out)["outcome"] == {"action": "transfer", "target": "102"}


def test_an_answer_the_call_cannot_take_is_asked_again(tmp_path: Path) -> None:
    flow = tmp_path / "asks.ivr"
    flow.write_text('route entry {\n    otherwise -> ask "https://route.example/ivr"\n}\n\n'
                    'menu main {\n    press 1 -> hangup\n}\n')
    status, output = call(str(flow), "repeat\ngoto main\n1\n")
    assert status == 0, output
    assert "the call cannot take that answer: `repeat` in `entry` (answer) cannot repeat a menu" in output
    assert output.rstrip().endswith("■ hangup")


def test_a_scripted_call_shows_the_cause_before_the_handler_s_prompts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(EXAMPLES / "quickstart.ivr"), "--press", "7,1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    cause = lines.index("    → pressed 7: not an option (invalid)")
    assert lines[cause + 1] == "      ♪ sorry “Sorry, that is not an option.”"
    assert not any("sorry" in line for line in lines[:cause])
