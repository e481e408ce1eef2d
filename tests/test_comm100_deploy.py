"""The Comm100 target deployed over real HTTP to the emulator under uvicorn:
a first deploy in PLATFORMS.md §4's order, an unchanged plan that only reads,
a one-key change that writes one action, an unmanaged voicebot left alone,
convergence under injected faults, pacing under a tight rate limit, and
calls on the deployed voicebot that end as the machine (`simulate`) says."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings

from ivrflow.compiler import ir
from ivrflow.compiler.machine import Keys, Line, Outcome, Silence
from ivrflow.compiler.simulate import run_call
from ivrflow.config import Environment
from ivrflow.deploy.http import Stats
from ivrflow.deploy.plan import Plan
from ivrflow.deploy.run import describe_stats
from ivrflow.loader import load
from ivrflow.targets.comm100 import target
from ivrflow.targets.comm100.compile import language_of
from ivrflow.targets.comm100.emulator import comm100_app
from ivrflow.targets.comm100.state import Comm100
from ivrflow.targets.emulation import Faults

from .conftest import EXAMPLES, PLATFORM_FLOWS
from .flows import alphabet, converge, deploy_with, flow_of, flows, plan_with
from .servers import serve_app

VOICEMAIL = {"sales": "800", "support": "801", "invoices": "802", "prescriptions": "803", "reception": "804",
             "billing": "805"}
TEMPLATE = "sip:{ext}@pbx.example.com"


def environment(base_url: str, drop: tuple[str, ...] = (), **extra: Any) -> Environment:
    settings = {"target": "comm100", "base_url": base_url, "site_id": 10000, "email": "demo@example.com",
                "api_key": "${KEY}", "channel": "sip", "sip_server": "sip.example.com", "sip_username": "bot",
                "sip_password": "${SIP}", "transfer_to": TEMPLATE, "voicemail": VOICEMAIL, **extra}
    settings = {k: v for k, v in settings.items() if k not in drop}
    return Environment("test", "ivrflow.toml", settings, environ={"KEY": "demo", "SIP": "s1p"})


def _compiles(path: Path) -> bool:
    flow = flow_of(path)
    return not any(d.severity.name == "ERROR" for d in target.desired(flow, str(path), None).diagnostics)


#: The examples Comm100 takes (the others are refused with IVR205: the golden diagnostics list why).
FLOWS = [p for p in PLATFORM_FLOWS if _compiles(p)]


def deploy(path: Path, env: Environment, *, flow: ir.Flow | None = None, timeout: float = 10.0) -> Stats:
    return deploy_with(target, path, env, flow=flow, timeout=timeout)


@pytest.fixture
def comm100() -> Iterator[tuple[Comm100, str]]:
    state = Comm100()
    with serve_app(comm100_app(state)) as url:
        yield state, url + "/v4"


def test_the_examples_that_compile_for_comm100() -> None:
    assert [p.stem for p in FLOWS] == ["quickstart", "telphin_guide"]


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.stem)
def test_first_deploy_then_an_unchanged_plan_only_reads(comm100: tuple[Comm100, str], path: Path) -> None:
    state, url = comm100
    env = environment(url)
    first = deploy(path, env)
    order = [e["path"].split("/")[3] for e in state.log if e["method"] == "POST"]
    assert order[:4] == ["voicebotChannelSIPConfigurations", "voicebotChannelInstances", "voicebots",
                         "voicebotResponses"]
    assert order[-1] == "voicebotSmartTriggers" and set(order[4:-1]) == {"voicebotActions"}
    assert first.writes == state.writes() > 0
    bot = state.bot_named(path.stem)
    assert bot is not None and bot["description"] == f"ivrflow:{path.stem}"
    assert state.objects["sip"][bot["channel"]["infoId"]]["password"] == "s1p"
    writes, reads = state.writes(), state.reads()
    assert plan_with(target, path, env).changes == []
    assert state.writes() == writes and state.reads() - reads == 6  # reads do not grow with the menus
    again = deploy(path, env)
    assert again.writes == 0 and state.writes() == writes
    assert len(state.objects["voicebots"]) == 1 and len(state.objects["sip"]) == 1


def test_a_one_key_change_writes_one_action_and_a_removed_key_is_deleted(comm100: tuple[Comm100, str],
                                                                          tmp_path: Path) -> None:
    state, url = comm100
    env = environment(url)
    deploy(EXAMPLES / "quickstart.ivr", env)
    changed = tmp_path / "quickstart.ivr"
    changed.write_text((EXAMPLES / "quickstart.ivr").read_text().replace('press 2 -> transfer "102"',
                                                                         'press 2 -> transfer "103"'))
    before = state.writes()
    stats = deploy(changed, env, flow=load(str(changed), check_files=False).flow)
    assert stats.writes == state.writes() - before == 1
    put = [e for e in state.log if e["method"] == "PUT"]
    assert len(put) == 1 and "voicebotActions" in put[0]["path"]
    transfers = sorted(a["voicebotActionTransferCall"]["transferTo"] for a in state.objects["actions"].values()
                       if a["type"] == "TransferCall")
    assert transfers == ["sip:100@pbx.example.com", "sip:101@pbx.example.com", "sip:103@pbx.example.com"]
    fewer = tmp_path / "fewer" / "quickstart.ivr"
    fewer.parent.mkdir()
    fewer.write_text((EXAMPLES / "quickstart.ivr").read_text().replace('    press 2 -> transfer "102"\n', ""))
    count = len(state.objects["actions"])
    deploy(fewer, env, flow=load(str(fewer), check_files=False).flow)
    assert len(state.objects["actions"]) == count - 1  # the action no longer in the flow is deleted
    assert plan_with(target, fewer, env).changes == []


def test_an_unmanaged_voicebot_is_never_touched(comm100: tuple[Comm100, str]) -> None:
    state, url = comm100
    api = httpx.Client(base_url=url, auth=("demo@example.com", "demo"), params={"siteId": 10000})
    sip = api.post("/voicebot/voicebotChannelSIPConfigurations",
                   json={"sIPServer": "other.example", "username": "u", "password": "p",
                         "outboundProxy": "", "authUsername": ""}).json()
    instance = api.post("/voicebot/voicebotChannelInstances", json={"channelType": "sip", "infoId": sip["id"]}).json()
    theirs = {"name": "quickstart", "description": "made by hand", "channel": {"id": instance["id"]},
              "channelId": instance["id"]}
    other = api.post("/voicebot/voicebots", json={**theirs, "name": "sales bot"}).json()
    same = api.post("/voicebot/voicebots", json=theirs).json()
    snapshot = json.dumps(state.objects, sort_keys=True)
    env = environment(url)
    the_plan = plan_with(target, EXAMPLES / "quickstart.ivr", env)
    assert the_plan.changes == [] and [u.kind for u in the_plan.unmanaged] == ["voicebot"]
    deploy(EXAMPLES / "quickstart.ivr", env)
    assert json.dumps(state.objects, sort_keys=True) == snapshot  # the hand-made bot of the same name holds it
    api.delete(f"/voicebot/voicebots/{same['id']}")
    deploy(EXAMPLES / "quickstart.ivr", env)
    assert state.objects["voicebots"][other["id"]]["description"] == "made by hand"
    assert state.bot_named("quickstart")["description"] == "ivrflow:quickstart"  # type: ignore[index]
    api.close()


def test_a_deploy_with_faults_converges_without_duplicates(comm100: tuple[Comm100, str]) -> None:
    state, url = comm100
    env = environment(url)
    state.faults = Faults(rate=0.2, latency_ms=0, timeout_s=0.6, seed=5)
    converge(lambda: deploy(EXAMPLES / "telphin_guide.ivr", env, timeout=0.4))
    state.faults = Faults()
    assert plan_with(target, EXAMPLES / "telphin_guide.ivr", env).changes == []
    assert len(state.objects["voicebots"]) == 1 and len(state.objects["responses"]) == 1
    assert len(state.objects["triggers"]) == 1
    wanted = target.desired(flow_of(EXAMPLES / "telphin_guide.ivr"), "", env)
    assert len(state.objects["actions"]) == len(wanted.actions)
    assert any(e["status"] >= 500 or e["status"] == 429 for e in state.log)


def test_a_30_menu_flow_under_a_tight_rate_limit_paces_itself(comm100: tuple[Comm100, str], tmp_path: Path) -> None:
    state, url = comm100
    state.rate_limit, state.rate_window_s = 40, 2.0
    lines = ['flow many {\n}\nprompt p say "Choose."\n']
    for n in range(30):
        following = f"goto m{n + 1}" if n < 29 else "hangup"
        lines.append(f'menu m{n} {{\n    play p\n    press 1 -> {following}\n    press 2 -> transfer "{100 + n}"\n}}\n')
    path = tmp_path / "many.ivr"
    path.write_text("".join(lines))
    env = environment(url, rate_limit=40, rate_window=2.0)
    flow = flow_of(path)
    stats = Stats()
    with target.api_for(env, stats=stats) as api:
        wanted, the_plan = target.plan(flow, str(path), env, api)
        assert any("pauses about 4 s" in note for note in the_plan.notes), the_plan.notes
        ids: dict[str, Any] = {}
        for change in the_plan.changes:
            target.apply(flow, str(path), change, api, ids)
        assert api.pacer.waited > 0
    assert re.search(r"; paused [1-9]\d* s \(rate limit, retries\)$", describe_stats(stats)), describe_stats(stats)
    assert state.throttled() == 0 and len(the_plan.changes) > 40
    assert len(state.objects["actions"]) == len(wanted.actions)


# --- calls on the deployed voicebot ----------------------------------------------------------------

def expected(flow: ir.Flow, inputs: tuple[str, ...]) -> dict[str, Any]:
    """What the machine says of a call on a Monday at 10:00, in Comm100's words."""
    record, _ = run_call(flow, [Silence() if i == "silence" else Keys(i) for i in inputs],
                         Line(dt.datetime(2026, 11, 23, 10, 0), None))
    return in_comm100_words(record.outcome, waiting="menu")


