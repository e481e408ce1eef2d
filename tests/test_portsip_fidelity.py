"""What would break on a real PortSIP although the emulator was happy
(PLATFORMS.md §7): prompt files left behind, action URLs too long for v22,
the two-factor sign-in answer, voicemail boxes that are numbers, transfers
PortSIP cannot forward to; and the package's shape (no import circle)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrflow.cli import main
from ivrflow.config import Environment
from ivrflow.deploy.http import Stats
from ivrflow.targets.portsip import target
from ivrflow.targets.portsip.client import READ_CONCURRENCY, PortSipApi
from ivrflow.targets.portsip.compile import ACTION_URL_MAX, compile_flow
from ivrflow.targets.portsip.emulator import PortSip, portsip_app

from .conftest import EXAMPLES, PLATFORM_FLOWS, ROOT
from .flows import flow_of
from .servers import serve_app
from .test_portsip import PIN, deploy, environment, planned

WAV = (EXAMPLES / "prompts" / "hello.wav").read_bytes()
OTHER_WAV = (EXAMPLES / "prompts" / "advertising.wav").read_bytes()


@pytest.fixture
def pbx() -> Iterator[tuple[PortSip, str]]:
    state = PortSip()
    with serve_app(portsip_app(state)) as url:
        yield state, url + "/api"


def test_the_calls_module_does_not_import_the_emulator() -> None:
    """calls.py and emulator.py share state.py instead of importing each other."""
    code = ("import sys, ivrflow.targets.portsip.calls\n"
            "assert 'ivrflow.targets.portsip.emulator' not in sys.modules, 'calls.py imports the emulator'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_prompt_files_ivrflow_uploaded_and_no_longer_uses_are_deleted_and_no_others(
        pbx: tuple[PortSip, str], tmp_path: Path) -> None:
    state, url = pbx
    path = tmp_path / "f.ivr"
    (tmp_path / "a.wav").write_bytes(WAV)
    (tmp_path / "b.wav").write_bytes(OTHER_WAV)
    path.write_text('prompt a file "a.wav"\nprompt b file "b.wav"\nmenu main {\n    play a\n    press 1 -> hangup\n}\n')
    env = environment(url)
    deploy(path, env)
    assert len(state.files) == 1
    used = next(iter(state.files))
    name = flow_of(path).name
    with PortSipApi(url, "demo", "demo", "pbx.example") as api:  # files ivrflow did not upload
        others = {api.upload(f, WAV) for f in ("greeting.wav", f"ivrflow-{name}-greeting.wav",
                                               f"ivrflow-{name}x-0123456789abcdef.wav",
                                               "ivrflow-other-0123456789abcdef.wav")}
    path.write_text(path.read_text().replace("play a", "play b"))
    assert [(c.op, c.kind, c.path) for c in planned(path, env).changes if c.op == "delete"] == \
        [("delete", "file", f"/files/{used}/destroy")]
    deploy(path, env)
    assert used not in state.files and others <= set(state.files) and len(state.files) == len(others) + 1
    assert {"method": "POST", "path": f"/api/files/{used}/destroy", "status": 204} in state.log
    assert planned(path, env).changes == []


def test_the_emulator_destroys_files_as_documented(pbx: tuple[PortSip, str]) -> None:
    state, url = pbx
    with PortSipApi(url, "demo", "demo", "pbx.example") as api:
        file_id = api.upload("x.wav", WAV)
        assert api.get(f"/files/{file_id}")["name"] == "x.wav"
        response = api.request("POST", f"/files/{file_id}/destroy", raw=True)
        assert (response.status_code, response.content) == (204, b"")
        gone = api.http.post(f"{url}/files/{file_id}/destroy", headers={"Authorization": f"Bearer {api.token()}"})
        assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "NOT_FOUND"
    assert state.files == {}


def test_the_emulator_takes_action_urls_as_the_document_says(pbx: tuple[PortSip, str]) -> None:
    """OpenAPI v22: `url` at most 128 characters; timeouts 0 or more."""
    _, url = pbx
    with PortSipApi(url, "demo", "demo", "pbx.example") as api:
        made = api.request("POST", "/ivrs", json={"name": "x", "extension_number": "123", "pin": "482916"})
        auth = {"Authorization": f"Bearer {api.token()}"}
        longest = "https://a.example/".ljust(ACTION_URL_MAX, "x")
        good = {"name": "u", "enabled": True, "type": "DTMF", "dtmf_mask": "1", "connection_timeout": 0,
                "url": longest}
        assert api.http.post(f"{url}/ivrs/{made['id']}/action_urls", json=good, headers=auth).status_code == 201
        too_long = {**good, "name": "v", "url": longest + "x"}
        refused = api.http.post(f"{url}/ivrs/{made['id']}/action_urls", json=too_long, headers=auth)
        assert refused.status_code == 400 and refused.json()["errors"][0]["detail"] == "url"


def _toml(tmp_path: Path, url: str, extra: str = "") -> None:
    (tmp_path / "ivrflow.toml").write_text(
        f'[env.emu]\ntarget = "portsip"\nbase_url = "{url}"\nusername = "demo"\npassword = "${{P}}"\n'
        f'domain = "d"\nextensions = "7000-7009"\npin = "${{PIN}}"\n{extra}')


def test_a_two_factor_sign_in_is_a_clear_auth_error(pbx: tuple[PortSip, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    state, url = pbx
    state.two_factor = True
    flow = tmp_path / "f.ivr"
    flow.write_text('prompt a file "a.wav"\nmenu main {\n    play a\n    press 1 -> hangup\n}\n')
    (tmp_path / "a.wav").write_bytes(WAV)
    _toml(tmp_path, url)
    monkeypatch.setenv("P", "demo")
    monkeypatch.setenv("PIN", PIN)
    for command in ("plan", "deploy"):
        assert main([command, str(flow), "--env", "emu", "--yes"][:5 if command == "deploy" else 4]) == 3
        err = capsys.readouterr().err
        assert err.startswith("ivrflow: error: PortSIP asks `demo` for a second sign-in step (two-factor")
        assert err.count("\n") == 1 and "internal error" not in err
    assert state.ivrs == {} and state.files == {}


def test_a_voicemail_box_that_is_a_number_is_its_extension(pbx: tuple[PortSip, str], tmp_path: Path) -> None:
    state, url = pbx
    path = tmp_path / "f.ivr"
    (tmp_path / "a.wav").write_bytes(WAV)
    path.write_text('prompt a file "a.wav"\nmenu main {\n    play a\n    press 1 -> voicemail "1001"\n'
                    '    press 2 -> voicemail "sales"\n}\n')
    wanted = compile_flow(flow_of(path), {"has_env": True, "voicemail": {"sales": "800"}}, sources={"a.wav": WAV})
    assert wanted.diagnostics == [] and wanted.voicemail == {"1001": "1001", "sales": "800"}
    deploy(path, environment(url))  # its `voicemail` table has no "1001"
    entry = state.by_number("7000")
    assert entry is not None
    rules = {r["user_input"]: r["office_hours_forward_rule"] for r in entry["custom_forward_rules"]}
    assert rules == {"1": {"action": "FORWARD_TO_VOICEMAIL", "number": "1001"},
                     "2": {"action": "FORWARD_TO_VOICEMAIL", "number": "800"}}


MENU = 'prompt p file "x.wav"\nmenu m {\n    play p\n'


@pytest.mark.parametrize(("action", "found"), [
    ('transfer "sip:alice@example.com"', [("IVR205", 4)]),
    ('play p, transfer "sip:desk@pbx.example"', [("IVR205", 4)]),
    ('transfer "+442079460000"', []),
    ('transfer "101"', []),
    ('transfer "*97"', []),
])
def test_a_transfer_portsip_cannot_forward_to_is_an_error_at_check(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                   action: str, found: list[tuple[str, int]]) -> None:
    flow = tmp_path / "f.ivr"
    flow.write_text(MENU + f"    press 1 -> {action}\n    on exhausted -> transfer \"100\"\n}}\n")
    (tmp_path / "x.wav").write_bytes(WAV)
    code = main(["check", str(flow), "--target", "portsip", "--format", "json"])
    diagnostics = json.loads(capsys.readouterr().out)["diagnostics"]
    assert [(d["code"], d["line"]) for d in diagnostics if d["code"].startswith("IVR2")] == found
    assert code == (1 if found else 0)
    if found:
        assert any("PortSIP forwards calls only to numbers" in d["message"] for d in diagnostics)


def test_a_voicemail_box_mapped_to_something_portsip_cannot_forward_to_is_an_error(tmp_path: Path) -> None:
    flow = tmp_path / "f.ivr"
    flow.write_text(MENU + '    press 1 -> voicemail "sales"\n}\n')
    wanted = compile_flow(flow_of(flow), {"has_env": True, "voicemail": {"sales": "mailbox"}})
    assert [(d.code, d.span.line) for d in wanted.diagnostics] == [("IVR203", 4)]


RUNTIME_MENU = MENU + '    press 1 -> hangup\n    on invalid -> play p, repeat\n}\n'  # an action URL (IVR202)


def test_an_action_url_longer_than_portsip_takes_is_an_error_at_its_menu(tmp_path: Path) -> None:
    path = tmp_path / "f.ivr"
    path.write_text(RUNTIME_MENU)
    flow = flow_of(path)

    def problems(runtime_url: str, token: str | None = None) -> list[tuple[str, int]]:
        env = {"has_env": True, "runtime_url": runtime_url, **({"callback_token_value": token} if token else {})}
        wanted = compile_flow(flow, env)
        return [(d.code, d.span.line) for d in wanted.diagnostics if d.code == "IVR205"]

    assert problems("https://ivr.example.com", token="t0k3n") == []
    assert problems("https://ivr.example.com") == []
    long = "https://" + "x" * 50 + ".example.com"  # 109 characters unsigned, 146 once signed
    assert problems(long) == [("IVR205", 2)]
    assert problems(long, token="t0k3n") == [("IVR205", 2)]
    wanted = compile_flow(flow, {"has_env": True, "runtime_url": long})
    assert f"PortSIP takes at most {ACTION_URL_MAX}" in wanted.diagnostics[-1].message
    assert "runtime URL" in wanted.diagnostics[-1].message
    # without an environment, only what follows the runtime URL counts
    assert "IVR205" not in [d.code for d in compile_flow(flow, {}).diagnostics]
    long_names = tmp_path / "g.ivr"
    long_names.write_text(RUNTIME_MENU.replace("menu m", "menu m" + "x" * 90))
    assert ("IVR205", 2) in [(d.code, d.span.line) for d in compile_flow(flow_of(long_names), {}).diagnostics]


def test_action_urls_as_compiled_fit_portsip_for_every_example() -> None:
    for path in PLATFORM_FLOWS:
        wanted = compile_flow(flow_of(path), {"has_env": True, "runtime_url": "https://ivr.example.com:8443",
                                              "callback_token_value": "t0k3n"}, tts=True)
        urls = [u.url for r in wanted.receptionists.values() for u in r.urls]
        assert all(len(u) <= ACTION_URL_MAX for u in urls), (path.name, max(urls, key=len))
        assert not any("copy=0" in u for u in urls)


# --- reading what is live ------------------------------------------------------------------------------

class Counting(httpx.BaseTransport):
    """The PBX's gateway: counts the calls in flight; with `exclusive`, answers
    429 to a call that arrives while another is running."""

    def __init__(self, exclusive: bool = False) -> None:
        self.inner = httpx.HTTPTransport()
        self.exclusive = exclusive
        self.lock = threading.Lock()
        self.running = self.most = self.refused = 0
        self.turned_away: set[tuple[str, str]] = set()  # calls answered 429
        self.retries_not_alone = 0  # their retries that arrived while another call ran

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = (request.method, request.url.path)
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            if call in self.turned_away:
                self.retries_not_alone += self.running > 1
            refuse = self.exclusive and self.running > 1
            if refuse:
                self.refused += 1
                self.turned_away.add(call)
        try:
            if refuse:
                return httpx.Response(429, json={"errors": [{"code": "TOO_MANY_REQUESTS", "message": "slow down"}]})
            response = self.inner.handle_request(request)
            response.read()
            time.sleep(0.01)  # the PBX is slow
            return response
        finally:
            with self.lock:
                self.running -= 1

    def close(self) -> None:
        self.inner.close()


def _plan_through(path: Path, env: Environment, transport: Counting) -> tuple[Any, Stats]:
    stats = Stats()
    with target.api_for(env, http=httpx.Client(transport=transport), stats=stats) as api:
        return target.plan(flow_of(path), str(path), env, api)[1], stats


def test_live_state_is_read_concurrently_within_bounds(pbx: tuple[PortSip, str], tmp_path: Path) -> None:
    _, url = pbx
    env = environment(url)
    deploy(EXAMPLES / "support.ivr", env)
    plan, stats = _plan_through(EXAMPLES / "support.ivr", env, transport := Counting())
    assert plan.changes == [] and stats.requests > 2 * READ_CONCURRENCY
    assert transport.most == READ_CONCURRENCY


def test_a_call_answered_429_is_retried_alone(pbx: tuple[PortSip, str], tmp_path: Path) -> None:
    """Against a PBX that refuses any concurrency: every retry runs alone, and
    the reads slow down instead of being refused again and again."""
    _, url = pbx
    env = environment(url)
    path = tmp_path / "many.ivr"
    (tmp_path / "hi.wav").write_bytes(WAV)
    menus = [f"menu m{i} {{\n    play hi\n    press 1 -> goto m{(i + 1) % 40}\n}}\n" for i in range(40)]
    path.write_text('prompt hi file "hi.wav"\n' + "".join(menus))
    deploy(path, env)
    plan, stats = _plan_through(path, env, transport := Counting(exclusive=True))
    assert plan.changes == [] and stats.requests > 80
    assert transport.refused > 0 and transport.retries_not_alone == 0
    assert transport.refused <= 10, transport.refused  # the code before: 15, 12 of whose retries collided again
