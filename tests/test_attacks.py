"""Attacks on the runtime server, over real HTTP to the app under uvicorn
(configured as `ivrflow serve` configures it). Every request is
authenticated (a bearer for the mediaservice, a signed URL for Telphin and
PortSIP); every answer must be a 4xx (or 503) JSON error with a code, never
a 500, and the server must not hang on slow clients or log tracebacks for
clients that go away."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrflow.compiler import ir
from ivrflow.config import Environment
from ivrflow.runtime import directory, http
from ivrflow.runtime.app import create_app
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.serve import server_options
from ivrflow.runtime.sessions import MemoryStore
from ivrflow.targets.emulation import Faults
from ivrflow.targets.portsip import target as portsip_target
from ivrflow.targets.portsip.emulator import PortSip, portsip_app
from ivrflow.targets.signing import signature
from ivrflow.targets.telphin import target as telphin_target
from ivrflow.targets.telphin.emulator import Telphin, telphin_app

from .conftest import EXAMPLES
from .flows import VOICEMAIL, deploy_with, flow_of, portsip_runtime, telphin_runtime
from .servers import free_port, ivrflow_serve, serve_app

TOKEN = "attack-callback-token-5a9c"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
#: A route on office hours in London: open at 09:00-17:00 on weekdays.
FLOW = """flow attack {
    start entry
}

hours office {
    timezone "Europe/London"
    mon-fri 09:00-17:00
}

route entry {
    when open office -> transfer "100"
    otherwise -> transfer "200"
}
"""


_client: httpx.Client | None = None


@pytest.fixture(scope="module", autouse=True)
def _one_client() -> Iterator[None]:
    """One HTTP client for the module's requests (a client per request costs more than the request)."""
    global _client
    with httpx.Client(timeout=10) as client:
        _client = client
        yield
    _client = None


def post(url: str, **kwargs: Any) -> httpx.Response:
    assert _client is not None
    return _client.post(url, **kwargs)


def signed(base: str, path: str, **query: str) -> str:
    """A callback URL as ivrflow deploys it: its query signed with TOKEN."""
    return f"{base}{path}?{urllib.parse.urlencode({**query, 'sig': signature(TOKEN, query)})}"


def runtime(flow: ir.Flow, env: dict[str, Any], **kwargs: Any) -> Any:
    return create_app(flow, MemoryStore(), kwargs.pop("credentials", Credentials(token=TOKEN)),
                      accept_test_clock=True, **env, **kwargs)


@pytest.fixture(scope="module")
def attack_flow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("attack") / "attack.ivr"
    path.write_text(FLOW)
    return path


@pytest.fixture(scope="module")
def telphin(attack_flow: Path) -> Iterator[tuple[Telphin, str]]:
    """The Telphin emulator with the attack flow deployed, and the runtime server its calls reach."""
    state = Telphin()
    with serve_app(telphin_app(state)) as emulator, \
            serve_app(runtime(flow_of(attack_flow), telphin_runtime(emulator)), **server_options()) as url:
        env = Environment("test", "ivrflow.toml", {
            "target": "telphin", "base_url": emulator, "client_id": "demo", "client_secret": "${SECRET}",
            "extension": "071", "runtime_url": url, "voicemail": VOICEMAIL, "callback_token": "${TOKEN}"},
            environ={"SECRET": "demo", "TOKEN": TOKEN})
        deploy_with(telphin_target, attack_flow, env)
        yield state, url


@pytest.fixture(scope="module")
def portsip(attack_flow: Path) -> Iterator[tuple[PortSip, str]]:
    state = PortSip()
    with serve_app(portsip_app(state)) as emulator, \
            serve_app(runtime(flow_of(attack_flow), portsip_runtime(emulator + "/api")), **server_options()) as url:
        yield state, url


def telphin_route(url: str) -> str:
    return signed(url, "/telphin/interactive", flow="attack", node="entry", kind="route")


def portsip_route(url: str) -> str:
    return signed(url, "/portsip/action", flow="attack", node="entry", kind="route")


# --- bodies that crashed the parser ---------------------------------------------------------------