def in_comm100_words(outcome: Outcome, *, waiting: str) -> dict[str, Any]:
    """An outcome as the emulator reports it: transfers dialled through the
    template, voicemail as a transfer to the box's number, a waiting call's
    node under the key `waiting`."""
    if outcome.action == "voicemail":
        return {"action": "transfer", "target": TEMPLATE.replace("{ext}", VOICEMAIL[outcome.target or "default"])}
    if outcome.action == "transfer" and not str(outcome.target).startswith("+"):
        return {"action": "transfer", "target": TEMPLATE.replace("{ext}", str(outcome.target))}
    if outcome.action == "waiting":
        return {"action": "waiting", waiting: outcome.target}
    return dict(outcome.to_dict())


def approximated(flow: ir.Flow, wanted: Any, inputs: tuple[str, ...]) -> bool:
    """A case the compiler reported as approximated (IVR206): silence in a
    menu whose silence Comm100 handles otherwise, an entry a menu's
    `dial-extensions` would take, or silences and wrong keys mixed in one
    visit of a menu (counted apart on Comm100), or a key whose handler
    repeats the menu."""
    record, _ = run_call(flow, [], Line(dt.datetime(2026, 11, 23, 10, 0), None))
    menu = record.call.node
    counted: set[str] = set()
    for entry in inputs:
        node = flow.node(menu or "")
        if not isinstance(node, ir.Menu):
            return False
        if entry == "silence" and node.name in wanted.approximated:
            return True
        if entry != "silence" and node.dial_extensions and node.press_for(entry[:node.digits]) is None:
            return True
        press = None if entry == "silence" else node.press_for(entry[:node.digits])
        if press is not None and isinstance(press.actions.terminal, ir.Repeat):
            return True  # a key's `repeat` counts no retry on Comm100
        kind = "silence" if entry == "silence" else "wrong" if press is None else "key"
        if kind != "key" and counted - {kind}:
            return True
        record.send(Silence() if entry == "silence" else Keys(entry))
        if record.call.status != "input":
            return False
        counted = counted | {kind} if record.call.node == menu and record.call.retries else set()
        menu = record.call.node
    return False


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.stem)
def test_calls_on_the_deployed_voicebot_end_as_simulate_says(comm100: tuple[Comm100, str], path: Path) -> None:
    state, url = comm100
    flow = flow_of(path)
    env = environment(url)
    deploy(path, env)
    wanted = target.desired(flow, str(path), env)
    menus = {a.key: a.menu for a in wanted.actions}
    by_place = {(a["xPosition"], a["yPosition"]): a["id"] for a in state.objects["actions"].values()}
    menu_of = {by_place[(a.x, a.y)]: menus[a.key] for a in wanted.actions if a.menu}
    sequences = [s for n in range(4) for s in itertools.product(alphabet(flow), repeat=n)]
    compared = skipped = 0
    mismatches = []
    for inputs in sequences:
        if approximated(flow, wanted, inputs):
            skipped += 1
            continue
        with httpx.Client(timeout=10) as client:
            got = client.post(url.removesuffix("/v4") + "/_emulator/call",
                              json={"voicebot": flow.name, "inputs": list(inputs)}).json()
        outcome = dict(got["outcome"])
        if outcome["action"] == "waiting":
            outcome = {"action": "waiting", "menu": menu_of.get(got["action"])}
        compared += 1
        if outcome != expected(flow, inputs):
            mismatches.append((inputs, expected(flow, inputs), outcome))
    assert mismatches == [], json.dumps(mismatches[:5], indent=1)
    assert compared > 20 and language_of(flow.language) == "en"


