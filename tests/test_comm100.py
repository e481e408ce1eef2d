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
     'menu main {\n  play p\n  press 1 -> hangup\n  on invalid -> hangup\n}\n', None, 0),
    ('hours h {\n  mon-fri 09:00-17:00\n}\nroute entry {\n  when open h -> goto main\n  otherwise -> hangup\n}\n'
     'menu main {\n  play p\n  press 1 -> hangup\n  on invalid -> hangup\n}\n', "IVR205", 8),
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
    carried = {key for key, _ in capabilities.SECOND_EDITION if target.CAPABILITIES[key][0] != "no"}
    assert carried == {"variables", "collect", "lookup", "conditions", "end-key", "transfer-else", "key-ranges",
                       "key-patterns"}
    assert target.CAPABILITIES["route-caller"][0] == "native"
    # what stays refused says why, not "not yet"
    assert all(note and note != "not yet" for level, note in target.CAPABILITIES.values() if level == "no")


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


SECOND = """flow second "The second edition on Comm100" {
    language en-US
    start entry
}

prompt welcome say "Welcome."
prompt options say "For your balance press 1. For the desk press 2."
prompt ask_account say "Enter your account number, then press the pound key."
prompt you_entered say "You entered {account}."
prompt balance say "Your balance is {balance} dollars."
prompt sorry say "Sorry."

route entry {
    when caller "44201234567" or caller "4420999-4420999" -> transfer "900"
    when not caller "7*" -> goto main
    otherwise -> set greeted = "vip {caller}", goto main
}

menu main {
    play welcome
    play options
    timeout 5s
    retries 2
    press 1 -> goto account
    press 2 -> transfer "200" ring 20s else voicemail "sales"
    press 3 -> set picked = "{key}", transfer "3{key}"
    press 5-6 -> transfer "5{key}"
    press 7-8 -> hangup
    on invalid -> play sorry, repeat
    on exhausted -> hangup
}

collect account {
    play ask_account
    digits 4-8
    end-key "#"
    timeout 5s
    retries 2
    on done -> play you_entered, goto find_balance
    on invalid -> play sorry, repeat
    on exhausted -> transfer "200"
}

lookup find_balance "https://bank.example.com/balance" {
    send account
    receive balance, status
    on done -> goto by_status
    on error -> play sorry, transfer "200"
}

route by_status {
    when status == "blocked" -> transfer "250"
    when balance < 0 and status != "vip" -> play balance, transfer "260"
    when not (status == "gold" or balance > 1000) -> play balance, transfer "270"
    otherwise -> play balance, hangup
}
"""


def _second(tmp_path: Path, text: str = SECOND) -> target.Desired:
    from ivrflow.loader import load

    path = tmp_path / "second.ivr"
    path.write_text(text)
    flow = load(str(path), check_files=False).flow
    assert flow is not None
    return target.desired(flow, str(path), None)


