"""Session stores: Redis answers a callback in one round trip and keeps the
call alive with each one; neither store keeps what a callback makes too big."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from ivrflow import targets
from ivrflow.compiler.machine import Call
from ivrflow.loader import load
from ivrflow.runtime.app import create_app
from ivrflow.runtime.http import Credentials, HTTPProblem
from ivrflow.runtime.sessions import MemoryStore, RedisStore, Session, SessionConflict, Store

from .servers import redis_server, serve_app

TOKEN = "test-callback-token-7c1"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
FLOW = """
prompt hi say "For more press 2. To leave press 1."
menu main {
    play hi
    press 1 -> hangup
    press 2 -> goto second
    on timeout -> hangup
    on invalid -> hangup
}
menu second {
    play hi
    press 1 -> hangup
    on timeout -> hangup
    on invalid -> hangup
}
"""
#: One call: (callback, extra body) in the order a platform sends them.
CALL = [("newCall", {"callingParty": "+442071234567", "calledParty": "ivr"}), ("getIvrCommand", {}),
        ("getIvrCommand", {"dtmfBuffer": "2"}), ("getIvrCommand", {"dtmfBuffer": "1"}), ("sessionCompleted", {})]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


def app_with(store: Store, tmp_path: Path) -> Any:
    (tmp_path / "bench.ivr").write_text(FLOW)
    result = load(str(tmp_path / "bench.ivr"), check_files=False)
    assert result.flow is not None
    return create_app(result.flow, store, Credentials(token=TOKEN), webhooks=targets.webhooks())


class Monitor:
    """Redis's MONITOR: the commands clients send, each as it arrives."""

    def __init__(self, url: str):
        where = urlparse(url)
        self.address = (where.hostname or "127.0.0.1", where.port or 6379)
        self.sock = socket.create_connection(self.address, timeout=5)
        self.sock.sendall(b"MONITOR\r\n")
        self.buffer = b""
        assert self._line() == "+OK"
        self.marks = 0

    def _line(self) -> str:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "MONITOR closed"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def commands(self) -> list[str]:
        """The commands sent from outside scripts since the last call, by name."""
        self.marks += 1
        mark = f"mark-{self.marks}"
        with socket.create_connection(self.address, timeout=5) as other:
            other.sendall(f"ECHO {mark}\r\n".encode())
            other.recv(100)
        seen = []
        while True:
            line = self._line()
            if f'"{mark}"' in line:
                return seen
            if " lua]" not in line:  # commands a script runs are shown as from "lua"
                seen.append(line.split('"')[1].upper())

    def close(self) -> None:
        self.sock.close()


def test_redis_answers_each_callback_in_one_round_trip_and_each_restarts_the_expiry(
        redis_url: str, tmp_path: Path) -> None:
    import redis

    store = RedisStore(redis_url, ttl_s=600)
    client = redis.Redis.from_url(redis_url)
    key = "ivrflow:session:call-1"
    monitor = Monitor(redis_url)
    try:
        with serve_app(app_with(store, tmp_path)) as url:
            client.ping()
            monitor.commands()  # the server's start (PING, SCRIPT LOAD) and this test's connection
            sent = []
            for name, extra in CALL:
                if client.exists(key):
                    client.expire(key, 5)  # nearly expired: the callback must give it its full time again
                response = httpx.post(f"{url}/mediaservice/{name}", json={"sessionId": "call-1", **extra},
                                      headers=HEADERS)
                assert response.status_code == 200, response.text
                sent.append([c for c in monitor.commands() if c not in ("EXISTS", "EXPIRE", "TTL")])
                if name != "sessionCompleted":
                    assert 590 <= client.ttl(key) <= 600
            assert [len(commands) for commands in sent] == [1] * len(CALL), sent
            assert sent[-1] == ["DEL"] and not client.exists(key)
    finally:
        monitor.close()
        client.close()


def test_a_call_moved_between_servers_is_read_again_not_overwritten(redis_url: str) -> None:
    async def run() -> None:
        first, second = RedisStore(redis_url), RedisStore(redis_url)
        try:
            await first.put(Session("moved", Call(), started="2026-11-23T10:00:00"))
            on_second = await second.get("moved")
            assert on_second is not None
            on_second.caller = "changed on the second server"
            await second.put(on_second)
            stale = await first.get("moved")  # the first server's own copy: no read
            assert stale is not None and stale.caller is None
            stale.called = "lost update"
            with pytest.raises(SessionConflict):
                await first.put(stale)
            fresh = await first.get("moved")  # read again after the conflict
            assert fresh is not None and fresh.caller == "changed on the second server"
            fresh.called = "kept"
            await first.put(fresh)
            final = await second.get("moved")
            assert final is not None and (final.caller, final.called) == ("changed on the second server", "kept")
        finally:
            await first.close()
            await second.close()
    asyncio.run(run())


