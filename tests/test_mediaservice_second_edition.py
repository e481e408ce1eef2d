"""The second edition on the mediaservice, differentially: examples/bank.ivr
and examples/bilingual.ivr run in the runtime server (the app `ivrflow
serve` runs) against the platform's stand-in, which collects keys with the
dtmf block and makes transfers busy, unanswered or failed as the platform
reports them; a local lookup service answers by account number. Every call
must end as the machine says, with the same path, the same spoken text in
the same voices, and the same variables sent to the lookup service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from ivrflow import targets
from ivrflow.compiler import ir
from ivrflow.compiler.machine import (
    TRANSFER_REASONS,
    Call,
    Keys,
    Line,
    LookupService,
    Play,
    Ring,
    Silence,
    TransferFailed,
    outcome_of,
)
from ivrflow.compiler.simulate import run_call
from ivrflow.loader import load
from ivrflow.runtime.app import create_app
from ivrflow.runtime.clock import parse_clock
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.sessions import MemoryStore
from ivrflow.targets.capabilities import unsupported
from ivrflow.targets.mediaservice.emulator import Platform, Transcript, drive_call, platform_app
from ivrflow.targets.mediaservice.protocol import PATH_HEADER, POLLY_VOICES, TRACE_HEADER, polly_language
from ivrflow.targets.mediaservice.target import TARGET

from .bank_service import BankService, balance_of
from .conftest import EXAMPLES, ROOT
from .servers import call_client, free_port, ivrflow_serve, redis_server, serve_app

pytestmark = pytest.mark.slow  # end to end: emulator, runtime and lookup service over real HTTP

TOKEN = "ms-second-edition-token-7"
API_BEARER = "ms-second-edition-api-bearer-3"
BANK_URL = "https://bank.example.com/balance"
CALLER = "+15551230000"


# --- the bank's lookup service -----------------------------------------------------------------

def machine_answer(effect: LookupService) -> Mapping[str, str] | None:
    """The LookupResult the machine is given for the same request."""
    answer = balance_of(str(effect.payload["variables"].get("account", "0")))
    return answer if isinstance(answer, dict) else None


# --- the machine, as simulate runs it --------------------------------------------------------

@dataclass
class Expected:
    call: Call
    path: list[dict[str, Any]]
    plays: list[Play]
    lookups: list[dict[str, Any]]
    rings: list[Ring]


def machine_call(flow: ir.Flow, inputs: list[str], line: Line) -> Expected:
    """The call as `simulate` runs it (compiler.simulate.run_call): keys and
    silences while it waits, a transfer's fate while it rings, each lookup
    answered as the service answers the request the machine makes."""
    events = [TransferFailed(item) if item in TRANSFER_REASONS else Silence() if item == "silence" else Keys(item)
              for item in inputs]  # type: ignore[arg-type]
    answers: list[tuple[str, Mapping[str, str] | None]] = []
    while True:  # run again with one more lookup answered, until none is left waiting
        record, _ = run_call(flow, events, line, lookups=answers)
        if record.waiting_lookup is None:
            break
        wanted = next(e for e in reversed(record.effects) if isinstance(e, LookupService))
        answers.append((wanted.lookup, machine_answer(wanted)))
    return Expected(
        record.call,
        [{"node": v.node, "event": v.event, "played": list(v.played), "keys": v.keys} for v in record.path],
        [e for e in record.effects if isinstance(e, Play)],
        [dict(e.payload) for e in record.effects if isinstance(e, LookupService)],
        [e for e in record.effects if isinstance(e, Ring)])


# --- servers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[Platform, str]]:
    platform = Platform(token=API_BEARER)
    with serve_app(platform_app(platform)) as url:
        yield platform, url + "/mediaservice"


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[BankService, str]]:
    lookups = BankService()
    with serve_app(lookups.app()) as url:
        yield lookups, url + "/balance"


def bank_copy(folder: Path, lookup_url: str, lookup_timeout: str = "3s") -> ir.Flow:
    """examples/bank.ivr (and the common.ivr it includes) with the lookup
    pointed at the local service (and given `lookup_timeout`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "common.ivr").write_text((EXAMPLES / "common.ivr").read_text())
    text = (EXAMPLES / "bank.ivr").read_text()
    timeout = "    timeout 3s\n    on done -> goto by_status"  # the lookup's
    assert BANK_URL in text and timeout in text
    text = text.replace(timeout, timeout.replace("3s", lookup_timeout))
    (folder / "bank.ivr").write_text(text.replace(BANK_URL, lookup_url))
    return flow_at(folder / "bank.ivr")


