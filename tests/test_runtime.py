"""The runtime server behind the mediaservice protocol, over real HTTP:
calls end exactly as the offline machine says."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import shutil
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
from ivrflow.compiler.machine import Keys, Line, Silence
from ivrflow.compiler.simulate import run_call
from ivrflow.loader import load
from ivrflow.runtime.app import create_app
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.serve import server_options
from ivrflow.runtime.sessions import MemoryStore, Session, open_store
from ivrflow.targets.mediaservice.emulator import Platform, drive_call, platform_app
from ivrflow.targets.mediaservice.protocol import prompt_files

from .conftest import EXAMPLES, PLATFORM_FLOWS
from .servers import call_client, ivrflow_serve, redis_server, serve_app

TOKEN = "test-callback-token-7c1"
FLOWS = PLATFORM_FLOWS


def flow_of(path: Path) -> ir.Flow:
    result = load(str(path), check_files=False)
    assert result.flow is not None and result.errors == 0
    return result.flow


def answer_json(action: ir.Action) -> dict[str, Any]:
    if isinstance(action, ir.Transfer):
        return {"action": "transfer", "target": action.destination}
    if isinstance(action, ir.Goto):
        return {"action": "goto", "target": action.target}
    if isinstance(action, ir.Voicemail):
        return {"action": "voicemail", "target": action.box}
    return {"action": ir.action_word(action)}


class RoutingService:
    """The user's routing service for `ask`: answers from a queue."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def route(request: Request) -> JSONResponse:
            self.requests.append(await request.json())
            if not self.answers:
                return JSONResponse({"error": "no answer"}, status_code=500)
            return JSONResponse(self.answers.pop(0))
        return Starlette(routes=[Route("/{path:path}", route, methods=["POST"])])


Emulator = tuple[Platform, str]  # the stand-in platform and its API base URL


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The platform's stand-in, whose API the servers under test are configured with."""
    platform = Platform()
    with serve_app(platform_app(platform)) as url:
        yield platform, url + "/mediaservice"


def runtime_app(flow: ir.Flow, service: RoutingService | None = None, api: str | None = None,
                **kwargs: Any) -> Starlette:
    mounts = {}
    if service is not None:
        # The flows ask services on the internet; here a local one answers for them.
        mounts = {"all://appointments.riverside.example": httpx.ASGITransport(app=service.app())}
    http = httpx.AsyncClient(mounts=mounts)  # type: ignore[arg-type]
    credentials = kwargs.pop("credentials", Credentials(token=TOKEN))
    settings = kwargs.pop("settings", {"base_url": api} if api else None)
    return create_app(flow, MemoryStore(), credentials, http=http, accept_test_clock=True, settings=settings,
                      webhooks=targets.webhooks(), **kwargs)


def drive(emulator: Emulator, urls: list[str], inputs: list[str], **kwargs: Any) -> Any:
    platform, api = emulator

    async def run() -> Any:
        async with httpx.AsyncClient(timeout=30) as client:
            return await drive_call(client, urls, platform, api, inputs, token=TOKEN, **kwargs)
    return asyncio.run(run())


CASES = [(path, test.name) for path in FLOWS for test in flow_of(path).tests]


@pytest.mark.parametrize(("path", "name"), CASES, ids=[f"{p.stem}: {n}" for p, n in CASES])
def test_each_test_block_ends_through_the_server_as_offline(emulator: Emulator, path: Path, name: str) -> None:
    flow = flow_of(path)
    test = next(t for t in flow.tests if t.name == name)
    at, caller = test.get("at"), test.get("caller")
    moment = at.value if at is not None else dt.datetime(2026, 11, 23, 10, 0)
    number = str(caller.value) if caller is not None else None
    inputs = [s.key if isinstance(s, ir.TestPress) else "silence" for s in test.steps
              if isinstance(s, (ir.TestPress, ir.TestSilence))]
    answers = [s.action for s in test.steps if isinstance(s, ir.TestAnswer)]
    expected, _ = run_call(flow, [Keys(i) if i != "silence" else Silence() for i in inputs],
                           Line(moment, number), answers)  # type: ignore[arg-type]
    service = RoutingService()
    service.answers = [answer_json(a) for a in answers]
    with serve_app(runtime_app(flow, service, emulator[1])) as url:
        transcript = drive(emulator, [url + "/mediaservice"], inputs, caller=number,
                           clock=moment.isoformat())  # type: ignore[union-attr]
    if expected.outcome.action == "ask":
        # Offline, nobody has answered yet; live, the service was asked at that point
        # (and, failing to answer, the call fell back).
        assert service.requests and service.requests[0]["node"] == expected.call.node
        assert transcript.path[:len(expected.path)] == expected.to_dict()["path"]
        return
    assert transcript.to_dict() == expected.to_dict()
    # and the prompts the platform was told to play are the ones the path heard
    names = [_prompt_name(flow, phrase) for phrase in transcript.phrases]
    heard = [p for step in expected.path for p in step.played]
    assert names[:len(heard)] == heard


