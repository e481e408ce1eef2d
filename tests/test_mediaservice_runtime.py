"""The runtime server against the mediaservice as the real platform speaks
(PLATFORMS.md §7), over real HTTP: keys reported in `dtmfParams` (seed 002's
own request sample), Polly's required `VoiceId`/`OutputFormat`, and a
callback's `siteBaseUrl` that may not take the API bearer elsewhere."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ivrflow import targets
from ivrflow.cli import main
from ivrflow.compiler import ir
from ivrflow.loader import load
from ivrflow.runtime.app import create_app
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.sessions import MemoryStore
from ivrflow.targets.mediaservice.emulator import Platform, drive_call, platform_app
from ivrflow.targets.mediaservice.protocol import PATH_HEADER, POLLY_VOICES, TRACE_HEADER, WAITING_HEADER

from .conftest import EXAMPLES
from .servers import serve_app

TOKEN = "ms-runtime-token-31"
API_BEARER = "api-bearer-not-for-strangers-9"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def flow_from(text: str, tmp_path: Path) -> ir.Flow:
    path = tmp_path / "flow.ivr"
    path.write_text(text)
    result = load(str(path))
    assert result.flow is not None and result.errors == 0, result.diagnostics
    return result.flow


def example(name: str) -> ir.Flow:
    result = load(str(EXAMPLES / name))
    assert result.flow is not None
    return result.flow


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[Platform, str]]:
    """The platform's stand-in; its API wants the bearer the servers here sign with."""
    platform = Platform(token=API_BEARER)
    with serve_app(platform_app(platform)) as url:
        yield platform, url + "/mediaservice"


def server(flow: ir.Flow, **values: Any) -> Starlette:
    return create_app(flow, MemoryStore(), Credentials(token=TOKEN), settings=values, webhooks=targets.webhooks(),
                      api_token=lambda: API_BEARER, accept_test_clock=True)


def call(platform: Platform, url: str, site: str, inputs: list[str], **kwargs: Any) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient(timeout=30) as client:
            return await drive_call(client, [url + "/mediaservice"], platform, site, inputs, token=TOKEN,
                                    clock="2026-11-23T10:00:00", **kwargs)
    return asyncio.run(run())


# --- keys ------------------------------------------------------------------------------------

SCRIPTS = [  # (inputs, expected outcome) on the support line at a Monday 10:00
    (["1"], {"action": "transfer", "target": "201"}),
    (["2", "2"], {"action": "transfer", "target": "302"}),
    (["3", "2"], {"action": "voicemail", "target": "invoices"}),
    (["silence", "silence", "silence"], {"action": "transfer", "target": "200"}),
]


@pytest.mark.parametrize("shape", ["seed", "buffer"])
def test_keys_reach_the_flow_in_either_shape(emulator: tuple[Platform, str], shape: str) -> None:
    platform, api = emulator
    with serve_app(server(example("support.ivr"), base_url=api)) as url:
        for inputs, expected in SCRIPTS:
            transcript = call(platform, url, api, inputs, dtmf=shape)
            assert transcript.outcome.to_dict() == expected, (shape, inputs)


EXTENSIONS = '''flow desk "Desk" {
    language en-US
}

prompt ask say "Enter the extension, then hash."

menu main "Main" {
    play ask
    digits 2
    press 12 -> transfer "112"
    press 1 -> transfer "101"
    press "#" -> transfer "100"
    on timeout -> transfer "199"
    on invalid -> hangup
}
'''


def _start(url: str, session: str) -> None:
    assert httpx.post(f"{url}/mediaservice/newCall", headers=HEADERS,
                      json={"sessionId": session, "callingParty": "+4420"}).json() == {"action": "ivr"}
    first = httpx.post(f"{url}/mediaservice/getIvrCommand", headers=HEADERS, json={"sessionId": session})
    assert first.json()["dtmf"]["maxDigits"] == 2


def _event_after(url: str, body: dict[str, Any]) -> str:
    """The path step the request with `body` produced."""
    response = httpx.post(f"{url}/mediaservice/getIvrCommand", headers={**HEADERS, TRACE_HEADER: "1"}, json=body)
    assert response.status_code == 200, response.text
    return json.loads(response.headers[PATH_HEADER])[0]["event"]