def flow_at(path: Path) -> ir.Flow:
    result = load(str(path))
    assert result.flow is not None
    return result.flow


def runtime(flow: ir.Flow, api: str, **values: Any) -> Starlette:
    return create_app(flow, MemoryStore(), Credentials(token=TOKEN), settings={"base_url": api, **values},
                      webhooks=targets.webhooks(), api_token=lambda: API_BEARER, accept_test_clock=True)


def drive(platform: Platform, url: str, api: str, inputs: list[str], *, called: str, clock: str,
          caller: str | None = None, dtmf: str = "seed") -> Transcript:
    async def run() -> Transcript:
        async with httpx.AsyncClient(timeout=30) as client:
            return await drive_call(client, [url + "/mediaservice"], platform, api, inputs, token=TOKEN,
                                    called=called, caller=caller or CALLER, clock=clock, dtmf=dtmf)
    return asyncio.run(run())


def spoken(transcript: Transcript) -> list[tuple[str, str, str]]:
    return [(p["awsTTSParameters"]["Text"], p["awsTTSParameters"].get("LanguageCode"),
             p["awsTTSParameters"]["VoiceId"]) for p in transcript.phrases if p.get("format") == "awstts"]


def assert_same_call(flow: ir.Flow, transcript: Transcript, expected: Expected, lookups: list[dict[str, Any]]) -> None:
    """The call through the platform ends as the machine says, on the same
    path, saying the same words in the same languages' voices, sending the
    same variables to the lookup service, ringing for the same time."""
    assert transcript.outcome == outcome_of(expected.call)
    assert transcript.path == expected.path
    wanted = []
    for play in expected.plays:
        language = polly_language(play.language or flow.language or "en-US")
        assert language is not None and play.text is not None
        wanted.append((play.text, language, POLLY_VOICES[language][0]))
    assert spoken(transcript) == wanted
    assert [{k: v for k, v in r.items() if k != "call"} for r in lookups] == expected.lookups
    rings = [c for c in transcript.calls if c["maxRingTime"] is not None]
    assert [(c["destAddr"].split(":", 1)[1].split("@")[0], c["maxRingTime"]) for c in rings] == \
        [(r.destination, r.ring_ms / 1000) for r in expected.rings]


# --- bank.ivr ----------------------------------------------------------------------------------

OPEN, LATE = "2026-11-23 10:00", "2026-11-23 17:30"  # a Monday: open, then closed
BANK_CALLS = [  # (name, called, clock, inputs)
    ("balance in Spanish", "18005550100", OPEN, ["9", "1", "12345678#"]),
    ("ten keys end the number without the end key", "ivr", OPEN, ["1", "1234567890"]),
    ("a number too short, then a negative balance", "ivr", OPEN, ["1", "1234#", "55555555#"]),
    ("a number ended by the inter-digit wait", "ivr", OPEN, ["1", "2468024"]),
    ("the end key alone is an empty, invalid number", "ivr", OPEN, ["1", "#", "12345678#"]),
    ("a blocked account", "ivr", OPEN, ["1", "87654321#"]),
    ("the service fails: HTTP 500", "ivr", OPEN, ["1", "99999999#"]),
    ("the service answers without a received name", "ivr", OPEN, ["1", "44444444#"]),
    ("the service answers what is not JSON", "ivr", OPEN, ["1", "33333333#"]),
    ("an entry ended by the end key in the menu", "ivr", OPEN, ["1#", "12345678#"]),
    ("the end key alone in the menu is invalid", "ivr", OPEN, ["#", "5", "1005"]),
    ("card services go straight through", "18005550199", LATE, []),
    ("after hours: a message", "ivr", LATE, []),
    ("a range of extensions", "ivr", OPEN, ["1005"]),
    ("a pattern of extensions", "ivr", OPEN, ["7123"]),
    ("the agents answer", "ivr", OPEN, ["0"]),
    ("the agents are busy", "ivr", OPEN, ["0", "busy"]),
    ("nobody answers the agents", "ivr", OPEN, ["0", "no-answer"]),
    ("the transfer to the agents fails", "ivr", OPEN, ["0", "failed"]),
    ("in Spanish, nobody answers", "ivr", OPEN, ["9", "0", "no-answer"]),
    ("silence and wrong keys are counted apart", "ivr", OPEN, ["5", "6", "silence", "silence", "silence"]),
    ("wrong keys run out", "ivr", OPEN, ["5", "6", "55", "5"]),
    ("the collect's retries run out on silence", "ivr", OPEN, ["1", "silence", "silence", "silence"]),
    ("the collect's retries run out on short numbers", "ivr", OPEN, ["1", "12#", "34#", "56#"]),
    ("back to the menu after the balance, then an agent", "ivr", OPEN, ["1", "24681357#", "0", "busy"]),
]