def test_redis_carries_a_thousand_concurrent_calls_without_errors(redis_url: str) -> None:
    """The burst that made 11 of 1,000 calls fail with 503 store_unavailable
    (the connection pool let waiters starve past its 2 s wait)."""
    async def run() -> list[Any]:
        store = RedisStore(redis_url)

        async def call(n: int) -> None:
            await store.put(Session(f"burst-{n}", Call(), started="2026-11-23T10:00:00"))
            for _ in range(6):
                session = await store.get(f"burst-{n}")
                assert session is not None
                session.path.append({"node": "main"})
                await store.put(session)
            await store.delete(f"burst-{n}")
        try:
            return await asyncio.gather(*(call(n) for n in range(1000)), return_exceptions=True)
        finally:
            await store.close()
    results = asyncio.run(run())
    assert [r for r in results if r is not None] == []


@pytest.mark.parametrize("kind", ["memory", "redis"])
@pytest.mark.parametrize(("field", "value", "code"), [
    ("id", "s" * 257, "field_too_long"),
    ("caller", "+44" * 1000, "field_too_long"),
    ("called", "9" * 300, "field_too_long"),
    ("api_base", "https://x.example/" + "a" * 3000, "field_too_long"),
    ("path", [{"node": "main", "event": "timeout", "played": ["x" * 200], "keys": None}] * 400, "session_too_large"),
])
def test_stores_refuse_over_long_fields(redis_url: str, kind: str, field: str, value: Any, code: str) -> None:
    async def run() -> None:
        store: Store = MemoryStore() if kind == "memory" else RedisStore(redis_url)
        session = Session("bounded", Call(), started="2026-11-23T10:00:00")
        setattr(session, field, value)
        try:
            with pytest.raises(HTTPProblem) as refused:
                await store.put(session)
            assert (refused.value.status, refused.value.code) == (422, code)
            if field == "id":
                with pytest.raises(HTTPProblem, match="longer than 256"):
                    await store.get(value)
            else:
                assert await store.get("bounded") is None  # nothing was stored
        finally:
            await store.close()
    asyncio.run(run())


def test_the_memory_store_is_bounded_in_bytes() -> None:
    async def run() -> MemoryStore:
        store = MemoryStore(max_bytes=50_000)
        for n in range(200):
            await store.put(Session(f"s{n}", Call(), caller="+44" * 80, path=[{"node": "x" * 200}],
                                    started="2026-11-23T10:00:00"))
        return store
    store = asyncio.run(run())
    assert 0 < store.bytes <= 50_000 and len(store) < 200
    assert asyncio.run(store.get("s199")) is not None  # the newest stay


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_an_over_long_session_id_is_a_422_and_nothing_is_stored(redis_url: str, tmp_path: Path, kind: str) -> None:
    store: Store = MemoryStore() if kind == "memory" else RedisStore(redis_url)
    with serve_app(app_with(store, tmp_path)) as url:
        huge = "x" * 60_000
        response = httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": huge}, headers=HEADERS)
        assert response.status_code == 422 and response.json()["error"]["code"] == "field_too_long"
        response = httpx.post(f"{url}/mediaservice/newCall", json={"sessionId": "ok", "callingParty": "1" * 5000},
                              headers=HEADERS)
        assert response.status_code == 422 and "callingParty" in response.json()["error"]["message"]
        response = httpx.post(f"{url}/mediaservice/getIvrCommand", json={"sessionId": huge}, headers=HEADERS)
        assert response.status_code == 422
    if isinstance(store, MemoryStore):
        assert len(store) == 0 and store.bytes == 0
    else:
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            assert client.keys("ivrflow:session:x*") == [] and client.keys("ivrflow:session:ok") == []
        finally:
            client.close()


def test_a_lone_surrogate_in_a_session_id_does_not_crash_redis(redis_url: str, tmp_path: Path) -> None:
    body = json.dumps({"sessionId": "\ud800-lonely"}).encode()  # JSON escapes it: \\ud800
    with serve_app(app_with(RedisStore(redis_url), tmp_path)) as url:
        response = httpx.post(f"{url}/mediaservice/newCall", content=body,
                              headers={**HEADERS, "Content-Type": "application/json"})
    assert response.status_code < 500, response.text  # stored (200), or refused by the body reader (4xx)

    async def direct() -> Session | None:
        store = RedisStore(redis_url)
        try:
            await store.put(Session("\udcff", Call(), started="2026-11-23T10:00:00"))
            return await store.get("\udcff")
        finally:
            await store.close()
    found = asyncio.run(direct())
    assert found is not None and found.id == "\udcff"


def test_redis_that_forgot_the_script_still_stores_calls(redis_url: str) -> None:
    import redis

    async def run() -> Session | None:
        store, other = RedisStore(redis_url), RedisStore(redis_url)
        client = redis.Redis.from_url(redis_url)
        try:
            await store.ping()
            client.script_flush()  # as after a Redis restart
            await store.put(Session("after-flush", Call(), started="2026-11-23T10:00:00"))
            return await other.get("after-flush")
        finally:
            client.close()
            await store.close()
            await other.close()
    found = asyncio.run(run())
    assert found is not None and found.id == "after-flush"


