"""What does a deploy cost? Prints a table; asserts nothing.

A generated flow of 50 menus (each with a recording, four keys, a retry and
its own timeout and invalid handlers) is deployed to each declarative
target's emulator (Telphin, PortSIP, Comm100), which adds 20 ms to every request: the first deploy, a redeploy with no
change, and a deploy after changing one key. A deploy that changed something
ends with the verification read `ivrflow deploy` makes. Then the same on a fresh
emulator that also fails 10% of requests (429, 5xx, timeouts, dropped
connections); a deploy that gives up is run again, as a person would.
Reported per step: the changes the plan held, requests sent (reads and
writes), retries and wall time. Writes beyond the plan's changes would be
requests the plan did not need. Comm100 allows 300 calls per 5 minutes: its
client paces itself on a simulated clock here (the pause it would take is the
`paced` column, not waited for), against an emulator without the limit.

The emulator runs in a child process, as a remote platform would: its work
does not compete with the client's reading threads for one interpreter
(`--same-process` runs it in a thread of this one, as before).

    python bench/deploy.py [--menus 50] [--latency-ms 20] [--faults 0.1] [--target telphin|portsip|comm100|opentact]
                           [--same-process]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivrflow.config import Environment  # noqa: E402
from ivrflow.deploy.http import NetworkFailed, NotConverged, Stats  # noqa: E402
from ivrflow.deploy.run import verify  # noqa: E402
from ivrflow.loader import load  # noqa: E402
from ivrflow.targets import get  # noqa: E402
from ivrflow.targets.comm100.client import Pacer  # noqa: E402
from ivrflow.targets.comm100.emulator import comm100_app  # noqa: E402
from ivrflow.targets.comm100.state import Comm100  # noqa: E402
from ivrflow.targets.emulation import Faults  # noqa: E402
from ivrflow.targets.opentact.emulator import Opentact, opentact_app  # noqa: E402
from ivrflow.targets.portsip.emulator import PortSip, portsip_app  # noqa: E402
from ivrflow.targets.telphin.emulator import Telphin, telphin_app  # noqa: E402
from tests.servers import free_port, serve_app  # noqa: E402


@contextlib.contextmanager
def serve_apart(app: object) -> Iterator[str]:
    """`app` under uvicorn in a forked child process; yields its base URL."""
    import uvicorn

    port = free_port()
    child = multiprocessing.get_context("fork").Process(
        target=uvicorn.run, args=(app,), kwargs={"host": "127.0.0.1", "port": port, "log_level": "warning"},
        daemon=True)
    child.start()
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        if time.monotonic() > deadline or not child.is_alive():
            raise RuntimeError("the emulator did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.join(10)


def generate(menus: int, changed: bool = False) -> str:
    out = ['flow bench "Deploy benchmark" {', "    answer-delay 500ms", "}", 'prompt hi file "hi.wav"']
    for i in range(menus):
        nxt = f"m{i + 1}" if i + 1 < menus else "m0"
        number = i + (7000 if changed and i == menus // 2 else 0)
        first = f'"+44207900{number:04d}"'
        out += [f'menu m{i} "Menu {i}" {{', "    play hi", "    retries 1", f"    press 1 -> transfer {first}",
                f"    press 2 -> goto {nxt}", '    press 3 -> voicemail "sales"', "    press 0 -> transfer \"100\"",
                '    on timeout -> transfer "100"', "    on invalid -> repeat", "    on exhausted -> hangup", "}"]
    return "\n".join(out) + "\n"


ENVIRONMENTS = {
    "telphin": {"client_id": "demo", "client_secret": "${SECRET}", "extension": "071"},
    "portsip": {"username": "demo", "password": "${SECRET}", "domain": "bench", "extensions": "7000-7999",
                "pin": "${PIN}", "runtime_url": "http://127.0.0.1:9"},
    "comm100": {"site_id": 10000, "email": "demo@example.com", "api_key": "${SECRET}", "channel": "sip",
                "sip_server": "sip.example.com", "sip_username": "bench", "sip_password": "${SECRET}"},
    "opentact": {"email": "demo@example.com", "password": "${SECRET}", "product": 12,
                 "numbers": ["+14155550100"], "runtime_url": "http://127.0.0.1:9", "prompts_url": "http://127.0.0.1:9"},
}
APPS = {"telphin": lambda faults: telphin_app(Telphin(faults=faults)),
        "portsip": lambda faults: portsip_app(PortSip(faults=faults)),
        "comm100": lambda faults: comm100_app(Comm100(faults=faults, rate_limit=10**9)),
        "opentact": lambda faults: opentact_app(Opentact(password="demo", faults=faults))}


class SimulatedClock:
    """The pacer's clock: real time plus the pauses it asked for, which are not waited."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def now(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds


def deploy(folder: Path, name: str, url: str, stats: Stats, timeout: float) -> tuple[int, float]:
    """One `ivrflow deploy`; returns the number of changes the plan held and
    the seconds the client paced itself (Comm100, simulated)."""
    path = folder / "bench.ivr"
    result = load(str(path))
    assert result.flow is not None and result.errors == 0, result.diagnostics[:3]
    env = Environment("bench", "ivrflow.toml", {"target": name, "base_url": url, "voicemail": {"sales": "800"},
                                                "insecure_callbacks": True,
                                                **ENVIRONMENTS[name]}, environ={"SECRET": "demo", "PIN": "482916"})
    target = get(name)
    with target.api_for(env, stats=stats) as api:
        api.retry["timeout"] = timeout
        paced = None
        if name == "comm100":  # the real limit, on a simulated clock
            clock = SimulatedClock()
            api.pacer = paced = Pacer(clock=clock.now, sleep=clock.sleep)
        _, plan = target.plan(result.flow, str(path), env, api)
        ids: dict = {}
        for change in plan.changes:
            target.apply(result.flow, str(path), change, api, ids)
        verify(plan, lambda: target.plan(result.flow, str(path), env, api)[1])  # as `ivrflow deploy` ends
    return len(plan.changes), paced.waited if paced is not None else 0.0


def run(folder: Path, name: str, menus: int, latency_ms: int, faults: float, rows: list[tuple],
        same_process: bool = False) -> None:
    injected = Faults(rate=faults, latency_ms=latency_ms, timeout_s=1.5, seed=1)
    app = APPS[name](injected)
    label = f" ({faults:.0%} faults)" if faults else ""
    with (serve_app if same_process else serve_apart)(app) as base:
        url = base + "/api" if name == "portsip" else base + "/v4" if name == "comm100" else base
        for step, changed in (("first deploy", False), ("redeploy, no change", False), ("one key changed", True)):
            (folder / "bench.ivr").write_text(generate(menus, changed))
            stats, started, runs, changes, paced = Stats(), time.perf_counter(), 0, 0, 0.0
            while True:  # run again after a failure
                runs += 1
                try:
                    changes, pause = deploy(folder, name, url, stats, timeout=1.0)
                    paced += pause
                    break
                except (NetworkFailed, NotConverged):
                    if runs >= 10:
                        raise
            rows.append((name, step + label, changes, stats.requests, stats.requests - stats.writes, stats.writes,
                         stats.retries, runs, time.perf_counter() - started, paced))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--menus", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--faults", type=float, default=0.1)
    parser.add_argument("--target", choices=sorted(ENVIRONMENTS), action="append")
    parser.add_argument("--same-process", action="store_true", help="run the emulator in a thread of this process")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ivrflow-deploy-bench-"))
    (folder / "hi.wav").write_bytes((ROOT / "examples" / "prompts" / "hello.wav").read_bytes())
    rows: list[tuple] = []
    for name in args.target or sorted(ENVIRONMENTS, reverse=True):
        run(folder, name, args.menus, args.latency_ms, 0.0, rows, args.same_process)
        run(folder, name, args.menus, args.latency_ms, args.faults, rows, args.same_process)
    where = "in this process" if args.same_process else "in a child process"
    print(f"{args.menus} menus, {args.latency_ms} ms per request, the emulator {where}\n")
    print(f"{'target':<8} {'step':<34} {'changes':>8} {'requests':>9} {'reads':>6} {'writes':>7} {'retries':>8} "
          f"{'runs':>5} {'seconds':>8} {'paced':>7}")
    for name, step, changes, requests, reads, writes, retries, runs, seconds, paced in rows:
        print(f"{name:<8} {step:<34} {changes:>8} {requests:>9} {reads:>6} {writes:>7} {retries:>8} {runs:>5} "
              f"{seconds:>8.1f} {paced:>7.0f}")


if __name__ == "__main__":
    main()