@pytest.mark.parametrize(("called", "clock", "inputs"), [c[1:] for c in BANK_CALLS], ids=[c[0] for c in BANK_CALLS])
def test_bank_calls_end_as_the_machine_says(emulator: tuple[Platform, str], service: tuple[BankService, str],
                                           tmp_path: Path, called: str, clock: str, inputs: list[str]) -> None:
    platform, api = emulator
    lookups, lookup_url = service
    flow = bank_copy(tmp_path, lookup_url)
    expected = machine_call(flow, inputs, Line(parse_clock(clock), CALLER, called))
    before = len(lookups.requests)
    with serve_app(runtime(flow, api)) as url:
        transcript = drive(platform, url, api, inputs, called=called, clock=clock)
    assert_same_call(flow, transcript, expected, lookups.requests[before:])


def test_keys_in_the_buffer_alone_end_the_same(emulator: tuple[Platform, str], service: tuple[BankService, str],
                                              tmp_path: Path) -> None:
    """dtmfBuffer with the termination key in it, no dtmfParams: the same call."""
    platform, api = emulator
    lookups, lookup_url = service
    flow = bank_copy(tmp_path, lookup_url)
    inputs = ["1#", "1234#", "12345678#"]
    expected = machine_call(flow, inputs, Line(parse_clock(OPEN), CALLER, "ivr"))
    before = len(lookups.requests)
    with serve_app(runtime(flow, api)) as url:
        transcript = drive(platform, url, api, inputs, called="ivr", clock=OPEN, dtmf="buffer")
    assert_same_call(flow, transcript, expected, lookups.requests[before:])


def test_collect_and_menu_ask_for_their_digits_end_key_and_timeouts(emulator: tuple[Platform, str],
                                                                    service: tuple[BankService, str],
                                                                    tmp_path: Path) -> None:
    _, api = emulator
    flow = bank_copy(tmp_path, service[1])
    blocks: list[dict[str, Any]] = []

    async def run(url: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "X-Ivrflow-Clock": OPEN}
        async with httpx.AsyncClient(base_url=url + "/mediaservice", headers=headers) as client:
            await client.post("/newCall", json={"sessionId": "s-dtmf", "calledParty": "ivr"})
            for body in ({"sessionId": "s-dtmf"}, {"sessionId": "s-dtmf", "dtmfBuffer": "1"}):
                command = (await client.post("/getIvrCommand", json=body)).json()
                blocks.append(command["dtmf"])

    with serve_app(runtime(flow, api)) as url:
        asyncio.run(run(url))
    assert blocks == [
        {"flush": True, "maxDigits": 4, "firstTimeout": 6.0, "betweenTimeout": 2.0, "terminationKey": "#"},  # main
        {"flush": True, "maxDigits": 10, "firstTimeout": 8.0, "betweenTimeout": 3.0, "terminationKey": "#"},  # account
    ]


# --- bilingual.ivr -----------------------------------------------------------------------------