EXACT = """flow exact {
}
prompt hello say "For sales press 1. For the menu of services press 2."
prompt services_menu say "For repairs press 1. To go back press 0."
prompt sorry say "Sorry."
prompt bye say "Goodbye."
menu main {
    play hello
    timeout 4s
    retries 1
    press 1 -> transfer "101"
    press 2 -> goto services
    on invalid -> play sorry, repeat
    on exhausted -> play bye, hangup
}
menu services {
    play services_menu
    timeout 4s
    retries 1
    press 1 -> voicemail "sales"
    press 0 -> goto main
    on invalid -> hangup
}
"""


def test_silence_and_wrong_keys_end_as_simulate_says_where_comm100_is_exact(
        comm100: tuple[Comm100, str], tmp_path: Path) -> None:
    """A flow whose menus share one timing and hang up when exhausted: every
    sequence to depth 3, silences included, ends on Comm100 as `simulate` says."""
    state, url = comm100
    path = tmp_path / "exact.ivr"
    path.write_text(EXACT)
    flow = flow_of(path)
    env = environment(url)
    deploy(path, env, flow=flow)
    wanted = target.desired(flow, str(path), env)
    assert wanted.approximated == set()
    bot = state.bot_named("exact")
    assert bot is not None and (bot["timeIntervalToRepeatLastMessageWhenNoInput"],
                                bot["timeToHangUpCallWhenNoInput"]) == (4, 8)
    assert bot["messageBeforeHangUpCallWhenNoInput"] == "Goodbye."
    compared = 0
    with httpx.Client(timeout=10) as client:
        for inputs in (s for n in range(4) for s in itertools.product(alphabet(flow), repeat=n)):
            if approximated(flow, wanted, inputs):
                continue
            got = client.post(url.removesuffix("/v4") + "/_emulator/call",
                              json={"voicebot": "exact", "inputs": list(inputs)}).json()["outcome"]
            want = expected(flow, inputs)
            if want["action"] != "waiting":
                assert got == want, inputs
            else:
                assert got["action"] == "waiting", inputs
            compared += 1
    assert compared > 60


