"""The second edition on PortSIP (issue 13): what receptionists and action
URLs carry is deployed to the emulator and every call ends, and hears, what
the machine says; what they cannot carry is IVR205 at each use with the
reason, for bank.ivr and bilingual.ivr exactly."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrflow import loader
from ivrflow.cli import main
from ivrflow.compiler import ir
from ivrflow.compiler.machine import Keys, Line, Play, Silence
from ivrflow.compiler.simulate import run_call
from ivrflow.runtime.app import create_app
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.sessions import MemoryStore
from ivrflow.targets.capabilities import unsupported
from ivrflow.targets.portsip import target
from ivrflow.targets.portsip.calls import execute_call
from ivrflow.targets.portsip.compile import Dest, compile_flow, parse_copy_key
from ivrflow.targets.portsip.emulator import PortSip, portsip_app

from .conftest import EXAMPLES
from .flows import VOICEMAIL, flow_of, portsip_runtime
from .servers import serve_app
from .test_portsip import deploy, environment

SECOND = """flow second "The second edition on PortSIP" {
    language en-US
    languages en-US, es-US
    start entry
}

prompt welcome {
    en-US say "Welcome."
    es-US say "Bienvenido."
}
prompt options {
    en-US say "For the desk press 1. To hear this again press 2."
    es-US say "Para la recepción oprima 1."
}
prompt once_more say "Once more."
prompt sorry {
    en-US say "Sorry."
    es-US say "Lo siento."
}

route entry {
    when not caller "44201234567" and language == "en-US" -> goto main
    otherwise -> goto desk
}

menu main {
    play welcome first
    play options
    play once_more again
    end-key "#"
    timeout 5s
    retries 2
    press 1 -> goto desk
    press 2 -> play sorry, replay
    press 1000-1019 -> transfer "{key}"
    press "7XXX" -> transfer "{key}"
    press 30-39 -> play sorry, goto desk
    press "8X" -> replay
    press 9 -> set language es-US, play sorry, replay
    press 8 -> play sorry, set language en-US, goto desks
    press 0 -> goto desks
    on invalid -> play sorry, repeat
    on exhausted -> transfer "200"
}

route desks {
    when language == "es-US" -> transfer "201"
    otherwise -> set language es-US, goto desk
}

