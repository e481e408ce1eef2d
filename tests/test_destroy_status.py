"""The everyday loop on each target, over real HTTP to its emulator:
deploy → status (in sync) → edit the flow → status (drifted) → plan --out →
deploy the saved plan → status (in sync); a saved plan is refused after a
change on the platform and after an edit of the flow; destroy removes
exactly ivrflow's objects and leaves what someone else made; a second
destroy changes nothing."""

from __future__ import annotations

import copy
import io
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivrflow.cli import main
from ivrflow.targets.mediaservice.emulator import Platform, platform_app
from ivrflow.targets.portsip.emulator import PortSip, portsip_app
from ivrflow.targets.telphin.emulator import Telphin, telphin_app

from .conftest import EXAMPLES
from .servers import serve_app

PIN = "482916"
PASSWORD = "pw-5d2c8e"
SECRET = "cs-7a41f9"


@dataclass
class Setup:
    name: str
    state: Any
    flow: Path
    #: Everything on the platform, as comparable data.
    snapshot: Callable[[], Any]
    #: Make something of someone else's beside the flow's objects.
    add_foreign: Callable[[], None]
    #: Change one of ivrflow's objects by hand.
    tamper: Callable[[], None]
    #: The platform holds none of ivrflow's objects for the flow.
    empty_of_ivrflow: Callable[[], bool]


def _project(tmp_path: Path, env: str) -> Path:
    flow = tmp_path / "guide.ivr"
    shutil.copy(EXAMPLES / "telphin_guide.ivr", flow)
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    (tmp_path / "ivrflow.toml").write_text(env)
    return flow


def _telphin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    state = Telphin(client_secret=SECRET)
    monkeypatch.setenv("TELPHIN_SECRET", SECRET)
    with serve_app(telphin_app(state)) as url:
        flow = _project(tmp_path, f'[env.emu]\ntarget = "telphin"\nbase_url = "{url}"\nclient_id = "demo"\n'
                                  'client_secret = "${TELPHIN_SECRET}"\nextension = "071"\n'
                                  'runtime_url = "http://127.0.0.1:9"\ninsecure_callbacks = true\n')

        def mine() -> list[dict[str, Any]]:
            return [c for c in state.contexts.values() if str(c.get("description") or "").startswith("ivrflow:")]

        def add_foreign() -> None:
            context = copy.deepcopy(mine()[0])
            context.update(id=state.next_id(), description="made by hand", name="hand made")
            state.contexts[context["id"]] = context
            sound = copy.deepcopy(next(iter(state.sounds.values())))
            sound.update(id=state.next_id(), title="greeting made by hand")
            state.sounds[sound["id"]] = sound

        def tamper() -> None:
            mine()[0]["timeout"] = 9000

        yield Setup("telphin", state, flow,
                    lambda: copy.deepcopy((state.sounds, state.contexts, state.ivrs, state.extensions)),
                    add_foreign, tamper,
                    lambda: not mine() and not [s for s in state.sounds.values() if s["title"].startswith("ivrflow:")])


def _portsip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    state = PortSip(password=PASSWORD)
    monkeypatch.setenv("PBX_PASSWORD", PASSWORD)
    monkeypatch.setenv("PBX_PIN", PIN)
    with serve_app(portsip_app(state)) as url:
        flow = _project(tmp_path, f'[env.emu]\ntarget = "portsip"\nbase_url = "{url}/api"\ndomain = "pbx.example"\n'
                                  'username = "demo"\npassword = "${PBX_PASSWORD}"\npin = "${PBX_PIN}"\n'
                                  'extensions = "7000-7009"\nruntime_url = "http://127.0.0.1:9"\n'
                                  'insecure_callbacks = true\n')

        def mine() -> list[dict[str, Any]]:
            return [i for i in state.ivrs.values() if str(i["name"]).startswith("ivrflow:")]

        def add_foreign() -> None:
            ivr = copy.deepcopy(mine()[0])
            ivr.update(id=state.next_id(), name="reception", extension_number="7050")
            state.ivrs[ivr["id"]] = ivr
            file = copy.deepcopy(next(iter(state.files.values())))
            file.update(id=state.next_id(), name="welcome.wav")
            state.files[file["id"]] = file

        def tamper() -> None:
            mine()[0]["dtmf_interval"] = 1234

        yield Setup("portsip", state, flow, lambda: copy.deepcopy((state.files, state.ivrs, state.urls)),
                    add_foreign, tamper,
                    lambda: not mine() and not [f for f in state.files.values() if f["name"].startswith("ivrflow")])


