"""Real servers for tests: an ASGI app under uvicorn on a free loopback port
(in a thread), `ivrflow serve` processes, and redis-server."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from .conftest import ROOT


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for all the clients of a test: httpx builds one per
    client otherwise (0.1 s each on a loaded machine)."""
    return ssl.create_default_context()


def call_client() -> httpx.AsyncClient:
    """A client for one of many calls run at once; each call has its own, as
    the platform's call legs do. A pool shared by hundreds of calls failed in
    two ways on a loaded 2-core machine: it closes idle connections to make
    room (at max_connections) and expired ones, several in a pass, yielding
    between them, and a connection just handed to a waiting request still
    counts as idle, so that request could be written on it and then lose it
    (a ReadError); unbounded instead, every pass polls each of its hundreds
    of idle connections, and 2,000 callbacks took 50 s (a 408: a request's
    body came 10 s after its headers). A call's requests follow one another,
    so its own pool holds one connection per server and has neither race."""
    return httpx.AsyncClient(timeout=60, verify=_tls())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_app(app: object, **options: Any) -> Iterator[str]:
    """Run `app` under uvicorn in a thread (uvicorn.Config's `options`, such
    as `ivrflow serve`'s); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **options)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def stop(process: subprocess.Popen[Any]) -> None:
    """End a server started for a test: asked to stop, killed after 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become healthy")


@contextlib.contextmanager
def ivrflow_serve(flow: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """`ivrflow serve FLOW --port P ARGS…` as a process; yields (URL, its log file)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="ivrflow-serve-", suffix=".log")[1])
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ivrflow", "serve", str(flow), "--port", str(port), *args],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        failed = False
        try:
            wait_until_healthy(url, process, log)
            yield url, log
        except BaseException:
            failed = True
            raise
        finally:
            stop(process)
            if failed:  # pytest shows it with the failure: what the server said, in CI too
                lines = log.read_text(errors="replace").splitlines()
                print(f"--- the last {min(len(lines), 30)} lines of `ivrflow serve` on {url}:", *lines[-30:], sep="\n")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port; yields its redis:// URL."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: `make test` installs it (apt-get install redis-server)"
    port = free_port()
    with redis_process(binary, port):
        yield f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def redis_process(binary: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """redis-server on loopback `port`, without persistence, until the block ends
    (bench/runtime.py measures its CPU by the process)."""
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(10)