def _prompt_name(flow: ir.Flow, phrase: dict[str, Any]) -> str:
    files = prompt_files(flow)
    for prompt in flow.prompts:
        if prompt.kind == "file" and phrase.get("fileName") == files[prompt.value][0]:
            return prompt.name
        if prompt.kind == "say" and phrase.get("awsTTSParameters", {}).get("Text") == prompt.value:
            return prompt.name
    raise AssertionError(f"no prompt for {phrase}")


SCRIPTS = [  # (inputs, expected outcome) on the support line at a Monday 10:00
    (["1"], {"action": "transfer", "target": "201"}),
    (["2", "2"], {"action": "transfer", "target": "302"}),
    (["3", "2"], {"action": "voicemail", "target": "invoices"}),
    (["silence", "silence", "silence"], {"action": "transfer", "target": "200"}),
    (["9", "3"], {"action": "waiting", "target": "billing"}),
]


def test_200_concurrent_calls_complete_with_the_right_outcomes(emulator: Emulator) -> None:
    flow = flow_of(EXAMPLES / "support.ivr")
    platform, api = emulator
    app = runtime_app(flow, api=api)

    async def run(url: str) -> list[Any]:
        async def call(i: int) -> Any:
            async with call_client() as client:
                return await drive_call(client, [url + "/mediaservice"], platform, api,
                                        SCRIPTS[i % len(SCRIPTS)][0], token=TOKEN, clock="2026-11-23T10:00:00")

        calls = [call(i) for i in range(200)]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=120)

    with serve_app(app, **server_options()) as url:
        results = asyncio.run(run(url))
        health = httpx.get(url + "/healthz").json()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert [r.outcome.to_dict() for r in results] == [SCRIPTS[i % len(SCRIPTS)][1] for i in range(200)]
    assert health == {"status": "ok", "flow": "support", "flows": ["support"]}
    assert len(app.state.runtime.store) == 0  # every session was completed and removed


def test_two_servers_share_calls_through_redis(emulator: Emulator, tmp_path: Path) -> None:
    flow = tmp_path / "support.ivr"
    shutil.copy(EXAMPLES / "support.ivr", flow)
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    (tmp_path / "ivrflow.toml").write_text(f'[env.live]\ntarget = "mediaservice"\nbase_url = "{emulator[1]}"\n')
    with redis_server() as redis_url:
        env = {"IVRFLOW_CALLBACK_TOKEN": TOKEN}
        with ivrflow_serve(flow, "--env", "live", "--sessions", redis_url, "--insecure", env=env) as (first, _), \
                ivrflow_serve(flow, "--env", "live", "--sessions", redis_url, env=env) as (second, _):
            urls = [first + "/mediaservice", second + "/mediaservice"]  # callbacks alternate
            for inputs, expected in SCRIPTS:
                transcript = drive(emulator, urls, inputs, clock="2026-11-23T10:00:00")
                assert transcript.callbacks >= 3
                if expected["action"] != "waiting":
                    assert transcript.outcome.to_dict() == expected
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            assert client.keys("ivrflow:session:*") == []  # every call ended, so its session is gone
        finally:
            client.close()


# --- security and bad input ------------------------------------------------------------------

