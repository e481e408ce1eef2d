"""The Comm100 target without the network: the environment checked field by
field (IVR301 on the line of the setting), what the compiler refuses or
approximates (IVR205/IVR206 on the flow's line), and what `compile` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivrflow import config
from ivrflow.cli import main
from ivrflow.targets.comm100 import settings, target
from ivrflow.targets.comm100.client import Pacer, pacing_seconds

from .conftest import EXAMPLES

GOOD = """\
[env.bot]
target = "comm100"
host = 11
site_id = 10000
email = "admin@example.com"
api_key = "${KEY}"
channel = "sip"
sip_server = "sip.example.com:5070"
sip_username = "voicebot"
sip_password = "${SIP}"
transfer_to = "sip:{ext}@pbx.example.com"
"""
ENVIRON = {"KEY": "k3y", "SIP": "s1p", "TOKEN": "t0k"}


def _load(tmp_path: Path, text: str) -> config.Environment:
    path = tmp_path / "ivrflow.toml"
    path.write_text(text)
    return config.load("bot", path=path, environ=ENVIRON)


def _problem(tmp_path: Path, text: str) -> tuple[int, str]:
    with pytest.raises(config.ConfigError) as caught:
        settings.read(_load(tmp_path, text))
    diagnostic = caught.value.diagnostic
    assert diagnostic.code == "IVR301"
    return diagnostic.span.line, diagnostic.message


def test_a_good_environment_gives_the_api_host_auth_and_channel(tmp_path: Path) -> None:
    checked = settings.read(_load(tmp_path, GOOD))
    assert checked.base_url == "https://api11.comm100.io/v4"
    assert (checked.auth, checked.email, checked.site_id, checked.channel) == ("api_key", "admin@example.com",
                                                                             10000, "sip")
    assert checked.channel_fields["password"] == {"$secret": "sip_password"}  # never the value
    assert checked.channel_fields["sIPServer"] == "sip.example.com:5070"
    twilio = GOOD.replace('channel = "sip"', 'channel = "twilio"\nphone_number = "+15550100"\nphone_country = "US"')
    twilio = "\n".join(line for line in twilio.splitlines() if not line.startswith("sip_"))
    assert settings.read(_load(tmp_path, twilio)).channel_fields == {"phoneNumber": "+15550100",
                                                                     "phoneNumberCountry": "US"}
    oauth = GOOD.replace('email = "admin@example.com"\napi_key = "${KEY}"\n', 'access_token = "${TOKEN}"\n')
    assert settings.read(_load(tmp_path, oauth)).auth == "oauth"


@pytest.mark.parametrize(("old", "new", "line", "words"), [
    ("host = 11", "host = 18", 3, "api11"),
    ("host = 11", 'host = "dash13"', None, None),
    ("host = 11\n", "", 1, "needs `host`"),
    ("site_id = 10000", "site_id = 0", 4, "site_id"),
    ("site_id = 10000\n", "", 1, "site_id"),  # API-key auth needs it: pointed at the table (no `auth` line)
    ('email = "admin@example.com"', 'email = "admin"', 5, "e-mail"),
    ('channel = "sip"', 'channel = "pstn"', 7, "sip, twilio"),
    ('sip_server = "sip.example.com:5070"', 'sip_server = "sip example.com"', 8, "sip_server"),
    ('sip_server = "sip.example.com:5070"', 'sip_server = "sip.example.com:70000"', 8, "sip_server"),
    ('transfer_to = "sip:{ext}@pbx.example.com"', 'transfer_to = "sip:{number}@pbx"', 11, "{ext}"),
    ('channel = "sip"', 'channel = "twilio"\nphone_number = "+15550100"\nphone_country = "SE"', 10, "sip_server"),
    ('target = "comm100"', 'target = "comm100"\nlanguage = "fr"', 3, "en, zh-CN, zh-TW"),
    ('target = "comm100"', 'target = "comm100"\nauth = "password"', 3, "api_key, oauth"),
])
def test_each_bad_setting_is_an_error_on_its_line(tmp_path: Path, old: str, new: str, line: int | None,
                                                   words: str | None) -> None:
    text = GOOD.replace(old, new)
    if line is None:
        assert settings.read(_load(tmp_path, text)).base_url == "https://api13.comm100.io/v4"
        return
    found_line, message = _problem(tmp_path, text)
    assert words in message and found_line == line, (found_line, message)


def test_twilio_country_and_a_literal_secret_are_refused(tmp_path: Path) -> None:
    twilio = "\n".join(line for line in GOOD.splitlines() if not line.startswith("sip_")).replace(
        'channel = "sip"', 'channel = "twilio"\nphone_number = "+15550100"\nphone_country = "SE"')
    line, message = _problem(tmp_path, twilio)
    assert line == 9 and "AU" in message
    with pytest.raises(config.ConfigError) as caught:
        _load(tmp_path, GOOD.replace('"${SIP}"', '"hunter2"'))
    assert "literal secret" in caught.value.diagnostic.message and "hunter2" not in caught.value.diagnostic.message


@pytest.mark.parametrize(("body", "code", "line"), [
    ('menu main {\n  play p\n  press 1 -> transfer "101"\n  on invalid -> hangup\n}\n', None, 0),
    ('menu main {\n  play p\n  press 1 -> transfer "101"\n}\n', "IVR206", 4),  # silences and wrong keys apart
    ('menu main {\n  play p\n  press * -> transfer "101"\n}\n', "IVR205", 6),
    ('menu main {\n  play p\n  press 12 -> transfer "101"\n}\n', "IVR205", 6),
    ('menu main {\n  play p\n  press 1 -> ask "https://a.example/x"\n}\n', "IVR205", 6),
    ('route entry {\n  when caller "7*" -> transfer "1"\n  otherwise -> goto main\n}\n'
     'menu main {\n  play p\n  press 1 -> hangup\n}\n', "IVR205", 4),
    ('menu main {\n  play p\n  dial-extensions\n  press 1 -> hangup\n}\n', "IVR206", 6),
    ('menu main {\n  play p fully\n  press 1 -> hangup\n}\n', "IVR206", 5),
    ('prompt q say "Привет." language ru-RU\nmenu main {\n  play q\n  press 1 -> hangup\n  on invalid -> hangup\n}\n',
     "IVR206", 4),
    ('menu main {\n  play p\n  press 1 -> hangup\n  on timeout -> transfer "1"\n}\n', "IVR206", 7),
    ('menu main {\n  play p\n  press 1 -> goto two\n}\nmenu two {\n  play p\n  timeout 9s\n  press 1 -> hangup\n}\n',
     "IVR206", 8),
])
def test_check_with_the_comm100_target(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
                                       code: str | None, line: int) -> None:
    flow = tmp_path / "f.ivr"
    flow.write_text('flow f {\n}\nprompt p say "Hello."\n' + body)
    main(["check", str(flow), "--target", "comm100", "--format", "json"])
    found = [(d["code"], d["line"]) for d in json.loads(capsys.readouterr().out)["diagnostics"]
             if d["code"].startswith("IVR2")]
    if code is None:
        assert found == []
    else:
        assert (code, line) in found, found


def test_compile_writes_plan_json_and_each_resource(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "build"
    assert main(["compile", str(EXAMPLES / "quickstart.ivr"), "--target", "comm100", "-o", str(out)]) == 0
    calls = json.loads((out / "plan.json").read_text())
    paths = [c["path"] for c in calls]
    # PLATFORMS.md §4's order: channel configuration, instance, voicebot, response, actions, trigger
    assert paths[:4] == ["/voicebot/voicebotChannelSIPConfigurations", "/voicebot/voicebotChannelInstances",
                         "/voicebot/voicebots", "/voicebot/voicebotResponses"]
    assert paths[-1] == "/voicebot/voicebotSmartTriggers"
    assert calls[-1]["body"]["trigger"] == "callStarts"
    resources = {p.name: json.loads(p.read_text()) for p in (out / "resources").glob("*.json")}
    menu = next(r for r in resources.values() if r.get("type") == "IVRMenu")["voicebotActionIVRMenu"]
    assert [o["key"] for o in menu["voicebotActionIVRMenuOptions"]] == [1, 2]
    assert menu["invalidInputMessage"] == "Sorry, that is not an option." and menu["invalidInputRepeatTime"] == 3
    transfers = sorted(r["voicebotActionTransferCall"]["transferTo"] for r in resources.values()
                       if r.get("type") == "TransferCall")
    assert transfers == ["100", "101", "102"]
    err = capsys.readouterr().err
    assert "IVR206" in err and "10 calls (and 6 reads to check the result); Comm100 allows 300 per 300 s" in err


def test_compile_with_an_environment_uses_its_channel_and_transfer_template(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ivrflow.toml").write_text(GOOD)
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    flow = tmp_path / "quickstart.ivr"
    flow.write_text((EXAMPLES / "quickstart.ivr").read_text())
    assert main(["compile", str(flow), "--target", "comm100", "--env", "bot", "-o", str(tmp_path / "b")]) == 0
    text = (tmp_path / "b" / "plan.json").read_text()
    assert "sip:101@pbx.example.com" in text and "sip.example.com:5070" in text
    assert "s1p" not in text and '"$secret": "sip_password"' in text


def test_the_pacer_keeps_any_window_under_the_limit() -> None:
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds
    pacer = Pacer(10, 60.0, clock=lambda: now[0], sleep=sleep)
    times = []
    for _ in range(25):
        pacer.acquire()
        times.append(now[0])
    assert all(sum(1 for t in times if start <= t < start + 60) <= 10 for start in times)
    assert 119 < pacer.waited < 121
    assert pacing_seconds(25, 10, 60.0) == 120 and pacing_seconds(300) == 0


def test_the_target_declares_every_construct() -> None:
    from ivrflow.targets import capabilities

    assert set(target.CAPABILITIES) == {key for key, _ in capabilities.CONSTRUCTS}
    assert all(target.CAPABILITIES[key][0] == "no" for key, _ in capabilities.SECOND_EDITION)


def test_recordings_are_played_from_audio_base_url(tmp_path: Path) -> None:
    from ivrflow.loader import load

    env = _load(tmp_path, GOOD + 'audio_base_url = "https://cdn.example.com/ivr"\n')
    flow = load(str(EXAMPLES / "telphin_guide.ivr"), check_files=False).flow
    assert flow is not None
    wanted = target.desired(flow, str(EXAMPLES / "telphin_guide.ivr"), env)
    paths = [a.fields["audioPath"] for a in wanted.actions if a.type == "PlayAudio"]
    assert paths == ["https://cdn.example.com/ivr/prompts/advertising.wav",
                     "https://cdn.example.com/ivr/prompts/hello.wav"]
    assert not any("does not upload" in d.message for d in wanted.diagnostics)
    bare = target.desired(flow, str(EXAMPLES / "telphin_guide.ivr"), None)
    assert sum("does not upload" in d.message for d in bare.diagnostics) == 2
    assert _problem(tmp_path, GOOD + 'audio_base_url = "cdn.example.com"\n')[0] == 12


def test_canvas_positions_follow_the_diagrams_graphviz_layout(tmp_path: Path) -> None:
    """Every action has a place of its own, and the canvas reads top down as
    the diagram's ranks do: the Start action above the entry menu, a menu
    above the menus it goes to, a menu's key handlers below it."""
    from ivrflow.loader import load

    flow = load(str(EXAMPLES / "support.ivr"), check_files=False).flow
    assert flow is not None
    wanted = target.desired(flow, "", None)
    places = [(a.x, a.y) for a in wanted.actions]
    assert len(set(places)) == len(places)
    by_key = {a.key: a for a in wanted.actions}
    menus = [a for a in wanted.actions if a.type == "IVRMenu"]
    start = by_key["start"]
    assert all(start.y < menu.y for menu in menus)
    for menu in menus:
        for _, target_key in menu.options:
            following = by_key[target_key]
            below = following.type == "IVRMenu" and following.key != menu.key
            if below or following.key.startswith(f"{menu.key}/"):
                assert menu.y < following.y, (menu.key, following.key)
    assert by_key["tech"].y == by_key["billing"].y  # one rank of the diagram: one row
    again = target.desired(flow, "", None)
    assert [(a.x, a.y) for a in again.actions] == places
