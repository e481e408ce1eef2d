"""The Opentact target: its environment, the call-flow XML of both dialects
(golden files, the schemas, escaping), the emulator's interpreter against
the machine, and deploys over real HTTP to the emulator under uvicorn."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ivrflow import targets
from ivrflow.cli import main
from ivrflow.compiler import ir
from ivrflow.compiler.machine import (
    TRANSFER_REASONS,
    Call,
    Keys,
    Line,
    LookupService,
    Silence,
    Start,
    TransferFailed,
    outcome_of,
    step,
)
from ivrflow.compiler.simulate import MisplacedInput, run_call
from ivrflow.config import ConfigError, Environment
from ivrflow.loader import load
from ivrflow.runtime.app import create_app
from ivrflow.runtime.clock import parse_clock
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.sessions import MemoryStore
from ivrflow.targets.emulation import Faults
from ivrflow.targets.opentact import calls, served, settings, target
from ivrflow.targets.opentact.compile import compile_flow
from ivrflow.targets.opentact.dialect import DIALECTS, validate
from ivrflow.targets.opentact.emulator import Opentact, opentact_app
from ivrflow.targets.signing import signature

from .bank_service import BankService, balance_of
from .conftest import EXAMPLE_FLOWS, EXAMPLES, PLATFORM_FLOWS, ROOT
from .flows import VOICEMAIL, RoutingService, alphabet, ask_answer, converge, deploy_with, flows, plan_with
from .servers import ivrflow_serve, redis_server, serve_app

NUMBER = "+14155550100"
#: Over real HTTP (the emulator or the runtime server under uvicorn): left out by `make test-fast`.
SLOW = pytest.mark.slow


def _flow(source: str, tmp_path: Path, name: str = "flow.ivr") -> tuple[ir.Flow, Path]:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    result = load(str(path), check_files=False)
    assert result.flow is not None and result.errors == 0, result.diagnostics
    return result.flow, path


def _env(source: str) -> Environment:
    import tomllib

    document = tomllib.loads(source)
    return Environment("ot", "ivrflow.toml", document["env"]["ot"], source,
                       environ={"OT_PASSWORD": "demo", "OT_TOKEN": "tok"})


BASE = '[env.ot]\ntarget = "opentact"\nemail = "demo@example.com"\npassword = "${OT_PASSWORD}"\n'


# --- the environment --------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "line", "message"), [
    ('base_url = "http://api.opentact.org"', 5, "HTTPS only"),
    ('base_url = "prod"', 5, "`production`, `staging` or an https URL"),
    ('api_token = "${OT_TOKEN}"', 5, "not both"),
    ('dialect = "twiml"', 5, "`dialect` must be one of"),
    ("product = 0", 5, "SIP product's id"),
    ('product = "12"', 5, "SIP product's id"),
    ('numbers = ["4155550100"]', 5, "not an E.164 number"),
    ('numbers = ["+14155550100", "+14155550100"]', 5, "twice"),
    ('numbers = "+14155550100"', 5, "must be a list"),
    ("tech_prefix = 99999", 5, "from 100000 to 999999"),
    ("tech_prefix = 1000000", 5, "from 100000 to 999999"),
    ("channel_limit = 0", 5, "at least 1"),
    ("max_rate = -1", 5, "at least 0"),
    ("daily_spend_limit = true", 5, "at least 0"),
    ("record_calls = 3", 5, "0, 1 or 2"),
    ('filemat = "ogg"', 5, "\"wav\" or \"mp3\""),
    ("audio_track_type = 2", 5, "0 or 1"),
    ('prompts_url = "ftp://x"', 5, "http(s) URL"),
    ('voicemail = { support = 5 }', 5, "maps each box"),
    ('tech_prefx = 123456', 5, "did you mean `tech_prefix`"),
])
def test_every_setting_is_checked_with_its_line(extra: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.read(_env(BASE + extra + "\n"))
    diagnostic = caught.value.diagnostic
    assert diagnostic.code == "IVR301" and diagnostic.span.line == line and message in diagnostic.message


def test_a_good_environment_is_read() -> None:
    checked = settings.read(_env(BASE + 'base_url = "staging"\nproduct = 12\nnumbers = ["+14155550100"]\n'
                                 'dialect = "legacy"\ntech_prefix = 482910\nfilemat = "mp3"\nrecord_calls = 2\n'))
    assert checked.base_url == "https://api.stage.opentact.org" and checked.dialect == "legacy"
    assert checked.profile["tech_prefix"] == 482910 and checked.profile["filemat"] == "mp3"
    assert checked.numbers == ("+14155550100",) and checked.product == 12
    assert settings.read(_env(BASE)).base_url == "https://api.opentact.org"
    with pytest.raises(ConfigError, match="needs a `password`"):
        settings.read(_env('[env.ot]\ntarget = "opentact"\nemail = "a@b.c"\n'))


def test_compile_with_a_wrong_environment_is_a_located_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ivrflow.toml").write_text(BASE + "tech_prefix = 12\n", encoding="utf-8")
    flow = tmp_path / "q.ivr"
    flow.write_text((EXAMPLES / "quickstart.ivr").read_text(), encoding="utf-8")
    code = main(["compile", str(flow), "--target", "opentact", "--env", "ot", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "ivrflow.toml:5:1: error[IVR301]" in err and "100000 to 999999" in err


# --- the XML ----------------------------------------------------------------------------------

def _diagnostics(flow: ir.Flow, dialect: str) -> list[str]:
    wanted = compile_flow(flow, {}, dialect_name=dialect)
    return [f"{d.span.line}:{d.span.column} {d.severity.name.lower()}[{d.code}] {d.message}"
            for d in wanted.diagnostics]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("path", EXAMPLE_FLOWS, ids=lambda p: p.stem)
def test_golden_xml_of_each_example(path: Path, dialect: str, golden, monkeypatch: pytest.MonkeyPatch) -> None:
    """The XML of each example that compiles; of the others, what is refused
    (IVR205) and why. A flow of the second edition is served by the runtime
    from the start: its golden XML is the runtime's first answer to a call
    (Monday 10:00, no caller or number given), its plan sets call_flow_url."""
    monkeypatch.chdir(ROOT)
    result = load(str(path.relative_to(ROOT)))
    assert result.flow is not None
    wanted = compile_flow(result.flow, {}, dialect_name=dialect)
    errors = [d for d in wanted.diagnostics if d.severity.name == "ERROR"]
    if errors:
        assert {d.code for d in errors} == {"IVR205"}
        golden(f"opentact/{path.stem}.{dialect}.refused.txt", "\n".join(_diagnostics(result.flow, dialect)) + "\n")
        return
    if served.is_served(result.flow):
        name = result.flow.name
        assert wanted.xml == b"" and wanted.call_flow_url == f"<runtime_url>/opentact/xml?flow={name}&kind=call"
        call, effects = step(result.flow, Call(), Start(), Line(MOMENTS[0]))
        values = {"dialect": dialect, "runtime_url": "<runtime_url>"}
        first = served.respond(result.flow, effects, call, values, None)
        assert validate(first, dialect) == []
        golden(f"opentact/{path.stem}.{dialect}.xml", first.decode())
    else:
        assert validate(wanted.xml, dialect) == []
        golden(f"opentact/{path.stem}.{dialect}.xml", wanted.xml.decode())
    plan = target.make_empty_plan(wanted)
    golden(f"opentact/{path.stem}.{dialect}.plan.json", json.dumps(plan.calls(), indent=2, ensure_ascii=False) + "\n")


def test_the_two_dialects_differ_as_documented(tmp_path: Path) -> None:
    flow, _ = _flow('flow f {}\nprompt p say "Hi"\nmenu main {\n  play p\n  timeout 7s\n  press 1 -> transfer "101"\n'
                    '  press "#" -> hangup\n  on timeout -> repeat\n  on invalid -> hangup\n}\n', tmp_path)
    current = ET.fromstring(compile_flow(flow, {}, dialect_name="current").xml)
    legacy = ET.fromstring(compile_flow(flow, {}, dialect_name="legacy").xml)
    gather = current.find("Gather")
    assert gather is not None and gather.attrib == {"dtmf_length": "1", "dtmf_stop": "*"}
    assert [d.get("value") for d in gather.findall("DTMF")] == ["1", "#"]
    assert gather.find("Say") is not None and gather.find("Say").get("lang") == "en-US"  # type: ignore[union-attr]
    old = legacy.find("Gather")
    assert old is not None and old.attrib == {"numDigits": "1", "timeout": "7000", "attempts": "4",
                                               "finishOnKey": "*"}
    assert [c.get("dtmf") for c in old.findall("Switch/Case")] == ["1", "#"]
    assert old.find("Switch/Default/Hangup") is not None and old.find("Say").attrib == {}  # type: ignore[union-attr]
    assert validate(compile_flow(flow, {}, dialect_name="current").xml, "legacy") != []


HOSTILE = 'Press 1 <b>now</b> & "quote" \'it\' — ça coûte 5 € ]]> &amp; </Say><Hangup/>'


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_text_is_escaped_and_spoken_as_written(dialect: str, tmp_path: Path) -> None:
    escaped = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    flow, _ = _flow(f'flow f "A <label> & \\"more\\"" {{}}\nprompt p say "{escaped}"\n'
                    'prompt f file "a b/<x>&.wav"\n'
                    'menu main "<m>" {\n  play p\n  play f\n  press 1 -> transfer "sip:a&b@x.example"\n'
                    '  on timeout -> hangup\n  on invalid -> hangup\n}\n', tmp_path)
    wanted = compile_flow(flow, {"prompts_url": "https://m.example/p?a=1&b=2", "has_env": True},
                          dialect_name=dialect)
    assert validate(wanted.xml, dialect) == []
    assert b"<Hangup/></Say>" not in wanted.xml
    heard = calls.run(wanted.xml, dialect, ["1"])
    assert heard.heard == [f"say:{HOSTILE}", "play:https://m.example/p?a=1&b=2/a b/<x>&.wav"]
    assert heard.outcome() == {"action": "transfer", "target": "sip:a&b@x.example"}


@pytest.mark.parametrize(("source", "needle"), [
    ('menu main {\n  press * -> hangup\n  press "#" -> hangup\n}\n', "uses both * and #"),
])
def test_what_static_xml_cannot_express_is_ivr205_at_its_line(source: str, needle: str, tmp_path: Path) -> None:
    flow, _ = _flow("flow f {}\n" + source, tmp_path)
    for dialect in DIALECTS:
        found = [d for d in compile_flow(flow, {}, dialect_name=dialect).diagnostics if d.code == "IVR205"]
        assert found and needle in found[0].message and found[0].span.line >= 2


@pytest.mark.parametrize(("source", "needle"), [
    ('route r {\n  when caller "1*" -> hangup\n  otherwise -> goto main\n}\nmenu main {\n  press 1 -> hangup\n}\n',
     "route `r` is decided by the runtime server"),
    ('menu main {\n  press 1 -> goto other\n}\nmenu other {\n  press 1 -> goto main\n}\n', "goes round"),
])
def test_loops_and_routes_are_fetched_from_the_runtime_server(source: str, needle: str, tmp_path: Path) -> None:
    flow, _ = _flow("flow f {}\n" + source, tmp_path)
    env = {"has_env": True, "runtime_url": "https://ivr.example", "callback_token_value": "k"}
    for dialect in DIALECTS:
        wanted = compile_flow(flow, env, dialect_name=dialect)
        assert {d.code for d in wanted.diagnostics} == {"IVR202"}
        assert any(needle in d.message for d in wanted.diagnostics)
        assert validate(wanted.xml, dialect) == []
        urls = [c.get("url", "") for c in ET.fromstring(wanted.xml).iter("Callback")]
        assert urls and all(u.startswith("https://ivr.example/opentact/xml?flow=f&") and "&sig=" in u for u in urls)
    unsigned = compile_flow(flow, {"has_env": True, "runtime_url": "https://ivr.example"})
    assert [d.code for d in unsigned.diagnostics if d.severity.name == "ERROR"] == ["IVR303"]


def test_compile_writes_the_xml_and_plan_and_says_the_dialect(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(EXAMPLES / "quickstart.ivr"), "--target", "opentact", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "current dialect" in err and validate((out / "call-flow.xml").read_bytes(), "current") == []
    calls_made = json.loads((out / "plan.json").read_text())
    assert [c["path"] for c in calls_made] == ["/rest/profile/outbound_voice", "/rest/sip/app",
                                               "/rest/sip/app/call/flow/{app}"]
    assert main(["compile", str(EXAMPLES / "clinic.ivr"), "--target", "opentact", "-o", str(out)]) == 0
    assert "info[IVR202]: the runtime server decides the entries of menu `test_results`" in capsys.readouterr().err
    gather = ET.fromstring((out / "call-flow.xml").read_bytes()).find(".//Gather[@url]")
    assert gather is not None and "kind=entry" in gather.get("url", "")
    assert main(["compile", str(EXAMPLES / "support.ivr"), "--target", "opentact", "-o", str(out)]) == 0
    assert "info[IVR202]: route `entry` is decided by the runtime server" in capsys.readouterr().err
    callback = ET.fromstring((out / "call-flow.xml").read_bytes()).find("Callback")
    assert callback is not None and callback.get("url", "").startswith("<runtime_url>/opentact/xml?flow=support")


# --- the interpreter against the machine --------------------------------------------------------

def _compiles(path: Path, dialect: str) -> bool:
    flow = load(str(path), check_files=False).flow
    assert flow is not None
    return not any(d.severity.name == "ERROR" for d in compile_flow(flow, {}, dialect_name=dialect).diagnostics)


#: (example, dialect) for each example that compiles in the dialect.
COMPILES = [(p, d) for p in PLATFORM_FLOWS for d in DIALECTS if _compiles(p, d)]
HANDMADE = [
    'flow h {}\nprompt p say "Menu"\nprompt s say "Sorry"\nmenu main {\n  play p\n  retries 2\n'
    '  press 1 -> goto sub\n  press 2 -> voicemail "sales"\n  on timeout -> repeat\n  on invalid -> play s, hangup\n'
    '  on exhausted -> transfer "100"\n}\nmenu sub {\n  play s\n  retries 1\n  press 1 -> transfer "201"\n'
    '  press 9 -> repeat\n  on timeout -> play p, repeat\n  on invalid -> repeat\n}\n',
    'flow h {}\nprompt p say "Menu"\nmenu main {\n  play p\n  retries 0\n  press 1 -> transfer "1"\n'
    '  press 2 -> hangup\n}\n',
    'flow h {}\nprompt p say "Menu"\nmenu main {\n  play p\n  press 1 -> goto sub\n  press 2 -> transfer "2"\n'
    '  on exhausted -> goto main\n}\nmenu sub {\n  press * -> goto main\n  press 1 -> goto sub\n'
    '  on invalid -> hangup\n}\n',
    'flow h {}\nprompt p say "Menu"\nmenu main {\n  play p\n  retries 1\n  press 1 -> ask "https://crm.example/r"\n'
    '  press 2 -> play p, ask "https://crm.example/r" -> transfer "+15550100" | repeat\n'
    '  on invalid -> ask "https://crm.example/r"\n  on exhausted -> hangup\n}\n',
]
MOMENTS = [dt.datetime(2026, 11, 23, 10, 0), dt.datetime(2026, 11, 28, 20, 0)]


def _expected(flow: ir.Flow, inputs: tuple[str, ...], moment: dt.datetime | None = None,
              caller: str | None = None) -> dict[str, Any]:
    record, _ = run_call(flow, [Silence() if i == "silence" else Keys(i) for i in inputs], Line(moment, caller),
                         [ask_answer()] * 5)
    outcome = record.outcome
    if outcome.action == "voicemail":
        return {"action": "transfer", "target": VOICEMAIL[outcome.target or "default"]}
    if outcome.action == "waiting":
        return {"action": "waiting", "target": None}
    return outcome.to_dict()


def _callers(flow: ir.Flow) -> list[str | None]:
    masks = [b.condition.mask for r in flow.routes for b in r.branches
             if isinstance(b, ir.When) and isinstance(b.condition, ir.CallerIs)]
    return [None, *[m.split(";")[0].replace("*", "5") for m in masks]]


@contextlib.contextmanager
def _runtime(flow: ir.Flow, dialect: str) -> Iterator[str]:
    """`ivrflow serve` for `flow` under uvicorn, with an Opentact environment in `dialect`."""
    hosts = {urllib.parse.urlsplit(h.actions.terminal.url).hostname for h in flow.handlers
             if isinstance(h.actions.terminal, ir.Ask)}
    http = httpx.AsyncClient(mounts={f"all://{host}": httpx.ASGITransport(app=RoutingService().app())
                                     for host in hosts})
    app = create_app(flow, MemoryStore(), Credentials(token="callback-token"), webhooks=targets.webhooks(),
                     settings={"voicemail": VOICEMAIL, "dialect": dialect, "prompts_url": "https://m.example"},
                     accept_test_clock=True, http=http)
    with serve_app(app) as url:
        yield url


def _cached_fetch(client: httpx.Client, dialect: str) -> calls.Fetch:
    """The runtime's answer to a URL (which holds the caller) at one moment, asked once."""
    answers: dict[str, bytes] = {}

    def fetch(link: str) -> bytes | None:
        if link not in answers:
            answer = client.get(link)
            assert answer.status_code == 200, answer.text
            assert validate(answer.content, dialect) == []
            answers[link] = answer.content
        return answers[link]
    return fetch