@pytest.fixture(scope="module")
def secured() -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    flow = flow_of(EXAMPLES / "support.ivr")
    app = runtime_app(flow, credentials=Credentials(token=TOKEN, public_key=public))
    with serve_app(app) as url:
        yield url + "/mediaservice", key, other


def _jwt(key: Any) -> str:
    import jwt

    return jwt.encode({"iss": "iotcomms", "exp": int(dt.datetime.now().timestamp()) + 60}, key, algorithm="RS256")


def test_callbacks_need_a_credential(secured: Any) -> None:
    url, key, other = secured
    call = {"sessionId": "s-auth", "callingParty": "+4420"}
    assert httpx.post(f"{url}/newCall", json=call).status_code == 401
    refused = httpx.post(f"{url}/newCall", json=call, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    for bearer, status in ((_jwt(other), 401), (_jwt(key), 200), (TOKEN, 200)):
        answer = httpx.post(f"{url}/newCall", json=call, headers={"Authorization": f"Bearer {bearer}"})
        assert answer.status_code == status


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("newCall", b"{not json", 400, "invalid_json"),
    ("newCall", b"[1, 2]", 422, "not_an_object"),
    ("newCall", json.dumps({"callingParty": "1"}).encode(), 422, "missing_field"),
    ("newCall", json.dumps({"sessionId": 5}).encode(), 422, "wrong_type"),
    ("getIvrCommand", json.dumps({"sessionId": "never-started"}).encode(), 404, "unknown_session"),
    ("callEvent", json.dumps({"sessionId": "never-started", "event": "callingPartyDrop"}).encode(), 404,
     "unknown_session"),
    ("sessionCompleted", b"x" * 70_000, 413, "body_too_large"),
])
def test_bad_requests_get_a_4xx_and_a_json_error(secured: Any, path: str, body: bytes, status: int, code: str) -> None:
    url = secured[0]
    response = httpx.post(f"{url}/{path}", content=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                                   "Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_health_needs_no_credential(secured: Any) -> None:
    base = secured[0].rsplit("/mediaservice", 1)[0]
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "flow": "support", "flows": ["support"]}
    assert httpx.get(f"{base}/nowhere").status_code == 404


def test_serve_refuses_to_start_without_a_credential(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("IVRFLOW_CALLBACK_TOKEN", raising=False)
    status = main(["serve", str(EXAMPLES / "support.ivr")])
    assert status == 2
    assert "refusing to start" in capsys.readouterr().err


def test_serve_insecure_says_so_and_answers() -> None:
    with ivrflow_serve(EXAMPLES / "quickstart.ivr", "--insecure") as (url, log):
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "flow": "quickstart", "flows": ["quickstart"]}
        answer = httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": "s1", "callingParty": "1"})
        assert answer.json() == {"action": "ivr"}
    assert "warning: --insecure" in log.read_text()


def test_secrets_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    from ivrflow import redact

    redact.register(TOKEN)
    redact.install_log_filter("ivrflow.runtime")
    flow = flow_of(EXAMPLES / "quickstart.ivr")
    with caplog.at_level(logging.INFO, logger="ivrflow.runtime"), serve_app(runtime_app(flow)) as url:
        httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": "s-log", "callingParty": TOKEN},
                   headers={"Authorization": f"Bearer {TOKEN}"})
    text = caplog.text
    assert "s-log" in text and TOKEN not in text and "***" in text


def test_a_failing_routing_service_falls_back_to_repeat(emulator: Emulator) -> None:
    flow = flow_of(EXAMPLES / "clinic.ivr")
    service = RoutingService()  # no answers: it fails every request
    with serve_app(runtime_app(flow, service, emulator[1])) as url:
        transcript = drive(emulator, [url + "/mediaservice"], ["1"])
    assert transcript.outcome.to_dict() == {"action": "waiting", "target": "main"}
    assert service.requests and service.requests[0]["node"] == "main" and service.requests[0]["keys"] == "1"


# --- sessions ----------------------------------------------------------------------------------