@pytest.mark.parametrize(("params", "buffer", "event"), [
    # seed 002's getIvrCommand request sample, as written
    ({"dtmfMatch": "12", "reason": "terminationKey", "matchedTerminationKey": "#", "encryption": {}}, None,
     "press 12"),
    # the termination key is not one of the keys, wherever it is reported
    ({"dtmfMatch": "1#", "reason": "terminationKey", "matchedTerminationKey": "#"}, None, "press 1"),
    ({"reason": "terminationKey", "matchedTerminationKey": "#"}, "12#", "press 12"),
    # only the termination key: a key press, never silence
    ({"dtmfMatch": "", "reason": "terminationKey", "matchedTerminationKey": "#"}, None, "press #"),
    # nothing in time: silence
    ({"dtmfMatch": None, "reason": "timeout"}, None, "timeout"),
    ({}, None, "timeout"),
    # the buffer, where it is given, holds the keys
    ({"dtmfMatch": "12", "reason": "maxDigits"}, "12", "press 12"),
])
def test_the_seed_request_sample_is_a_key_press(tmp_path: Path, params: dict[str, Any], buffer: str | None,
                                                event: str) -> None:
    with serve_app(server(flow_from(EXTENSIONS, tmp_path))) as url:
        _start(url, "s-seed")
        body = {"sessionId": "s-seed", "sessionReferenceId": None, "ivrServer": None, "dtmfBuffer": buffer,
                "dtmfParams": params, "replyId": None, "siteId": "siteA"}
        assert _event_after(url, body) == event


def test_only_a_callback_that_asks_for_the_trace_gets_the_path_and_the_waiting_menu(tmp_path: Path) -> None:
    """A platform's callbacks carry no X-Ivrflow-Trace: their answers carry none of ivrflow's own headers."""
    def answered(url: str, session: str, extra: dict[str, str]) -> list[httpx.Response]:
        httpx.post(f"{url}/mediaservice/newCall", headers={**HEADERS, **extra}, json={"sessionId": session})
        return [httpx.post(f"{url}/mediaservice/getIvrCommand", headers={**HEADERS, **extra}, json=body)
                for body in ({"sessionId": session}, {"sessionId": session, "dtmfBuffer": "1"})]

    with serve_app(server(flow_from(EXTENSIONS, tmp_path))) as url:
        plain = answered(url, "s-plain", {})
        traced = answered(url, "s-traced", {TRACE_HEADER: "1"})
    assert [r.json() for r in plain] == [{**r.json(), "sessionId": "s-plain"} for r in traced]
    assert not any(r.headers.get(PATH_HEADER) or r.headers.get(WAITING_HEADER) for r in plain)
    assert traced[0].headers[WAITING_HEADER] == "main"
    assert [step["event"] for step in json.loads(traced[1].headers[PATH_HEADER])] == ["press 1"]


@pytest.mark.parametrize("params", [{"dtmfMatch": ["1"]}, {"dtmfMatch": "1; drop"}, {"dtmfMatch": True}])
def test_keys_that_are_not_keys_get_a_422(tmp_path: Path, params: dict[str, Any]) -> None:
    with serve_app(server(flow_from(EXTENSIONS, tmp_path))) as url:
        _start(url, "s-bad")
        response = httpx.post(f"{url}/mediaservice/getIvrCommand", headers=HEADERS,
                              json={"sessionId": "s-bad", "dtmfBuffer": None, "dtmfParams": params})
        assert response.status_code == 422 and response.json()["error"]["code"] == "bad_dtmf"


# --- text to speech --------------------------------------------------------------------------

def _tts(transcript: Any) -> list[dict[str, Any]]:
    return [p["awsTTSParameters"] for p in transcript.phrases if p.get("format") == "awstts"]