def _check_all(flow: ir.Flow, dialect: str) -> tuple[int, int]:
    """Every key sequence to depth 3 (at each moment and caller that matters),
    through the XML and the runtime server's Callbacks: how many calls, how many fetches."""
    with _runtime(flow, dialect) as url:
        wanted = compile_flow(flow, {"voicemail": VOICEMAIL, "has_env": True, "prompts_url": "https://m.example",
                                     "runtime_url": url, "callback_token_value": "callback-token"},
                              dialect_name=dialect)
        assert not [d for d in wanted.diagnostics if d.severity.name == "ERROR"]
        assert validate(wanted.xml, dialect) == []
        sequences = [s for n in range(4) for s in itertools.product(alphabet(flow), repeat=n)]
        moments = MOMENTS if flow.routes else MOMENTS[:1]
        fetched = count = 0
        for moment in moments:
            with httpx.Client(headers={"X-Ivrflow-Clock": moment.isoformat()}, timeout=10) as client:
                fetch = _cached_fetch(client, dialect)
                for caller in _callers(flow):
                    for inputs in sequences:
                        got = calls.run(wanted.xml, dialect, inputs, fetch, {"from": caller} if caller else {})
                        assert got.outcome() == _expected(flow, inputs, moment, caller), (dialect, moment, caller,
                                                                                          inputs)
                        fetched += got.fetched
                        count += 1
    return count, fetched


