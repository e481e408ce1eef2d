"""The Telphin target, deployed over real HTTP to the emulator under uvicorn:
the guide's configuration, idempotent redeploys, convergence under faults,
and calls on the deployed configuration that end as the machine says."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrflow.cli import main
from ivrflow.compiler import ir
from ivrflow.compiler.machine import Keys, Line, Silence
from ivrflow.compiler.simulate import run_call
from ivrflow.config import Environment
from ivrflow.deploy.http import Stats
from ivrflow.runtime.app import create_app
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.sessions import MemoryStore
from ivrflow.targets.telphin import target
from ivrflow.targets.telphin.calls import execute_call
from ivrflow.targets.telphin.client import TelphinApi
from ivrflow.targets.telphin.emulator import Faults, Telphin, telphin_app

from .conftest import EXAMPLES, PLATFORM_FLOWS
from .flows import (
    VOICEMAIL,
    RoutingService,
    alphabet,
    ask_answer,
    converge,
    deploy_with,
    flow_of,
    flows,
    plan_with,
    telphin_runtime,
)
from .servers import serve_app

FLOWS = PLATFORM_FLOWS


def environment(base_url: str, runtime_url: str = "http://127.0.0.1:9") -> Environment:
    settings = {"target": "telphin", "base_url": base_url, "client_id": "demo", "client_secret": "${SECRET}",
                "extension": "071", "runtime_url": runtime_url, "tts": "espeak", "voicemail": VOICEMAIL,
                "insecure_callbacks": True}
    return Environment("test", "ivrflow.toml", settings, environ={"SECRET": "demo"})


def deploy(path: Path, env: Environment, *, timeout: float = 10.0) -> Stats:
    return deploy_with(target, path, env, timeout=timeout)


def planned(path: Path, env: Environment) -> Any:
    return plan_with(target, path, env)


@pytest.fixture
def telphin() -> Iterator[tuple[Telphin, str]]:
    state = Telphin(page_size=3)  # small pages: a client that reads only the first misses objects
    with serve_app(telphin_app(state)) as url:
        yield state, url


# The configuration Telphin's guide builds by hand (seeds/003, steps 1-11), by names.
GUIDE = {
    "extension": {"name": "012*071", "type": "ivr", "label": "test IVR"},
    "ivr": {"entry_context": "Main context", "sleep_time": 5000, "lifetime": 1800, "lifetime_exp_action": "hangup",
            "lifetime_exp_transfer_dst": None, "vm_enabled": False, "vm_greeting": None, "vm_mailto": None,
            "vm_attach_file": True},
    "contexts": {"Main context": {
        "digit_len": 3, "inter_digit_timeout": 2000, "timeout": 5000, "allow_any_dial": True,
        "options": {
            "start": [{"action": "play_sound", "sound": "advertising.wav", "sound_type": "foreground"},
                      {"action": "play_sound", "sound": "hello.wav", "sound_type": "background"}],
            "timeout": [{"action": "transfer", "transfer_dst": "050"}],
            "invalid": [],
            "1": [{"action": "transfer", "transfer_dst": "+79876543210"}],
            "2": [{"action": "transfer", "transfer_dst": "002"}],
        }}},
}


def test_the_guide_example_deploys_to_the_guides_configuration(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    deploy(EXAMPLES / "telphin_guide.ivr", environment(url))
    assert state.configuration("071") == GUIDE
    assert sorted(s["filename"] for s in state.sounds.values()) == ["advertising.wav", "hello.wav"]


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.stem)
def test_every_example_deploys_and_redeploys_with_zero_writes(telphin: tuple[Telphin, str], path: Path) -> None:
    state, url = telphin
    env = environment(url)
    first = deploy(path, env)
    assert first.writes > 0
    writes = state.writes()
    assert planned(path, env).changes == []
    again = deploy(path, env)
    assert again.writes == 0 and state.writes() == writes


def test_a_deploy_with_20_percent_faults_converges_without_duplicates(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    env = environment(url)
    state.faults = Faults(rate=0.2, latency_ms=0, timeout_s=0.6, seed=7)
    converge(lambda: deploy(EXAMPLES / "support.ivr", env, timeout=0.4))
    state.faults = Faults()
    assert planned(EXAMPLES / "support.ivr", env).changes == []
    faulty = state.configuration("071")
    clean_state = Telphin()
    with serve_app(telphin_app(clean_state)) as clean_url:
        deploy(EXAMPLES / "support.ivr", environment(clean_url))
    assert faulty == clean_state.configuration("071")  # no duplicate contexts, options or rules
    assert sum(1 for e in state.log if e["status"] >= 500 or e["status"] == 429) > 0


def test_nothing_unmanaged_is_touched(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    env = environment(url)
    deploy(EXAMPLES / "telphin_guide.ivr", env)
    extension = next(iter(state.extensions))
    with TelphinApi(url, "demo", "demo") as api:
        mine = api.request("POST", f"/extension/{extension}/ivr/context/", json={"name": "made by hand"})
    deploy(EXAMPLES / "quickstart.ivr", env)  # another flow on the same extension
    names = {c["name"] for c in state.contexts.values()}
    assert "made by hand" in names and "Main context" in names
    assert mine["id"] in state.contexts


# --- calls on the deployed configuration ----------------------------------------------------------

def expected(flow: ir.Flow, inputs: tuple[str, ...], moment: dt.datetime) -> dict[str, Any]:
    answer = ask_answer()
    record, _ = run_call(flow, [Silence() if i == "silence" else Keys(i) for i in inputs], Line(moment, None),
                         [answer] * 5)
    outcome = record.outcome
    if outcome.action == "voicemail":
        return {"action": "transfer", "target": VOICEMAIL[outcome.target or "default"]}
    if outcome.action == "waiting":
        copy = record.call.retries
        key = outcome.target if copy == 0 else f"{outcome.target}#{copy}"
        return {"action": "waiting", "context": f"ivrflow:{flow.name}:context:{key}"}
    return outcome.to_dict()


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.stem)
def test_calls_on_the_deployed_flow_end_as_the_machine_says(telphin: tuple[Telphin, str], path: Path) -> None:
    state, url = telphin
    flow = flow_of(path)
    asks = {urllib.parse.urlsplit(a.actions.terminal.url).hostname for a in flow.handlers
            if isinstance(a.actions.terminal, ir.Ask)}
    mounts = {f"all://{host}": httpx.ASGITransport(app=RoutingService().app()) for host in asks}
    http = httpx.AsyncClient(mounts=mounts)  # type: ignore[arg-type]
    runtime = create_app(flow, MemoryStore(), Credentials(insecure=True), **telphin_runtime(url),
                         http=http, accept_test_clock=True)
    with serve_app(runtime) as runtime_url:
        deploy(path, environment(url, runtime_url))
        sequences = [s for n in range(4) for s in itertools.product(alphabet(flow), repeat=n)]
        moments = [dt.datetime(2026, 11, 23, 10, 0), dt.datetime(2026, 11, 28, 20, 0)] if flow.routes else \
            [dt.datetime(2026, 11, 23, 10, 0)]

        async def run_all() -> list[tuple[Any, Any, Any]]:
            async with httpx.AsyncClient(timeout=10) as client:
                results = []
                for moment in moments:
                    for inputs in sequences:
                        call = await execute_call(state, client, "071", list(inputs), clock=moment.isoformat())
                        results.append((inputs, moment, call))
                return results

        mismatches = []
        for inputs, moment, call in asyncio.run(run_all()):
            got = call.outcome.to_dict() if call.outcome.action != "waiting" else \
                {"action": "waiting", "context": call.context}
            want = expected(flow, inputs, moment)
            if got != want:
                mismatches.append((inputs, str(moment), want, got))
    assert mismatches == [], json.dumps(mismatches[:5], indent=1, default=str)
    assert len(sequences) > 20


# --- the command line ------------------------------------------------------------------------------

def test_compile_writes_plan_json_and_deploy_sh_without_the_network(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "build"
    status = main(["compile", str(EXAMPLES / "telphin_guide.ivr"), "--target", "telphin", "-o", str(out)])
    assert status == 0
    calls = json.loads((out / "plan.json").read_text())
    assert [c["method"] for c in calls[:3]] == ["POST", "POST", "POST"]
    assert set(calls[0]) == {"method", "path", "body", "ref", "source", "upload"}
    rule = next(c for c in calls if c["body"] and c["body"].get("sound_type") == "foreground")
    assert rule["body"]["sound"] == {"$ref": "sound:advertising"}
    assert rule["source"]["line"] == 19
    script = (out / "deploy.sh").read_text()
    assert "$TELPHIN_CLIENT_SECRET" in script and "<extension>" in script
    assert "placeholder: <extension>" in capsys.readouterr().err


def test_compile_refuses_say_prompts_without_speech(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["compile", str(EXAMPLES / "quickstart.ivr"), "--target", "telphin", "-o", str(tmp_path)])
    assert status == 1
    assert "error[IVR204]" in capsys.readouterr().err


def test_plan_and_deploy_commands(telphin: tuple[Telphin, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    state, url = telphin
    flow = tmp_path / "guide.ivr"
    flow.write_text((EXAMPLES / "telphin_guide.ivr").read_text())
    (tmp_path / "prompts").mkdir()
    for name in ("hello.wav", "advertising.wav"):
        (tmp_path / "prompts" / name).write_bytes((EXAMPLES / "prompts" / name).read_bytes())
    (tmp_path / "ivrflow.toml").write_text(
        f'[env.emu]\ntarget = "telphin"\nbase_url = "{url}"\nclient_id = "demo"\n'
        'client_secret = "${TELPHIN_SECRET}"\nextension = "071"\n'
        '[env.wrong]\ntarget = "telphin"\nbase_url = "' + url + '"\nclient_id = "nobody"\n'
        'client_secret = "${TELPHIN_SECRET}"\nextension = "071"\n')
    monkeypatch.setenv("TELPHIN_SECRET", "demo")
    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["create"], summary["update"], summary["delete"]) == (11, 1, 0)
    assert main(["deploy", str(flow), "--env", "emu", "--dry-run"]) == 0
    assert "POST /client/@me/sound/" in capsys.readouterr().out and not state.contexts
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert main(["deploy", str(flow), "--env", "wrong", "--yes"]) == 3  # credentials refused
    assert "demo" not in capsys.readouterr().err
    monkeypatch.delenv("TELPHIN_SECRET")
    assert main(["plan", str(flow), "--env", "emu"]) == 2
    assert "TELPHIN_SECRET is not set" in capsys.readouterr().err


def test_a_rejected_change_is_mapped_to_its_line(telphin: tuple[Telphin, str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, url = telphin
    flow = tmp_path / "long.ivr"
    label = "A" * 300  # Telphin refuses context names this long; the flow itself is fine
    flow.write_text(f'prompt hi file "hi.wav"\nmenu main "{label}" {{\n    play hi\n    press 1 -> hangup\n'
                    '    on timeout -> hangup\n    on invalid -> hangup\n}\n')
    (tmp_path / "hi.wav").write_bytes((EXAMPLES / "prompts" / "hello.wav").read_bytes())
    (tmp_path / "ivrflow.toml").write_text(f'[env.emu]\ntarget = "telphin"\nbase_url = "{url}"\n'
                                           'client_id = "demo"\nclient_secret = "${S}"\nextension = "071"\n')
    monkeypatch.setenv("S", "demo")
    assert main(["check", str(flow)]) == 0
    capsys.readouterr()
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 4
    err = capsys.readouterr().err
    assert f"{flow}:2:6: error[IVR302]: telphin rejected `create context main`" in err
    assert "name is too long" in err


@pytest.mark.parametrize(("source", "code", "line"), [
    ('prompt p say "Hi"\nmenu m {\n    play p\n    press 1 -> hangup\n}\n', "IVR204", 1),
    ('prompt p file "x.wav"\nmenu m {\n    play p\n    retries 1\n    press 1 -> hangup\n}\n', "IVR201", 2),
    ('flow f {\n    max-duration 1m -> goto m\n}\nprompt p file "x.wav"\nmenu m {\n    play p\n'
     '    press 1 -> hangup\n    on timeout -> hangup\n    on invalid -> hangup\n}\n', "IVR205", 2),
])
def test_check_with_the_telphin_target(tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str,
                                       code: str, line: int) -> None:
    flow = tmp_path / "f.ivr"
    flow.write_text(source)
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    main(["check", str(flow), "--target", "telphin", "--format", "json"])
    found = [(d["code"], d["line"]) for d in json.loads(capsys.readouterr().out)["diagnostics"]]
    assert (code, line) in found


def test_an_unmapped_voicemail_box_is_an_error_with_an_environment(telphin: tuple[Telphin, str]) -> None:
    _, url = telphin
    env = environment(url)
    flow = flow_of(EXAMPLES / "clinic.ivr")
    values = dict(env.settings, voicemail={"reception": "804"})
    wanted = target.desired(flow, str(EXAMPLES / "clinic.ivr"), Environment("t", "x", values, environ={"SECRET": "d"}))
    assert [d.span.line for d in wanted.diagnostics if d.code == "IVR203"] == [22]  # "prescriptions"


# --- random flows ----------------------------------------------------------------------------------

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402

_extensions = itertools.count(200)


@settings(max_examples=int(os.environ.get("IVRFLOW_RANDOM_FLOWS", "12")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(source=flows())
def test_random_flows_run_on_telphin_as_on_the_machine(source: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from ivrflow.compiler import check_source

    checked = check_source(source, "random.ivr")
    assume(checked.flow is not None and checked.errors == 0)
    assert checked.flow is not None
    folder = tmp_path_factory.mktemp("random")
    path = folder / "random.ivr"
    path.write_text(source)
    (folder / "hi.wav").write_bytes((EXAMPLES / "prompts" / "hello.wav").read_bytes())
    state = Telphin()
    extension = str(next(_extensions))
    with serve_app(telphin_app(state)) as url:
        env = environment(url)
        env = Environment("random", "ivrflow.toml", {**env.settings, "extension": extension},
                          environ={"SECRET": "demo"})
        deploy(path, env)
        flow = checked.flow
        sequences = [s for n in range(4) for s in itertools.product(alphabet(flow), repeat=n)]
        moment = dt.datetime(2026, 11, 23, 10, 0)

        async def run_all() -> list[tuple[Any, Any]]:
            async with httpx.AsyncClient(timeout=10) as client:
                return [(inputs, await execute_call(state, client, extension, list(inputs)))
                        for inputs in sequences]

        for inputs, call in asyncio.run(run_all()):
            got = call.outcome.to_dict() if call.outcome.action != "waiting" else \
                {"action": "waiting", "context": call.context}
            assert got == expected(flow, inputs, moment), (source, inputs)


def test_call_interactive_urls_are_signed_and_checked(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    flow = flow_of(EXAMPLES / "support.ivr")
    token = "interactive-secret-5150"
    runtime = create_app(flow, MemoryStore(), Credentials(token=token), **telphin_runtime(url),
                         accept_test_clock=True)
    with serve_app(runtime) as runtime_url:
        env = environment(url, runtime_url)
        signed = Environment("signed", "ivrflow.toml", {**env.settings, "callback_token": "${TOKEN}"},
                             environ={"SECRET": "demo", "TOKEN": token})
        deploy(EXAMPLES / "support.ivr", signed)
        urls = [r["call_interactive_url"] for c in state.contexts.values() for rules in c["options"].values()
                for r in rules if r["action"] == "call_interactive"]
        assert urls and all("sig=" in u for u in urls) and token not in " ".join(urls)

        async def call() -> Any:
            async with httpx.AsyncClient(timeout=10) as client:
                return await execute_call(state, client, "071", ["1"], clock="2026-11-23T10:00:00")
        assert asyncio.run(call()).outcome.to_dict() == {"action": "transfer", "target": "201"}
        tampered = urls[0].replace("node=entry", "node=main")
        assert httpx.post(tampered, data={"CallerIDNum": "1"}).status_code == 401
        branch = next(c["id"] for c in state.contexts.values()
                      if c["description"].partition(" made=")[0] == "ivrflow:support:context:entry/1")
        answer = httpx.post(urls[0], data={"CallerIDNum": "1"}, headers={"X-Ivrflow-Clock": "2026-11-23T10:00:00"})
        assert answer.text.endswith(f'<Response><Jump context="{branch}" option="start"/></Response>')


def test_an_expired_token_is_replaced_once(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    with TelphinApi(url, "demo", "demo") as api:
        assert api.get("/client/@me/extension/") == []
        state.tokens.clear()  # the platform forgets the token before it says it expires
        assert api.get("/client/@me/sound/") == []
    tokens = [e for e in state.log if e["status"] == 401]
    assert len(tokens) == 1


def test_an_unreachable_platform_is_a_network_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import ivrflow.deploy.http as deploy_http

    from .servers import free_port

    monkeypatch.setattr(deploy_http, "backoff", lambda attempt: None)
    flow = tmp_path / "guide.ivr"
    flow.write_text((EXAMPLES / "telphin_guide.ivr").read_text())
    (tmp_path / "prompts").mkdir()  # plan checks the prompt files before it calls the platform
    for name in ("hello.wav", "advertising.wav"):
        (tmp_path / "prompts" / name).write_bytes((EXAMPLES / "prompts" / name).read_bytes())
    (tmp_path / "ivrflow.toml").write_text(f'[env.down]\ntarget = "telphin"\nbase_url = "http://127.0.0.1:{free_port()}"\n'
                                           'client_id = "demo"\nclient_secret = "${S}"\nextension = "071"\n')
    monkeypatch.setenv("S", "demo")
    assert main(["plan", str(flow), "--env", "down"]) == 5
    assert "failed 6 times" in capsys.readouterr().err


def test_targets_declare_every_construct_and_the_readme_shows_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    from ivrflow.targets import capabilities

    for name, declared in capabilities.capabilities().items():
        assert set(declared.capabilities) == {key for key, _ in capabilities.CONSTRUCTS}, name
    assert main(["targets", "--format", "markdown"]) == 0
    table = capsys.readouterr().out
    assert table in (EXAMPLES.parent / "docs" / "targets.md").read_text()
    assert main(["targets"]) == 0 and "call_interactive" in capsys.readouterr().out
