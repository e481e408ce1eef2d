"""Telphin deploys that must not lose or take what is not theirs: paged
lists, creates that land late, options and rules someone else added, an
extension with someone else's voice menu, 429 to concurrency, and a secret
refused without being printed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivrflow.cli import main
from ivrflow.config import Environment
from ivrflow.targets.telphin import target
from ivrflow.targets.telphin.client import TelphinApi
from ivrflow.targets.telphin.emulator import Faults, Telphin, telphin_app

from .conftest import EXAMPLES
from .flows import VOICEMAIL, deploy_with, flow_of, plan_with
from .servers import serve_app

GUIDE = EXAMPLES / "telphin_guide.ivr"
SUPPORT = EXAMPLES / "support.ivr"


def environment(base_url: str) -> Environment:
    settings = {"target": "telphin", "base_url": base_url, "client_id": "demo", "client_secret": "${SECRET}",
                "extension": "071", "runtime_url": "http://127.0.0.1:9", "tts": "espeak", "insecure_callbacks": True,
                "voicemail": VOICEMAIL}
    return Environment("test", "ivrflow.toml", settings, environ={"SECRET": "demo"})


@pytest.fixture
def telphin() -> Iterator[tuple[Telphin, str]]:
    state = Telphin()
    with serve_app(telphin_app(state)) as url:
        yield state, url


def project(tmp_path: Path, url: str, flow: Path = GUIDE) -> Path:
    """A folder with the flow, its prompts and an ivrflow.toml for `main`."""
    copy = tmp_path / flow.name
    copy.write_text(flow.read_text())
    (tmp_path / "prompts").mkdir(exist_ok=True)
    for prompt in (EXAMPLES / "prompts").iterdir():
        (tmp_path / "prompts" / prompt.name).write_bytes(prompt.read_bytes())
    (tmp_path / "ivrflow.toml").write_text(
        f'[env.emu]\ntarget = "telphin"\nbase_url = "{url}"\nclient_id = "demo"\nclient_secret = "${{S}}"\n'
        'extension = "071"\nruntime_url = "http://127.0.0.1:9"\ntts = "espeak"\ninsecure_callbacks = true\n')
    return copy


# --- paging ---------------------------------------------------------------------------------------

def test_every_list_is_read_page_by_page(telphin: tuple[Telphin, str]) -> None:
    """With 2 items a page unless asked for more, a client that reads the first
    page only would not see most contexts and rules: its redeploy would create
    them again."""
    state, url = telphin
    state.page_size = 2
    env = environment(url)
    deploy_with(target, SUPPORT, env)
    configuration = state.configuration("071")
    assert len(configuration["contexts"]) > 2
    assert plan_with(target, SUPPORT, env).changes == []
    deploy_with(target, SUPPORT, env)
    assert state.configuration("071") == configuration


def test_a_page_smaller_than_asked_for_ends_the_list(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    state.page_size = state.max_per_page = 2
    env = environment(url)
    with target.api_for(env) as api:
        api.per_page = 2
        deploy_with(target, SUPPORT, env)
        assert target.plan(flow_of(SUPPORT), str(SUPPORT), env, api)[1].changes == []


def test_the_emulator_pages_and_refuses_bad_pages(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    state.page_size = 2
    with TelphinApi(url, "demo", "demo") as api:
        for title in "abcde":
            api.request("POST", "/client/@me/sound/", data={"title": title}, files={"file": ("x.wav", b"RIFF")})
        assert [s["title"] for s in api.get("/client/@me/sound/")] == ["a", "b"]
        assert [s["title"] for s in api.request("GET", "/client/@me/sound/", params={"page": 3})] == ["e"]
        assert [s["title"] for s in api.get_all("/client/@me/sound/")] == list("abcde")
        api.per_page = 2
        assert [s["title"] for s in api.get_all("/client/@me/sound/")] == list("abcde")
    from ivrflow.deploy.http import Rejected
    with TelphinApi(url, "demo", "demo") as api, pytest.raises(Rejected, match="400"):
        api.request("GET", "/client/@me/sound/", params={"page": "x"})


# --- creates that land late, and the read after every deploy --------------------------------------

def test_a_create_that_lands_after_the_timeout_is_not_sent_again(telphin: tuple[Telphin, str]) -> None:
    """The upload of a sound times out on the client but lands on the platform
    0.6 s later: the deploy waits for it instead of uploading it twice."""
    state, url = telphin
    state.faults = Faults(slow=r"^POST /api/ver1\.0/client/@me/sound/", slow_s=0.6)
    deploy_with(target, GUIDE, environment(url), timeout=0.4)
    time.sleep(0.6)  # whatever is still running has landed
    titles = [s["title"] for s in state.sounds.values()]
    assert len(titles) == len(set(titles)) == 2  # no duplicate sound
    assert plan_with(target, GUIDE, environment(url)).changes == []


def test_a_deploy_that_does_not_match_afterwards_exits_6(telphin: tuple[Telphin, str], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A create that lands later than the deploy waits for it: both copies land.
    The run says so (exit 6) instead of "deployed", and the next run removes
    the copy."""
    from ivrflow.deploy import http
    state, url = telphin
    flow = project(tmp_path, url)
    monkeypatch.setenv("S", "demo")
    api_for = target.api_for

    def impatient(*args: Any, **kwargs: Any) -> TelphinApi:
        api = api_for(*args, **kwargs)
        api.retry["timeout"] = 0.3
        return api
    import dataclasses

    import ivrflow.targets.telphin as package
    monkeypatch.setattr(package, "TARGET", dataclasses.replace(package.TARGET, api_for=impatient))
    monkeypatch.setattr(http, "SETTLE_TIMEOUTS", 0.5, raising=False)
    # lands 0.5 s late, after the client's 0.3 s and 0.15 s of looking; the rest takes longer than that
    state.faults = Faults(slow=r"^POST /api/ver1\.0/client/@me/sound/", slow_s=0.5, latency_ms=40)
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 6
    assert "does not match the flow afterwards" in capsys.readouterr().err
    assert len(state.sounds) == 3  # one sound twice
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    assert len(state.sounds) == 2
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    assert "nothing to change" in capsys.readouterr().out


