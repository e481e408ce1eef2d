"""One runtime server for every flow of an environment; what deploys say
callers dial; callback URLs the server could not verify are never deployed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrflow.cli import main
from ivrflow.targets.portsip.emulator import PortSip, portsip_app

from .conftest import EXAMPLES
from .servers import ivrflow_serve, serve_app

TOKEN = "many-flows-callback-token-5150"
CLOCK = "2026-11-23T10:00:00"  # a Monday morning: Northwind's support line is open
PARTNER = "442079000000"


@pytest.fixture
def pbx() -> Iterator[tuple[PortSip, str]]:
    state = PortSip()
    with serve_app(portsip_app(state)) as url:
        yield state, url


def _environ(pbx_url: str, runtime_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {"PORTSIP_BASE_URL": f"{pbx_url}/api", "PORTSIP_PASSWORD": "demo", "PORTSIP_IVR_PIN": "482916",
            "PORTSIP_RUNTIME_URL": runtime_url, "IVRFLOW_CALLBACK_TOKEN": TOKEN}


def _dial(capsys: pytest.CaptureFixture[str], flow: str) -> str:
    assert main(["plan", str(EXAMPLES / f"{flow}.ivr"), "--env", "pbx", "--format", "json"]) == 0
    return str(json.loads(capsys.readouterr().out)["dial"]).split()[0]


def _call(pbx_url: str, extension: str, inputs: list[str], caller: str | None = None) -> dict[str, Any]:
    body = {"extension": extension, "inputs": inputs, "caller": caller, "clock": CLOCK}
    response = httpx.post(f"{pbx_url}/_emulator/call", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json()["outcome"])


def test_one_server_answers_every_flow_deployed_in_the_environment(
        pbx: tuple[PortSip, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, pbx_url = pbx
    environ = _environ(pbx_url)
    # --insecure only lets the test set the clock; the URLs are still checked against the token.
    with ivrflow_serve(EXAMPLES / "quickstart.ivr", str(EXAMPLES / "support.ivr"), "--env", "pbx", "--insecure",
                       env=environ) as (runtime_url, log):
        for key, value in {**environ, "PORTSIP_RUNTIME_URL": runtime_url}.items():
            monkeypatch.setenv(key, value)
        for flow in ("quickstart", "support"):
            assert main(["deploy", str(EXAMPLES / f"{flow}.ivr"), "--env", "pbx", "--yes"]) == 0
        deployed = capsys.readouterr().err
        quickstart, support = _dial(capsys, "quickstart"), _dial(capsys, "support")
        assert "deployed quickstart to pbx" in deployed and f"callers dial {quickstart} " in deployed
        assert f"callers dial {support} " in deployed
        assert quickstart != support  # the second flow never gets a number the first one has

        # Both flows need the runtime: quickstart for a wrong key, support for its caller route.
        assert _call(pbx_url, quickstart, ["7", "1"]) == {"action": "transfer", "target": "101"}
        assert _call(pbx_url, support, [], caller=PARTNER) == {"action": "transfer", "target": "250"}
        assert _call(pbx_url, support, ["1"], caller="441000000000") == {"action": "transfer", "target": "201"}

        unknown = httpx.post(f"{runtime_url}/portsip/action", params={"flow": "nosuch", "node": "main",
                                                                      "kind": "menu", "copy": "0"},
                             json={"input": "1"})
        text = log.read_text()
    assert unknown.status_code == 401  # unsigned: refused before the flow is even looked up
    assert "bad_signature" in text and TOKEN not in text


def test_a_callback_for_a_flow_the_server_does_not_run_is_a_logged_404(tmp_path: Path) -> None:
    from ivrflow.targets.signing import signature

    query = {"flow": "nosuch", "node": "main", "kind": "menu", "copy": "0"}
    query["sig"] = signature(TOKEN, query)
    with ivrflow_serve(EXAMPLES / "quickstart.ivr", str(EXAMPLES / "support.ivr"),
                       env={"IVRFLOW_CALLBACK_TOKEN": TOKEN}) as (url, log):
        response = httpx.post(f"{url}/portsip/action", params=query, json={"input": "1"})
        telphin = httpx.post(f"{url}/telphin/interactive", params=query)
        health = httpx.get(f"{url}/healthz").json()
        text = log.read_text()
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_flow"
    assert "`quickstart`, `support`" in response.json()["error"]["message"]
    assert telphin.status_code == 404 and telphin.json()["error"]["code"] == "unknown_flow"
    assert health["flows"] == ["quickstart", "support"]
    assert "404 unknown_flow (flow nosuch)" in text
    assert query["sig"] not in text  # the signed query is never logged


def test_mediaservice_callbacks_name_their_flow_in_the_path_when_a_server_runs_several() -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with ivrflow_serve(EXAMPLES / "quickstart.ivr", str(EXAMPLES / "support.ivr"),
                       env={"IVRFLOW_CALLBACK_TOKEN": TOKEN}) as (url, _log):
        quick = httpx.post(f"{url}/mediaservice/quickstart/newCall", json={"sessionId": "q1"}, headers=headers)
        unnamed = httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": "q2"}, headers=headers)
        command = httpx.post(f"{url}/mediaservice/quickstart/getIvrCommand", json={"sessionId": "q1"},
                             headers=headers)
    assert quick.status_code == 200 and quick.json() == {"action": "ivr"}
    assert command.status_code == 200 and command.json()["phrases"]
    assert unnamed.status_code == 404 and unnamed.json()["error"]["code"] == "unknown_flow"


def test_serve_takes_a_directory_and_refuses_two_flows_of_one_name(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.ivr").write_text((EXAMPLES / "quickstart.ivr").read_text())
    (tmp_path / "b.ivr").write_text((EXAMPLES / "quickstart.ivr").read_text())
    assert main(["serve", str(tmp_path), "--insecure"]) == 2
    assert "are both flow `quickstart`" in capsys.readouterr().err


@pytest.mark.parametrize(("setting", "variable", "status", "code"), [
    (None, "IVRFLOW_CALLBACK_TOKEN", 1, "IVR303"),  # the default variable: the flow's line says why
    ('"${LINE_TOKEN}"', "LINE_TOKEN", 2, "IVR301"),  # a variable the environment names: its line of ivrflow.toml
])
def test_deploy_refuses_callback_urls_the_server_could_not_verify(
        pbx: tuple[PortSip, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], setting: str | None, variable: str, status: int, code: str) -> None:
    state, pbx_url = pbx
    flow = tmp_path / "quickstart.ivr"
    flow.write_text((EXAMPLES / "quickstart.ivr").read_text())
    (tmp_path / "ivrflow.toml").write_text(
        f'[env.pbx]\ntarget = "portsip"\nbase_url = "{pbx_url}/api"\nusername = "demo"\npassword = "${{PW}}"\n'
        'domain = "pbx.example"\nextensions = "7000-7099"\npin = "${PIN}"\nruntime_url = "http://127.0.0.1:9"\n'
        'tts = "espeak"\n' + (f"callback_token = {setting}\n" if setting else ""))
    monkeypatch.setenv("PW", "demo")
    monkeypatch.setenv("PIN", "482916")
    monkeypatch.delenv("IVRFLOW_CALLBACK_TOKEN", raising=False)
    monkeypatch.delenv("LINE_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["deploy", "quickstart.ivr", "--env", "pbx", "--yes"]) == status
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and f"{variable} is not set" in err
    assert not state.ivrs and not state.files  # nothing reached the platform
    monkeypatch.setenv(variable, "now-it-is-set")
    assert main(["compile", "quickstart.ivr", "--target", "portsip", "--env", "pbx", "-o", "out"]) == 0
    assert "sig=" in (tmp_path / "out" / "plan.json").read_text()
    assert "callers dial 7000 (receptionist `main`)" in capsys.readouterr().err


@pytest.mark.parametrize("level", ["info", "warning", "debug"])
def test_serve_log_level_decides_which_lines_the_server_writes(level: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with ivrflow_serve(EXAMPLES / "quickstart.ivr", "--log-level", level,
                       env={"IVRFLOW_CALLBACK_TOKEN": TOKEN}) as (url, log):
        assert httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": "c1", "callingParty": "+4420"},
                          headers=headers).status_code == 200
        assert httpx.post(f"{url}/mediaservice/sessionCompleted", json={"sessionId": "c1"},
                          headers=headers).status_code == 200
        assert httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": "c2"}).status_code == 401
        # A caller "number" that is a secret is masked in the call's line, as in every other line.
        assert httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": "c3", "callingParty": TOKEN},
                          headers=headers).status_code == 200
        text = log.read_text()
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
    if level == "warning":
        assert "new call" not in text
    else:  # the call lines (written directly by serve) look like every line logging writes
        assert re.search(stamp + r"INFO ivrflow\.runtime: session c1: new call from \+4420$", text, re.M), text
        assert re.search(stamp + r"INFO ivrflow\.runtime: session c3: new call from \*\*\*$", text, re.M), text
    assert TOKEN not in text
    assert ("session c1: completed" in text) == (level == "debug")
    # refusals are logged at every level
    assert re.search(stamp + r"WARNING ivrflow\.runtime: POST /mediaservice/newCall -> 401 unauthorized", text, re.M)