def test_a_redis_that_stops_answering_is_a_503_within_the_timeout_and_then_recovers(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import redis

    monkeypatch.setattr(RedisStore, "TIMEOUT_S", 0.5)

    async def run() -> tuple[HTTPProblem, float, Session | None]:
        store = RedisStore(redis_url)
        client = redis.Redis.from_url(redis_url)
        try:
            await store.put(Session("paused", Call(), started="2026-11-23T10:00:00"))
            client.execute_command("CLIENT", "PAUSE", "1500", "ALL")
            started = time.monotonic()
            with pytest.raises(HTTPProblem) as refused:
                await store.put(Session("during-pause", Call(), started="2026-11-23T10:00:00"))
            waited = time.monotonic() - started
            await asyncio.sleep(1.5)  # the pause is over: the next write works
            await store.put(Session("after-pause", Call(), started="2026-11-23T10:00:00"))
            return refused.value, waited, await store.get("after-pause")
        finally:
            client.close()
            await store.close()
    refused, waited, after = asyncio.run(run())
    assert (refused.status, refused.code) == (503, "store_unavailable")
    assert 0.4 < waited < 1.2
    assert after is not None


def test_a_connection_redis_closed_while_idle_is_replaced_not_an_error(redis_url: str) -> None:
    import redis

    async def run() -> Session | None:
        store = RedisStore(redis_url)
        client = redis.Redis.from_url(redis_url)
        try:
            await store.put(Session("first", Call(), started="2026-11-23T10:00:00"))
            client.client_kill_filter(_type="normal", skipme=True)  # as a Redis `timeout` or a restart would
            await asyncio.sleep(0.1)
            await store.put(Session("second", Call(), started="2026-11-23T10:00:00"))
            return await store.get("second")
        finally:
            client.close()
            await store.close()
    assert asyncio.run(run()) is not None


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_callback_that_fails_half_way_leaves_the_stored_session_as_it_was(redis_url: str, kind: str) -> None:
    async def run() -> tuple[Session | None, Session]:
        store: Store = MemoryStore() if kind == "memory" else RedisStore(redis_url)
        try:
            original = Session("half-way", Call(), started="2026-11-23T10:00:00", pending=[{"phrases": []}] * 2,
                               path=[{"node": "main"}])
            await store.put(original)
            original.pending.pop()  # changed after it was stored
            changed = await store.get("half-way")
            assert changed is not None
            changed.pending.pop()
            changed.path.append({"node": "second"})
            changed.caller = "never stored"
            return await store.get("half-way"), Session("half-way", Call(), started="2026-11-23T10:00:00",
                                                       pending=[{"phrases": []}] * 2, path=[{"node": "main"}])
        finally:
            await store.close()
    stored, expected = asyncio.run(run())
    assert stored == expected


@pytest.mark.parametrize("value", ["plain", "Добрый день", "lone \ud800 surrogate", 10**30, 2.5, None])
def test_a_session_is_stored_as_ascii_json_that_reads_back_the_same(value: Any) -> None:
    session = Session("s-1", Call(), caller="+442071234567", started="2026-11-23T10:00:00",
                      path=[{"node": "main", "event": "keys", "played": ["hi"], "keys": value}])
    text = session.dumps()
    assert text.isascii()
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=True)
    assert Session.loads(text) == session


@pytest.mark.parametrize("value", ["plain", "Добрый день", 10**30, [1, 2.5, None]])
def test_json_responses_are_what_starlette_renders(value: Any) -> None:
    from starlette import responses

    from ivrflow.runtime.http import JSONResponse

    assert JSONResponse({"value": value}).body == responses.JSONResponse({"value": value}).body


@pytest.mark.parametrize(("status", "headers"), [(200, None), (404, {}), (200, {"X-Ivrflow-Path": "[]", "X-A": "b"}),
                                                 (204, None), (200, {"Content-Type": "text/plain"}),
                                                 (201, {"Content-Length": "99"})])
def test_json_responses_send_what_starlette_sends(status: int, headers: dict[str, str] | None) -> None:
    from starlette import responses

    from ivrflow.runtime.http import JSONResponse

    def sent(response: responses.Response) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            messages.append(message)
        asyncio.run(response({"type": "http"}, None, send))  # type: ignore[arg-type]
        return messages

    ours = JSONResponse({"value": "é"}, status_code=status, headers=headers)
    theirs = responses.JSONResponse({"value": "é"}, status_code=status, headers=headers)
    assert ours.raw_headers == theirs.raw_headers
    assert sent(ours) == sent(theirs)


def test_a_stored_session_keeps_every_field_but_its_version() -> None:
    """Session.dumps names its fields by hand: a field added to Session and
    not to dumps would be lost between callbacks."""
    from dataclasses import fields

    stored = json.loads(Session("s-1", Call(), started="2026-11-23T10:00:00").dumps())
    assert set(stored) == {f.name for f in fields(Session)} - {"version"}
