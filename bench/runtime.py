"""How fast does the runtime server answer callbacks, next to a bare endpoint
doing the same HTTP, JSON and auth work? Prints a table; exits 1 if any
callback failed.

`ivrflow serve` (one uvicorn worker, memory or Redis sessions) and a bare
Starlette endpoint (same uvicorn, same route shape; it checks the bearer
token, parses and checks the JSON body and answers a JSON command of the same
kind, but runs no flow and keeps no session) are started once, each as a
process pinned to the first core. A load generator, started afresh for every
measurement and pinned to the second core (with redis-server, if any), drives
scripted calls: a call is five callbacks (newCall, getIvrCommand ×3 through
two menus, then sessionCompleted). `--bare asgi` makes the bare endpoint a
plain ASGI callable doing the same work without Starlette: the floor of a
Python callback server under uvicorn.

The machine is shared and noisy, so runs are paired and interleaved: in
every round each ivrflow run is measured right next to a bare run (the order
alternating between rounds), the ratio is taken per pair, and the table
gives the median over the rounds of each figure. `think` is the pause
between a call's callbacks (jittered 0.5-1.5x); with 0 the servers are
saturated and latency is mostly queueing (concurrency / throughput).

    python bench/runtime.py                    # 200 calls, no think time, memory and Redis, 3 rounds
    python bench/runtime.py --scenario soak    # 1,000 calls, 500 ms think time, Redis: must end with no errors
    python bench/runtime.py --seconds 5 --rounds 5 --concurrency 50,200 --think 0,250 --stores memory
    python bench/runtime.py --scenario app     # no HTTP server: CPU per callback of the apps alone
    python bench/runtime.py --scenario bank    # examples/bank.ivr, its lookup answered in 5 ms: 50 and 200 calls
    python bench/runtime.py --bare asgi        # against a bare endpoint without a framework
    python bench/runtime.py --together --rounds 7 --stores memory   # both loaded at once: the precise ratio
    python bench/runtime.py --together --log-level warning          # ivrflow without its line per call

Even paired, a ratio moves by a tenth between rounds: the two runs of a
pair are seconds apart and the machine's speed changes in between (a bare
endpoint compared with itself moved between 0.79x and 1.14x). `--together`
loads both servers at the same time instead, each with its own load
generator: they share the first core, so each gets half of it, and the
ratio of their throughputs is the ratio of their costs per callback,
measured under the same conditions at the same moment (a bare endpoint
against itself: 0.97x-1.04x in every round). Latency in that mode is that
of a server with half a core: read the p99 goal from the default mode.

`--scenario bank` serves a copy of examples/bank.ivr (and common.ivr, the
branch open at all hours) whose lookup goes to a local service (uvicorn, its
own process, not pinned) that answers after 5 ms. A call is six callbacks:
newCall, getIvrCommand (main menu), 1 pressed, the account number ended by
"#" (the lookup runs; the answer must say the balance), callingPartyDrop,
sessionCompleted. The bare endpoint makes the same lookup over HTTP (one
pooled httpx client) for the callback that ends an entry with "#", and says
the balance it got (or, after 3 s, the flow's `on error` words). About 90
s in all.

`--scenario app` calls both ASGI apps in this process (no sockets, no
uvicorn, no load generator) and measures the CPU time each callback costs
the app and its session store: what ivrflow adds to any callback server,
and the figure least moved by other work on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import gc
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789"
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
#: What both bare endpoints share: the token, the fields they check and the command they answer.
BARE_SHARED = '''
import hmac, json, os

TOKEN = os.environ["IVRFLOW_CALLBACK_TOKEN"].encode()
FIELDS = {"sessionId": (str,), "callingParty": (str, int), "calledParty": (str, int), "dtmfBuffer": (str, int),
          "dtmfParams": (dict,), "replyId": (str,)}

def command(session_id, text="For more press 2. To leave press 1."):
    return {"sessionId": session_id, "phrases": [{"format": "awstts", "bargeIn": "current",
            "awsTTSParameters": {"Text": text, "VoiceId": "Joanna", "OutputFormat": "pcm", "LanguageCode": "en-US"}}],
            "dtmf": {"maxDigits": 1, "firstTimeout": 5, "betweenTimeout": 3}}
'''
#: The bare endpoint: what any callback server must do (bearer check, JSON
#: body read and checked, JSON answer; in the bank scenario, the lookup), with
#: no flow and no sessions.
BARE = BARE_SHARED + '''
import asyncio
import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

LOOKUP = os.environ.get("BENCH_LOOKUP_URL")  # the bank scenario: an entry ended by "#" is looked up, as ivrflow does
client = None

async def answer(request):
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), TOKEN):
        return JSONResponse({"error": {"code": "unauthorized"}}, status_code=401)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 65536:
            return JSONResponse({"error": {"code": "body_too_large"}}, status_code=413)
    data = json.loads(body)
    if not isinstance(data, dict) or any(data.get(k) is not None and not isinstance(data[k], t)
                                         for k, t in FIELDS.items()):
        return JSONResponse({"error": {"code": "wrong_type"}}, status_code=422)
    text = "For more press 2. To leave press 1."
    if LOOKUP and (data.get("dtmfParams") or {}).get("matchedTerminationKey"):
        global client
        client = client or httpx.AsyncClient()
        text = "Sorry, that is not a valid choice."  # as bank.ivr's `on error`, after its 3 s timeout
        try:
            async with asyncio.timeout(3):
                answer = await client.post(LOOKUP, json={"variables": {"account": data["dtmfParams"]["dtmfMatch"]}})
            answer.raise_for_status()
            text = f"Your balance is {answer.json()['variables']['balance']} dollars."
        except (TimeoutError, httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
    return JSONResponse(command(data["sessionId"], text))

app = Starlette(routes=[Mount("/mediaservice", routes=[Route("/{name}", answer, methods=["POST"])])])
'''
#: `--bare asgi`: the same work as BARE with no framework at all (a plain ASGI
#: callable), the floor of what a Python callback server on uvicorn costs.
#: Without the bank scenario's lookup.
BARE_ASGI = BARE_SHARED + '''
async def answer(send, status, content):
    body = json.dumps(content, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["method"] != "POST":
        return await answer(send, 200, {})
    headers = dict(scope["headers"])
    scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() != b"bearer" or not hmac.compare_digest(value, TOKEN):
        return await answer(send, 401, {"error": {"code": "unauthorized"}})
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > 65536:
            return await answer(send, 413, {"error": {"code": "body_too_large"}})
        if not message.get("more_body"):
            break
    data = json.loads(body)
    if not isinstance(data, dict) or any(data.get(k) is not None and not isinstance(data[k], t)
                                         for k, t in FIELDS.items()):
        return await answer(send, 422, {"error": {"code": "wrong_type"}})
    await answer(send, 200, command(data["sessionId"]))
'''
BARES = {"starlette": BARE, "asgi": BARE_ASGI}
#: The bank scenario's lookup service: answers after 5 ms, as a bank's service on the same network might.
LOOKUP = '''
import asyncio, json
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def balance(request):
    if request.method == "GET":  # is it up?
        return JSONResponse({})
    json.loads(await request.body())
    await asyncio.sleep(0.005)
    return JSONResponse({"variables": {"balance": "42.10", "status": "ok"}})

app = Starlette(routes=[Route("/balance", balance, methods=["POST", "GET"])])
'''
#: A call's callbacks: (name, fields besides sessionId). Support: two menus (a
#: support.ivr-like call); bank: examples/bank.ivr's main menu, press 1, the
#: account number ended by "#" (the lookup runs), its balance played, back in
#: main, the caller hangs up. Keys are reported as in seed 002's request sample.
#: A callback whose answer lacks its `expect` text (here: the looked-up
#: balance, which both servers say) counts as an error.
Step = tuple[str, dict[str, object], str | None]  # callback, fields, expect
SCRIPTS: dict[str, list[Step]] = {
    "support": [("newCall", {"callingParty": "+442071234567", "calledParty": "ivr"}, None),
                ("getIvrCommand", {}, None), ("getIvrCommand", {"dtmfBuffer": "2"}, None),
                ("getIvrCommand", {"dtmfBuffer": "1"}, None), ("sessionCompleted", {}, None)],
    "bank": [("newCall", {"callingParty": "+442071234567", "calledParty": "18005550100"}, None),
             ("getIvrCommand", {"replyId": None}, None),
             ("getIvrCommand", {"dtmfBuffer": None, "dtmfParams": {"dtmfMatch": "1", "reason": "timeout"}}, None),
             ("getIvrCommand", {"dtmfBuffer": None, "dtmfParams": {
                 "dtmfMatch": "12345678", "reason": "terminationKey", "matchedTerminationKey": "#"}},
              "Your balance is 42.10 dollars."),
             ("callEvent", {"event": "callingPartyDrop"}, None),
             ("sessionCompleted", {"reason": "hangup"}, None)],
}


def bank_flow(workdir: Path, lookup_url: str) -> Path:
    """examples/bank.ivr and its common.ivr in `workdir`, the lookup sent to
    `lookup_url` and the branch open at all hours (the bench runs at any time)."""
    common = (ROOT / "examples" / "common.ivr").read_text()
    hours = "    mon-fri 09:00-17:00\n    sat 09:00-13:00\n"
    bank = (ROOT / "examples" / "bank.ivr").read_text()
    url = "https://bank.example.com/balance"
    if hours not in common or url not in bank:
        raise SystemExit("examples/bank.ivr or common.ivr changed: update bench/runtime.py's bank_flow")
    (workdir / "common.ivr").write_text(common.replace(hours, "    mon-sun 00:00-24:00\n"))
    (workdir / "bank.ivr").write_text(bank.replace(url, lookup_url))
    return workdir / "bank.ivr"


@dataclass(frozen=True)
class Scenario:
    concurrency: str
    think: str
    stores: str
    seconds: float
    rounds: int
    bare: bool = True
    flow: str = "support"  # the calls of SCRIPTS


SCENARIOS = {
    "saturate": Scenario("200", "0", "memory,redis", 5.0, 3),
    # The run that lost 11 of 1,000 calls to 503 store_unavailable: Redis only, once, no bare twin.
    "soak": Scenario("1000", "500", "redis", 30.0, 1, bare=False),
    # examples/bank.ivr with its lookup answered locally in 5 ms (issue 13); short: about 90 s in all.
    "bank": Scenario("50,200", "0", "memory,redis", 3.0, 2, flow="bank"),
}
#: A callback not answered within this many seconds counts as an error.
REQUEST_TIMEOUT_S = 10.0


@dataclass
class Result:
    """One load generator run."""

    rate: float  # callbacks answered with 200 per second
    p50_ms: float
    p99_ms: float
    errors: int
    samples: list[str]
    cpu_us: float  # the server's CPU time per callback it answered (warm-up included)
    store_cpu_us: float = 0.0  # redis-server's CPU time per callback, in the same run (Redis runs)
    load_busy: float = 0.0  # the load generator's CPU time over the measured run's wall time (1.0: saturated)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def process(argv: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[int]:
    import httpx

    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url, timeout=1)
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{' '.join(argv)} did not start")
            time.sleep(0.1)
        yield proc.pid  # taskset execs the server: the same process
    finally:
        proc.terminate()
        proc.wait(10)


class Connection:
    """One kept-alive HTTP/1.1 connection of the load generator, speaking
    just enough HTTP to post a callback and read a Content-Length answer.
    A general client (aiohttp) cost more CPU per request than the servers
    it measured, so the generator, not the server, set the pace."""

    def __init__(self, host: str, port: int, headers: bytes):
        self.host, self.port = host, port
        self.head = b"Host: %s:%d\r\n%s" % (host.encode(), port, headers)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (path, self.head, len(body), body))
        head = await reader.readuntil(b"\r\n\r\n")
        status, length, close = int(head[9:12]), None, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if length is None:
            raise ConnectionError("an answer without Content-Length")
        answer = await reader.readexactly(length)
        if close:
            self.close()
        return status, answer

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def load(base: str, concurrency: int, seconds: float, think: float,
               script: list[Step]) -> tuple[list[float], list[str], int]:
    """Run calls from `concurrency` callers, each on its own kept-alive
    connection, for `seconds`, pausing about `think` seconds between
    callbacks: (latencies in s of the callbacks answered with 200, one line
    per failed callback, responses of any status). A call whose callback
    fails is abandoned and the caller starts another."""
    from urllib.parse import urlsplit

    latencies: list[float] = []
    errors: list[str] = []
    responses = 0
    address = urlsplit(base)
    headers = b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n" % TOKEN.encode()
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal responses
        connection = Connection(address.hostname or "127.0.0.1", address.port or 80, headers)
        if think:  # callers arrive spread over one pause, not all at once
            await asyncio.sleep(random.uniform(0, think))
        while time.perf_counter() < deadline:
            call = str(uuid.uuid4())
            for name, fields, expect in script:
                body = json.dumps({"sessionId": call, **fields}).encode()
                start = time.perf_counter()
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        status, answer = await connection.post(f"/mediaservice/{name}".encode(), body)
                except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) \
                        as error:
                    connection.close()
                    errors.append(f"{name} -> {type(error).__name__}")
                    break
                responses += 1
                if status != 200:
                    errors.append(f"{name} -> {status} {answer[:120].decode(errors='replace')}")
                    break
                if expect and expect.encode() not in answer:
                    errors.append(f"{name} -> 200 without {expect!r}")
                    break
                latencies.append(time.perf_counter() - start)
                if think:  # jittered, so that callers do not march in step
                    await asyncio.sleep(random.uniform(0.5, 1.5) * think)
        connection.close()

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies, errors, responses


def measure(base: str, pid: int, concurrency: int, seconds: float, think_ms: int,
            store_pid: int | None = None, flow: str = "support") -> Result:
    """One run of the load generator, in its own process on the second core,
    against the server at `base` (process `pid`, using redis-server
    `store_pid` if any)."""
    argv = [*pinned(1), sys.executable, __file__, "--load", base, "--concurrency", str(concurrency),
            "--seconds", str(seconds), "--think", str(think_ms), "--flow", flow]
    cpu = cpu_seconds(pid)
    store_cpu = cpu_seconds(store_pid) if store_pid else 0.0
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    cpu = cpu_seconds(pid) - cpu
    store_cpu = cpu_seconds(store_pid) - store_cpu if store_pid else 0.0
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed against {base}:\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout)
    return Result(data["rate"], data["p50_ms"], data["p99_ms"], data["errors"], data["samples"],
                  cpu / max(1, data["responses"]) * 1e6, store_cpu / max(1, data["responses"]) * 1e6,
                  data["load_busy"])


def generate(base: str, concurrency: int, seconds: float, think_ms: int, flow: str) -> None:
    """The load generator's own process: warm up, measure, print JSON.

    It runs on uvloop, as the servers do (uvicorn picks it), so that the
    generator's own cost per callback stays well below the servers': a
    saturated generator queues callbacks itself and its queueing shows up as
    the servers' latency. `load_busy` says how close to saturated it is."""
    import uvloop

    think = think_ms / 1000
    script = SCRIPTS[flow]
    _, _, warm = uvloop.run(load(base, concurrency, min(1.0, seconds), think, script))  # warm up connections, server
    gc.collect()
    gc.disable()  # the generator's own collections would show up as server latency
    cpu, wall = time.process_time(), time.perf_counter()
    latencies, errors, responses = uvloop.run(load(base, concurrency, seconds, think, script))
    busy = (time.process_time() - cpu) / (time.perf_counter() - wall)
    done = len(latencies)
    latencies.sort()
    p50 = statistics.median(latencies) if latencies else 0.0
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    print(json.dumps({"rate": done / seconds, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000, "errors": len(errors),
                      "samples": sorted(set(errors))[:5], "responses": warm + responses, "load_busy": busy}))


