"""`ivrflow plan` for people and for machines: a summary per menu, route and
prompt first, one line per change with what differs (`timeout 5000 →
6000`, `unset` rather than Python's None), every field with --detail, the
diff as data in --format json; and `plan --out FILE`, which never writes a
secret."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.deploy.plan import FieldChange
from ivrflow.targets.portsip.emulator import PortSip, portsip_app
from ivrflow.targets.telphin.emulator import Telphin, telphin_app

from .conftest import EXAMPLES
from .servers import serve_app

PIN = "482916"
TOKEN_A = "callback-token-aaaa-1111"
TOKEN_B = "callback-token-bbbb-2222"


def _project(tmp_path: Path, env: str) -> Path:
    flow = tmp_path / "guide.ivr"
    shutil.copy(EXAMPLES / "telphin_guide.ivr", flow)
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    (tmp_path / "ivrflow.toml").write_text(env)
    return flow


@pytest.fixture
def telphin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Telphin, Path]]:
    state = Telphin()
    monkeypatch.setenv("S", "demo")
    monkeypatch.delenv("IVRFLOW_CALLBACK_TOKEN", raising=False)
    with serve_app(telphin_app(state)) as url:
        yield state, _project(tmp_path, f'[env.emu]\ntarget = "telphin"\nbase_url = "{url}"\nclient_id = "demo"\n'
                                        'client_secret = "${S}"\nextension = "071"\n'
                                        'runtime_url = "http://127.0.0.1:9"\ninsecure_callbacks = true\n')


@pytest.fixture
def portsip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[PortSip, Path]]:
    """An environment whose callback URLs are signed (IVRFLOW_CALLBACK_TOKEN)."""
    state = PortSip(password="pbx-pass-9f3e")
    monkeypatch.setenv("PBX_PASSWORD", "pbx-pass-9f3e")
    monkeypatch.setenv("PBX_PIN", PIN)
    monkeypatch.setenv("IVRFLOW_CALLBACK_TOKEN", TOKEN_A)
    with serve_app(portsip_app(state)) as url:
        yield state, _project(tmp_path, f'[env.emu]\ntarget = "portsip"\nbase_url = "{url}/api"\n'
                                        'domain = "pbx.example"\nusername = "demo"\npassword = "${PBX_PASSWORD}"\n'
                                        'pin = "${PBX_PIN}"\nextensions = "7000-7009"\n'
                                        'runtime_url = "http://127.0.0.1:9"\n')


def edited(flow: Path) -> None:
    flow.write_text(flow.read_text().replace("timeout 5s", "timeout 6s")
                    .replace('press 2 -> transfer "002"', 'press 2 -> transfer "003"')
                    .replace("max-duration 30m -> hangup", 'max-duration 30m -> transfer "050"'))


def test_the_plan_is_grouped_and_shows_real_differences(telphin: tuple[Telphin, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, flow = telphin
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    first = capsys.readouterr().out
    summary = first.split("\n\n")[0].splitlines()
    assert summary[1:] == ["  flow telphin_guide  1 to create, 1 to update", "  prompt advertising  1 to create",
                           "  prompt hello        1 to create", "  menu main           8 to create"]
    assert "None" not in first and "sleep_time unset → 5000" in first
    assert "+ create context main (line 18)" in first

    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    edited(flow)
    capsys.readouterr()
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    out = capsys.readouterr().out
    assert "  flow telphin_guide  1 to update\n  menu main           2 to update" in out  # the flow first
    assert "~ update context main (line 18): timeout 5000 → 6000" in out
    assert "~ update rule main/2#0 (line 26): transfer_dst 002 → 003" in out
    assert "~ update ivr: lifetime_exp_action hangup → transfer; lifetime_exp_transfer_dst unset → 050" in out
    assert "None" not in out and "'" not in out

    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_key = {c["key"]: c for c in data["changes"]}
    assert by_key["context:main"]["diff"] == [{"field": "timeout", "before": 5000, "after": 6000}]
    assert by_key["context:main"]["group"] == "menu main"
    assert {"field": "lifetime_exp_transfer_dst", "before": None, "after": "050"} in by_key["ivr"]["diff"]
    assert data["groups"] == [{"group": "flow telphin_guide", "create": 0, "update": 1, "delete": 0},
                              {"group": "menu main", "create": 0, "update": 2, "delete": 0}]


def test_detail_shows_every_field(telphin: tuple[Telphin, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, flow = telphin
    assert main(["plan", str(flow), "--env", "emu", "--detail"]) == 0
    out = capsys.readouterr().out
    context = out[out.index("+ create context main"):]
    assert re.search(r"\n +timeout 5000\n", context) and re.search(r"\n +digit_len 3\n", context)
    assert "POST /extension/{extension}/ivr/context/" in out
    assert "file prompts/hello.wav" in out
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    assert "digit_len" not in capsys.readouterr().out  # one line per change without --detail


def test_a_new_callback_token_shows_as_a_cut_url_diff(portsip: tuple[PortSip, Path],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, flow = portsip
    assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    monkeypatch.setenv("IVRFLOW_CALLBACK_TOKEN", TOKEN_B)
    capsys.readouterr()
    assert main(["plan", str(flow), "--env", "emu"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"url …sig=[0-9a-f]+ → …sig=[0-9a-f]+", out), out
    assert TOKEN_A not in out and TOKEN_B not in out
    assert main(["plan", str(flow), "--env", "emu", "--format", "json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    url = next(d for c in changes for d in c["diff"] if d["field"] == "url")
    assert url["before"].startswith("http://127.0.0.1:9/") and "sig=" in url["after"]
    assert url["before"] != url["after"]


def test_a_saved_plan_holds_no_secret(portsip: tuple[PortSip, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, flow = portsip
    saved = flow.parent / "first.plan"
    assert main(["plan", str(flow), "--env", "emu", "--out", str(saved)]) == 0
    assert "saved the plan to" in capsys.readouterr().err
    text = saved.read_text()
    assert '"$secret": "pin"' in text and "sig=" in text
    assert PIN not in text and TOKEN_A not in text and "pbx-pass-9f3e" not in text
    document = json.loads(text)
    assert document["ivrflow_plan"] == 1 and document["create"] == len(document["changes"]) > 0
    assert document["flow"] == str(flow.resolve()) and document["dial"].startswith("7000")
    assert main(["deploy", str(saved), "--dry-run"]) == 0
    assert "these calls would be sent" in capsys.readouterr().out


def test_a_plan_that_would_hold_a_secret_is_not_written(telphin: tuple[Telphin, Path],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A callback token that happens to be text of the flow (here the menu's
    label) would be in the file: nothing is written, and the value is not printed."""
    _, flow = telphin
    monkeypatch.setenv("IVRFLOW_CALLBACK_TOKEN", "Main context")
    saved = flow.parent / "leaky.plan"
    assert main(["plan", str(flow), "--env", "emu", "-out", str(saved)]) == 2
    err = capsys.readouterr().err
    assert "would contain the value of one of the environment's secrets" in err and "Main context" not in err
    assert not saved.exists()


