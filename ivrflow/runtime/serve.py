"""`ivrflow serve`: settings from ivrflow.toml and the environment, then uvicorn."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import redact
from ..compiler import ir
from ..config import CALLBACK_TOKEN_VARIABLE, Environment, is_secret
from . import calllog
from .calllog import FORMAT as LOG_FORMAT
from .http import Credentials
from .webhooks import WebhookFactory

#: ASSUMPTION: claims of the RS256 JWT that signs calls to the platform's API
#: (PLATFORMS.md §3: the key pair is yours; the claims are not documented).
API_TOKEN_LIFETIME_S = 300
#: How long an idle kept-alive connection stays open. A platform's HTTP client
#: reuses a pooled connection for as long as its own idle limit allows; when the
#: server closes first, a callback written just as it closes is refused (the
#: client reads a reset, and few clients send a POST again). uvicorn's default,
#: 5 s, is shorter than most clients' limits, and a loaded client reads a
#: response late, so it reuses a connection later than its own clock says:
#: 200 calls over two servers on a loaded 2-core machine, with a client that
#: kept connections 2 s, failed a callback in 4 runs of 18 with 5 s here and
#: in none of 20 with 60 s. The server must outlast its clients, as behind a
#: load balancer: 75 s is nginx's default, above balancers' common 60 s.
KEEP_ALIVE_S = 75
#: uvicorn's limits for the runtime server (its defaults bound no concurrency):
#: idle kept-alive connections close after KEEP_ALIVE_S; beyond LIMIT_CONCURRENCY open
#: connections or requests new requests get 503 (bench/runtime.py runs 1,000
#: concurrent calls); request headers are bounded in size and time by
#: protocol.GuardedHttpToolsProtocol (h11's own size limit is set too, for a
#: server run with http="h11"); bodies by http.read_body.
LIMIT_CONCURRENCY = 2048
#: The garbage collector's thresholds while serving (Python's are 700, 10,
#: 10). Hundreds of callbacks in flight keep thousands of young objects
#: alive: at Python's thresholds each collection found them still alive and
#: moved them on, to be walked again by the next generation's collections.
#: Collecting young objects after 10,000 allocations instead of 700 lets
#: most die first; it cut a tenth of the CPU per callback at 200 calls in
#: flight (bench/runtime.py, docs/performance.md), with p99 no worse.
GC_THRESHOLDS = (10_000, 20, 20)
SERVER_OPTIONS: dict[str, Any] = {"timeout_keep_alive": KEEP_ALIVE_S, "limit_concurrency": LIMIT_CONCURRENCY,
                                  "h11_max_incomplete_event_size": 16 * 1024, "timeout_graceful_shutdown": 10}


class NotConfigured(Exception):
    """The server cannot start safely as configured."""


@dataclass
class ServeSettings:
    credentials: Credentials
    values: dict[str, Any]
    api_token: Callable[[], str] | None
    secret: Callable[[str], str | None] = field(default=lambda key: None)


def settings(env: Environment | None, insecure: bool, environ: dict[str, str]) -> ServeSettings:
    values: dict[str, Any] = {}
    public_key = None
    issuer = audience = None
    api_token = None
    secret: Callable[[str], str | None] = lambda key: None  # noqa: E731
    if env is not None:
        token = env.secret("callback_token", default_variable=CALLBACK_TOKEN_VARIABLE)
        # Every plain value of the environment; secrets only through `secret`, never in `values`.
        values = {key: env.get(key) for key in env.settings if not is_secret(key) and env.get(key) is not None}
        secret = env.secret
        key_file = env.get("callback_public_key")
        if key_file:
            path = Path(env.file).parent / str(key_file)
            if not path.is_file():
                raise env.error(f"callback_public_key: no file {path}", "callback_public_key")
            public_key = path.read_text()
        issuer, audience = env.get("callback_jwt_issuer"), env.get("callback_jwt_audience")
        private_key = env.secret("api_private_key")
        if private_key:
            api_token = signer(private_key, str(values.get("domain", "")))
    else:
        token = environ.get(CALLBACK_TOKEN_VARIABLE) or None
        if token:
            redact.register(token)
    credentials = Credentials(token=token, public_key=public_key, insecure=insecure,
                              issuer=str(issuer) if issuer else None, audience=str(audience) if audience else None)
    if not credentials.configured and not insecure:
        raise NotConfigured(
            f"refusing to start: callbacks would be accepted from anyone. Set {CALLBACK_TOKEN_VARIABLE} (or name "
            "another variable with `callback_token`, or give `callback_public_key`, in the environment of "
            "ivrflow.toml), or pass --insecure for a local trial.")
    return ServeSettings(credentials, values, api_token, secret)


def signer(private_key: str, domain: str) -> Callable[[], str]:
    """Makes the RS256 bearer for calls to the platform's API."""
    import jwt

    def token() -> str:
        now = int(time.time())
        return jwt.encode({"iss": "ivrflow", "sub": domain, "iat": now, "exp": now + API_TOKEN_LIFETIME_S},
                          private_key, algorithm="RS256")
    return token


def run(flows: Sequence[ir.Flow], serve: ServeSettings, webhooks: Mapping[str, WebhookFactory], sessions: str,
        host: str, port: int, *, log_level: str = "info") -> None:
    import uvicorn

    from .app import create_app
    from .sessions import open_store

    store = open_store(sessions)
    app = create_app(flows, store, serve.credentials, webhooks=webhooks, settings=serve.values,
                     secret=serve.secret, api_token=serve.api_token, accept_test_clock=serve.credentials.insecure)
    configure_logging(log_level)
    settle_heap()
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, **server_options())


def configure_logging(log_level: str) -> None:
    """Lines of LOG_FORMAT to stderr from `log_level` up (a level name
    uvicorn knows too), secrets masked; a call's lines are written there
    directly (calllog). Logging configured before is left as it is."""
    handler = logging.StreamHandler()
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, handlers=[handler])
    quiet_log_records()
    redact.install_log_filter("", "uvicorn", "uvicorn.error", "uvicorn.access", "ivrflow.runtime")
    calllog.write_to(handler)


def quiet_log_records() -> None:
    """Log records without what LOG_FORMAT never shows: the caller's file
    and line (a walk up the stack), the thread, the process id (a system
    call) and the process name. The Python logging HOWTO's "Optimization"
    names these switches; they took a quarter of each record's cost."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def settle_heap() -> None:
    """What the server built before it answers anything (modules, flows,
    their graphs: hundreds of thousands of objects that live as long as the
    process) is set aside from the garbage collector, so that its full
    collections, which every callback in flight waits for, walk only what
    callbacks made. Without this they took tens of milliseconds: the slowest
    1% of callbacks under load. Then collections are made rarer
    (GC_THRESHOLDS)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def server_options() -> dict[str, Any]:
    """uvicorn.Config's keywords for the runtime server: its limits and its guarded protocol."""
    from .protocol import GuardedHttpToolsProtocol

    return {**SERVER_OPTIONS, "http": GuardedHttpToolsProtocol}