@pytest.mark.parametrize(("flow", "values", "voice", "language"), [
    ("quickstart.ivr", {}, POLLY_VOICES["en-US"][0], "en-US"),      # the language's default
    ("quickstart.ivr", {"voice": "Kendra"}, "Kendra", "en-US"),      # the environment's voice
    ("quickstart.ivr", {"voice": "kendra"}, "Kendra", "en-US"),      # as Polly spells it
    ("quickstart.ivr", {"voice": "Amy"}, POLLY_VOICES["en-US"][0], "en-US"),  # Amy speaks en-GB only
])
def test_every_spoken_phrase_names_a_voice_and_an_output_format(emulator: tuple[Platform, str], flow: str,
                                                                values: dict[str, str], voice: str,
                                                                language: str) -> None:
    platform, api = emulator
    with serve_app(server(example(flow), base_url=api, **values)) as url:
        transcript = call(platform, url, api, ["7"])
    spoken = _tts(transcript)
    assert spoken and all(p["VoiceId"] == voice and p["OutputFormat"] == "pcm" and p["LanguageCode"] == language
                          and p["Text"] for p in spoken)


SAY_IN = '''flow polyglot "Polyglot" {{
    language en-US
}}

prompt hello say "Hello." language {language}

menu main "Main" {{
    play hello
    press 1 -> hangup
    on timeout -> hangup
    on invalid -> hangup
}}
'''


def test_check_reports_a_language_polly_cannot_speak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow_from(SAY_IN.format(language="xx-XX"), tmp_path)
    assert main(["check", str(tmp_path / "flow.ivr"), "--target", "mediaservice"]) == 1
    out = capsys.readouterr().out
    assert "IVR205" in out and "no voice for language `xx-XX`" in out and "flow.ivr:5:" in out
    flow_from(SAY_IN.format(language="sv-SE"), tmp_path)
    assert main(["check", str(tmp_path / "flow.ivr"), "--target", "mediaservice"]) == 0


@pytest.mark.parametrize(("voice", "language", "code", "words"), [
    ("Joanna", "fr-FR", "IVR205", "`Joanna` does not speak `fr-FR`"),
    ("Nobody", "en-US", "IVR301", "no standard voice `Nobody`"),
])
def test_compile_reports_a_voice_that_cannot_speak_the_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              voice: str, language: str, code: str,
                                                              words: str) -> None:
    flow_from(SAY_IN.format(language=language), tmp_path)
    (tmp_path / "ivrflow.toml").write_text(f'[env.live]\ntarget = "mediaservice"\nvoice = "{voice}"\n')
    status = main(["compile", str(tmp_path / "flow.ivr"), "--target", "mediaservice", "--env", "live",
                   "-o", str(tmp_path / "build")])
    err = capsys.readouterr().err
    assert status == 1 and code in err and words in err
    (tmp_path / "ivrflow.toml").write_text('[env.live]\ntarget = "mediaservice"\nvoice = "Celine"\n')
    flow_from(SAY_IN.format(language="fr-FR"), tmp_path)
    assert main(["compile", str(tmp_path / "flow.ivr"), "--target", "mediaservice", "--env", "live",
                 "-o", str(tmp_path / "build")]) == 0