def test_memory_sessions_expire_and_are_bounded() -> None:
    from ivrflow.compiler.machine import Call

    async def run() -> None:
        store = MemoryStore(ttl_s=0.05, limit=3)
        for i in range(5):
            await store.put(Session(f"s{i}", Call(), started="2026-11-23T10:00:00"))
        assert len(store) == 3 and await store.get("s0") is None
        await asyncio.sleep(0.1)
        assert await store.get("s4") is None
        await store.put(Session("s5", Call(), started="2026-11-23T10:00:00"))
        assert len(store) <= 3
    asyncio.run(run())


def test_session_round_trips_through_json() -> None:
    flow = flow_of(EXAMPLES / "support.ivr")
    record, _ = run_call(flow, [Keys("2")], Line(dt.datetime(2026, 11, 23, 10), "+44"))
    session = Session("s", record.call, caller="+44", started="2026-11-23T10:00:00", pending=[{"phrases": []}])
    assert Session.loads(session.dumps()) == session


def test_an_unknown_session_store_is_refused() -> None:
    with pytest.raises(ValueError, match="neither `memory` nor a redis"):
        open_store("mysql://x")


def test_serve_with_an_environment_reads_the_token_variable_it_names(tmp_path: Path) -> None:
    flow = tmp_path / "quickstart.ivr"
    flow.write_text((EXAMPLES / "quickstart.ivr").read_text())
    (tmp_path / "ivrflow.toml").write_text(
        '[env.live]\ntarget = "mediaservice"\ndomain = "acme.example"\ncallback_token = "ACME_CALLBACK_TOKEN"\n')
    with ivrflow_serve(flow, "--env", "live", env={"ACME_CALLBACK_TOKEN": "acme-token-42"}) as (url, log):
        call = {"sessionId": "s-env", "callingParty": "+4420"}
        assert httpx.post(f"{url}/mediaservice/newCall", json=call).status_code == 401
        accepted = httpx.post(f"{url}/mediaservice/newCall", json=call,
                              headers={"Authorization": "Bearer acme-token-42"})
        assert accepted.json() == {"action": "ivr"}
        alarm = httpx.post(f"{url}/mediaservice/alarm", headers={"Authorization": "Bearer acme-token-42"},
                           json={"type": "sessionError", "sessionId": "s-env", "error": "maxDuration"})
        assert alarm.status_code == 200
    text = log.read_text()
    assert "session s-env: alarm sessionError: maxDuration" in text
    assert "acme-token-42" not in text


def test_serve_reports_a_missing_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "quickstart.ivr"
    flow.write_text((EXAMPLES / "quickstart.ivr").read_text())
    (tmp_path / "ivrflow.toml").write_text('[env.live]\ntarget = "mediaservice"\n')
    assert main(["serve", str(flow), "--env", "staging"]) == 2
    assert "IVR301" in capsys.readouterr().err


def test_simulate_via_a_live_server_prints_the_offline_json(capsys: pytest.CaptureFixture[str]) -> None:
    flow = str(EXAMPLES / "support.ivr")
    args = ["--press", "3,2", "--at", "2026-11-23 10:00", "--format", "json"]
    assert main(["simulate", flow, *args]) == 0
    offline = json.loads(capsys.readouterr().out)
    with ivrflow_serve(EXAMPLES / "support.ivr", "--insecure") as (url, _):
        assert main(["simulate", flow, "--via", f"{url}/mediaservice", *args]) == 0
    assert json.loads(capsys.readouterr().out) == offline == {
        "outcome": {"action": "voicemail", "target": "invoices"},
        "path": [
            {"node": "entry", "event": "when open support_hours", "played": [], "keys": None},
            {"node": "main", "event": "press 3", "played": ["welcome", "main_menu"], "keys": "3"},
            {"node": "billing", "event": "press 2", "played": ["bill_menu"], "keys": "2"},
        ]}