def _mediaservice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    platform = Platform(domain="acme.example")
    with serve_app(platform_app(platform)) as url:
        flow = _project(tmp_path, f'[env.emu]\ntarget = "mediaservice"\nbase_url = "{url}/mediaservice"\n'
                                  'domain = "acme.example"\n')

        def add_foreign() -> None:
            platform.prompts["hand-made.wav"] = b"RIFF...made by hand"

        def tamper() -> None:
            del platform.prompts[next(n for n in platform.prompts if n.startswith("ivrflow-guide-")
                                      or n.startswith("ivrflow-telphin_guide-"))]

        yield Setup("mediaservice", platform, flow, lambda: dict(platform.prompts), add_foreign, tamper,
                    lambda: not [n for n in platform.prompts if n.startswith("ivrflow-")])


SETUPS = {"telphin": _telphin, "portsip": _portsip, "mediaservice": _mediaservice}


@pytest.fixture(params=sorted(SETUPS))
def setup(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IVRFLOW_CALLBACK_TOKEN", raising=False)
    yield from SETUPS[request.param](tmp_path, monkeypatch)


def status(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["status", "--env", "emu", "--format", "json", *args]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert len(reports) == 1
    return dict(reports[0])


def edit(flow: Path) -> None:
    """A new timeout, and `hello` plays another recording."""
    (flow.parent / "prompts" / "hello2.wav").write_bytes((flow.parent / "prompts" / "advertising.wav").read_bytes())
    flow.write_text(flow.read_text().replace("timeout 5s", "timeout 6s")
                    .replace('"prompts/hello.wav"', '"prompts/hello2.wav"'))


def test_status_plan_out_and_deploying_the_saved_plan(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    flow = str(setup.flow)
    before = status(capsys)
    assert before["deployed"] == {} and not before["in_sync"]
    assert main(["status", "--env", "emu"]) == 0
    assert "telphin_guide on emu" in (out := capsys.readouterr().out) and "not deployed" in out
    assert main(["deploy", flow, "--env", "emu", "--yes"]) == 0
    synced = status(capsys)  # the *.ivr of the working directory
    assert synced["in_sync"] and synced["deployed"] and synced["drift"] == {"create": 0, "update": 0, "delete": 0}
    assert synced["flow"] == "telphin_guide" and synced["target"] == setup.name and synced["dial"]
    assert main(["status", flow, "--env", "emu"]) == 0
    out = capsys.readouterr().out
    assert "telphin_guide on emu" in out and "in sync" in out and f"callers dial {synced['dial']}" in out

    edit(setup.flow)
    drifted = status(capsys, flow)
    changes = sum(drifted["drift"].values())
    assert not drifted["in_sync"] and changes > 0
    assert main(["status", flow, "--env", "emu"]) == 0
    assert f"drifted: {changes} change(s)" in capsys.readouterr().out
    assert main(["status", flow, "--env", "emu", "--check"]) == 1

    saved = setup.flow.parent / "guide.plan"
    assert main(["plan", flow, "--env", "emu", "-out", str(saved)]) == 0
    document = json.loads(saved.read_text())
    assert document["env"] == "emu" and document["target"] == setup.name and len(document["live_fingerprint"]) == 64
    assert sum(document[op] for op in ("create", "update", "delete")) == changes
    text = saved.read_text()
    assert PIN not in text and PASSWORD not in text and SECRET not in text
    untouched = setup.snapshot()
    capsys.readouterr()
    assert main(["deploy", str(saved), "--yes"]) == 0
    assert setup.snapshot() != untouched
    assert status(capsys, flow)["in_sync"]
    assert main(["status", flow, "--env", "emu", "--check"]) == 0


def test_a_saved_plan_is_refused_after_the_platform_or_the_flow_changed(
        setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    flow = str(setup.flow)
    assert main(["deploy", flow, "--env", "emu", "--yes"]) == 0
    edit(setup.flow)
    saved = str(setup.flow.parent / "guide.plan")
    assert main(["plan", flow, "--env", "emu", "--out", saved]) == 0
    setup.tamper()  # someone changes one of ivrflow's objects by hand
    tampered = setup.snapshot()
    capsys.readouterr()
    assert main(["deploy", saved, "--yes"]) == 7
    err = capsys.readouterr().err
    assert "is out of date: the platform changed since it was planned" in err and "nothing was changed" in err
    assert setup.snapshot() == tampered

    assert main(["plan", flow, "--env", "emu", "--out", saved]) == 0
    setup.flow.write_text(setup.flow.read_text().replace("timeout 6s", "timeout 7s"))
    capsys.readouterr()
    assert main(["deploy", saved, "--yes"]) == 7
    assert f"the flow {setup.flow} changed since it was planned" in capsys.readouterr().err
    assert setup.snapshot() == tampered
    assert main(["deploy", saved, "--env", "other", "--yes"]) == 2
    assert "was planned for environment `emu`" in capsys.readouterr().err


def test_destroy_removes_exactly_what_ivrflow_made(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    flow = str(setup.flow)
    assert main(["destroy", flow, "--env", "emu", "--yes"]) == 0  # nothing there yet
    assert "nothing of ivrflow's is there" in capsys.readouterr().out
    empty = setup.snapshot()
    assert main(["deploy", flow, "--env", "emu", "--yes"]) == 0
    setup.add_foreign()
    deployed = setup.snapshot()
    capsys.readouterr()

    assert main(["destroy", flow, "--env", "emu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "remove telphin_guide from emu" in out and "to delete" in out and "--dry-run" in out
    assert setup.snapshot() == deployed
    assert main(["destroy", flow, "--env", "emu"]) == 2  # not a terminal, no --yes
    assert "--yes" in capsys.readouterr().err and setup.snapshot() == deployed

    shutil.rmtree(setup.flow.parent / "prompts")  # recordings that are gone do not stop a destroy
    assert main(["destroy", flow, "--env", "emu", "--yes"]) == 0
    assert "removed telphin_guide from emu" in capsys.readouterr().err
    assert setup.empty_of_ivrflow()
    setup_after = setup.snapshot()
    shutil.copytree(EXAMPLES / "prompts", setup.flow.parent / "prompts")  # status plans: it reads them
    report = status(capsys, flow)
    assert report["deployed"] == {} and not report["in_sync"]

    if setup.name == "mediaservice":
        assert setup_after == {"hand-made.wav": b"RIFF...made by hand"}
    elif setup.name == "portsip":
        files, ivrs, _ = setup_after
        assert [i["name"] for i in ivrs.values()] == ["reception"]
        assert [f["name"] for f in files.values()] == ["welcome.wav"]
    else:
        sounds, contexts, ivrs, extensions = setup_after
        assert [s["title"] for s in sounds.values()] == ["greeting made by hand"]
        assert [c["description"] for c in contexts.values()] == ["made by hand"]
        assert next(iter(ivrs.values()))["entry_context"] == 0 and extensions == deployed[3]
        assert empty == ({}, {}, {}, {})

    capsys.readouterr()
    assert main(["destroy", flow, "--env", "emu", "--yes"]) == 0  # a second destroy is a no-op
    assert "nothing of ivrflow's is there" in capsys.readouterr().out
    assert setup.snapshot() == setup_after


def test_destroy_json_lists_the_removal_plan(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    flow = str(setup.flow)
    assert main(["deploy", flow, "--env", "emu", "--yes"]) == 0
    deployed = setup.snapshot()
    capsys.readouterr()
    assert main(["destroy", flow, "--env", "emu", "--format", "json"]) == 0
    removal = json.loads(capsys.readouterr().out)
    assert removal["delete"] > 0 and removal["create"] == 0
    assert all(c["op"] == "delete" or c["kind"] == "ivr" for c in removal["changes"])
    assert setup.snapshot() == deployed


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_destroy_asks_first_at_a_terminal(setup: Setup, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    flow = str(setup.flow)
    assert main(["deploy", flow, "--env", "emu", "--yes"]) == 0
    deployed = setup.snapshot()
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    capsys.readouterr()
    assert main(["destroy", flow, "--env", "emu"]) == 0
    captured = capsys.readouterr()
    assert "remove these" in captured.out and "nothing changed" in captured.err
    assert setup.snapshot() == deployed
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert main(["destroy", flow, "--env", "emu"]) == 0
    assert setup.empty_of_ivrflow()