def test_the_emulator_validates_as_documented(comm100: tuple[Comm100, str]) -> None:
    state, url = comm100
    basic = httpx.BasicAuth("demo@example.com", "demo")
    with httpx.Client(base_url=url, auth=basic, params={"siteId": 10000}) as api:
        def refused(method: str, path: str, body: Any = None, status: int = 400) -> str:
            response = api.request(method, path, json=body)
            assert response.status_code == status, response.text
            return str(response.json()["message"])

        assert "channel" in refused("POST", "/voicebot/voicebots", {"name": "x"})
        assert "name" in refused("POST", "/voicebot/voicebots", {"channel": {}})
        sip = api.post("/voicebot/voicebotChannelSIPConfigurations",
                       json={"sIPServer": "s", "username": "u", "password": "p"}).json()
        instance = api.post("/voicebot/voicebotChannelInstances", json={"channelType": "sip", "infoId": sip["id"]})
        good = {"name": "x", "channel": {"id": instance.json()["id"]}}
        assert "1 to 60" in refused("POST", "/voicebot/voicebots",
                                    {**good, "timeIntervalToRepeatLastMessageWhenNoInput": 61})
        assert "1 to 600" in refused("POST", "/voicebot/voicebots", {**good, "timeToHangUpCallWhenNoInput": 0})
        assert "languageId" in refused("POST", "/voicebot/voicebots", {**good, "languageId": "fr"})
        assert "channelType" in refused("POST", "/voicebot/voicebotChannelInstances", {"channelType": "pstn"})
        assert "password" in refused("POST", "/voicebot/voicebotChannelSIPConfigurations",
                                     {"sIPServer": "s", "username": "u"})
        assert "authUsername" in refused("POST", "/voicebot/voicebotChannelSIPConfigurations",
                                         {"username": "u", "password": "p", "isAuthUsernameRequired": True})
        assert "phoneNumberCountry" in refused("POST", "/voicebot/voicebotChannelTwilioConfigurations",
                                               {"phoneNumber": "+15550100", "phoneNumberCountry": "SE"})
        twilio = api.post("/voicebot/voicebotChannelTwilioConfigurations",
                          json={"phoneNumber": "+15550100", "phoneNumberCountry": "US"}).json()
        assert "cannot be changed" in refused("PUT", f"/voicebot/voicebotChannelTwilioConfigurations/{twilio['id']}",
                                              {"phoneNumber": "+15550101", "phoneNumberCountry": "US"})
        bot = api.post("/voicebot/voicebots", json=good).json()
        response = api.post("/voicebot/voicebotResponses", json={"voicebotId": bot["id"], "name": "r"}).json()
        menu = {"type": "IVRMenu", "voicebotResponseId": response["id"], "xPosition": 0, "yPosition": 0,
                "voicebotActionIVRMenu": {"message": "m", "voicebotActionIVRMenuOptions": [{"key": "*"}]}}
        assert "key" in refused("POST", "/voicebot/voicebotActions", menu)
        menu["voicebotActionIVRMenu"] = {"message": "m", "voicebotActionIVRMenuOptions": [
            {"key": 1, "nextActionId": "00000000-0000-0000-0000-00000000ffff"}]}
        assert "not an action of this response" in refused("POST", "/voicebot/voicebotActions", menu)
        assert "type" in refused("POST", "/voicebot/voicebotActions", {**menu, "type": "Dance"})
        play = {"type": "PlayText", "voicebotResponseId": response["id"],
                "voicebotActionPlayText": {"message": "hi", "nextActionId": {"not": "an id"}}}
        assert "not an action of this response" in refused("POST", "/voicebot/voicebotActions", play)
        assert "voicebotActionPlayText" in refused("POST", "/voicebot/voicebotActions", {**play,
                                                   "voicebotActionPlayText": ["x"]})
        assert "trigger" in refused("POST", "/voicebot/voicebotSmartTriggers",
                                    {"voicebotId": bot["id"], "trigger": "hello", "voicebotResponseId": response["id"]})
        assert "JSON" in refused("POST", "/voicebot/voicebots", None)
        bad = api.post("/voicebot/voicebots", content=b"{not json", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and "JSON" in bad.json()["message"]
        assert api.get("/voicebot/voicebots/nope").status_code == 404
    no_site = httpx.get(url + "/voicebot/voicebots", auth=basic)
    assert no_site.status_code == 400 and "siteId" in no_site.json()["message"]
    assert httpx.get(url + "/voicebot/voicebots", auth=("demo@example.com", "wrong"),
                     params={"siteId": 10000}).status_code == 401
    assert httpx.get(url + "/voicebot/voicebots", headers={"Authorization": "Bearer demo-token"}).status_code == 200
    state.rate_limit = len(state.log) + 1
    with httpx.Client() as client:
        statuses = [client.get(url + "/voicebot/voicebots", headers={"Authorization": "Bearer demo-token"}).status_code
                    for _ in range(3)]
    assert 429 in statuses and statuses[0] == 200


def test_a_twilio_channel_is_created_once_and_its_number_never_changed(comm100: tuple[Comm100, str]) -> None:
    state, url = comm100
    env = environment(url, drop=("sip_server", "sip_username", "sip_password"), channel="twilio",
                      phone_number="+15550100", phone_country="US")
    deploy(EXAMPLES / "quickstart.ivr", env)
    assert [t["phoneNumber"] for t in state.objects["twilio"].values()] == ["+15550100"]
    assert state.objects["sip"] == {}
    assert plan_with(target, EXAMPLES / "quickstart.ivr", env).changes == []
    moved = environment(url, drop=("sip_server", "sip_username", "sip_password"), channel="twilio",
                        phone_number="+15550199", phone_country="US")
    changes = plan_with(target, EXAMPLES / "quickstart.ivr", moved).changes
    assert [(c.op, c.kind) for c in changes] == [("create", "channel configuration"), ("update", "channel instance")]
    deploy(EXAMPLES / "quickstart.ivr", moved)
    assert sorted(t["phoneNumber"] for t in state.objects["twilio"].values()) == ["+15550100", "+15550199"]
    assert plan_with(target, EXAMPLES / "quickstart.ivr", moved).changes == []


def test_destroy_removes_what_ivrflow_made_and_nothing_else(comm100: tuple[Comm100, str], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from ivrflow.cli import main

    state, url = comm100
    api = httpx.Client(base_url=url, auth=("demo@example.com", "demo"), params={"siteId": 10000})
    sip = api.post("/voicebot/voicebotChannelSIPConfigurations",
                   json={"sIPServer": "other.example", "username": "u", "password": "p"}).json()
    instance = api.post("/voicebot/voicebotChannelInstances", json={"channelType": "sip", "infoId": sip["id"]}).json()
    theirs = api.post("/voicebot/voicebots", json={"name": "sales bot", "channel": {"id": instance["id"]}}).json()
    api.close()
    flow = _project(tmp_path, url, monkeypatch)
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    capsys.readouterr()
    assert main(["status", str(flow), "--env", "emu", "--format", "json"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["in_sync"] and report["deployed"]["action"] == 5 and report["deployed"]["voicebot"] == 1
    assert main(["destroy", str(flow), "--env", "emu", "--yes"]) == 0
    assert list(state.objects["voicebots"]) == [theirs["id"]]
    assert list(state.objects["instances"]) == [instance["id"]] and list(state.objects["sip"]) == [sip["id"]]
    assert state.objects["actions"] == {} and state.objects["responses"] == {} and state.objects["triggers"] == {}
    writes = state.writes()
    assert main(["destroy", str(flow), "--env", "emu", "--yes"]) == 0  # nothing left: a no-op
    assert state.writes() == writes
    assert "s1p" not in capsys.readouterr().out


@settings(max_examples=int(os.environ.get("IVRFLOW_RANDOM_FLOWS", "12")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(source=flows())
def test_random_flows_run_on_comm100_as_on_the_machine(source: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Random flows (`*` keys left out: Comm100 refuses them), every sequence
    to depth 3, except the cases the compiler reported as approximated."""
    from ivrflow.compiler import check_source

    source = re.sub(r"\n    press \* -> [^\n]*", "", source)
    checked = check_source(source, "random.ivr")
    assume(checked.flow is not None and checked.errors == 0)
    assert checked.flow is not None
    flow = checked.flow
    wanted = target.desired(flow, "random.ivr", None)
    assume(not any(d.severity.name == "ERROR" for d in wanted.diagnostics))
    folder = tmp_path_factory.mktemp("random")
    path = folder / "random.ivr"
    path.write_text(source)
    state = Comm100()
    with serve_app(comm100_app(state)) as base:
        url = base + "/v4"
        env = environment(url)
        deploy(path, env, flow=flow)
        wanted = target.desired(flow, str(path), env)
        menus = {a.key: a.menu for a in wanted.actions}
        by_place = {(a["xPosition"], a["yPosition"]): a["id"] for a in state.objects["actions"].values()}
        menu_of = {by_place[(a.x, a.y)]: menus[a.key] for a in wanted.actions if a.menu}
        with httpx.Client(timeout=10) as client:
            for inputs in (s for n in range(4) for s in itertools.product(alphabet(flow), repeat=n)):
                if approximated(flow, wanted, inputs):
                    continue
                got = client.post(base + "/_emulator/call", json={"voicebot": flow.name, "inputs": list(inputs)})
                outcome = dict(got.json()["outcome"])
                if outcome["action"] == "waiting":
                    outcome = {"action": "waiting", "menu": menu_of.get(got.json()["action"])}
                assert outcome == expected(flow, inputs), (source, inputs)


def test_a_platform_stricter_than_the_documented_limit_is_waited_out(comm100: tuple[Comm100, str],
                                                                     tmp_path: Path) -> None:
    """The site allows fewer calls than documented (20 a second here): the
    deploy meets 429s, waits (the pacer's backoff) and finishes without a failure."""
    state, url = comm100
    state.rate_limit, state.rate_window_s = 20, 1.0
    lines = ['flow many {\n}\nprompt p say "Choose."\n']
    for n in range(10):
        following = f"goto m{n + 1}" if n < 9 else "hangup"
        lines.append(f'menu m{n} {{\n    play p\n    press 1 -> {following}\n    press 2 -> transfer "{100 + n}"\n}}\n')
    path = tmp_path / "many.ivr"
    path.write_text("".join(lines))
    env = environment(url)
    flow = flow_of(path)
    with target.api_for(env) as api:
        _, the_plan = target.plan(flow, str(path), env, api)
        ids: dict[str, Any] = {}
        for change in the_plan.changes:
            target.apply(flow, str(path), change, api, ids)
        assert api.pacer.waited >= 1
    assert state.throttled() > 0
    assert plan_with(target, path, env).changes == []


def test_actions_are_known_by_their_place_in_the_graph_not_on_the_canvas(comm100: tuple[Comm100, str],
                                                                         tmp_path: Path) -> None:
    """The canvas reads like the diagram (a submenu a rank below the menu
    that goes to it); an action moved in the canvas is moved back, not
    made again; a new menu in front of the others shifts the layout and still
    converges without leftovers."""
    state, url = comm100
    env = environment(url)
    path = tmp_path / "exact.ivr"
    path.write_text(EXACT)
    flow = flow_of(path)
    deploy(path, env, flow=flow)
    wanted = target.desired(flow, str(path), env)
    services = wanted.action("services")
    assert wanted.action("main").y < services.y
    menu = next(a for a in state.objects["actions"].values() if a["type"] == "IVRMenu"
                and a["voicebotActionIVRMenu"]["message"].startswith("For repairs"))
    menu["xPosition"], menu["yPosition"] = 1234, 99  # someone tidies the canvas
    changes = plan_with(target, path, env).changes
    assert [(c.op, c.kind) for c in changes] == [("update", "action")]
    count = len(state.objects["actions"])
    deploy(path, env, flow=flow)
    assert len(state.objects["actions"]) == count and menu["id"] in state.objects["actions"]
    assert (state.objects["actions"][menu["id"]]["xPosition"], state.objects["actions"][menu["id"]]["yPosition"]) \
        == (services.x, services.y)
    front = tmp_path / "front" / "exact.ivr"
    front.parent.mkdir()
    front.write_text(EXACT.replace("menu main {", 'menu lobby {\n    play hello\n    press 1 -> goto main\n'
                                   '    on invalid -> hangup\n}\nmenu main {'))
    moved = flow_of(front)
    deploy(front, env, flow=moved)
    assert plan_with(target, front, env).changes == []
    assert len(state.objects["actions"]) == len(target.desired(moved, str(front), env).actions)


def _project(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """quickstart.ivr beside an ivrflow.toml whose environment `emu` is the emulator at `url`."""
    (tmp_path / "ivrflow.toml").write_text(f'''[env.emu]
target = "comm100"
base_url = "{url}"
site_id = 10000
email = "demo@example.com"
api_key = "${{KEY}}"
channel = "sip"
sip_server = "sip.example.com"
sip_username = "bot"
sip_password = "${{SIP}}"
''')
    monkeypatch.setenv("KEY", "demo")
    monkeypatch.setenv("SIP", "s1p")
    flow = tmp_path / "quickstart.ivr"
    flow.write_text((EXAMPLES / "quickstart.ivr").read_text())
    return flow


def test_an_action_added_by_hand_to_ivrflows_response_is_left_alone_until_adopted(
        comm100: tuple[Comm100, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Someone adds an action in the Comm100 canvas, inside the voicebot
    ivrflow deployed: plan lists it as unmanaged, deploy and destroy leave
    it (and what holds it) alone, `--adopt` removes it. An action ivrflow
    made that the flow no longer reaches is still deleted."""
    from ivrflow.cli import main

    state, url = comm100
    flow = _project(tmp_path, url, monkeypatch)
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    bot = state.bot_named("quickstart")
    assert bot is not None
    [response] = state.objects["responses"].values()
    menu = next(a for a in state.objects["actions"].values() if a["type"] == "IVRMenu")
    api = httpx.Client(base_url=url, auth=("demo@example.com", "demo"), params={"siteId": 10000})
    theirs = api.post("/voicebot/voicebotActions", json={
        "type": "PlayText", "voicebotResponseId": response["id"], "xPosition": 2000, "yPosition": 0,
        "voicebotActionPlayText": {"message": "Our hours changed.", "nextActionId": menu["id"]}}).json()
    orphan = api.post("/voicebot/voicebotActions", json={  # left by an interrupted deploy of ivrflow's
        "type": "EndCall", "voicebotResponseId": response["id"], "xPosition": 2400, "yPosition": 0,
        "description": "ivrflow:quickstart"}).json()
    api.close()
    capsys.readouterr()

    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert [(c["op"], c["path"]) for c in planned["changes"]] == [
        ("delete", f"/voicebot/voicebotActions/{orphan['id']}")]
    assert [(u["kind"], u["key"]) for u in planned["unmanaged"]] == [("action", f"action:{theirs['id']}")]
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    shown = capsys.readouterr().out
    assert f"= keep action {theirs['id']}: unmanaged, left alone" in shown and "--adopt" in shown

    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    assert state.objects["actions"][theirs["id"]] == theirs and orphan["id"] not in state.objects["actions"]
    capsys.readouterr()
    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["changes"] == [] and len(again["unmanaged"]) == 1

    capsys.readouterr()
    assert main(["destroy", str(flow), "--env", "emu", "--yes"]) == 0
    shown = capsys.readouterr().out
    assert f"= keep action {theirs['id']}: unmanaged, left alone" in shown
    assert state.objects["actions"][theirs["id"]] == theirs  # and the response and voicebot that hold it
    assert list(state.objects["responses"]) == [response["id"]] and bot["id"] in state.objects["voicebots"]
    assert menu["id"] in state.objects["actions"]  # the hand-made action goes to it

    assert main(["plan", str(flow), "--env", "emu", "--adopt", "--format", "json"]) == 0
    adopted = json.loads(capsys.readouterr().out)
    assert ("delete", f"/voicebot/voicebotActions/{theirs['id']}") in [(c["op"], c["path"])
                                                                       for c in adopted["changes"]]
    assert main(["deploy", str(flow), "--env", "emu", "--yes", "--adopt"]) == 0
    assert theirs["id"] not in state.objects["actions"]
    capsys.readouterr()
    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert (after["changes"], after["unmanaged"]) == ([], [])
    assert main(["destroy", str(flow), "--env", "emu", "--yes"]) == 0
    assert state.objects["voicebots"] == {} and state.objects["actions"] == {}


def test_emulate_comm100_takes_its_rate_limit_on_the_command_line(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`ivrflow emulate comm100 --rate-limit 2/60s`: the third call in the
    minute is a 429 that says when to come back; a bad value is one line."""
    import uvicorn

    from ivrflow.cli import main

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    assert main(["emulate", "comm100", "--rate-limit", "2/60s"]) == 0
    bearer = {"Authorization": "Bearer demo-token"}
    with serve_app(served[0]) as base, httpx.Client(base_url=base + "/v4", headers=bearer) as client:
        answers = [client.get("/voicebot/voicebots") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 58 <= int(answers[2].headers["Retry-After"]) <= 60
    assert answers[2].json()["message"] == "Too many requests: 2 calls per 60 s"
    assert main(["emulate", "comm100", "--rate-limit", "3/1m"]) == 0
    with serve_app(served[1]) as base, httpx.Client(base_url=base + "/v4", headers=bearer) as client:
        assert [client.get("/voicebot/voicebots").status_code for _ in range(4)] == [200, 200, 200, 429]
    capsys.readouterr()
    for bad in ("300", "fast", "0/300s", "300/0s", "300/5h"):
        assert main(["emulate", "comm100", "--rate-limit", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"ivrflow: error: --rate-limit '{bad}': give CALLS/WINDOW") and err.count("\n") == 1
    assert len(served) == 2
    assert main(["emulate", "--help"]) == 0
    assert "--rate-limit CALLS/WINDOW" in capsys.readouterr().out


def test_a_deploy_that_finds_the_window_used_up_waits_for_it(comm100: tuple[Comm100, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Another command on the same address has just used the site's calls
    (100 in 2 s here): the deploy's own pacer cannot know, so it meets 429s;
    it waits as long as they say (Retry-After) and finishes, and says how
    long it paused."""
    import collections
    import time

    from ivrflow.cli import main

    state, url = comm100
    state.rate_limit, state.rate_window_s = 100, 2.0
    flow = _project(tmp_path, url, monkeypatch)
    with (tmp_path / "ivrflow.toml").open("a") as toml:
        toml.write("rate_limit = 100\nrate_window = 2.0\n")
    state.calls["127.0.0.1"] = collections.deque([time.monotonic()] * 100)
    started = time.monotonic()
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    assert time.monotonic() - started >= 1.5
    err = capsys.readouterr().err
    assert re.search(r"deployed quickstart to emu: \d+ requests \(\d+ writes, [1-9]\d* retried\); paused [1-9]\d* s",
                     err), err
    assert state.throttled() >= 1
    assert len(state.objects["voicebots"]) == 1
    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []


def _apply(plan: Any, flow: ir.Flow, env: Environment) -> None:
    with target.api_for(env) as api:
        ids: dict[str, Any] = {}
        for change in plan.changes:
            target.apply(flow, "", change, api, ids)


def test_a_response_and_trigger_added_to_ivrflows_voicebot_keep_it_on_destroy(comm100: tuple[Comm100, str]) -> None:
    """Someone adds a response and a `notRecognized` trigger to the voicebot
    ivrflow made: deploy leaves them, destroy removes ivrflow's response,
    actions and trigger but keeps the voicebot (deleting it would take
    theirs along); `--adopt` deletes them."""
    state, url = comm100
    env = environment(url)
    path = EXAMPLES / "quickstart.ivr"
    flow = flow_of(path)
    deploy(path, env)
    bot = state.bot_named("quickstart")
    assert bot is not None
    api = httpx.Client(base_url=url, auth=("demo@example.com", "demo"), params={"siteId": 10000})
    response = api.post("/voicebot/voicebotResponses", json={"voicebotId": bot["id"], "name": "after hours"}).json()
    trigger = api.post("/voicebot/voicebotSmartTriggers", json={
        "voicebotId": bot["id"], "trigger": "notRecognized", "voicebotResponseId": response["id"]}).json()
    api.close()
    planned = plan_with(target, path, env)
    assert planned.changes == []
    assert [(u.kind, u.key) for u in planned.unmanaged] == [("smart trigger", f"trigger:{trigger['id']}"),
                                                            ("response", f"response:{response['id']}")]
    with target.api_for(env) as client:
        adopted = target.plan(flow, str(path), env, client, adopt=True)[1]
    assert [(c.op, c.path) for c in adopted.changes] == [
        ("delete", f"/voicebot/voicebotSmartTriggers/{trigger['id']}"),
        ("delete", f"/voicebot/voicebotResponses/{response['id']}")] and adopted.unmanaged == []
    with target.api_for(env) as client:
        removal = target.destroy(flow, str(path), env, client)[1]
    assert {c.kind for c in removal.changes} == {"smart trigger", "action", "response"}
    assert len(removal.unmanaged) == 2 and "left alone" in removal.notes[-1]
    _apply(removal, flow, env)
    assert list(state.objects["voicebots"]) == [bot["id"]] and list(state.objects["responses"]) == [response["id"]]
    assert list(state.objects["triggers"]) == [trigger["id"]] and state.objects["actions"] == {}
    assert len(state.objects["instances"]) == len(state.objects["sip"]) == 1  # the voicebot's channel stays


def test_an_action_ivrflow_made_that_someone_elses_goes_to_stays(comm100: tuple[Comm100, str],
                                                                  tmp_path: Path) -> None:
    """Key 2 leaves the flow, but an action someone added goes to its
    transfer: the transfer stays (unmanaged) until `--adopt`."""
    state, url = comm100
    env = environment(url)
    deploy(EXAMPLES / "quickstart.ivr", env)
    [response] = state.objects["responses"].values()
    transfer = next(a for a in state.objects["actions"].values() if a["type"] == "TransferCall"
                    and a["voicebotActionTransferCall"]["transferTo"].startswith("sip:102@"))
    api = httpx.Client(base_url=url, auth=("demo@example.com", "demo"), params={"siteId": 10000})
    theirs = api.post("/voicebot/voicebotActions", json={
        "type": "PlayText", "voicebotResponseId": response["id"], "xPosition": 0, "yPosition": 900,
        "voicebotActionPlayText": {"message": "Billing.", "nextActionId": transfer["id"]}}).json()
    api.close()
    fewer = tmp_path / "quickstart.ivr"
    fewer.write_text((EXAMPLES / "quickstart.ivr").read_text().replace('    press 2 -> transfer "102"\n', ""))
    flow = load(str(fewer), check_files=False).flow
    assert flow is not None
    deploy(fewer, env, flow=flow)
    assert {theirs["id"], transfer["id"]} <= set(state.objects["actions"])
    planned = plan_with(target, fewer, env)
    reasons = {u.key: u.reason for u in planned.unmanaged}
    assert planned.changes == [] and set(reasons) == {f"action:{transfer['id']}", f"action:{theirs['id']}"}
    assert "no longer in the flow" in reasons[f"action:{transfer['id']}"]
    with target.api_for(env) as client:
        adopted = target.plan(flow, str(fewer), env, client, adopt=True)[1]
    assert sorted(c.path.rsplit("/", 1)[1] for c in adopted.changes if c.op == "delete") == sorted(
        [transfer["id"], theirs["id"]])


def test_adopt_takes_over_a_voicebot_of_the_flows_name(comm100: tuple[Comm100, str]) -> None:
    state, url = comm100
    api = httpx.Client(base_url=url, auth=("demo@example.com", "demo"), params={"siteId": 10000})
    sip = api.post("/voicebot/voicebotChannelSIPConfigurations",
                   json={"sIPServer": "other.example", "username": "u", "password": "p"}).json()
    instance = api.post("/voicebot/voicebotChannelInstances", json={"channelType": "sip", "infoId": sip["id"]}).json()
    same = api.post("/voicebot/voicebots", json={"name": "quickstart", "description": "made by hand",
                                                 "channel": {"id": instance["id"]}, "channelId": instance["id"]}).json()
    api.close()
    env = environment(url)
    path = EXAMPLES / "quickstart.ivr"
    flow = flow_of(path)
    with target.api_for(env) as client:
        adopted = target.plan(flow, str(path), env, client, adopt=True)[1]
    assert adopted.unmanaged == [] and ("update", "voicebot") in [(c.op, c.kind) for c in adopted.changes]
    _apply(adopted, flow, env)
    assert list(state.objects["voicebots"]) == [same["id"]]
    assert state.objects["voicebots"][same["id"]]["description"] == "ivrflow:quickstart"
    assert plan_with(target, path, env).changes == []


def test_the_plan_counts_its_own_reads_in_the_pacing(comm100: tuple[Comm100, str]) -> None:
    """A first deploy whose calls fill the window but for the plan's own
    reads: the plan says it will pause (the reads count too)."""
    _, url = comm100
    path = EXAMPLES / "quickstart.ivr"
    writes = len(plan_with(target, path, environment(url)).changes)
    env = environment(url, rate_limit=writes + target.VERIFY_READS, rate_window=60.0)
    notes = plan_with(target, path, env).notes
    assert any("pauses about 60 s" in note for note in notes), notes


def test_a_deploy_cut_short_before_the_voicebot_reuses_its_channel(comm100: tuple[Comm100, str]) -> None:
    """The first deploy stops after the channel configuration and instance
    (no voicebot holds them yet): the next one finds both, by the line and
    by the configuration they serve, and duplicates neither."""
    state, url = comm100
    env = environment(url)
    path = EXAMPLES / "quickstart.ivr"
    flow = flow_of(path)
    first = plan_with(target, path, env)
    assert [c.kind for c in first.changes[:2]] == ["channel configuration", "channel instance"]
    _apply(Plan("comm100", first.changes[:2]), flow, env)
    again = plan_with(target, path, env)
    assert [c.kind for c in again.changes[:2]] == ["voicebot", "response"]
    deploy(path, env)
    assert len(state.objects["sip"]) == len(state.objects["instances"]) == 1
    assert plan_with(target, path, env).changes == []


def test_a_channel_instance_created_after_the_client_gave_up_is_not_made_twice(
        comm100: tuple[Comm100, str]) -> None:
    """The POST of the channel instance lands after the client stopped
    waiting: the deploy looks for it before sending it again."""
    state, url = comm100
    state.faults = Faults(slow="POST /v4/voicebot/voicebotChannelInstances", slow_s=0.6)
    deploy(EXAMPLES / "quickstart.ivr", environment(url), timeout=0.5)
    assert len(state.objects["instances"]) == 1
    assert plan_with(target, EXAMPLES / "quickstart.ivr", environment(url)).changes == []


def test_an_action_put_between_two_of_ivrflows_is_looked_past(comm100: tuple[Comm100, str]) -> None:
    """Someone puts a PlayText between the Start action and the menu: the
    deploy puts the Start action's link back to the menu (the flow says
    so), makes nothing again, and leaves their action where it is."""
    state, url = comm100
    env = environment(url)
    path = EXAMPLES / "quickstart.ivr"
    deploy(path, env)
    count = len(state.objects["actions"])
    [response] = state.objects["responses"].values()
    start = next(a for a in state.objects["actions"].values() if a["type"] == "Start")
    menu = start["voicebotActionStart"]["nextActionId"]
    api = httpx.Client(base_url=url, auth=("demo@example.com", "demo"), params={"siteId": 10000})
    theirs = api.post("/voicebot/voicebotActions", json={
        "type": "PlayText", "voicebotResponseId": response["id"], "xPosition": 200, "yPosition": 0,
        "voicebotActionPlayText": {"message": "Welcome!", "nextActionId": menu}}).json()
    api.put(f"/voicebot/voicebotActions/{start['id']}", json={
        **{k: v for k, v in start.items() if k != "id"}, "voicebotActionStart": {"nextActionId": theirs["id"]}})
    api.close()
    planned = plan_with(target, path, env)
    assert [(c.op, c.kind, c.path) for c in planned.changes] == [
        ("update", "action", f"/voicebot/voicebotActions/{start['id']}")]
    assert [u.key for u in planned.unmanaged] == [f"action:{theirs['id']}"]
    deploy(path, env)
    assert len(state.objects["actions"]) == count + 1 and state.objects["actions"][theirs["id"]] == theirs
    assert state.objects["actions"][start["id"]]["voicebotActionStart"]["nextActionId"] == menu