def test_the_second_edition_becomes_collect_condition_set_and_webhook_actions(tmp_path: Path) -> None:
    wanted = _second(tmp_path)
    assert [d.code for d in wanted.diagnostics if d.severity.name == "ERROR"] == []
    kinds = {a.key: a for a in wanted.actions}
    collect = kinds["account/collect"]
    assert collect.type == "CollectDTMFDigits"
    assert collect.fields == {"message": "Enter your account number, then press the pound key.",
                              "variableName": "ivrflow_entry", "numberOfDigits": "Variable",
                              "stopGatherAfterPresskey": "#"}
    check = kinds["account/check"]
    [(case, keep)] = check.items
    assert case["conditions"][0]["value"] == "^[0-9*#]{4,8}$" and keep == "account/keep"
    assert kinds[keep].fields["variable"] == "account" and collect.links["nextActionId"] == "account/check"
    # a copy per retry: the last one's wrong entry runs `on exhausted`
    assert {"account/try 1/collect", "account/try 2/collect"} <= set(kinds)
    assert kinds["account/invalid/play/0"].links["nextActionId"] == "account/try 1/collect"
    assert kinds["account/try 2/invalid/play/0"].links["nextActionId"] == "account/exhausted/transfer"
    webhook = kinds["find_balance"]
    assert webhook.type == "Webhook" and webhook.fields["url"] == "https://bank.example.com/balance"
    assert json.loads(webhook.fields["additionalPostBody"])["variables"]["account"] == "{!Variable.account}"
    assert [v["variableName"] for v in webhook.fields["responseToVariables"]] == ["balance", "status"]
    assert webhook.items == [({"responseCode": 200, "order": 0}, "by_status/if 1")]
    assert webhook.links["otherResponseToActionId"] == "find_balance/error/play/0"
    first = kinds["entry/if 1"]
    [(case, _)] = first.items
    assert case["conditionExpressionType"] == "any"
    assert [c["value"] for c in case["conditions"]] == [r"^\+?(?:44201234567)$", r"^\+?(?:4420999)$"]
    # `not`: the same case, its branches swapped
    negated = kinds["entry/if 2"]
    assert negated.items[0][1] == "entry/otherwise/step/0" and negated.links["otherCaseActionId"] == "main"
    assert kinds["main/press 3/step/0"].fields["value"] == "3"  # {key} in a key's handler is the key
    assert kinds["main/press 3/transfer"].fields["transferTo"] == "33"
    # one-key ranges: an option per key, its own actions when they say `{key}`, else shared
    options = dict(kinds["main"].options)
    assert (options[5], options[6]) == ("main/press 5-6/5/transfer", "main/press 5-6/6/transfer")
    assert kinds[options[6]].fields["transferTo"] == "56"
    assert options[7] == options[8] == "main/press 7-8/end"
    assert kinds["main/press 2/transfer"].links["actionIdWhenTransferFailed"] == "main/press 2 else/voicemail"
    assert kinds["account/done/play/0"].fields["message"] == "You entered {!Variable.account}."
    assert kinds["entry/otherwise/step/0"].fields["value"] == "vip {!Visitor.CallerID}"
    body = json.dumps(target.make_empty_plan(wanted).calls())
    assert '"goToActionId": {"$ref": "action:account/keep"}' in body


@pytest.mark.parametrize(("old", "new", "words"), [
    ('when caller "44201234567" or', 'when called "44201234567" or', "not the number the caller dialled"),
    ('when status == "blocked"', "when status is set", "not set"),
    ("    start entry\n", "    start entry\n    languages en-US, es-US\n", "one languageId"),
    ('    press 3 -> set', '    press 40-45 -> hangup\n    press 3 -> set', "more than one key"),
    ('    timeout 5s\n    retries 2\n    press 1', '    end-key "#"\n    timeout 5s\n    retries 2\n    press 1',
     "no end key"),
    ('end-key "#"\n    timeout 5s\n    retries 2\n    on done',
     'end-key "5"\n    timeout 5s\n    retries 2\n    on done', "* or #"),
    ('you_entered say "You entered {account}."', 'you_entered say "You dialled {called}."', "dialled"),
])
def test_what_comm100_cannot_carry_is_refused_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              old: str, new: str, words: str) -> None:
    assert old in SECOND
    path = tmp_path / "second.ivr"
    path.write_text(SECOND.replace(old, new, 1))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if new.strip().splitlines()[-1] in text
                or new.strip().splitlines()[0] in text)
    assert main(["check", str(path), "--target", "comm100", "--format", "json"]) != 0
    found = [d for d in json.loads(capsys.readouterr().out)["diagnostics"] if d["code"] == "IVR205"]
    assert any(words in d["message"] for d in found), found
    assert all(d["line"] >= line - 1 for d in found if words in d["message"]), (line, found)