LIBRARY_CALLS = [  # (name, called, inputs)
    ("calls start in English", "ivr", ["2"]),
    ("9 switches to Spanish", "ivr", ["9"]),
    ("8 goes back to English", "ivr", ["9", "8"]),
    ("the Spanish line starts in Spanish", "18005550142", ["0"]),
    ("opening hours in Spanish, then the menu again", "ivr", ["9", "1", "1"]),
    ("the English desk answers", "ivr", ["0"]),
    ("the Spanish desk is busy", "ivr", ["9", "0", "busy"]),
    ("nobody at the English desk", "ivr", ["0", "no-answer"]),
    ("the transfer fails on the Spanish line", "18005550142", ["0", "failed"]),
    ("a wrong key in the caller's language", "ivr", ["9", "5"]),
    ("a silent caller reaches a librarian", "ivr", ["silence", "silence", "silence"]),
    ("a silent caller, and nobody answers", "ivr", ["silence", "silence", "silence", "no-answer"]),
    ("wrong keys run out in Spanish", "ivr", ["9", "5", "6", "7", "busy"]),
]


@pytest.mark.parametrize(("called", "inputs"), [c[1:] for c in LIBRARY_CALLS], ids=[c[0] for c in LIBRARY_CALLS])
def test_bilingual_calls_end_as_the_machine_says(emulator: tuple[Platform, str], called: str,
                                                 inputs: list[str]) -> None:
    platform, api = emulator
    flow = flow_at(EXAMPLES / "bilingual.ivr")
    expected = machine_call(flow, inputs, Line(parse_clock(OPEN), CALLER, called))
    with serve_app(runtime(flow, api)) as url:
        transcript = drive(platform, url, api, inputs, called=called, clock=OPEN)
    assert_same_call(flow, transcript, expected, [])


# --- what the target declares ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bank.ivr", "bilingual.ivr"])
def test_the_mediaservice_carries_every_construct_of_the_examples(name: str) -> None:
    assert unsupported(TARGET, flow_at(EXAMPLES / name)) == []
    assert all(level != "no" for level, _ in TARGET.capabilities.values())


def test_the_platform_reports_the_failure_the_flow_falls_back_on(emulator: tuple[Platform, str]) -> None:
    """The transfer rings for its `ring` time; the platform's calledPartyFailure runs the `else`."""
    platform, api = emulator
    flow = flow_at(EXAMPLES / "bilingual.ivr")
    with serve_app(runtime(flow, api)) as url:
        transcript = drive(platform, url, api, ["9", "0", "busy"], called="ivr", clock=OPEN)
    assert transcript.calls == [
        {"destAddr": "sip:201@localhost", "maxRingTime": 20.0, "fate": "busy"},
        {"destAddr": "sip:voicemail-201@localhost", "maxRingTime": None, "fate": "answered"},
    ]
    assert transcript.outcome.to_dict() == {"action": "voicemail", "target": "201"}
    assert json.dumps(transcript.path[-1]) == json.dumps(
        {"node": "librarian", "event": 'when language == "es-US" else', "played": [], "keys": "busy"})


def test_an_entry_ended_by_the_end_key_costs_no_inter_digit_wait(emulator: tuple[Platform, str],
                                                                 tmp_path: Path) -> None:
    """Two entries ended by `#`, reported as seed 002's request sample does
    (the keys in dtmfMatch, the termination key apart), within a call of at
    most 15 s: the machine counts no 10 s inter-digit wait for them, so
    max-duration does not run."""
    _, api = emulator
    path = tmp_path / "quick.ivr"
    path.write_text(QUICK)
    flow = flow_at(path)
    expected = machine_call(flow, ["12#", "12#"], Line(parse_clock(OPEN), CALLER, "ivr"))
    assert outcome_of(expected.call).to_dict() == {"action": "waiting", "target": "main"}
    sample = {"dtmfMatch": "12", "reason": "terminationKey", "matchedTerminationKey": "#", "encryption": {}}
    steps: list[dict[str, Any]] = []

    async def run(url: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "X-Ivrflow-Clock": OPEN, TRACE_HEADER: "1"}
        async with httpx.AsyncClient(base_url=url + "/mediaservice", headers=headers) as client:
            await client.post("/newCall", json={"sessionId": "s-quick", "calledParty": "ivr", "callingParty": CALLER})
            await client.post("/getIvrCommand", json={"sessionId": "s-quick"})
            for _ in range(2):
                response = await client.post("/getIvrCommand", json={"sessionId": "s-quick", "dtmfBuffer": None,
                                                                      "dtmfParams": sample})
                assert "dtmf" in response.json()  # still collecting: no transfer
                steps.extend(json.loads(response.headers[PATH_HEADER]))

    with serve_app(runtime(flow, api)) as url:
        asyncio.run(run(url))
    assert steps == expected.path