DEEP = b"[" * 50_000
LONG_INTEGER = b'{"sessionId": "s-digits", "callingParty": ' + b"1" * 5_000 + b"}"
#: (name, body, status, code): each is sent to every JSON callback.
BODIES = [
    ("nesting 50,000 deep", DEEP, 400, "too_deep"),
    ("nesting inside a field", b'{"sessionId": "s", "dtmfParams": ' + DEEP + b"}", 400, "too_deep"),
    ("closed nesting 40 deep", b'{"sessionId": "s", "x": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "too_deep"),
    ("a 5,000-digit integer", LONG_INTEGER, 400, "number_too_long"),
    ("a 5,000-digit fraction", b'{"sessionId": "s", "callingParty": 0.' + b"1" * 5_000 + b"}", 400,
     "number_too_long"),
    ("an infinite number", b'{"sessionId": "s", "callingParty": 1e400}', 400, "number_out_of_range"),
    ("NaN", b'{"sessionId": "s", "callingParty": NaN}', 400, "invalid_json"),
    ("a lone surrogate", b'{"sessionId": "\\ud800", "callingParty": "1"}', 400, "invalid_string"),
    ("a lone surrogate in a key", b'{"sessionId": "s", "\\udfff": 1}', 400, "invalid_string"),
    ("bytes that are not UTF-8", b'{"sessionId": "\xff\xfe"}', 400, "invalid_json"),
    ("a surrogate encoded in UTF-8", b'{"sessionId": "\xed\xa0\x80"}', 400, "invalid_json"),
    ("70 KB", b'{"sessionId": "' + b"x" * 70_000 + b'"}', 413, "body_too_large"),
]
MEDIASERVICE = ["newCall", "getIvrCommand", "callEvent", "callAnswered", "sessionCompleted", "getCallIdentifier",
                "callNotify", "alarm"]


@pytest.mark.parametrize(("name", "body", "status", "code"), BODIES, ids=[b[0] for b in BODIES])
def test_hostile_json_gets_a_4xx_json_error_on_every_callback(portsip: tuple[PortSip, str], name: str, body: bytes,
                                                              status: int, code: str) -> None:
    url = portsip[1]
    targets = [(f"{url}/mediaservice/{callback}", BEARER) for callback in MEDIASERVICE]
    targets.append((portsip_route(url), {}))
    answers = {}
    for address, headers in targets:
        name = address.split("?")[0].rsplit("/", 1)[1]
        try:
            response = post(address, content=body, headers={**headers, "Content-Type": "application/json"})
        except httpx.TransportError as error:  # the server dropped the connection (as after a 500)
            answers[name] = (0, type(error).__name__)
            continue
        answers[name] = (response.status_code, _code(response))
    assert answers == {key: (status, code) for key in answers}


def test_a_well_formed_body_still_works(portsip: tuple[PortSip, str]) -> None:
    url = portsip[1]
    nested = {"sessionId": "s-fine", "callingParty": 4420790000001, "x": [[[{"a": "\\ud83d\\ude00 😀"}]]]}
    assert post(f"{url}/mediaservice/newCall", json=nested, headers=BEARER).status_code == 200
    echo = post(f"{url}/mediaservice/getCallIdentifier", json={"sessionId": "s-😀"}, headers=BEARER)
    assert echo.json() == {"sessionId": "s-😀"}


def test_the_portsip_action_url_refuses_a_large_body_before_reading_it(portsip: tuple[PortSip, str]) -> None:
    url = portsip[1]
    body = b'{"input": "1", "pad": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    answer = post(portsip_route(url), content=body, headers={"Content-Type": "application/json"})
    assert (answer.status_code, _code(answer)) == (413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once 64 KiB have arrived
        yield b'{"input": "1", "pad": "'
        for _ in range(100):
            yield b"x" * 65_536
    answer = post(portsip_route(url), content=chunks(), headers={"Content-Type": "application/json"})
    assert (answer.status_code, _code(answer)) == (413, "body_too_large")


def test_the_telphin_form_is_bounded_too(telphin: tuple[Telphin, str]) -> None:
    url = telphin[1]
    big = post(telphin_route(url), data={"CallerIDNum": "1", "pad": "x" * 70_000})
    assert (big.status_code, _code(big)) == (413, "body_too_large")
    fields = post(telphin_route(url), data={f"f{i}": "1" for i in range(500)})
    assert fields.status_code == 400 and _code(fields)
    upload = post(telphin_route(url), files={"file": ("x.wav", b"RIFF")})
    assert upload.status_code == 400 and _code(upload)


def test_a_telphin_ask_answered_repeat_without_where_it_leads_is_a_422() -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def repeat(request: Any) -> JSONResponse:
        return JSONResponse({"action": "repeat"})
    service = Starlette(routes=[Route("/{path:path}", repeat, methods=["POST"])])
    client = httpx.AsyncClient(mounts={"all://appointments.riverside.example": httpx.ASGITransport(app=service)})
    app = runtime(flow_of(EXAMPLES / "clinic.ivr"), telphin_runtime(f"http://127.0.0.1:{free_port()}"), http=client)
    with serve_app(app) as url:
        answer = post(signed(url, "/telphin/interactive", flow="clinic", node="main", kind="ask", event="press 1",
                             copy="x"), data={"CallerIDNum": "1"})  # a URL of before `repeat=`: no 500
    assert (answer.status_code, _code(answer)) == (422, "no_repeat")


# --- the test clock ----------------------------------------------------------------------------

#: The same instant in the forms `simulate --at` takes, and what the route answers then.
GOOD_CLOCKS = [
    ("2026-11-23 10:00", "open"),  # wall-clock time where the hours are
    ("2026-11-23T10:00:00", "open"),
    ("2026-11-23 18:30", "closed"),
    ("2026-11-23 18:30 Europe/Moscow", "open"),  # 15:30 in London
    ("2026-11-23T18:30+03:00", "open"),
    ("2026-11-23T10:00Z", "open"),
    ("2026-11-23 17:30 UTC", "closed"),
    ("2026-11-28 12:00 Europe/London", "closed"),  # a Saturday
]
BAD_CLOCKS = ["garbage", "2026-13-45 10:00", "2026-11-23 10:00 Mars/Olympus", "2026-11-23 10:00 ../../etc/passwd",
              "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1000-01-01 10:00", "9" * 5_000, ""]


def _webhooks(telphin: tuple[Telphin, str], portsip: tuple[PortSip, str]) -> dict[str, Any]:
    """How to ask each webhook what the attack flow's route does at a given clock."""
    contexts = {c["description"].split(" ")[0].rsplit(":", 1)[1]: c["id"] for c in telphin[0].contexts.values()
                if str(c.get("description", "")).startswith("ivrflow:attack:context:")}

    def on_telphin(clock: str) -> tuple[int, Any]:
        answer = post(telphin_route(telphin[1]), data={"CallerIDNum": "1"}, headers={"X-Ivrflow-Clock": clock})
        if answer.status_code != 200:
            return answer.status_code, _code(answer)
        return 200, "open" if f'context="{contexts["entry/0"]}"' in answer.text else "closed"

    def on_portsip(clock: str) -> tuple[int, Any]:
        answer = post(portsip_route(portsip[1]), json={"from": "1"}, headers={"X-Ivrflow-Clock": clock})
        if answer.status_code != 200:
            return answer.status_code, _code(answer)
        return 200, {"100": "open", "200": "closed"}[answer.json()["destination"]]

    def on_mediaservice(clock: str) -> tuple[int, Any]:
        answer = post(f"{portsip[1]}/mediaservice/newCall", json={"sessionId": f"s-clock-{clock[:40]}"},
                            headers={**BEARER, "X-Ivrflow-Clock": clock})
        if answer.status_code != 200:
            return answer.status_code, _code(answer)
        return 200, "open" if "100" in answer.json()["destAddr"] else "closed"
    return {"telphin": on_telphin, "portsip": on_portsip, "mediaservice": on_mediaservice}


def test_every_webhook_reads_the_test_clock_as_simulate_at_does(
        telphin: tuple[Telphin, str], portsip: tuple[PortSip, str], attack_flow: Path) -> None:
    from ivrflow.compiler.simulate import run_call
    from ivrflow.simulation import line

    flow = flow_of(attack_flow)
    for clock, expected in GOOD_CLOCKS:
        offline = run_call(flow, [], line(clock, None), [])[0].outcome.target
        assert {"100": "open", "200": "closed"}[str(offline)] == expected, clock
        for name, ask in _webhooks(telphin, portsip).items():
            assert ask(clock) == (200, expected), (name, clock)


def test_a_bad_test_clock_is_a_422_on_every_webhook(telphin: tuple[Telphin, str],
                                                     portsip: tuple[PortSip, str]) -> None:
    answers = {(name, clock[:20]): ask(clock) for clock in BAD_CLOCKS
               for name, ask in _webhooks(telphin, portsip).items()}
    assert answers == {key: (422, "bad_clock") for key in answers}


# --- the platform's API is down during a callback ----------------------------------------------

def test_telphin_lookups_serve_cached_ids_while_the_api_is_down_else_503(
        telphin: tuple[Telphin, str], attack_flow: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    state, url = telphin
    ask = _webhooks(telphin, ("unused", url))["telphin"]  # type: ignore[arg-type]
    assert ask("2026-11-23 10:00") == (200, "open")  # the ids are cached now
    monkeypatch.setattr(directory, "TTL_S", 0.0)  # every callback reads again
    monkeypatch.setattr(state, "faults", Faults(rate=1.0, kinds=("503",)))
    with caplog.at_level(logging.WARNING, logger="ivrflow.runtime"):
        assert ask("2026-11-23 10:00") == (200, "open")
        assert ask("2026-11-23 20:00") == (200, "closed")
    assert "the Telphin API failed" in caplog.text
    dead = f"http://127.0.0.1:{free_port()}"
    with serve_app(runtime(flow_of(attack_flow), telphin_runtime(dead))) as cold, caplog.at_level(logging.WARNING):
        answer = post(telphin_route(cold), data={"CallerIDNum": "1"})
        assert (answer.status_code, _code(answer)) == (503, "platform_unavailable")
    assert "platform_unavailable" in caplog.text


def test_portsip_lookups_serve_cached_numbers_while_the_api_is_down_else_503(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from .test_portsip import environment as portsip_environment

    state = PortSip()
    path = EXAMPLES / "quickstart.ivr"
    flow = flow_of(path)
    menu = signed("", "/portsip/action", flow="quickstart", node="main", kind="menu", copy="0")
    with serve_app(portsip_app(state)) as emulator, \
            serve_app(runtime(flow, portsip_runtime(emulator + "/api"))) as url:
        deploy_with(portsip_target, path, portsip_environment(emulator + "/api", url))
        first = post(url + menu, json={"input": "7"})  # a wrong key: the menu again, after "sorry"
        assert first.status_code == 200 and first.json()["action"] == "call"
        monkeypatch.setattr(directory, "TTL_S", 0.0)
        monkeypatch.setattr(state, "faults", Faults(rate=1.0, kinds=("503",)))
        with caplog.at_level(logging.WARNING, logger="ivrflow.runtime"):
            assert post(url + menu, json={"input": "7"}).json() == first.json()
        assert "the PortSIP API failed" in caplog.text
    dead = f"http://127.0.0.1:{free_port()}"
    with serve_app(runtime(flow, portsip_runtime(dead))) as cold:
        answer = post(cold + menu, json={"input": "7"})
        assert (answer.status_code, _code(answer)) == (503, "platform_unavailable")


def test_a_platform_api_that_hangs_delays_a_callback_by_the_read_deadline_at_most(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from ivrflow.runtime.http import HTTPProblem

    monkeypatch.setattr(directory, "READ_DEADLINE_S", 0.2)
    answers = iter([{"main": 7001}])

    def read() -> dict[str, int]:  # answers once, then hangs (as an API that accepts and never answers)
        for ids in answers:
            return ids
        time.sleep(1.0)
        return {}
    lookup = directory.Lookup(read, "Example")

    async def ask() -> tuple[Any, ...]:
        first = await lookup.get("main")
        lookup.read_at = 0.0  # stale: read again
        started = time.monotonic()
        stale = await lookup.get("main")
        waited = time.monotonic() - started
        try:
            await lookup.get("other")
        except HTTPProblem as problem:
            return first, stale, waited, problem.status
        return first, stale, waited, None
    first, stale, waited, status = asyncio.run(ask())
    assert (first, stale, status) == (7001, 7001, 503) and waited < 0.6


# --- clients that go away, or take forever -----------------------------------------------------

def _raw(url: str) -> socket.socket:
    parts = urllib.parse.urlsplit(url)
    return socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5)


def _request_head(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


def test_a_client_that_disconnects_mid_body_is_an_info_line_not_an_error(
        portsip: tuple[PortSip, str], caplog: pytest.LogCaptureFixture) -> None:
    url = portsip[1]
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            for path in ("/mediaservice/newCall", urllib.parse.urlsplit(portsip_route(url))._replace(
                    scheme="", netloc="").geturl()):
                with _raw(url) as client:
                    client.sendall(_request_head(path, 1_000) + b'{"sessionId": "s-gone", ')
                    time.sleep(0.1)
                deadline = time.monotonic() + 5
                while "disconnected" not in caplog.text and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert "disconnected" in caplog.text
                caplog.clear()
                assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    finally:
        uvicorn_log.removeHandler(caplog.handler)


def test_a_body_trickled_slowly_is_cut_off_with_408(portsip: tuple[PortSip, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "BODY_READ_TIMEOUT_S", 0.5)
    started = time.monotonic()
    reply = b""
    with _raw(portsip[1]) as client:
        client.sendall(_request_head("/mediaservice/newCall", 100))
        client.settimeout(0.2)
        while time.monotonic() - started < 4 and b'"body_timeout"' not in reply:  # one byte per 0.2 s
            try:
                client.send(b" ")
                reply += client.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
    assert reply.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in reply, reply[:200]
    assert time.monotonic() - started < 2


def test_headers_trickled_slowly_are_cut_off(portsip: tuple[PortSip, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from ivrflow.runtime import protocol

    monkeypatch.setattr(protocol, "HEADER_TIMEOUT_S", 0.5)
    with _raw(portsip[1]) as client:  # a new connection: it gets the new deadline
        started = time.monotonic()
        client.settimeout(0.1)
        closed = False
        for byte in b"POST /mediaservice/newCall HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100:
            if time.monotonic() - started > 2.5:
                break
            try:
                client.send(bytes([byte]))  # one byte per 0.1 s
                closed = client.recv(100) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed:
                break
    assert closed and time.monotonic() - started < 2
    with _raw(portsip[1]) as client:  # headers beyond 16 KiB
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 100_000 + b"\r\n\r\n")
        assert client.recv(100).startswith(b"HTTP/1.1 400")


def _answer(client: socket.socket) -> bytes:
    """What the server sends until it closes the connection or stops for 2 s."""
    client.settimeout(2)
    answer = b""
    with contextlib.suppress(TimeoutError, OSError):
        while chunk := client.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("pieces", [2, 12])
def test_headers_over_the_bound_are_refused_however_they_are_cut(portsip: tuple[PortSip, str],
                                                                  pieces: int) -> None:
    """20 KiB of headers sent in pieces each under the 16 KiB bound: in two
    pieces the headers complete in the second; twelve pieces never end them
    (endless headers), and the server cuts the client off without waiting
    for the header deadline."""
    from ivrflow.runtime.protocol import MAX_HEADER_BYTES

    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * (MAX_HEADER_BYTES + 4096)
    if pieces == 2:
        head += b"\r\n\r\n"
    size = -(-len(head) // pieces)
    with _raw(portsip[1]) as client:
        for start in range(0, len(head), size):
            try:
                client.sendall(head[start:start + size])
            except OSError:  # cut off mid-way: what the bound is for
                break
            time.sleep(0.05)  # each piece read on its own
        assert _answer(client).startswith(b"HTTP/1.1 400")


def test_headers_under_the_bound_pass_with_a_large_body_in_the_same_piece(portsip: tuple[PortSip, str]) -> None:
    """Only header bytes count toward the bound: a 60 KiB body that comes in
    the same piece as the headers is read, not refused as headers."""
    body = json.dumps({"sessionId": "s-large-body", "padding": "p" * 60_000}).encode()
    with _raw(portsip[1]) as client:
        client.sendall(_request_head("/mediaservice/newCall", len(body)) + body)
        answer = _answer(client)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_headers_trickled_on_a_kept_alive_connection_get_their_own_deadline(
        portsip: tuple[PortSip, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from ivrflow.runtime import protocol

    monkeypatch.setattr(protocol, "HEADER_TIMEOUT_S", 0.5)
    with _raw(portsip[1]) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(0.3)  # the next request begins before the connection's first deadline passes …
        started = time.monotonic()
        client.settimeout(0.05)
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100:
            if time.monotonic() - started > 2.5:
                break
            try:
                client.send(bytes([byte]))
                closed = client.recv(100) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed:
                break
    # … and is cut off at its own deadline, not the first request's
    assert closed and 0.45 < time.monotonic() - started < 1.5


def test_an_idle_kept_alive_connection_outlasts_a_clients_pool(portsip: tuple[PortSip, str]) -> None:
    """A platform's client reuses a pooled connection after seconds idle: the
    server must not close it first (uvicorn's default closed it after 5 s, and
    a callback written as it closed got a reset instead of an answer)."""
    with _raw(portsip[1]) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(5.5)
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")


def test_the_header_deadline_sets_no_timer_per_request() -> None:
    """A kept-alive connection's requests share one pending timer (uvicorn's
    own keep-alive timer aside), instead of setting and cancelling one each."""
    import asyncio

    import uvicorn
    from uvicorn.server import ServerState

    from ivrflow.runtime.protocol import GuardedHttpToolsProtocol

    class Transport(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.written = b""

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

        def write(self, data: bytes) -> None:  # type: ignore[override]
            self.written += data

        def is_closing(self) -> bool:
            return False

        def close(self) -> None: ...
        def pause_reading(self) -> None: ...
        def resume_reading(self) -> None: ...

    async def hello(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        config = uvicorn.Config(hello, lifespan="off", log_level="warning")
        config.load()
        timers: list[str] = []
        call_at = loop.call_at
        loop.call_at = lambda when, callback, *args, **kwargs: (  # type: ignore[method-assign]
            timers.append(callback.__name__), call_at(when, callback, *args, **kwargs))[1]
        server = GuardedHttpToolsProtocol(config, ServerState(), {}, loop)
        transport = Transport()
        server.connection_made(transport)
        for _ in range(100):
            server.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            for _ in range(5):
                await asyncio.sleep(0)
        server.connection_lost(None)
        return transport.written.count(b"HTTP/1.1 200"), len([t for t in timers if "keep_alive" not in t])
    answered, header_timers = asyncio.run(run())
    assert answered == 100
    assert header_timers <= 1


def test_ivrflow_serve_runs_with_these_limits() -> None:
    with ivrflow_serve(EXAMPLES / "quickstart.ivr", "--insecure") as (url, log):
        with _raw(url) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 100_000 + b"\r\n\r\n")
            assert client.recv(100).startswith(b"HTTP/1.1 400")
        with _raw(url) as client:
            client.sendall(_request_head("/mediaservice/newCall", 1_000) + b'{"sessionId": ')
        deadline = time.monotonic() + 5
        while "disconnected" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = log.read_text()
    assert "the client disconnected before its body was read" in text
    assert "Traceback" not in text and " ERROR " not in text


# --- credentials -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keys() -> tuple[Any, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, public


def _jwt(key: Any, **claims: Any) -> str:
    import jwt

    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="RS256")


def test_a_platform_jwt_must_expire_and_match_the_configured_issuer_and_audience(keys: tuple[Any, str]) -> None:
    key, public = keys
    flow = flow_of(EXAMPLES / "quickstart.ivr")
    now = int(time.time())
    plain = Credentials(public_key=public)
    strict = Credentials(public_key=public, issuer="iotcomms", audience="ivrflow-prod")
    cases = [
        (plain, {"iss": "iotcomms", "exp": now + 60}, 200),
        (plain, {"iss": "iotcomms"}, 401),  # no exp: it would be good forever
        (plain, {"iss": "iotcomms", "exp": now - 120}, 401),
        (strict, {"iss": "iotcomms", "aud": "ivrflow-prod", "exp": now + 60}, 200),
        (strict, {"iss": "iotcomms", "aud": "ivrflow-test", "exp": now + 60}, 401),
        (strict, {"iss": "iotcomms", "exp": now + 60}, 401),  # no aud
        (strict, {"iss": "someone", "aud": "ivrflow-prod", "exp": now + 60}, 401),
    ]
    apps = {id(c): runtime(flow, {"webhooks": _webhooks_only()}, credentials=c) for c in (plain, strict)}
    with serve_app(apps[id(plain)]) as plain_url, serve_app(apps[id(strict)]) as strict_url:
        urls = {id(plain): plain_url, id(strict): strict_url}
        got = []
        for credentials, claims, _ in cases:
            answer = post(f"{urls[id(credentials)]}/mediaservice/newCall",
                                json={"sessionId": f"s-jwt-{len(got)}"},
                                headers={"Authorization": f"Bearer {_jwt(key, **claims)}"})
            got.append(answer.status_code)
    assert got == [status for _, _, status in cases]


def test_serve_reads_the_jwt_issuer_and_audience_from_the_environment(tmp_path: Path, keys: tuple[Any, str]) -> None:
    from ivrflow.runtime.serve import settings

    (tmp_path / "platform.pem").write_text(keys[1])
    env = Environment("prod", str(tmp_path / "ivrflow.toml"), {
        "target": "mediaservice", "callback_public_key": "platform.pem", "callback_jwt_issuer": "iotcomms",
        "callback_jwt_audience": "ivrflow-prod"}, environ={})
    credentials = settings(env, False, {}).credentials
    assert (credentials.issuer, credentials.audience) == ("iotcomms", "ivrflow-prod")


def test_rejected_callbacks_are_logged_without_their_secrets(portsip: tuple[PortSip, str],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    url = portsip[1]
    forged = "f0rged5ignature0000000000000000"
    wrong_bearer = "wr0ng-bearer-that-must-not-be-logged"
    with caplog.at_level(logging.DEBUG):
        route = portsip_route(url).split("&sig=")[0] + f"&sig={forged}"
        assert post(route, json={"from": "1"}).status_code == 401
        assert post(f"{url}/mediaservice/newCall", json={"sessionId": "s-401"},
                          headers={"Authorization": f"Bearer {wrong_bearer}"}).status_code == 401
        assert post(f"{url}/mediaservice/newCall", json={"sessionId": "s-401"},
                          headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    # The server's lines (the test's own HTTP client logs the URLs it requests).
    server = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("ivrflow", "uvicorn")))
    assert "bad_signature" in server and "unauthorized" in server
    for secret in (forged, wrong_bearer, TOKEN, signature(TOKEN, {"flow": "attack", "node": "entry", "kind": "route"})):
        assert secret not in server


# --- the routing service answers nonsense ------------------------------------------------------

def test_a_routing_service_answering_absurd_json_gets_the_fallback() -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def deep(request: Any) -> Response:
        return Response(DEEP, media_type="application/json")
    service = Starlette(routes=[Route("/{path:path}", deep, methods=["POST"])])
    flow = flow_of(EXAMPLES / "clinic.ivr")
    client = httpx.AsyncClient(mounts={"all://appointments.riverside.example": httpx.ASGITransport(app=service)})
    app = runtime(flow, {"webhooks": _webhooks_only()}, http=client)
    with serve_app(app) as url:
        started = post(f"{url}/mediaservice/newCall", json={"sessionId": "s-ask"}, headers=BEARER)
        assert started.status_code == 200
        for _ in range(4):
            answer = post(f"{url}/mediaservice/getIvrCommand", json={"sessionId": "s-ask", "dtmfBuffer": "1"},
                                headers=BEARER)
            assert answer.status_code == 200, answer.text


def _webhooks_only() -> dict[str, Any]:
    from ivrflow import targets

    return targets.webhooks()


def _code(response: httpx.Response) -> str | None:
    try:
        return str(json.loads(response.content)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def test_a_body_in_pieces_is_read_whole_within_one_deadline_for_all_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """read_body arms no timer for a piece that has already arrived; pieces
    that have to be waited for still share the one deadline."""
    import asyncio

    from starlette.requests import ClientDisconnect, Request

    monkeypatch.setattr(http, "BODY_READ_TIMEOUT_S", 0.3)

    def request(pieces: list[tuple[float, dict[str, Any]]]) -> Request:
        async def receive() -> dict[str, Any]:
            pause, message = pieces.pop(0)
            if pause:
                await asyncio.sleep(pause)
            return message
        return Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)

    def piece(body: bytes, more: bool = True) -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": more}

    async def read(pieces: list[tuple[float, dict[str, Any]]]) -> bytes | str:
        try:
            return await http.read_body(request(pieces))
        except http.HTTPProblem as problem:
            return f"{problem.status} {problem.code}"
        except ClientDisconnect:
            return "disconnected"

    assert asyncio.run(read([(0, piece(b'{"a":', True)), (0, piece(b"1}", False))])) == b'{"a":1}'
    assert asyncio.run(read([(0.05, piece(b"[", True)), (0, piece(b"", True)), (0.05, piece(b"]", False))])) == b"[]"
    # each piece well within the time, but not all of them together
    assert asyncio.run(read([(0.15, piece(b"1")), (0.15, piece(b"2")), (0.15, piece(b"3", False))])) == \
        "408 body_timeout"
    assert asyncio.run(read([(0, piece(b"x" * 40_000)), (0.01, piece(b"x" * 40_000, False))])) == \
        "413 body_too_large"
    assert asyncio.run(read([(0, piece(b"1")), (0.01, {"type": "http.disconnect"})])) == "disconnected"

    async def timers_armed(pieces: list[tuple[float, dict[str, Any]]]) -> int:
        loop = asyncio.get_running_loop()
        armed: list[float] = []
        call_at = loop.call_at
        loop.call_at = lambda when, *args, **kwargs: armed.append(when) or call_at(when, *args, **kwargs)  # type: ignore[method-assign]
        await http.read_body(request(pieces))
        return len(armed)
    assert asyncio.run(timers_armed([(0, piece(b"{}", False))])) == 0  # the usual callback: its body is there
    assert asyncio.run(timers_armed([(0.01, piece(b"{}", False))])) >= 1


#: Bodies a callback may send, parsed by parse_json's fast way (orjson) or its exact one: each must give
#: the standard library's values, of the same types (a large integer stays an integer).
PARSED_ALIKE = [
    b'{"sessionId": "s", "dtmfBuffer": "12#", "dtmfParams": {"dtmfMatch": "1", "reason": "maxDigits"}}',
    b'{"callingParty": 18446744073709551615, "calledParty": -9223372036854775808}',
    b'{"callingParty": 18446744073709551616, "calledParty": 123456789012345678901234567890}',
    b'{"n": [0, -0, -0.0, 1.5e10, 2E-5, 0.1, 123456789.12345678, 1.7976931348623157e308, 5e-324]}',
    b'{"s": "\\ud83d\\ude00 \xf0\x9f\x98\x80 \\u00e9 \\n\\t\\"\\\\ \\/", "a": 1, "a": 2}',
    b' [ {"x": [[[[]]]], "y": {}}, true, false, null, "" ] ',
    b'"a phone number +4912345678901234567890 in a string"',
    b'12345678901234567890123',
]


@pytest.mark.parametrize("body", PARSED_ALIKE)
def test_parse_json_gives_the_standard_librarys_values_of_the_same_types(body: bytes) -> None:
    def typed(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: typed(item) for key, item in value.items()}
        if isinstance(value, list):
            return [typed(item) for item in value]
        return (type(value).__name__, repr(value))

    assert typed(http.parse_json(body)) == typed(json.loads(body))