def test_saved_plan_usage_errors(telphin: tuple[Telphin, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, flow = telphin
    assert main(["deploy", str(flow), "--yes"]) == 2
    assert "deploy FLOW needs --env NAME" in capsys.readouterr().err
    bogus = flow.parent / "bogus.plan"
    bogus.write_text('{"something": "else"}')
    assert main(["deploy", str(bogus), "--yes"]) == 2
    assert "is not a saved plan" in capsys.readouterr().err
    assert main(["deploy", "--help"]) == 0
    assert "ivrflow deploy main.plan" in capsys.readouterr().out


@pytest.mark.parametrize(("before", "after", "shown"), [
    (5000, 6000, "timeout 5000 → 6000"),
    (None, "050", "timeout unset → 050"),
    ("", None, "timeout unset → unset"),
    ("https://ivr.example.com/portsip/action?flow=main&node=menu&kind=dtmf&sig=ab12ab12ab12",
     "https://ivr.example.com/portsip/action?flow=main&node=menu&kind=dtmf&sig=cd34cd34cd34",
     "timeout …sig=ab12ab12ab12 → …sig=cd34cd34cd34"),
])
def test_a_field_change_reads_as_before_and_after(before: object, after: object, shown: str) -> None:
    assert FieldChange("timeout", before, after).text() == shown
    assert FieldChange("pin", None, None, secret=True).text() == "pin (changed, not shown)"


def test_changes_from_a_handler_line_are_grouped_under_their_menu() -> None:
    """A handler's prompt (`on invalid -> play sorry, repeat`, line 16) is
    part of menu `main`, though the menu's span is its first line."""
    from ivrflow.deploy.run import group_of
    from ivrflow.loader import load
    from ivrflow.targets import get

    flow = load(str(EXAMPLES / "quickstart.ivr"), check_files=False).flow
    assert flow is not None
    target = get("portsip")
    plan = target.make_empty_plan(target.desired(flow, str(EXAMPLES / "quickstart.ivr"), None, True))
    assert any(c.source is not None and c.source.line == 16 for c in plan.changes)
    assert {group_of(change, flow) for change in plan.changes} == {"menu main"}


def test_adopt_is_refused_by_a_target_that_never_leaves_objects_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(EXAMPLES / "quickstart.ivr", tmp_path / "quickstart.ivr")
    (tmp_path / "ivrflow.toml").write_text(
        '[env.pbx]\ntarget = "portsip"\nbase_url = "http://127.0.0.1:9/api"\nusername = "demo"\n'
        'password = "${PW}"\ndomain = "d"\nextensions = "7000-7099"\npin = "${PIN}"\n'
        'runtime_url = "http://127.0.0.1:9"\ninsecure_callbacks = true\ntts = "espeak"\n')
    monkeypatch.setenv("PW", "demo")
    monkeypatch.setenv("PIN", "482916")
    assert main(["plan", str(tmp_path / "quickstart.ivr"), "--env", "pbx", "--adopt"]) == 2
    assert "ivrflow: error: --adopt: the portsip target never leaves objects alone" in capsys.readouterr().err