QUICK = '''flow quick "Quick" {
    language en-US
    max-duration 15s -> transfer "999"
}

prompt ask say "Enter the code, then hash."

menu main {
    play ask
    digits 4
    end-key "#"
    inter-digit 10s
    press 12 -> goto main
    press 1234 -> hangup
    on timeout -> hangup
    on invalid -> hangup
}
'''


DUO = '''flow duo "Duo" {
    language en-US
    languages en-US, es-US
}

prompt hello {
    en-US file "hello-en.wav"
    es-US file "hola.wav"
}

menu main {
    play hello
    press 9 -> set language es-US, replay
    press 1 -> hangup
    on timeout -> hangup
    on invalid -> hangup
}
'''


def test_each_variants_file_is_uploaded_and_played_in_its_language(emulator: tuple[Platform, str],
                                                                    tmp_path: Path) -> None:
    from ivrflow.targets.mediaservice.protocol import platform_file_name
    from ivrflow.targets.mediaservice.target import desired

    platform, api = emulator
    (tmp_path / "hello-en.wav").write_bytes(b"RIFF hello")
    (tmp_path / "hola.wav").write_bytes(b"RIFF hola")
    path = tmp_path / "duo.ivr"
    path.write_text(DUO)
    flow = flow_at(path)
    english = platform_file_name("duo", "hello-en.wav", b"RIFF hello")
    spanish = platform_file_name("duo", "hola.wav", b"RIFF hola")
    assert sorted(desired(flow, str(path), None).files) == sorted([english, spanish])
    with serve_app(runtime(flow, api)) as url:
        transcript = drive(platform, url, api, ["9", "1"], called="ivr", clock=OPEN)
    assert [p["fileName"] for p in transcript.phrases] == [english, spanish]
    assert transcript.outcome.to_dict() == {"action": "hangup", "target": None}


# --- the runtime under Redis -------------------------------------------------------------------

CALLS = 200


def test_200_concurrent_bank_calls_under_redis_keep_their_own_variables(emulator: tuple[Platform, str],
                                                                       tmp_path: Path) -> None:
    """Two `ivrflow serve` processes share Redis; 200 calls at once, their
    callbacks alternating between them, each enter their own account number
    and hear their own balance (which the service derives from it)."""
    platform, api = emulator
    with bank_service_process() as lookup_url:
        # The test is about isolation, on a shared machine of 2 cores: with the
        # example's 3 s, one lookup in 200 once took longer there and took `on error`.
        bank_copy(tmp_path, lookup_url, lookup_timeout="15s")
        transcripts, accounts, sent = _concurrent_calls(platform, api, tmp_path, lookup_url)
    for account, transcript in zip(accounts, transcripts, strict=True):
        answer = balance_of(account)
        assert isinstance(answer, dict)
        texts = [text for text, _, _ in spoken(transcript)]
        assert f"You entered {' '.join(account)}." in texts
        assert f"Your balance is {answer['balance']} dollars." in texts
        assert transcript.outcome.to_dict() == {"action": "waiting", "target": "main"}
    assert sorted(sent) == sorted(accounts)  # one lookup per call, each with its own account