def test_callbacks_are_routed_as_by_starlettes_router() -> None:
    """The runtime's app goes straight to the endpoint of a fixed path; every
    request must end where Starlette's own app sends it, answered alike."""
    from ivrflow.runtime.app import RuntimeApp

    flows = [flow_of(EXAMPLES / "quickstart.ivr"), flow_of(EXAMPLES / "support.ivr")]
    ours = create_app(flows, MemoryStore(), Credentials(token=TOKEN), webhooks=targets.webhooks())
    twin = create_app(flows, MemoryStore(), Credentials(token=TOKEN), webhooks=targets.webhooks())
    plain = Starlette(routes=twin.routes, exception_handlers=twin.exception_handlers)
    assert isinstance(ours, RuntimeApp) and not isinstance(plain, RuntimeApp)
    paths = ["/healthz", "/healthz/", "/nowhere", "/mediaservice", "/mediaservice/", "/portsip/action",
             "/telphin/interactive", "/mediaservice/quickstart/nowhere", "/mediaservice/nosuch/newCall",
             "/mediaservice/newCall/", "/mediaservice//newCall", "/MEDIASERVICE/newCall"]
    for callback in ("newCall", "getIvrCommand", "callEvent", "callAnswered", "callNotify", "sessionCompleted",
                     "recordingReady", "getCallIdentifier", "alarm"):
        paths += [f"/mediaservice/{callback}", f"/mediaservice/support/{callback}",
                  f"/mediaservice/quickstart/{callback}"]

    async def answers(app: Starlette) -> list[tuple[Any, ...]]:
        seen = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://runtime") as client:
            for path in paths:
                for method in ("GET", "POST", "HEAD", "PUT"):
                    response = await client.request(method, path, json={"sessionId": f"routed-{method}{path}"},
                                                    headers={"Authorization": f"Bearer {TOKEN}"})
                    seen.append((method, path, response.status_code, response.content,
                                 response.headers.get("location"), response.headers.get("allow")))
        return seen
    fast, usual = asyncio.run(answers(ours)), asyncio.run(answers(plain))
    assert fast == usual
    assert {status for _, _, status, *_ in fast} >= {200, 307, 404, 405}
    assert 500 not in {status for _, _, status, *_ in fast}


def test_serve_sets_its_startup_heap_aside_from_the_garbage_collector() -> None:
    """Full collections walked everything the server built at startup while
    every callback in flight waited: the slowest 1% of callbacks."""
    import gc

    from ivrflow.runtime.serve import settle_heap

    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_callback_that_fails_is_a_logged_500_json_error_on_either_way_in(caplog: pytest.LogCaptureFixture) -> None:
    """A bug in an endpoint (not the caller's fault) is answered with a JSON
    500 that says nothing of the bug, and logged with its traceback: both for
    a fixed path (the short way) and one with a path parameter (Starlette's)."""
    def broken(context: object) -> list[Route]:
        async def fails(request: Request) -> JSONResponse:
            raise RuntimeError("the endpoint's bug")
        return [Route("/fixed", fails, methods=["POST"]), Route("/{name}/param", fails, methods=["POST"])]

    app = create_app(flow_of(EXAMPLES / "quickstart.ivr"), MemoryStore(), Credentials(token=TOKEN),
                     webhooks={"broken": broken})

    async def post(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                     base_url="http://runtime") as client:
            return await client.post(path, json={})
    for path in ("/broken/fixed", "/broken/x/param"):
        caplog.clear()
        with caplog.at_level(logging.ERROR, "ivrflow.runtime"):
            response = asyncio.run(post(path))
        assert response.status_code == 500, path
        assert response.json() == {"error": {"code": "internal",
                                             "message": "the server could not handle this callback"}}
        assert "bug" not in response.text
        failed = [r for r in caplog.records if r.name == "ivrflow.runtime" and r.exc_info]
        assert [r.getMessage() for r in failed] == [f"POST {path} failed"], path


def test_middleware_of_the_app_is_never_skipped_by_the_short_way() -> None:
    """RuntimeApp calls a fixed path's endpoint directly; an app given
    middleware must still run it for every request."""
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    from ivrflow.runtime.app import RuntimeApp

    async def marked(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-middleware"] = "ran"
        return response

    async def fixed(request: Request) -> JSONResponse:
        return JSONResponse({})
    app = RuntimeApp(routes=[Route("/fixed", fixed)], exception_handlers={},
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=marked)])

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://runtime") as client:
            return await client.get("/fixed")
    assert asyncio.run(get()).headers.get("x-middleware") == "ran"