@pytest.mark.parametrize("mask", ["44201234567", "7*", "+7***", "100-199;ALL", "0199-1200", "12-34;5*6", "555"])
def test_a_caller_mask_is_the_regular_expression_that_matches_the_same_numbers(mask: str) -> None:
    import itertools
    import re

    from ivrflow.compiler.conditions import caller_matches
    from ivrflow.targets.comm100.conditions import mask_pattern

    pattern = re.compile(mask_pattern(mask))
    numbers = ["", "44201234567", "+44201234567", "7", "70", "79", "+7123", "7123", "71234", "0199", "0200", "1200",
               "1201", "0198", "123", "5a6"]
    numbers += ["".join(p) for n in (1, 2, 3) for p in itertools.product("0159", repeat=n)]
    for number in numbers:
        assert bool(pattern.fullmatch(number)) == caller_matches(mask, number or None), (mask, number)


def test_the_second_edition_flow_compiles_to_the_golden_plan(tmp_path: Path, golden,  # type: ignore[no-untyped-def]
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """What `compile --target comm100` writes for SECOND, twice the same bytes."""
    monkeypatch.chdir(tmp_path)
    tmp_path = Path(".")
    text = json.dumps(target.make_empty_plan(_second(tmp_path)).calls(), indent=2, ensure_ascii=False) + "\n"
    assert text == json.dumps(target.make_empty_plan(_second(tmp_path)).calls(), indent=2, ensure_ascii=False) + "\n"
    golden("plans/comm100/second_edition.json", text)


def test_a_set_comm100_would_skip_is_refused_and_a_collect_is_copied_only_when_it_repeats(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An IVRMenu repeats itself on a wrong key, so `set` in `on invalid ->
    …, repeat` could not run: IVR205 there, never dropped silently. A collect
    whose `on invalid` does not repeat needs no copies."""
    path = tmp_path / "second.ivr"
    path.write_text(SECOND.replace("    on invalid -> play sorry, repeat\n    on exhausted -> hangup",
                                   '    on invalid -> play sorry, set wrong = "yes", repeat\n'
                                   "    on exhausted -> hangup"))
    assert main(["check", str(path), "--target", "comm100", "--format", "json"]) != 0
    found = [(d["code"], d["line"]) for d in json.loads(capsys.readouterr().out)["diagnostics"]]
    assert ("IVR205", 29) in found, found
    once = _second(tmp_path, SECOND.replace("    on invalid -> play sorry, repeat\n    on exhausted -> transfer",
                                            '    on invalid -> transfer "201"\n    on exhausted -> transfer'))
    assert not any("/try " in a.key for a in once.actions)
    assert once.action("account/check").links["otherCaseActionId"] == "account/invalid/transfer"


def test_a_collects_inter_digit_pause_is_reported(tmp_path: Path) -> None:
    wanted = _second(tmp_path, SECOND.replace("    timeout 5s\n    retries 2\n    on done",
                                              "    timeout 5s\n    inter-digit 3s\n    retries 2\n    on done"))
    assert any(d.code == "IVR206" and "inter-digit" in d.message for d in wanted.diagnostics)


def test_a_flow_language_comm100_lacks_is_left_to_the_environment(tmp_path: Path) -> None:
    """Refused before compiling only what no environment can change: a
    French flow is an error without `language` in the environment, not with it."""
    from ivrflow.targets.capabilities import unsupported

    french = SECOND.replace("    language en-US\n", "    language fr-FR\n")
    assert unsupported(target.TARGET, flow_of_text(tmp_path, french)) == []
    assert [d.code for d in _second(tmp_path, french).diagnostics if d.severity.name == "ERROR"] == ["IVR205"]
    env = _load(tmp_path, GOOD + 'language = "en"\nvoicemail = { sales = "800" }\n')
    assert [d for d in target.desired(flow_of_text(tmp_path, french), "", env).diagnostics
            if d.severity.name == "ERROR"] == []


def flow_of_text(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    from ivrflow.loader import load

    path = tmp_path / "flow.ivr"
    path.write_text(text)
    return load(str(path), check_files=False).flow