@SLOW
@pytest.mark.parametrize(("path", "dialect"), COMPILES, ids=[f"{p.stem}-{d}" for p, d in COMPILES])
def test_calls_through_the_xml_end_as_the_machine_says(path: Path, dialect: str) -> None:
    result = load(str(path), check_files=False)
    assert result.flow is not None
    count, fetched = _check_all(result.flow, dialect)
    assert count > 20
    assert (fetched > 0) == (path.stem != "quickstart")  # the others go round or route: the runtime answers


@SLOW
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("source", HANDMADE)
def test_submenus_retries_loops_and_voicemail_run_as_the_machine_says(source: str, dialect: str,
                                                                      tmp_path: Path) -> None:
    flow, _ = _flow(source, tmp_path)
    count, fetched = _check_all(flow, dialect)
    assert count > 20 and (fetched > 0) == ("ask" in source or "goto main" in source)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("source", [(EXAMPLES / "quickstart.ivr").read_text(), *HANDMADE[:2]])
def test_static_flows_run_as_the_machine_says_with_no_server(source: str, dialect: str, tmp_path: Path) -> None:
    """Flows with no loop or route: the XML alone, every key sequence to depth 3."""
    flow, _ = _flow(source, tmp_path)
    wanted = compile_flow(flow, {"voicemail": VOICEMAIL, "has_env": True}, dialect_name=dialect)
    assert b"<Callback" not in wanted.xml and validate(wanted.xml, dialect) == []
    sequences = [s for n in range(4) for s in itertools.product(alphabet(flow), repeat=n)]
    for inputs in sequences:
        assert calls.run(wanted.xml, dialect, inputs).outcome() == _expected(flow, inputs), inputs
    assert len(sequences) > 20


def test_the_examples_that_compile() -> None:
    assert [(p.stem, d) for p, d in COMPILES] == [
        ("acme", "current"), ("clinic", "current"), ("quickstart", "current"), ("quickstart", "legacy"),
        ("support", "current"), ("support", "legacy"), ("telphin_guide", "current")]


