"""How fast does the runtime server answer callbacks? Prints a table; asserts nothing.

The runtime (`ivrflow serve`, one uvicorn worker) and a bare Starlette
endpoint that returns a fixed JSON body are each started as a process pinned
to one core; a load generator in a second process, pinned to the other core,
drives the same scripted calls at 50 and 200 concurrent calls. A call is five
callbacks (newCall, getIvrCommand ×3 moving through two menus, then
sessionCompleted); the bare endpoint gets the same five requests. Reported:
callbacks per second, p50 and p99 latency of one callback, and throughput as
a ratio of the bare endpoint's measured in the same run. The runtime runs
with the memory session store, then with Redis.

Two kinds of load: `think 0` sends each callback as soon as the previous one
is answered (saturation: the throughput ceiling; latency is then mostly
queueing, concurrency ÷ throughput); `think 250` waits 250 ms on average
(125 to 375 ms) between a call's callbacks, as a platform does while prompts play and callers press
keys (ten times faster than real callers), which is where latency matters.

    python bench/runtime.py [--seconds 6] [--concurrency 50,200]
"""

from __future__ import annotations

import argparse
import asyncio
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
BARE = '''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def answer(request):
    await request.body()
    return JSONResponse({"action": "ivr", "phrases": [], "dtmf": {"maxDigits": 1}})

app = Starlette(routes=[Route("/mediaservice/{name}", answer, methods=["POST"])])
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


@contextlib.contextmanager
def process(argv: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            break
        time.sleep(0.1)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(10)


async def load(base: str, concurrency: int, seconds: float, think: float) -> tuple[int, list[float]]:
    """Run calls from `concurrency` callers for `seconds`, pausing `think`
    seconds between callbacks; (callbacks, latencies in s)."""
    import aiohttp

    latencies: list[float] = []
    done = 0
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    script = [("newCall", None), ("getIvrCommand", None), ("getIvrCommand", "2"), ("getIvrCommand", "1"),
              ("sessionCompleted", None)]
    deadline = time.perf_counter() + seconds

    async def caller(session: aiohttp.ClientSession) -> None:
        nonlocal done
        if think:  # callers arrive spread over one pause, not all at once
            await asyncio.sleep(random.uniform(0, think))
        while time.perf_counter() < deadline:
            call = str(uuid.uuid4())
            for name, keys in script:
                body = {"sessionId": call, "callingParty": "+442071234567", "calledParty": "ivr"}
                if keys:
                    body["dtmfBuffer"] = keys
                start = time.perf_counter()
                async with session.post(f"{base}/mediaservice/{name}", data=json.dumps(body), headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{name} → {r.status}")
                latencies.append(time.perf_counter() - start)
                done += 1
                if think:  # jittered, so that callers do not march in step
                    await asyncio.sleep(random.uniform(0.5, 1.5) * think)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(caller(session) for _ in range(concurrency)))
    return done, latencies


def measure(base: str, concurrency: int, seconds: float, think_ms: int) -> tuple[float, float, float]:
    """In a separate process pinned to the second core: (callbacks/s, p50 ms, p99 ms)."""
    argv = [*pinned(1), sys.executable, __file__, "--load", base, "--concurrency", str(concurrency),
            "--seconds", str(seconds), "--think", str(think_ms)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed against {base}:\n{done.stderr[-2000:]}")
    rate, p50, p99 = (float(x) for x in done.stdout.split())
    return rate, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", default="50,200")
    parser.add_argument("--think", default="0,250", help="pauses between a call's callbacks, in ms")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:  # the load generator's own process
        think = int(args.think) / 1000
        asyncio.run(load(args.load, int(args.concurrency), 1.0, think))  # warm up connections and the server
        gc.collect()
        gc.disable()  # the generator's own collections would show up as server latency
        done, latencies = asyncio.run(load(args.load, int(args.concurrency), args.seconds, think))
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(done / args.seconds, statistics.median(latencies) * 1000, p99 * 1000)
        return

    levels = [(int(c), int(t)) for t in args.think.split(",") for c in args.concurrency.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="ivrflow-bench-"))
    (workdir / "bench.ivr").write_text(FLOW)
    (workdir / "bare.py").write_text(BARE)
    env = {"IVRFLOW_CALLBACK_TOKEN": TOKEN, "PYTHONPATH": str(workdir)}
    rows: list[tuple[str, tuple[int, int], float, float, float, float | None]] = []
    bare_rate: dict[tuple[int, int], float] = {}

    port = free_port()
    bare = [*pinned(0), sys.executable, "-m", "uvicorn", "bare:app", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]
    with process(bare, f"http://127.0.0.1:{port}/", env):
        for level in levels:
            rate, p50, p99 = measure(f"http://127.0.0.1:{port}", *level[:1], args.seconds, level[1])
            bare_rate[level] = rate
            rows.append(("bare Starlette endpoint", level, rate, p50, p99, None))

    stores = [("memory", "memory")]
    redis = shutil.which("redis-server")
    redis_proc = None
    if redis:
        redis_port = free_port()
        redis_proc = subprocess.Popen([redis, "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        stores.append(("redis", f"redis://127.0.0.1:{redis_port}/0"))
    try:
        for label, spec in stores:
            port = free_port()
            argv = [*pinned(0), sys.executable, "-m", "ivrflow", "serve", str(workdir / "bench.ivr"),
                    "--port", str(port), "--sessions", spec]
            with process(argv, f"http://127.0.0.1:{port}/healthz", env):
                for level in levels:
                    rate, p50, p99 = measure(f"http://127.0.0.1:{port}", level[0], args.seconds, level[1])
                    rows.append((f"ivrflow serve ({label} sessions)", level, rate, p50, p99, rate / bare_rate[level]))
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)

    print(f"{'server':<32} {'calls':>6} {'think ms':>9} {'callbacks/s':>12} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'vs bare':>8}")
    for name, (level, think), rate, p50, p99, ratio in sorted(rows, key=lambda r: (r[1][1], r[1][0])):
        versus = f"{ratio:.2f}x" if ratio is not None else "-"
        print(f"{name:<32} {level:>6} {think:>9} {rate:>12.0f} {p50:>8.1f} {p99:>8.1f} {versus:>8}")


if __name__ == "__main__":
    main()