def test_a_server_whose_voice_cannot_speak_a_prompt_says_so_and_uses_the_languages_voice(
        emulator: tuple[Platform, str], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    platform, api = emulator
    flow = flow_from(SAY_IN.format(language="fr-FR"), tmp_path)
    with caplog.at_level(logging.WARNING, logger="ivrflow.runtime"), \
            serve_app(server(flow, base_url=api, voice="Joanna")) as url:
        transcript = call(platform, url, api, ["1"])
    assert "prompt hello: Amazon Polly's voice `Joanna` does not speak `fr-FR`" in caplog.text
    assert [(p["VoiceId"], p["LanguageCode"]) for p in _tts(transcript)] == [("Celine", "fr-FR")]


@pytest.mark.parametrize("value", ["5", '"ftp://files.example"', '["https://ok.example", "not a url"]'])
def test_compile_reports_site_base_urls_that_are_not_urls(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          value: str) -> None:
    flow_from(SAY_IN.format(language="en-US"), tmp_path)
    (tmp_path / "ivrflow.toml").write_text(f'[env.live]\ntarget = "mediaservice"\nsite_base_urls = {value}\n')
    status = main(["compile", str(tmp_path / "flow.ivr"), "--target", "mediaservice", "--env", "live",
                   "-o", str(tmp_path / "build")])
    err = capsys.readouterr().err
    assert status == 1 and "IVR301" in err and "ivrflow.toml:3:" in err and "site_base_urls" in err


# --- siteBaseUrl -----------------------------------------------------------------------------

class Listener:
    """A stranger's server: records whether anything reached it, and with what."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def anything(request: Request) -> JSONResponse:
            self.requests.append({"path": request.url.path, "authorization": request.headers.get("authorization")})
            return JSONResponse({"success": True})
        return Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST", "PUT"])])


@pytest.fixture
def listener() -> Iterator[tuple[Listener, str]]:
    stranger = Listener()
    with serve_app(stranger.app()) as url:
        yield stranger, url


def _refused_urls(listener_url: str, api: str) -> list[str]:
    api_host = api.split("://", 1)[1].split("/", 1)[0]
    listener_host = listener_url.split("://", 1)[1]
    return [
        listener_url + "/mediaservice",
        f"http://{api_host}@{listener_host}/mediaservice",  # the API's origin as a user name
        "https://" + api.split("://", 1)[1],  # the API's host, another scheme
        "file:///etc/passwd",
    ]


def test_a_site_base_url_off_the_allow_list_never_gets_the_bearer(emulator: tuple[Platform, str], listener: Any,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    platform, api = emulator
    stranger, stranger_url = listener
    with caplog.at_level(logging.WARNING, logger="ivrflow.runtime"), \
            serve_app(server(example("support.ivr"), base_url=api)) as url:
        for site in _refused_urls(stranger_url, api):
            before = len(platform.log)
            transcript = call(platform, url, site, ["1"])
            # the transfer went through the environment's API, with the bearer
            assert transcript.outcome.to_dict() == {"action": "transfer", "target": "201"}
            assert any(entry["path"].endswith("/splitconnection") for entry in platform.log[before:])
    assert stranger.requests == []
    assert "siteBaseUrl refused" in caplog.text and API_BEARER not in caplog.text


def test_without_a_base_url_a_refused_site_ends_the_transfer_with_a_hangup(emulator: tuple[Platform, str],
                                                                          listener: Any,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    platform, _ = emulator
    stranger, stranger_url = listener
    with caplog.at_level(logging.WARNING, logger="ivrflow.runtime"), \
            serve_app(server(example("support.ivr"))) as url:
        transcript = call(platform, url, stranger_url + "/mediaservice", ["1"])
    assert transcript.outcome.to_dict() == {"action": "hangup", "target": None}
    assert transcript.callbacks < 10  # not a silent line asking again and again
    assert stranger.requests == []
    assert "cannot transfer: no base_url" in caplog.text


def test_a_site_base_url_on_the_explicit_list_is_followed(emulator: tuple[Platform, str], listener: Any) -> None:
    _, api = emulator
    stranger, stranger_url = listener
    flow = example("support.ivr")
    with serve_app(server(flow, base_url=api, site_base_urls=[stranger_url + "/site"])) as url:
        body = {"sessionId": "s-site", "callingParty": "+4420", "siteBaseUrl": stranger_url + "/site"}
        headers = {**HEADERS, "X-Ivrflow-Clock": "2026-11-23T10:00:00"}
        assert httpx.post(f"{url}/mediaservice/newCall", headers=headers, json=body).status_code == 200
        command = {}
        while "dtmf" not in command:
            command = httpx.post(f"{url}/mediaservice/getIvrCommand", headers=HEADERS,
                                 json={"sessionId": "s-site"}).json()
        for _ in range(2):  # the key, then the split
            httpx.post(f"{url}/mediaservice/getIvrCommand", headers=HEADERS,
                       json={"sessionId": "s-site", "dtmfBuffer": "1"})
    assert stranger.requests and stranger.requests[0]["path"] == "/site/localhost/splitconnection"
    assert stranger.requests[0]["authorization"] == f"Bearer {API_BEARER}"