def _concurrent_calls(platform: Platform, api: str, tmp_path: Path,
                      lookup_url: str) -> tuple[list[Transcript], list[str], list[str]]:
    (tmp_path / "ivrflow.toml").write_text(f'[env.live]\ntarget = "mediaservice"\nbase_url = "{api}"\n')
    accounts = [str(20_000_000 + 7919 * number) for number in range(CALLS)]

    async def run(urls: list[str]) -> list[Transcript]:
        async def call(account: str) -> Transcript:
            async with call_client() as client:
                return await drive_call(client, urls, platform, api, ["1", account + "#"], token=TOKEN,
                                        caller=CALLER, called="ivr", clock=OPEN)

        async with asyncio.TaskGroup() as calls:  # a failing call cancels the others, closing their connections
            tasks = [calls.create_task(call(account)) for account in accounts]
        return [task.result() for task in tasks]

    with redis_server() as redis_url:
        env = {"IVRFLOW_CALLBACK_TOKEN": TOKEN}
        args = ("--env", "live", "--sessions", redis_url, "--insecure")
        with ivrflow_serve(tmp_path / "bank.ivr", *args, env=env) as (first, _), \
                ivrflow_serve(tmp_path / "bank.ivr", *args, env=env) as (second, _):
            transcripts = asyncio.run(run([first + "/mediaservice", second + "/mediaservice"]))
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            assert client.keys("ivrflow:session:*") == []  # every caller hung up: no session is left
        finally:
            client.close()
    sent = [r["variables"]["account"] for r in httpx.get(lookup_url.replace("/balance", "/requests")).json()]
    return transcripts, accounts, sent


@contextlib.contextmanager
def bank_service_process() -> Iterator[str]:
    """tests/bank_service.py as its own process; yields its lookup URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.bank_service:app", "--port", str(port),
                                "--log-level", "warning"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/requests", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the bank's service did not start")
            time.sleep(0.05)
        yield url + "/balance"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("name", ["bank.ivr", "bilingual.ivr"])
def test_check_compile_plan_and_deploy_accept_the_examples(tmp_path: Path, name: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from ivrflow.cli import main

    for example in ("bank.ivr", "common.ivr", "bilingual.ivr"):
        (tmp_path / example).write_text((EXAMPLES / example).read_text())
    flow = str(tmp_path / name)
    platform = Platform(domain="acme.example")
    with serve_app(platform_app(platform)) as url:
        (tmp_path / "ivrflow.toml").write_text(f'[env.live]\ntarget = "mediaservice"\n'
                                               f'base_url = "{url}/mediaservice"\ndomain = "acme.example"\n')
        assert main(["check", flow, "--target", "mediaservice"]) == 0
        assert main(["compile", flow, "--target", "mediaservice", "--env", "live", "-o", str(tmp_path / "out")]) == 0
        assert main(["plan", flow, "--env", "live"]) == 0
        assert main(["deploy", flow, "--env", "live", "--yes"]) == 0
    output = capsys.readouterr()
    assert "IVR205" not in output.out + output.err
    manifest = f"ivrflow-{flow_at(tmp_path / name).name}.json"
    assert json.loads(platform.prompts[manifest]) == {"flow": flow_at(tmp_path / name).name, "files": {}}


def test_a_voice_speaks_its_own_languages_variants_and_the_others_get_their_default(
        emulator: tuple[Platform, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One `voice` cannot speak every language of a flow: in a prompt with a
    variant per language it speaks its own language's, the others get their
    language's default voice (no IVR205); a variant in a language Polly lacks
    is IVR205 at the variant."""
    from ivrflow.cli import main

    platform, api = emulator
    flow = flow_at(EXAMPLES / "bilingual.ivr")
    with serve_app(runtime(flow, api, voice="Kendra")) as url:
        transcript = drive(platform, url, api, ["9", "2"], called="ivr", clock=OPEN)
    voices = {(language, voice) for _, language, voice in spoken(transcript)}
    assert voices == {("en-US", "Kendra"), ("es-US", POLLY_VOICES["es-US"][0])}
    (tmp_path / "bilingual.ivr").write_text((EXAMPLES / "bilingual.ivr").read_text())
    (tmp_path / "ivrflow.toml").write_text('[env.live]\ntarget = "mediaservice"\nvoice = "Kendra"\n')
    out = str(tmp_path / "out")
    assert main(["compile", str(tmp_path / "bilingual.ivr"), "--target", "mediaservice", "--env", "live",
                 "-o", out]) == 0
    (tmp_path / "bilingual.ivr").write_text((EXAMPLES / "bilingual.ivr").read_text().replace("es-US", "xx-XX"))
    capsys.readouterr()
    assert main(["compile", str(tmp_path / "bilingual.ivr"), "--target", "mediaservice", "--env", "live",
                 "-o", out]) == 1
    err = capsys.readouterr().err
    assert "IVR205" in err and "no voice for language `xx-XX`" in err and "bilingual.ivr:16:5" in err