def app_cost(stores: list[str], concurrency: int, rounds: int, calls: int = 1000, bare: str = BARE) -> int:
    """`--scenario app`: CPU µs per callback of the bare app and of ivrflow's
    (per store), called in-process, interleaved; medians over the rounds."""
    from ivrflow import targets
    from ivrflow.loader import load as load_flow
    from ivrflow.runtime.app import create_app
    from ivrflow.runtime.http import Credentials
    from ivrflow.runtime.sessions import open_store

    workdir = Path(tempfile.mkdtemp(prefix="ivrflow-bench-"))
    (workdir / "bench.ivr").write_text(FLOW)
    flow = load_flow(str(workdir / "bench.ivr"), check_files=False).flow
    assert flow is not None
    os.environ["IVRFLOW_CALLBACK_TOKEN"] = TOKEN
    namespace: dict[str, object] = {}
    exec(bare, namespace)  # the bare app, from its source above
    script = SCRIPTS["support"]
    headers = [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", b"application/json")]

    errors: dict[str, int] = {}

    async def request(app: object, path: str, body: bytes) -> bool:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [*headers, (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {}}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, object]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))  # type: ignore[call-overload]
        await app(scope, receive, send)  # type: ignore[operator]
        if status != [200]:
            errors[f"{path} -> {status}"] = errors.get(f"{path} -> {status}", 0) + 1
        return status == [200]

    async def drive(app: object) -> float:
        async def caller() -> None:
            for _ in range(calls // concurrency):
                call = str(uuid.uuid4())
                for name, fields, _ in script:
                    body = {"sessionId": call, **fields}
                    if not await request(app, f"/mediaservice/{name}", json.dumps(body).encode()):
                        break  # the call is abandoned, as by a platform
        started = time.process_time()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return (time.process_time() - started) / (calls // concurrency * concurrency * len(script)) * 1e6

    async def run() -> dict[str, list[tuple[float, float]]]:
        import logging

        logging.getLogger("ivrflow.runtime").setLevel(logging.INFO)  # as `ivrflow serve` logs
        logging.getLogger("ivrflow.runtime").addHandler(logging.NullHandler())
        logging.getLogger("ivrflow.runtime").propagate = False
        specs = {"memory": "memory"}
        with contextlib.ExitStack() as stack:
            if "redis" in stores:
                port = free_port()
                stack.enter_context(_redis(shutil.which("redis-server") or "redis-server", port))
                specs["redis"] = f"redis://127.0.0.1:{port}/0"
            apps = {}
            for name in stores:
                store = open_store(specs[name])
                await store.ping()
                apps[name] = (create_app(flow, store, Credentials(token=TOKEN), webhooks=targets.webhooks()), store)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
            await drive(namespace["app"])  # warm up
            for app, _ in apps.values():
                await drive(app)
            for round_ in range(rounds):
                for name, (app, _) in apps.items():
                    pair = [await drive(namespace["app"]), await drive(app)] if round_ % 2 == 0 else \
                        list(reversed([await drive(app), await drive(namespace["app"])]))
                    results[name].append((pair[0], pair[1]))
            for _, store in apps.values():
                await store.close()
        return results

    results = asyncio.run(run())
    print(f"{'store':<7} {'calls':>6} {'bare cpu':>9} {'ivrflow cpu':>12} {'cpu ratio':>10} {'rounds':>7}")
    for name, pairs in results.items():
        print(f"{name:<7} {concurrency:>6} {statistics.median(b for b, _ in pairs):>6.0f} us "
              f"{statistics.median(i for _, i in pairs):>9.0f} us "
              f"{statistics.median(b / i for b, i in pairs):>9.2f}x {len(pairs):>7}")
    for error, count in sorted(errors.items()):
        print(f"  error: {error} ({count} callbacks)")
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted([*SCENARIOS, "app"]), default="saturate")
    parser.add_argument("--seconds", type=float, help="length of one measured run")
    parser.add_argument("--rounds", type=int, help="paired runs per level (the table gives medians)")
    parser.add_argument("--concurrency", help="concurrent calls, comma-separated")
    parser.add_argument("--think", help="pause between a call's callbacks in ms, comma-separated")
    parser.add_argument("--stores", help="memory,redis")
    parser.add_argument("--bare", choices=sorted(BARES), default="starlette",
                        help="the bare endpoint: on Starlette (the default), or a plain ASGI callable (no lookup)")
    parser.add_argument("--together", action="store_true",
                        help="load ivrflow and the bare endpoint at the same time on one shared core (the precise "
                             "ratio; latency is then not comparable)")
    parser.add_argument("--log-level", default="info", choices=["info", "warning"],
                        help="ivrflow serve's --log-level (info, its default, logs a line per call; the bare "
                             "endpoint logs nothing)")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--flow", choices=sorted(SCRIPTS), default="support", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        generate(args.load, int(args.concurrency), args.seconds, int(args.think), args.flow)
        return 0
    if args.scenario == "app":
        scenario = SCENARIOS["saturate"]
        return app_cost((args.stores or scenario.stores).split(","), int(args.concurrency or 50),
                        args.rounds or 5, bare=BARES[args.bare])
    scenario = SCENARIOS[args.scenario]
    seconds = args.seconds or scenario.seconds
    rounds = args.rounds or scenario.rounds
    levels = [(int(c), int(t)) for t in (args.think or scenario.think).split(",")
              for c in (args.concurrency or scenario.concurrency).split(",")]
    stores = (args.stores or scenario.stores).split(",")

    workdir = Path(tempfile.mkdtemp(prefix="ivrflow-bench-"))
    flow_file = workdir / "bench.ivr"
    flow_file.write_text(FLOW)
    if args.bare == "asgi" and scenario.flow == "bank":
        parser.error("--bare asgi makes no lookup: it runs the support calls only")
    (workdir / "bare.py").write_text(BARES[args.bare])
    env = {"IVRFLOW_CALLBACK_TOKEN": TOKEN, "PYTHONPATH": str(workdir)}
    specs = {"memory": "memory"}
    redis_pid: int | None = None
    with contextlib.ExitStack() as stack:
        if scenario.flow == "bank":  # the lookup service: its own process, not pinned (it shares the two cores)
            (workdir / "lookup.py").write_text(LOOKUP)
            port = free_port()
            stack.enter_context(process([sys.executable, "-m", "uvicorn", "lookup:app", "--port", str(port),
                                         "--log-level", "warning", "--no-access-log"],
                                        f"http://127.0.0.1:{port}/balance", env))
            env["BENCH_LOOKUP_URL"] = f"http://127.0.0.1:{port}/balance"
            flow_file = bank_flow(workdir, env["BENCH_LOOKUP_URL"])
        if "redis" in stores:
            redis = shutil.which("redis-server")
            if not redis:
                raise SystemExit("redis-server is not installed (apt-get install redis-server)")
            redis_port = free_port()
            redis_pid = stack.enter_context(_redis(redis, redis_port))
            specs["redis"] = f"redis://127.0.0.1:{redis_port}/0"
        servers: dict[str, tuple[str, int]] = {}  # name -> (URL, process id)
        if scenario.bare:
            port = free_port()
            pid = stack.enter_context(process([*pinned(0), sys.executable, "-m", "uvicorn", "bare:app", "--port",
                                               str(port), "--log-level", "warning", "--no-access-log"],
                                              f"http://127.0.0.1:{port}/", env))
            servers["bare"] = (f"http://127.0.0.1:{port}", pid)
        for store in stores:
            port = free_port()
            pid = stack.enter_context(process([*pinned(0), sys.executable, "-m", "ivrflow", "serve",
                                               str(flow_file), "--port", str(port), "--sessions",
                                               specs[store], "--log-level", args.log_level],
                                              f"http://127.0.0.1:{port}/healthz", env))
            servers[store] = (f"http://127.0.0.1:{port}", pid)

        runs: dict[tuple[str, int, int], list[tuple[Result, Result | None]]] = {}
        for round_ in range(rounds):
            for store in stores:
                for concurrency, think in levels:
                    order = [name for name in (["bare", store] if round_ % 2 == 0 else [store, "bare"])
                                if name in servers]

                    def run(name: str, concurrency: int = concurrency, think: int = think) -> Result:
                        return measure(*servers[name], concurrency, seconds, think,
                                       redis_pid if name == "redis" else None, scenario.flow)
                    if args.together:  # both at the same moment, one load generator each
                        with concurrent.futures.ThreadPoolExecutor(len(order)) as pool:
                            measured = dict(zip(order, pool.map(run, order), strict=True))
                    else:
                        measured = {name: run(name) for name in order}
                    runs.setdefault((store, concurrency, think), []).append((measured[store], measured.get("bare")))
                    print(f"round {round_ + 1}/{rounds}: {store} {concurrency} calls, think {think} ms: "
                          + ", ".join(f"{name} {measured[name].rate:.0f}/s" for name in order),
                          file=sys.stderr)
    return report(runs, together=args.together)


@contextlib.contextmanager
def _redis(binary: str, port: int) -> Iterator[int]:
    """redis-server on `port`, pinned to the load generator's core; yields its pid (its CPU is measured too)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.servers import redis_process

    with redis_process(binary, port) as process:
        if pinned(1):  # beside the load generator, which leaves room on its core: the server's core is its own
            os.sched_setaffinity(process.pid, {1})
        yield process.pid


def report(runs: dict[tuple[str, int, int], list[tuple[Result, Result | None]]], together: bool = False) -> int:
    """The table of medians over the rounds; 1 when any callback failed.

    `ratio` is ivrflow's callbacks/s over its bare twin's, pair by pair.
    `cpu` columns are each server's CPU time per callback: contention on a
    shared machine moves them far less than throughput, and bare cpu /
    ivrflow cpu is the ratio one dedicated core would give. `gen busy` is
    how much of its core the load generator used (the busier of a pair): near
    100% the generator, not the servers, limits throughput and adds latency."""
    print(f"{'store':<7} {'calls':>6} {'think':>6} {'bare cb/s':>10} {'ivrflow cb/s':>13} {'ratio':>6} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'bare p99':>9} {'bare cpu':>9} {'cpu':>7} {'cpu ratio':>10} "
          f"{'gen busy':>9} {'errors':>7} {'rounds':>7}")
    failed = 0
    samples: set[str] = set()
    median = statistics.median
    for (store, concurrency, think), pairs in runs.items():
        ours = [run for run, _ in pairs]
        bares = [bare for _, bare in pairs if bare is not None]
        errors = sum(r.errors for r in ours) + sum(b.errors for b in bares)
        failed += errors
        for r in ours:
            samples.update(f"ivrflow ({store}, {concurrency} calls): {sample}" for sample in r.samples)
        for b in bares:
            samples.update(f"bare ({concurrency} calls): {sample}" for sample in b.samples)
        if bares:
            ratio = f"{median([r.rate / b.rate for r, b in pairs if b]):.2f}x"
            cpu_ratio = f"{median([b.cpu_us / r.cpu_us for r, b in pairs if b]):.2f}x"
            bare = (f"{median([b.rate for b in bares]):.0f}", f"{median([b.p99_ms for b in bares]):.1f}",
                    f"{median([b.cpu_us for b in bares]):.0f} us")
        else:
            ratio = cpu_ratio = "-"
            bare = ("-", "-", "-")
        busy = median([max(r.load_busy, b.load_busy if b else 0.0) for r, b in pairs])
        print(f"{store:<7} {concurrency:>6} {think:>6} {bare[0]:>10} {median([r.rate for r in ours]):>13.0f} "
              f"{ratio:>6} {median([r.p50_ms for r in ours]):>7.1f} {median([r.p99_ms for r in ours]):>7.1f} "
              f"{bare[1]:>9} {bare[2]:>9} {median([r.cpu_us for r in ours]):>4.0f} us {cpu_ratio:>10} "
              f"{busy:>8.0%} {errors:>7} {len(pairs):>7}")
    for (store, concurrency, think), pairs in runs.items():
        store_cpu = median([r.store_cpu_us for r, _ in pairs])
        if store_cpu:
            print(f"  {store} {concurrency} calls, think {think} ms: redis-server used {store_cpu:.0f} us of CPU per "
                  "callback besides the server's (on the load generator's core)")
    if together:
        print("  (--together: the servers were loaded at once, each on half of one core; their latency is not "
              "the p99 goal's)")
    for sample in sorted(samples):
        print(f"  error: {sample}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