menu desk {
    play options first
    play sorry again
    timeout 5s
    retries timeout 1 invalid 2
    press "N" -> transfer "55{key}"
    press 0-1 -> replay
    press "*" -> set language en-US, goto main
    on timeout -> repeat
    on exhausted -> hangup
}
"""
#: Entries to try: keys, ranges and patterns (in and out), the end key, a wrong key.
ENTRIES = ("1", "2", "0", "1005", "1005#", "1#", "1020", "7123", "33", "81", "8", "9", "*", "5", "#", "silence")
CALLERS = (None, "44201234567")


def _inputs(inputs: tuple[str, ...]) -> list[Any]:
    return [Silence() if i == "silence" else Keys(i) for i in inputs]


def _heard(effects: list[Any]) -> list[str]:
    return [e.text if e.text is not None else str(e.file) for e in effects if isinstance(e, Play)]


def expected(flow: ir.Flow, inputs: tuple[str, ...], caller: str | None) -> dict[str, Any]:
    record, _ = run_call(flow, _inputs(inputs), Line(dt.datetime(2026, 11, 23, 10, 0), caller))
    outcome = record.outcome
    if outcome.action == "voicemail":
        ended: dict[str, Any] = {"action": "voicemail", "target": VOICEMAIL[outcome.target or "default"]}
    elif outcome.action == "waiting":
        ended = {"action": "waiting", "menu": outcome.target}
    else:
        ended = dict(outcome.to_dict())
    return {**ended, "heard": _heard(record.effects)}


def got(call: Any, words: dict[str, list[str]], flow: ir.Flow) -> dict[str, Any]:
    if call.outcome.action == "waiting":
        key = call.receptionist.split(":", 2)[2]
        ended: dict[str, Any] = {"action": "waiting", "menu": parse_copy_key(key)[0]}
    else:
        ended = dict(call.outcome.to_dict())
    return {**ended, "heard": [said for name in call.played for said in words[name]]}


def _run_calls(path: Path, entries: tuple[str, ...]) -> tuple[ir.Flow, list[tuple[tuple[str, ...], str | None]],
                                                            list[Any], dict[str, list[str]]]:
    """Deploy `path` to the emulator, with the runtime server answering its
    action URLs, and run every sequence of up to three `entries` (up to two
    from the caller the SECOND flow's entry route turns away)."""
    flow = flow_of(path)
    state = PortSip()
    with serve_app(portsip_app(state)) as base:
        url = base + "/api"
        app = create_app(flow, MemoryStore(), Credentials(insecure=True), accept_test_clock=True,
                         **portsip_runtime(url))
        with serve_app(app) as runtime_url:
            env = environment(url, runtime_url)
            deploy(path, env)
            wanted = target.desired(flow, str(path), env, True)
            # what each uploaded file says: its parts, as the machine's Play effects give them
            words = {name: [part.value for part in audio.parts] for name, audio in wanted.audio.items()}
            cases = [(i, c) for c in CALLERS for n in range(4 if c is None else 3)
                     for i in itertools.product(entries, repeat=n)]

            async def run_all() -> list[Any]:
                async with httpx.AsyncClient(timeout=10) as client:
                    return [await execute_call(state, client, "7000", list(i), caller=c,
                                               clock="2026-11-23T10:00:00") for i, c in cases]

            calls = asyncio.run(run_all())
    mismatches = [(i, c, expected(flow, i, c), got(call, words, flow))
                  for (i, c), call in zip(cases, calls, strict=True) if got(call, words, flow) != expected(flow, i, c)]
    assert mismatches == [], json.dumps(mismatches[:3], indent=1, ensure_ascii=False)
    return flow, cases, calls, words


def test_calls_on_the_second_edition_end_and_sound_as_the_machine_says(tmp_path: Path) -> None:
    path = tmp_path / "second.ivr"
    path.write_text(SECOND)
    flow, cases, calls, _ = _run_calls(path, ENTRIES)
    outcomes = {json.dumps(expected(flow, i, c)["action"]) for i, c in cases}
    assert outcomes == {'"transfer"', '"hangup"', '"waiting"'}
    transfers = {call.outcome.target for call in calls if call.outcome.action == "transfer"}
    assert {"1005", "7123", "555", "200"} <= transfers  # {key} from a range, a pattern and a one-key pattern
    assert sum(call.asked for call in calls) > len(cases)  # the route and the menu's entries asked the runtime


def test_the_bilingual_line_without_what_portsip_cannot_carry_runs_as_the_machine_says(tmp_path: Path) -> None:
    """examples/bilingual.ivr less its `called` branch and its `ring … else`
    fallbacks: the switches between English and Spanish, `play welcome
    first`, `replay` and the desk chosen by the language, heard word for word."""
    source = (EXAMPLES / "bilingual.ivr").read_text(encoding="utf-8")
    source = source.replace('    when called "18005550142" -> set language es-US, goto main  # the Spanish line\n', "")
    source = re.sub(r' ring 20s else voicemail "20[01]"', "", source)
    path = tmp_path / "bilingual.ivr"
    path.write_text(source, encoding="utf-8")
    assert unsupported(target.TARGET, flow_of(path)) == []
    _, _, calls, words = _run_calls(path, ("1", "2", "0", "8", "9", "5", "silence"))
    heard = {said for call in calls for name in call.played for said in words[name]}
    assert {"For English, press eight.", "Lo sentimos, esa opción no es válida."} <= heard
    assert "Bienvenido a la Biblioteca Lakeside." not in heard  # a switch replays the menu: no welcome again
    assert {call.outcome.target for call in calls if call.outcome.action == "transfer"} == {"200", "201", "210"}


def test_what_the_receptionists_are_made_of(tmp_path: Path) -> None:
    """play first/again: a receptionist per repeat and one for a replay, per
    language and per count of each counter; one-key ranges and patterns: key rules with `{key}` filled; the menu
    with an end key and long ranges: a DTMF action URL for every entry."""
    path = tmp_path / "second.ivr"
    path.write_text(SECOND)
    wanted = compile_flow(flow_of(path), {}, tts=True)
    assert [d.code for d in wanted.diagnostics if d.severity.name == "ERROR"] == []
    said = {key: [p.value for p in r.prompt.parts] if r.prompt else [] for key, r in wanted.receptionists.items()}
    options = "For the desk press 1. To hear this again press 2."
    assert said["main"] == ["Welcome.", options]
    assert said["main#0"] == said["main#1"] == said["main#2"] == [options, "Once more."]
    assert said["desk"] == [options] and said["desk#0"] == said["desk#1"] == ["Sorry."]
    desk = wanted.receptionists["desk"]
    assert [(r.key, r.office.kind, r.office.value) for r in desk.rules] == \
        [(str(k), "number", f"55{k}") for k in range(2, 10)] + \
        [("0", "node", "desk#0"), ("1", "node", "desk#0"), ("*", "node", "main")]
    # two counters: a receptionist per count of each; a wrong key (not counted as a silence) asks the runtime
    assert [(u.type, u.mask) for u in desk.urls] == [("DTMF", "ALL")]
    assert {"desk#0t1", "desk#1", "desk#1t1", "desk#2", "desk#2t1"} <= set(wanted.receptionists)
    assert wanted.receptionists["desk#1t1"].urls[0].url.endswith("&kind=menu&copy=1.1")
    assert wanted.receptionists["desk#1t1"].on_timeout == Dest("hangup")  # the second silence: exhausted
    assert wanted.receptionists["desk#2t1"].urls == []  # both used up: a wrong key is as a silence
    # set language: a receptionist per language, its prompts in it; the action URLs say which (`lang`)
    spanish = "Para la recepción oprima 1."
    assert said["desk@es-US"] == [spanish] and said["main#0@es-US"] == [spanish, "Once more."]
    assert said["sorry@es-US>main#0@es-US"] == ["Lo siento."]  # `set language es-US, play sorry, replay`
    assert said["sorry>desks"] == ["Sorry."]  # `play sorry, set language en-US, goto desks`
    assert wanted.receptionists["desk@es-US"].language == "es-US"
    assert wanted.receptionists["desks@es-US"].urls[0].url.endswith("&kind=route&lang=es-US")
    main_urls = wanted.receptionists["main"].urls
    assert [(u.type, u.mask) for u in main_urls] == [("DTMF", "ALL")]
    assert [(u.type, u.mask) for u in wanted.receptionists["entry"].urls] == [("CALLER", "ALL")]


# --- what cannot be carried -----------------------------------------------------------------------

DYNAMIC_PROMPT = ("PortSIP plays recordings uploaded when deploying, and an action URL can only transfer, hang up or "
                  "repeat: there is no way to play a dynamic prompt")
NO_VARIABLES = ("a receptionist keeps no variables, and an action URL is told only the caller, the receptionist's "
                "own number and the keys of one entry (`from`, `to`, `input`)")
NO_CALLED = "PortSIP tells an action URL the receptionist's own number (`to`), never the number the caller dialled"
ELSE = ("a forward rule has no ring time, and a forwarded call belongs to its destination (that extension's own "
        "no-answer and busy rules); `failure_forward_rule` is one per receptionist and undocumented")
COLLECT = ("a receptionist keeps no keys: an action URL is told one entry and can only transfer, hang up or repeat, "
           "so nothing can hold the keys for later")
LOOKUP = ("an action URL can only transfer, hang up or repeat: there is no way to play a dynamic prompt, nor to keep "
          "the answer for later")

REFUSED = {
    "bank.ivr": [
        (29, 24, f"`{{account:digits}}` in prompt `you_entered` cannot be deployed to portsip: {DYNAMIC_PROMPT}"),
        (32, 15, f"`{{balance}}` in prompt `balance` cannot be deployed to portsip: {DYNAMIC_PROMPT}"),
        (33, 15, f"`{{balance}}` in prompt `balance` cannot be deployed to portsip: {DYNAMIC_PROMPT}"),
        (37, 10, f"the condition `when called 18005550199` in route `entry` cannot be deployed to portsip: "
                 f"{NO_CALLED}"),
        (49, 16, f'`transfer "200" ring 30s else voicemail "200"` cannot be deployed to portsip: {ELSE}'),
        (58, 1, f"`collect account` cannot be deployed to portsip: {COLLECT}"),
        (71, 1, f"`lookup find_balance` cannot be deployed to portsip: {LOOKUP}"),
        (80, 10, f'the condition `when status == "blocked"` in route `by_status` cannot be deployed to portsip: '
                 f"{NO_VARIABLES}: the runtime server cannot know `status` when the call reaches the route"),
        (81, 10, f'the condition `when balance < 0 and status != "vip"` in route `by_status` cannot be deployed to '
                 f"portsip: {NO_VARIABLES}: the runtime server cannot know `balance` when the call reaches the route"),
        (82, 32, f'`set greeted = "yes"` cannot be deployed to portsip: {NO_VARIABLES}: nothing could read '
                 "`greeted` later"),
    ],
    "bilingual.ivr": [
        (40, 10, f"the condition `when called 18005550142` in route `entry` cannot be deployed to portsip: "
                 f"{NO_CALLED}"),
        (61, 33, f'`transfer "201" ring 20s else voicemail "201"` cannot be deployed to portsip: {ELSE}'),
        (62, 18, f'`transfer "200" ring 20s else voicemail "200"` cannot be deployed to portsip: {ELSE}'),
    ],
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_exactly_what_portsip_cannot_carry_of_the_examples_is_refused_with_the_reason(name: str) -> None:
    """What every command refuses before the target compiles (capabilities.unsupported):
    the ranges, patterns, end key, `{key}`, `play … first`, replay, variants,
    `set language`, the two counters and conditions on the language are
    carried, so they are not in it."""
    flow = loader.load(str(EXAMPLES / name), check_files=False).flow  # check errors of other branches aside
    assert flow is not None
    found = [(d.code, d.span.line, d.span.column, d.message) for d in unsupported(target.TARGET, flow)]
    assert found == [("IVR205", line, column, message) for line, column, message in REFUSED[name]]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_compile_with_the_pbx_environment_fails_with_exactly_those_errors(name: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`ivrflow compile NAME --target portsip --env pbx` with examples/ivrflow.toml."""
    for variable, value in {"PORTSIP_BASE_URL": "http://127.0.0.1:9/api", "PORTSIP_PASSWORD": "x",
                            "PORTSIP_IVR_PIN": "482916", "PORTSIP_RUNTIME_URL": "https://ivr.example.com",
                            "IVRFLOW_CALLBACK_TOKEN": "t0k3n"}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.chdir(EXAMPLES)
    out = tmp_path / "build"
    assert main(["compile", name, "--target", "portsip", "--env", "pbx", "-o", str(out)]) == 1
    shown = []  # (code, line, column, message), a message repeated word for word shown once with the other places
    for line in capsys.readouterr().err.splitlines():
        if found := re.match(rf"{re.escape(name)}:(\d+):(\d+): \w+\[(IVR\d+)\]: (.*)", line):
            shown.append((found[3], int(found[1]), int(found[2]), found[4]))
        elif shown and (again := re.match(r"  = the same \d+ more times? in this file, at (.*)", line)):
            shown += [(shown[-1][0], int(a), int(b), shown[-1][3]) for a, b in re.findall(r"(\d+):(\d+)", again[1])]
    assert sorted(shown) == [("IVR205", line, column, message) for line, column, message in REFUSED[name]]
    assert not out.exists()


def test_the_action_endpoint_refuses_a_language_or_counts_it_cannot_have(tmp_path: Path) -> None:
    path = tmp_path / "second.ivr"
    path.write_text(SECOND)
    flow = flow_of(path)
    app = create_app(flow, MemoryStore(), Credentials(insecure=True), **portsip_runtime("http://127.0.0.1:9/api"))
    with serve_app(app) as runtime_url:
        action = f"{runtime_url}/portsip/action?flow=second&node=main&kind=menu"
        for query in ("&lang=fr-FR", "&copy=1.x", "&copy=-1", "&copy=.2x"):
            response = httpx.post(action + query, json={"input": "1005"})
            assert response.status_code == 422, (query, response.text)
            assert set(response.json()["error"]) == {"code", "message"}
        # Known languages and counts are answered, `{key}` filled from the entry without its end key
        for query in ("&lang=es-US", "&copy=1.1", ""):
            answer = httpx.post(action + query, json={"input": "1005#"}).json()
            assert answer == {"status_code": 200, "action": "call", "destination": "1005"}, query