@SLOW
def test_the_runtime_refuses_unsigned_callbacks_and_unknown_nodes(tmp_path: Path) -> None:
    flow, _ = _flow(HANDMADE[2], tmp_path)
    with _runtime(flow, "current") as url:
        assert httpx.get(f"{url}/opentact/xml?flow=h&node=main&kind=menu").status_code == 401
        from ivrflow.targets.signing import signature

        query = {"flow": "h", "node": "nope", "kind": "menu"}
        answer = httpx.get(f"{url}/opentact/xml", params={**query, "sig": signature("callback-token", query)})
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "unknown_node"
        query = {"flow": "h", "node": "main", "kind": "menu"}
        answer = httpx.get(f"{url}/opentact/xml", params={**query, "sig": signature("callback-token", query),
                                                          "from": "+1555", "tn": NUMBER, "call": "c1"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
        assert validate(answer.content, "current") == []
        bad = httpx.get(f"{url}/opentact/xml", params={**query, "sig": signature("callback-token", query),
                                                       "copy": "9"})
        assert bad.status_code == 401  # `copy` is signed: changing it breaks the signature


@SLOW
def test_the_runtime_takes_the_caller_from_a_posted_call_object(tmp_path: Path) -> None:
    from ivrflow.targets.signing import signature

    flow, _ = _flow('flow f {}\nroute r {\n  when caller "1555*" -> transfer "1"\n  otherwise -> transfer "2"\n}\n',
                    tmp_path)
    with _runtime(flow, "legacy") as url:
        query = {"flow": "f", "node": "r", "kind": "route"}
        signed = {**query, "sig": signature("callback-token", query)}
        posted = httpx.post(f"{url}/opentact/xml", params=signed,
                            json={"uuid": "c1", "from": "15551", "to": "+14155550100", "state": "active"})
        assert posted.status_code == 200 and b"<To>1</To>" in posted.content
        assert b"<To>2</To>" in httpx.get(f"{url}/opentact/xml", params={**signed, "from": "1666"}).content
        assert httpx.post(f"{url}/opentact/xml", params=signed, content=b"[").status_code == 400


# --- deploys over HTTP to the emulator ---------------------------------------------------------

@pytest.fixture
def opentact() -> Iterator[tuple[Opentact, str]]:
    state = Opentact(password="demo")
    with serve_app(opentact_app(state)) as url:
        yield state, url


def _deploy_env(url: str, extra: str = "") -> Environment:
    return _env(BASE + f'base_url = "{url}"\nproduct = 12\nnumbers = ["{NUMBER}"]\n'
                       'voicemail = { sales = "800" }\n' + extra)


def _call(url: str, inputs: list[str]) -> dict[str, Any]:
    answer = httpx.post(f"{url}/_emulator/call", json={"number": NUMBER, "inputs": inputs}).json()
    return {"action": answer["action"], "target": answer["target"]}


@SLOW
def test_first_deploy_then_an_empty_plan_of_reads_then_a_small_change(opentact: tuple[Opentact, str],
                                                                      tmp_path: Path) -> None:
    state, url = opentact
    path = tmp_path / "quickstart.ivr"
    path.write_text((EXAMPLES / "quickstart.ivr").read_text(), encoding="utf-8")
    env = _deploy_env(url)
    stats = deploy_with(target, path, env)
    assert stats.writes == 4  # profile, app, XML, lease
    assert _call(url, ["1"]) == {"action": "transfer", "target": "101"}
    assert _call(url, ["silence"] * 4) == {"action": "transfer", "target": "100"}
    assert plan_with(target, path, env).changes == []
    before = len(state.log)
    assert deploy_with(target, path, env).writes == 0
    assert all(e["method"] == "GET" or e["path"].endswith("/search") for e in state.log[before:])
    path.write_text(path.read_text().replace('press 2 -> transfer "102"', 'press 2 -> transfer "109"'))
    changed = plan_with(target, path, env)
    assert [c.kind for c in changed.changes] == ["call-flow"]
    deploy_with(target, path, env)
    assert _call(url, ["2"]) == {"action": "transfer", "target": "109"}
    env2 = _deploy_env(url, "tech_prefix = 482910\n")
    assert [c.kind for c in plan_with(target, path, env2).changes] == ["profile"]


@SLOW
def test_legacy_dialect_deploys_and_runs(opentact: tuple[Opentact, str], tmp_path: Path) -> None:
    state, url = opentact
    path = tmp_path / "quickstart.ivr"
    path.write_text((EXAMPLES / "quickstart.ivr").read_text(), encoding="utf-8")
    deploy_with(target, path, _deploy_env(url, 'dialect = "legacy"\n'))
    assert next(iter(state.flows.values()))[1] == "legacy"
    assert _call(url, ["7", "silence", "2"]) == {"action": "transfer", "target": "102"}


@SLOW
def test_unmanaged_objects_are_never_touched_and_foreign_numbers_are_refused(opentact: tuple[Opentact, str],
                                                                             tmp_path: Path) -> None:
    state, url = opentact
    theirs = {"uuid": "p-theirs", "name": "sales outbound", "tech_prefix": 111111}
    state.profiles["p-theirs"] = dict(theirs)
    state.apps["a-theirs"] = {"uuid": "a-theirs", "name": "reception", "product": 12,
                              "outbound_voice_profile": "p-theirs"}
    other = state.lease_of("+14155550101")
    assert other is not None
    other["sip_control_app"] = "a-theirs"
    path = tmp_path / "quickstart.ivr"
    path.write_text((EXAMPLES / "quickstart.ivr").read_text(), encoding="utf-8")
    deploy_with(target, path, _deploy_env(url))
    assert state.profiles["p-theirs"] == theirs and state.apps["a-theirs"]["name"] == "reception"
    assert other["sip_control_app"] == "a-theirs"
    env = _deploy_env(url)

    def numbered(number: str) -> Environment:
        return Environment("ot", "ivrflow.toml", {**env.settings, "numbers": [number]}, env.source,
                           environ={"OT_PASSWORD": "demo"})
    with pytest.raises(ConfigError, match="attached to another SIP control app"):
        plan_with(target, path, numbered("+14155550101"))
    with pytest.raises(ConfigError, match="no lease of \\+14155559999"):
        plan_with(target, path, numbered("+14155559999"))
    plan = plan_with(target, path, numbered("+14155550102"))
    assert [(c.kind, c.detail) for c in plan.changes] == [("numbers", ["attach +14155550102", "detach " + NUMBER])]


@SLOW
def test_destroy_removes_the_app_and_profile_ivrflow_made_and_nothing_else(opentact: tuple[Opentact, str],
                                                                          tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    state, url = opentact
    state.profiles["p-theirs"] = {"uuid": "p-theirs", "name": "sales outbound"}
    state.apps["a-theirs"] = {"uuid": "a-theirs", "name": "reception", "product": 12}
    flow_path = tmp_path / "quickstart.ivr"
    flow_path.write_text((EXAMPLES / "quickstart.ivr").read_text(), encoding="utf-8")
    (tmp_path / "ivrflow.toml").write_text(_deploy_env(url).source, encoding="utf-8")
    environ = {"OT_PASSWORD": "demo"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environ.items():
            patch.setenv(key, value)
        assert main(["deploy", str(flow_path), "--env", "ot", "--yes"]) == 0
        assert main(["destroy", str(flow_path), "--env", "ot", "--yes"]) == 0
        capsys.readouterr()
        assert main(["plan", str(flow_path), "--env", "ot"]) == 0
    assert "3 to create" in capsys.readouterr().out
    assert set(state.apps) == {"a-theirs"} and set(state.profiles) == {"p-theirs"}
    assert state.lease_of(NUMBER)["sip_control_app"] is None  # type: ignore[index]


@SLOW
def test_deploys_converge_through_injected_faults(opentact: tuple[Opentact, str], tmp_path: Path) -> None:
    state, url = opentact
    path = tmp_path / "quickstart.ivr"
    path.write_text((EXAMPLES / "quickstart.ivr").read_text(), encoding="utf-8")
    env = _deploy_env(url)
    state.faults = Faults(rate=0.3, kinds=("429", "500", "503", "drop"), seed=7)
    runs = converge(lambda: deploy_with(target, path, env, timeout=2.0))
    state.faults = Faults()
    assert runs < 6
    assert plan_with(target, path, env).changes == []
    assert len([p for p in state.profiles.values() if p["name"] == "ivrflow:quickstart"]) == 1
    assert len([a for a in state.apps.values() if a["name"] == "ivrflow:quickstart"]) == 1
    assert _call(url, ["1"]) == {"action": "transfer", "target": "101"}


@SLOW
def test_the_emulator_refuses_what_opentact_refuses(opentact: tuple[Opentact, str]) -> None:
    _, url = opentact
    assert httpx.get(f"{url}/rest/sip/app").json() == {"success": False, "message": "Unauthorized", "status": 401}
    assert httpx.get(f"{url}/rest/auth", auth=("demo@example.com", "wrong")).status_code == 401
    token = httpx.get(f"{url}/rest/auth", auth=("demo@example.com", "demo")).json()["payload"]["token"]
    headers = {"X-Auth-Token": token}
    bad = httpx.post(f"{url}/rest/profile/outbound_voice", json={"name": "x", "tech_prefix": 99}, headers=headers)
    assert bad.status_code == 400 and "tech_prefix" in bad.json()["message"]
    bad = httpx.post(f"{url}/rest/profile/outbound_voice", json={"name": "x", "filemat": "ogg"}, headers=headers)
    assert bad.status_code == 400
    app = httpx.post(f"{url}/rest/sip/app", json={"name": "a", "product": 12}, headers=headers).json()["payload"]
    refused = httpx.post(f"{url}/rest/sip/app/call/flow/{app['uuid']}", headers=headers,
                         files={"file": ("f.xml", b"<Response><Gather><Bogus/></Gather></Response>")})
    assert refused.status_code == 400 and "Bogus" in refused.json()["message"]
    assert httpx.post(f"{url}/rest/sip/app/{app['uuid']}/tnlease", json={"add": ["nope"]},
                      headers=headers).status_code == 404


@SLOW
def test_a_routed_flow_deployed_to_the_emulator_runs_through_the_runtime_server(opentact: tuple[Opentact, str],
                                                                                 tmp_path: Path) -> None:
    """support.ivr starts with a route: the uploaded XML's Callback reaches
    `ivrflow serve`, which answers with the branch's XML for the caller and the time."""
    _, url = opentact
    flow_path = tmp_path / "support.ivr"
    flow_path.write_text((EXAMPLES / "support.ivr").read_text(), encoding="utf-8")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "welcome.wav").write_bytes((EXAMPLES / "prompts" / "welcome.wav").read_bytes())
    flow = load(str(flow_path)).flow
    assert flow is not None
    settings_ = {"voicemail": VOICEMAIL, "prompts_url": "https://m.example"}
    app = create_app(flow, MemoryStore(), Credentials(token="callback-token"), webhooks=targets.webhooks(),
                     settings=settings_, accept_test_clock=True)
    with serve_app(app) as runtime:
        env = _env(BASE + f'base_url = "{url}"\nproduct = 12\nnumbers = ["{NUMBER}"]\nruntime_url = "{runtime}"\n'
                          'prompts_url = "https://m.example"\nvoicemail = { support = "801", invoices = "802" }\n')
        env = Environment("ot", "ivrflow.toml", env.settings, env.source,
                          environ={"OT_PASSWORD": "demo", "IVRFLOW_CALLBACK_TOKEN": "callback-token"})
        deploy_with(target, flow_path, env)
        assert plan_with(target, flow_path, env).changes == []

        def call(inputs: list[str], clock: str, caller: str | None = None) -> dict[str, Any]:
            body: dict[str, Any] = {"number": NUMBER, "inputs": inputs, "clock": clock}
            if caller:
                body["caller"] = caller
            return httpx.post(f"{url}/_emulator/call", json=body, timeout=20).json()

        monday = "2026-11-23 10:00"
        assert call(["2", "1"], monday)["target"] == "301"
        assert call(["3", "2"], monday)["target"] == "802"
        assert call(["3", "*", "1"], monday)["target"] == "201"  # back to main: a Callback for the loop
        assert call([], "2026-11-28 14:00")["target"] == "801"  # closed: voicemail "support"
        partner = call([], "2026-11-23 03:00", "+442079012345")
        assert partner["target"] == "250" and partner["fetched"] == 1


def test_a_large_flow_stays_small_and_shallow_by_fetching_from_the_runtime(tmp_path: Path) -> None:
    """200 menus in a ring, each with a retry: nesting every submenu in every
    copy would grow without bound; past a budget and a depth the XML fetches the rest."""
    lines = ["flow big {}", 'prompt hi say "Hi"']
    for i in range(200):
        lines += [f"menu m{i} {{", "  play hi", "  retries 1", '  press 1 -> transfer "100"',
                  f"  press 2 -> goto m{(i + 1) % 200}", "  on invalid -> repeat", "}"]
    flow, _ = _flow("\n".join(lines) + "\n", tmp_path)
    env = {"has_env": True, "runtime_url": "https://ivr.example", "callback_token_value": "k"}
    for dialect in DIALECTS:
        wanted = compile_flow(flow, env, dialect_name=dialect)
        assert not [d for d in wanted.diagnostics if d.severity.name == "ERROR"]
        assert validate(wanted.xml, dialect) == [] and len(wanted.xml) < 400_000
        assert calls.run(wanted.xml, dialect, ["2", "2", "1"]).outcome() == {"action": "transfer", "target": "100"}


def test_the_schema_refuses_a_document_nested_too_deep() -> None:
    deep = b"<Response>" + b"<Gather><Default>" * 300 + b"<Hangup/>" + b"</Default></Gather>" * 300 + b"</Response>"
    assert any("nests deeper" in p for p in validate(deep, "current"))


@SLOW
@hypothesis_settings(max_examples=int(os.environ.get("IVRFLOW_RANDOM_FLOWS", "12")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(source=flows(), dialect=st.sampled_from(DIALECTS))
def test_random_flows_run_on_opentact_as_on_the_machine(source: str, dialect: str) -> None:
    """Random flows (keys, handlers with prompts, repeats, gotos, voicemail):
    every key sequence to depth 3 through the XML and the runtime's Callbacks."""
    from ivrflow.compiler import check_source

    checked = check_source(source, "random.ivr")
    assume(checked.flow is not None and checked.errors == 0)
    assert checked.flow is not None
    assume(not [d for d in compile_flow(checked.flow, {}, dialect_name=dialect).diagnostics
                if d.severity.name == "ERROR"])
    assert _check_all(checked.flow, dialect)[0] > 0


# --- the second edition: flows the runtime serves from the start --------------------------------

#: examples/bank.ivr's lookup service (tests/bank_service.py), mounted in the runtime's HTTP client.
BANK_HOST = "bank.example.com"
SERVED_VOICEMAIL = {**VOICEMAIL, "100": "+15550100", "200": "+15550200", "201": "+15550201"}
#: A flow of the second edition the legacy dialect carries too (no collect, no `transfer … else`):
#: variables (with text that needs escaping) from a route on the number dialled, a lookup,
#: conditions, languages, play first/again, replay, separate counters, a key range and a pattern.
SERVED_FLOW = '''flow h "Hostile <&> \\"label\\"" {
    language en-US
    languages en-US, es-US
    start entry
}
prompt hi {
    en-US say "Hi <you> & \\"friends\\", {name}!"
    es-US say "Hola señor {name}, ¿qué tal?"
}
prompt menu_p say "Menu for {caller}: press 1, 3, 9, 20 to 23 or 5 and a digit."
prompt again_p say "Again & again."
route entry {
    when called "1800*******" -> set name = "VIP <&> \\"q\\" ñ", set account = "55555555", goto main
    otherwise -> set account = "12345678", goto main
}
menu main {
    play hi first
    play menu_p
    play again_p again
    end-key "#"
    retries timeout 1 invalid 2
    press 1 -> goto look
    press 3 -> replay
    press 9 -> set language es-US, replay
    press 20-23 -> transfer "{key}"
    press "5X" -> transfer "9{key}"
    on timeout -> repeat
    on invalid -> repeat
    on exhausted -> hangup
}
lookup look "https://bank.example.com/balance" {
    send account
    receive balance, status
    on done -> goto by_status
    on error -> hangup
}
route by_status {
    when status == "ok" and balance < 0 -> play hi, transfer "300"
    when name is set -> transfer "{name}"
    otherwise -> transfer "400"
}
'''


def _served_alphabet(flow: ir.Flow) -> list[str]:
    """An entry for each key, range and pattern, one no menu takes, a whole
    and a short entry for each collect, a failed transfer, and silence."""
    found: list[str] = []
    for menu in flow.menus:
        for press in menu.presses:
            found.append(press.key.partition("-")[0] if press.kind == "range" else
                         press.key.replace("X", "1").replace("N", "2").replace("Z", "3"))
    found.append(next(k for k in "7985*0#" if all(m.press_for(k) is None for m in flow.menus)))
    for node in flow.definitions:
        if isinstance(node, ir.Collect):
            low, high = node.digits_range
            found += ["1234567890123456"[:max(low, min(high, 8))] + (node.end_key or ""),
                      "12" + (node.end_key or "")]
    if any(isinstance(h.actions.terminal, ir.Transfer) and h.actions.terminal.fallback is not None
           for h in flow.handlers):
        found.append("no-answer")
    return [*dict.fromkeys(found), "silence"]


def _served_expected(flow: ir.Flow, inputs: tuple[str, ...], line: Line) -> dict[str, Any] | None:
    """How `simulate` ends the call, each lookup answered as the bank's
    service answers it; None when the inputs cannot happen (a failed
    transfer while the call waits for keys)."""
    events = [TransferFailed(i) if i in TRANSFER_REASONS else Silence() if i == "silence" else Keys(i)  # type: ignore[arg-type]
              for i in inputs]
    answers: list[tuple[str, Any]] = []
    try:
        while True:
            record, _ = run_call(flow, events, line, lookups=answers)
            if record.waiting_lookup is None:
                break
            wanted = next(e for e in reversed(record.effects) if isinstance(e, LookupService))
            answer = balance_of(str(wanted.payload["variables"].get("account", "0")))  # type: ignore[union-attr]
            answers.append((wanted.lookup, answer if isinstance(answer, dict) else None))
    except MisplacedInput:
        return None
    outcome = outcome_of(record.call)
    if outcome.action == "voicemail":
        return {"action": "transfer", "target": SERVED_VOICEMAIL[outcome.target or "default"]}
    if outcome.action == "waiting":
        return {"action": "waiting", "target": None}
    return outcome.to_dict()


@contextlib.contextmanager
def _served_runtime(flow: ir.Flow, dialect: str) -> Iterator[tuple[str, BankService]]:
    """`ivrflow serve` for `flow` under uvicorn, the bank's lookup service behind its host."""
    bank = BankService()
    http = httpx.AsyncClient(mounts={f"all://{BANK_HOST}": httpx.ASGITransport(app=bank.app())})
    app = create_app(flow, MemoryStore(), Credentials(token="callback-token"), webhooks=targets.webhooks(),
                     settings={"voicemail": SERVED_VOICEMAIL, "dialect": dialect, "prompts_url": "https://m.example"},
                     accept_test_clock=True, http=http)
    with serve_app(app) as url:
        yield url, bank


def _served_caller(client: httpx.Client, dialect: str) -> tuple[calls.Fetch, calls.Post]:
    """The interpreter's GET and POST to the runtime: every answer must be valid XML of the dialect."""
    def checked(answer: httpx.Response) -> bytes:
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/xml")
        assert validate(answer.content, dialect) == [], answer.text
        return answer.content

    return (lambda url: checked(client.get(url))), (lambda url, body: checked(client.post(url, json=dict(body))))


def _check_served(flow: ir.Flow, dialect: str, lines: list[tuple[str, str | None, int]]) -> int:
    """Every key sequence (to the depth given per moment and number dialled)
    through the runtime's answers, against `simulate`: how many calls."""
    count = 0
    with _served_runtime(flow, dialect) as (url, _):
        wanted = compile_flow(flow, {"voicemail": SERVED_VOICEMAIL, "has_env": True, "prompts_url": "https://m.example",
                                     "runtime_url": url, "callback_token_value": "callback-token"},
                              dialect_name=dialect)
        assert not [d for d in wanted.diagnostics if d.severity.name == "ERROR"], wanted.diagnostics
        assert wanted.xml == b"" and wanted.call_flow_url is not None
        for clock, called, depth in lines:
            with httpx.Client(headers={"X-Ivrflow-Clock": clock}, timeout=10) as client:
                fetch, post = _served_caller(client, dialect)
                alphabet_ = _served_alphabet(flow)
                for inputs in (s for n in range(depth + 1) for s in itertools.product(alphabet_, repeat=n)):
                    expected = _served_expected(flow, inputs, Line(parse_clock(clock), None, called))
                    if expected is None:
                        continue
                    call = {"call": f"call-{count}", "tn": called or "", "sca": "app-1"}
                    got = calls.run_served(wanted.call_flow_url, inputs, fetch, post, call)
                    assert got.outcome() == expected, (dialect, clock, called, inputs)
                    count += 1
    return count


OPEN, LATE = "2026-11-23 10:00", "2026-11-23 17:30"  # a Monday: the bank is open, then closed


def _called_numbers(flow: ir.Flow) -> list[str]:
    """A number each `called` condition of the flow takes, and one none does."""
    found: list[str] = []

    def walk(condition: Any) -> None:
        if isinstance(condition, ir.CalledIs):
            found.append(condition.mask.split(";")[0].split("-")[0].replace("*", "5"))
        for inner in [*getattr(condition, "items", ()), getattr(condition, "inner", None)]:
            if inner is not None:
                walk(inner)
    for route in flow.routes:
        for branch in route.branches:
            if isinstance(branch, ir.When):
                walk(branch.condition)
    return ["18005550100", *dict.fromkeys(found)]


#: (example, dialect) for each example of the second edition that compiles in the dialect.
SERVED_EXAMPLES = [(p, d) for p in EXAMPLE_FLOWS if p not in PLATFORM_FLOWS for d in DIALECTS if _compiles(p, d)]


def test_the_second_edition_examples_that_compile() -> None:
    """The legacy dialect refuses both (collect, `transfer … else`: their golden .refused.txt say why)."""
    assert [(p.stem, d) for p, d in SERVED_EXAMPLES] == [("bank", "current"), ("bilingual", "current")]


@SLOW
@pytest.mark.parametrize(("path", "dialect"), SERVED_EXAMPLES, ids=[f"{p.stem}-{d}" for p, d in SERVED_EXAMPLES])
def test_second_edition_examples_run_through_the_runtime_as_the_machine_says(path: Path, dialect: str) -> None:
    """Every key sequence to depth 3 (the bank's lookup answered by its
    service; open hours; a number no `called` condition takes), and to depth
    1 after hours and for each number a `called` condition takes."""
    flow = load(str(path)).flow
    assert flow is not None
    plain, *others = _called_numbers(flow)
    lines = [(OPEN, plain, 3), (LATE, plain, 1), *[(OPEN, number, 1) for number in others]]
    assert _check_served(flow, dialect, lines) > 300


@SLOW
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_second_edition_flow_runs_in_both_dialects_as_the_machine_says(dialect: str, tmp_path: Path) -> None:
    flow, _ = _flow(SERVED_FLOW, tmp_path)
    assert _check_served(flow, dialect, [(OPEN, "18005550100", 3), (OPEN, "5550100", 3)]) > 400


@SLOW
@pytest.mark.parametrize("dialect", DIALECTS)
def test_variables_with_markup_and_accents_are_spoken_as_written(dialect: str, tmp_path: Path) -> None:
    flow, _ = _flow(SERVED_FLOW, tmp_path)
    with _served_runtime(flow, dialect) as (url, bank), httpx.Client(headers={"X-Ivrflow-Clock": OPEN}) as client:
        wanted = compile_flow(flow, {"has_env": True, "runtime_url": url, "callback_token_value": "callback-token"},
                              dialect_name=dialect)
        assert wanted.call_flow_url is not None
        fetch, post = _served_caller(client, dialect)
        got = calls.run_served(wanted.call_flow_url, ["9", "1"], fetch, post,
                               {"call": "c-1", "tn": "18005550100", "from": "+1 <555> & 'x'"})
        assert got.outcome() == {"action": "transfer", "target": "300"}  # balance -12.50
        assert got.heard[:3] == ['say:Hi <you> & "friends", VIP <&> "q" ñ!',
                                 "say:Menu for +1 <555> & 'x': press 1, 3, 9, 20 to 23 or 5 and a digit.",
                                 "say:Menu for +1 <555> & 'x': press 1, 3, 9, 20 to 23 or 5 and a digit."]
        assert got.heard[-1] == "say:Hola señor VIP <&> \"q\" ñ, ¿qué tal?"
        assert bank.requests[-1]["variables"]["account"] == "55555555"
        got = calls.run_served(wanted.call_flow_url, ["3", "22"], fetch, post, {"call": "c-2", "tn": "18005550100"})
        assert got.outcome() == {"action": "transfer", "target": "22"}
        assert got.heard[-1] == "say:Again & again."  # `again`: only when the menu runs again


def test_the_legacy_dialect_says_what_it_cannot_carry(tmp_path: Path) -> None:
    """collect, `transfer … else`, dial-extensions and a wide pattern need what
    the legacy Gather and Dial lack: IVR205 at each, with the reason."""
    flow, _ = _flow('flow f {\n  languages en-US, es-US\n}\nmenu main {\n  press 1 -> goto c\n'
                    '  press 2 -> transfer "1" ring 20s else hangup\n  press "7XXX" -> transfer "{key}"\n}\n'
                    'collect c {\n  digits 4\n  on done -> transfer "{c}"\n}\n'
                    'menu ext {\n  dial-extensions\n  press 1 -> hangup\n}\n', tmp_path)
    legacy = [d for d in compile_flow(flow, {}, dialect_name="legacy").diagnostics if d.code == "IVR205"]
    assert sorted((d.span.line, d.message[:30]) for d in legacy) == [
        (6, "`transfer … else` needs to kno"), (7, "menu `main` takes more than 20"),
        (9, "`collect c` keys in a value th"), (13, "menu `ext` dials the extension")]
    assert all("sends no keys" in d.message or "no <Error> in a <Dial>" in d.message for d in legacy)
    current = compile_flow(flow, {}, dialect_name="current").diagnostics
    assert not [d for d in current if d.severity.name == "ERROR"]
    assert [d.span.line for d in current if d.code == "IVR206" and "ring" in d.message] == [6]


@SLOW
def test_the_runtime_refuses_calls_it_does_not_know_and_entries_that_are_not_keys(tmp_path: Path) -> None:
    flow, _ = _flow(SERVED_FLOW, tmp_path)
    with _served_runtime(flow, "current") as (url, _):
        wanted = compile_flow(flow, {"has_env": True, "runtime_url": url, "callback_token_value": "callback-token"})
        start = str(wanted.call_flow_url)
        assert httpx.post(start.replace("sig=", "sig=0"), json={"uuid": "u1"}).status_code == 401
        assert httpx.post(start, json={}).json()["error"]["code"] == "no_call"
        first = httpx.post(start, json={"uuid": "u1", "tn": "5550100"})
        gather = ET.fromstring(first.content).find("Gather")
        assert gather is not None
        step_url = gather.get("url", "")

        def send(url: str, **extra: str) -> httpx.Response:  # the platform adds its fields to the URL's query
            return httpx.get(f"{url}&{urllib.parse.urlencode(extra)}")

        assert send(step_url, call="nobody", dtmf="1").status_code == 404
        assert send(step_url, call="u1", dtmf="1<x>").json()["error"]["code"] == "bad_dtmf"
        assert send(step_url.replace("node=main", "node=look"), call="u1", dtmf="1").status_code == 401
        elsewhere = {"flow": "h", "kind": "call", "node": "look"}
        signed = urllib.parse.urlencode({**elsewhere, "sig": signature("callback-token", elsewhere)})
        elsewhere_url = f"{url}/opentact/xml?{signed}"
        assert send(elsewhere_url, call="u1", dtmf="1").json()["error"]["code"] == "stale"
        done = send(step_url, call="u1", dtmf="22")
        assert b"<To>22</To>" in done.content
        assert send(step_url, call="u1", dtmf="1").status_code == 404  # the call is over


@SLOW
def test_a_served_flow_deploys_with_a_call_flow_url_and_runs_through_the_emulator(opentact: tuple[Opentact, str],
                                                                                  tmp_path: Path) -> None:
    """bank.ivr: the app gets call_flow_url (POST) and no static XML; a call
    to the number goes from the emulator to `ivrflow serve`, which looks the
    balance up and answers each step."""
    state, url = opentact
    for name in ("bank.ivr", "common.ivr"):
        (tmp_path / name).write_text((EXAMPLES / name).read_text(), encoding="utf-8")
    flow = load(str(tmp_path / "bank.ivr")).flow
    assert flow is not None
    with _served_runtime(flow, "current") as (runtime, bank):
        env = _env(BASE + f'base_url = "{url}"\nproduct = 12\nnumbers = ["{NUMBER}"]\nruntime_url = "{runtime}"\n'
                          'voicemail = { "100" = "+15550100", "200" = "+15550200" }\n')
        env = Environment("ot", "ivrflow.toml", env.settings, env.source,
                          environ={"OT_PASSWORD": "demo", "IVRFLOW_CALLBACK_TOKEN": "callback-token"})
        stats = deploy_with(target, tmp_path / "bank.ivr", env)
        assert stats.writes == 3  # profile, app (with its call_flow_url), lease: no XML
        app = next(iter(state.apps.values()))
        assert app["call_flow_method"] == "POST" and app["call_flow_url"].startswith(f"{runtime}/opentact/xml?")
        assert state.flows == {}
        assert plan_with(target, tmp_path / "bank.ivr", env).changes == []

        def call(inputs: list[str]) -> dict[str, Any]:
            return httpx.post(f"{url}/_emulator/call", json={"number": NUMBER, "inputs": inputs, "clock": OPEN},
                              timeout=20).json()

        assert call(["1", "55555555#"])["target"] == "260"
        assert bank.requests[-1]["variables"]["account"] == "55555555"
        assert call(["0", "busy"])["target"] == "+15550200"  # transfer … else voicemail "200"
        assert call(["1005"])["target"] == "1005"


@SLOW
def test_a_flow_that_becomes_served_drops_its_xml_and_back(opentact: tuple[Opentact, str], tmp_path: Path) -> None:
    """A `set` makes a flow of the second edition: the next deploy gives the
    app its call_flow_url and deletes the static XML; taking it out uploads
    the XML again and clears the URL."""
    state, url = opentact
    path = tmp_path / "f.ivr"
    static = 'flow f {}\nprompt p say "Hi"\nmenu main {\n  play p\n  press 1 -> transfer "101"\n}\n'
    path.write_text(static, encoding="utf-8")
    env = _deploy_env(url, 'runtime_url = "https://ivr.example"\ninsecure_callbacks = true\n')
    deploy_with(target, path, env)
    app = next(iter(state.apps.values()))
    assert app["uuid"] in state.flows and not app.get("call_flow_url")
    path.write_text(static.replace('-> transfer "101"', '-> set x = "1", transfer "10{x}"'), encoding="utf-8")
    assert [(c.kind, c.op) for c in plan_with(target, path, env).changes] == [("app", "update"),
                                                                               ("call-flow", "delete")]
    deploy_with(target, path, env)
    assert app["uuid"] not in state.flows and app["call_flow_method"] == "POST"
    assert app["call_flow_url"].startswith("https://ivr.example/opentact/xml?flow=f&kind=call")
    assert plan_with(target, path, env).changes == []
    path.write_text(static, encoding="utf-8")
    deploy_with(target, path, env)
    assert app["uuid"] in state.flows and app["call_flow_url"] is None
    assert _call(url, ["1"]) == {"action": "transfer", "target": "101"}


@SLOW
def test_bank_calls_alternate_between_two_servers_sharing_redis(tmp_path: Path) -> None:
    """Two `ivrflow serve` processes (an Opentact environment, sessions in
    Redis): each request of a call goes to the other server, so the call's
    state (variables, language, counters) lives only in the stored session."""
    from .test_mediaservice_second_edition import bank_copy, bank_service_process

    with bank_service_process() as lookup_url:
        flow = bank_copy(tmp_path, lookup_url, lookup_timeout="15s")
        (tmp_path / "ivrflow.toml").write_text(
            BASE + 'base_url = "https://api.opentact.example"\ndialect = "current"\n'
                   'voicemail = { "100" = "+15550100", "200" = "+15550200" }\n', encoding="utf-8")
        with redis_server() as redis_url:
            env = {"IVRFLOW_CALLBACK_TOKEN": "callback-token", "OT_PASSWORD": "demo"}
            args = ("--env", "ot", "--sessions", redis_url, "--insecure")  # --insecure: the test clock header
            with ivrflow_serve(tmp_path / "bank.ivr", *args, env=env) as (first, _), \
                    ivrflow_serve(tmp_path / "bank.ivr", *args, env=env) as (second, _):
                servers = [first, second]
                wanted = compile_flow(flow, {"has_env": True, "runtime_url": first,
                                             "callback_token_value": "callback-token"})
                used: list[str] = []

                def other(url: str) -> str:  # the request goes to the server that did not answer last
                    server = servers[len(used) % 2]
                    used.append(server)
                    return server + url[len(first if url.startswith(first) else second):]

                with httpx.Client(headers={"X-Ivrflow-Clock": OPEN}, timeout=20) as client:
                    fetch, post = _served_caller(client, "current")
                    for number, (inputs, expected) in enumerate([
                            (["9", "1", "12345678#"], {"action": "waiting", "target": None}),
                            (["1", "55555555#"], {"action": "transfer", "target": "260"}),
                            (["5", "6", "silence", "silence", "silence"], {"action": "transfer", "target": "200"}),
                            (["0", "busy"], {"action": "transfer", "target": "+15550200"})]):
                        got = calls.run_served(str(wanted.call_flow_url), inputs, lambda url: fetch(other(url)),
                                               lambda url, body: post(other(url), body),
                                               {"call": f"redis-{number}", "tn": "18005550100"})
                        assert got.outcome() == expected, inputs
                        if number == 0:
                            assert "say:Su saldo es 42.10 dólares." in got.heard
                assert first in used and second in used
            import redis

            store = redis.Redis.from_url(redis_url)
            try:  # the calls that ended left nothing; the one still in the menu waits there
                assert [k.decode() for k in store.keys("ivrflow:session:*")] == ["ivrflow:session:redis-0"]
            finally:
                store.close()