# --- what ivrflow did not make ------------------------------------------------------------------------

def _main_context(state: Telphin) -> dict[str, Any]:
    return next(c for c in state.contexts.values() if c["name"] == "Main context")


def test_options_and_rules_someone_added_are_left_alone(telphin: tuple[Telphin, str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    state, url = telphin
    flow = project(tmp_path, url)
    monkeypatch.setenv("S", "demo")
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    context = _main_context(state)
    extension = context["extension"]
    base = f"/extension/{extension}/ivr/context/{context['id']}/options/"
    with TelphinApi(url, "demo", "demo") as api:  # a person adds option 7 and a rule on timeout
        api.request("POST", base, json={"digits": "7"})
        api.request("POST", f"{base}7/rules/", json={"action": "transfer", "transfer_dst": "777"})
        theirs = api.request("POST", f"{base}timeout/rules/", json={"action": "play_silence", "silence_time": 1})
    capsys.readouterr()
    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["changes"] == []
    assert {(u["kind"], u["key"]) for u in summary["unmanaged"]} == {
        ("option", "option:main/7"), ("rule", f"rule:main/timeout id {theirs['id']}")}
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    assert "unmanaged, left alone" in capsys.readouterr().out

    flow.write_text(flow.read_text().replace('press 2 -> transfer "002"\n', ""))  # the flow drops key 2
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    options = _main_context(state)["options"]
    assert "2" not in options  # ivrflow's own option goes
    assert options["7"] == [{"id": options["7"][0]["id"], "action": "transfer", "transfer_dst": "777"}]
    assert options["timeout"][-1]["id"] == theirs["id"]
    capsys.readouterr()

    assert main(["plan", str(flow), "--env", "emu", "--adopt", "--format", "json"]) == 0
    adopted = json.loads(capsys.readouterr().out)
    assert adopted["unmanaged"] == [] and {c["key"] for c in adopted["changes"] if c["op"] == "delete"} == {
        "option:main/7", "rule:main/timeout#1"}
    assert main(["deploy", str(flow), "--env", "emu", "--yes", "--adopt"]) == 0
    options = _main_context(state)["options"]
    assert "7" not in options and len(options["timeout"]) == 1


def test_a_deploy_cut_short_leaves_nothing_of_its_own_unclaimed(telphin: tuple[Telphin, str],
                                                                tmp_path: Path) -> None:
    """The flow drops key 2; the deploy stops after its first call (the
    context's description): the next plan still deletes option 2, which is
    ivrflow's, instead of leaving it alone as someone else's."""
    state, url = telphin
    env = environment(url)
    flow = project(tmp_path, url)
    deploy_with(target, flow, env)
    flow.write_text(flow.read_text().replace('press 2 -> transfer "002"\n', ""))
    with target.api_for(env) as api:
        _, plan = target.plan(flow_of(flow), str(flow), env, api)
        assert [c.key for c in plan.changes] == ["context:main", "option:main/2", "context:main"]
        target.apply(flow_of(flow), str(flow), plan.changes[0], api, {})
    again = plan_with(target, flow, env)
    assert again.unmanaged == [] and [c.key for c in again.changes] == ["option:main/2", "context:main"]
    deploy_with(target, flow, env)
    assert "2" not in _main_context(state)["options"] and plan_with(target, flow, env).changes == []


def test_an_extension_with_someone_elses_voice_menu_is_not_taken_over(telphin: tuple[Telphin, str],
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    state, url = telphin
    with TelphinApi(url, "demo", "demo") as api:
        extension = api.request("POST", "/client/@me/extension/", json={"name": "071", "type": "ivr",
                                                                        "label": "reception"})
        theirs = api.request("POST", f"/extension/{extension['id']}/ivr/context/", json={"name": "Reception"})
        api.request("PUT", f"/extension/{extension['id']}/ivr/", json={"entry_context": theirs["id"],
                                                                       "sleep_time": 1000})
    flow = project(tmp_path, url)
    monkeypatch.setenv("S", "demo")
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    assert state.ivrs[extension["id"]]["entry_context"] == theirs["id"]
    assert state.ivrs[extension["id"]]["sleep_time"] == 1000
    captured = capsys.readouterr()
    assert "unmanaged, left alone" in captured.out and "--adopt" in captured.out
    # a number someone else's menu answers is never reported as the flow's
    assert "callers dial extension 071" not in captured.out + captured.err
    assert "callers dial nothing yet: extension 071 answers with someone else's voice menu" in captured.out
    assert main(["deploy", str(flow), "--env", "emu", "--yes", "--adopt"]) == 0
    assert "callers dial extension 071" in capsys.readouterr().err
    assert state.ivrs[extension["id"]]["entry_context"] == _main_context(state)["id"]
    assert theirs["id"] in state.contexts  # a context ivrflow did not make is never deleted


# --- concurrency ---------------------------------------------------------------------------------------

def test_reads_go_one_at_a_time_after_a_429_to_concurrency(telphin: tuple[Telphin, str]) -> None:
    state, url = telphin
    env = environment(url)
    deploy_with(target, SUPPORT, env)
    state.max_concurrent = 1
    state.faults = Faults(latency_ms=20)  # so that requests overlap
    state.log.clear()
    with target.api_for(env) as api:
        api.retry["sleep"] = lambda attempt: None
        assert target.plan(flow_of(SUPPORT), str(SUPPORT), env, api)[1].changes == []
        assert api.gate is not None and api.gate.limit == 1
    assert any(e["status"] == 429 for e in state.log)


# --- secrets ---------------------------------------------------------------------------------------

def test_a_literal_secret_is_refused_without_printing_it(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    flow = project(tmp_path, "http://127.0.0.1:9")
    (tmp_path / "ivrflow.toml").write_text('[env.emu]\ntarget = "telphin"\nclient_id = "demo"\n'
                                           'client_secret = "hunter2-the-real-one"\nextension = "071"\n')
    assert main(["plan", str(flow), "--env", "emu"]) == 2
    err = capsys.readouterr().err
    assert "`client_secret`" in err and "literal secret" in err
    assert "hunter2" not in err