@pytest.mark.parametrize(("event", "status", "answer"), [
    # seed 002's own callEvent sample: calledPartyDrop with 486 during set-up: busy, the else runs
    ("calledPartyDrop", 486, {"action": "call", "destAddr": "sip:voicemail-200@localhost"}),
    ("calledPartyFailure", 480, {"action": "call", "destAddr": "sip:voicemail-200@localhost"}),
    ("calledPartyFailure", "600", {"action": "call", "destAddr": "sip:voicemail-200@localhost"}),
    ("calledPartyFailure", None, {"action": "call", "destAddr": "sip:voicemail-200@localhost"}),
    # the librarian answered, talked and hung up: the caller is let go, no else
    ("calledPartyDrop", None, {"action": "drop", "dropCode": "dropNoMsg"}),
    ("calledPartyDrop", 200, {"action": "drop", "dropCode": "dropNoMsg"}),
])
def test_the_call_event_after_a_ringing_transfer(emulator: tuple[Platform, str], event: str, status: Any,
                                                 answer: dict[str, Any]) -> None:
    _, api = emulator
    flow = flow_at(EXAMPLES / "bilingual.ivr")

    async def run(url: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=url + "/mediaservice", headers=headers) as client:
            await client.post("/newCall", json={"sessionId": "s-ring", "calledParty": "ivr"})
            await client.post("/getIvrCommand", json={"sessionId": "s-ring"})
            await client.post("/getIvrCommand", json={"sessionId": "s-ring", "dtmfBuffer": "0"})  # the split
            split = await client.post("/callEvent", json={"sessionId": "s-ring", "event": "callerConnectionSplit"})
            assert split.json() == {"action": "call", "destAddr": "sip:200@localhost", "maxRingTime": 20.0}
            report: dict[str, Any] = {"sessionId": "s-ring", "event": event, "errorDescr": "Request cancelled"}
            if status is not None:
                report["sipResponseCode"] = status
            response = await client.post("/callEvent", json=report)
            assert response.status_code == 200, response.text
            return dict(response.json())

    with serve_app(runtime(flow, api)) as url:
        assert asyncio.run(run(url)) == answer


DESK = '''flow desk "Desk" {
    language en-US
}

prompt hello say "Hello, caller {caller}."

menu main {
    play hello
    press 1 -> transfer "100" ring 20s else hangup
    press 2 -> transfer "101" ring 5s else goto main
    press 3 -> transfer "102" ring 5s else transfer "103" ring 10s else voicemail "9"
    on timeout -> hangup
    on invalid -> hangup
}
'''
DESK_CALLS = [  # (name, inputs, the actions the platform is given after the newCall)
    ("else hangup: the caller is dropped", ["1", "busy"], ["call", "drop"]),
    ("else goto: back into the IVR", ["2", "no-answer", "1"], ["call", "ivr", "call"]),
    ("else a transfer that rings in turn", ["3", "busy", "no-answer"], ["call", "call", "call"]),
    ("the second transfer answers", ["3", "failed"], ["call", "call"]),
]


@pytest.mark.parametrize(("inputs", "actions"), [c[1:] for c in DESK_CALLS], ids=[c[0] for c in DESK_CALLS])
def test_each_kind_of_else_after_a_failed_transfer(emulator: tuple[Platform, str], tmp_path: Path,
                                                   inputs: list[str], actions: list[str]) -> None:
    platform, api = emulator
    (tmp_path / "desk.ivr").write_text(DESK)
    flow = flow_at(tmp_path / "desk.ivr")
    expected = machine_call(flow, inputs, Line(parse_clock(OPEN), CALLER, "ivr"))
    with serve_app(runtime(flow, api)) as url:
        transcript = drive(platform, url, api, inputs, called="ivr", clock=OPEN)
    assert_same_call(flow, transcript, expected, [])
    assert transcript.answers[1:] == actions
