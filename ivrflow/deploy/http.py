"""Talking to a platform's API during a deploy: retries where they are safe,
a look-up before repeating a create that may have happened, errors that say
which line of the flow a rejected call came from, and no secret in any text."""

from __future__ import annotations

import abc
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from ..redact import redact
from ..redact import register as redact_register

#: Attempts per call before a deploy gives up with a network failure.
ATTEMPTS = 6
#: Backoff before attempt n: BACKOFF_S * 2**n, at most BACKOFF_MAX_S (plus jitter).
BACKOFF_S = 0.05
BACKOFF_MAX_S = 2.0
TIMEOUT_S = 10.0
#: After a create failed ambiguously and was not found, look again for this
#: many times the request timeout before sending it again: the first request
#: may still be running on the server, and repeating it then makes a duplicate.
SETTLE_TIMEOUTS = 1.0
#: How a platform words a 429 that refuses concurrent requests (Telphin:
#: "concurrent request not allowed", PLATFORMS.md §7); other 429s only wait.
CONCURRENCY_REFUSED = "concurrent"
#: First pause between the look-ups while settling (doubling, at most BACKOFF_MAX_S).
SETTLE_POLL_S = 0.1


class DeployError(Exception):
    """A deploy stopped; `kind` picks the exit status."""

    kind = "network"


class AuthFailed(DeployError):
    kind = "auth"


class Rejected(DeployError):
    """The platform refused a call (4xx): the flow or the environment is wrong."""

    kind = "rejected"

    def __init__(self, message: str, status: int, change: Any = None):
        super().__init__(message)
        self.status = status
        self.change = change


class NetworkFailed(DeployError):
    kind = "network"


class NotConverged(DeployError):
    """Every call was answered, but reading the platform afterwards shows it
    does not match the plan (a duplicate from an ambiguous create, a change
    made meanwhile)."""

    kind = "unverified"


@dataclass
class Stats:
    """What a deploy sent: every request, and how many were writes or retries."""

    requests: int = 0
    writes: int = 0
    retries: int = 0
    #: Seconds the client paused for the platform's rate limit and between retries (Comm100's pacer).
    paused: float = 0.0
    log: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, method: str, retry: bool) -> None:
        with self.lock:  # reads run in threads
            self.requests += 1
            self.writes += method != "GET"
            self.retries += retry


class Gate:
    """At most `limit` requests in flight; once the platform answers 429 to
    concurrency (CONCURRENCY_REFUSED), one at a time for the rest of the session."""

    def __init__(self, limit: int):
        self.limit = limit
        self._active = 0
        self._changed = threading.Condition()

    def __enter__(self) -> None:
        with self._changed:
            while self._active >= self.limit:
                self._changed.wait()
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def serialise(self) -> None:
        with self._changed:
            self.limit = 1


def _ambiguous(error: Exception | None, response: httpx.Response | None) -> bool:
    """Whether a failed call may still have been carried out by the server."""
    if response is not None:
        return response.status_code >= 500
    return isinstance(error, (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError))


def backoff(attempt: int) -> None:
    delay = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** attempt)
    time.sleep(delay * (0.5 + random.random()))


def settle(lookup: Callable[[], Any], seconds: float, pause: Callable[[float], None] = time.sleep) -> Any:
    """Look for what an ambiguous create made until `seconds` have passed: what
    was found, or None."""
    deadline = time.monotonic() + seconds
    interval = SETTLE_POLL_S
    while True:
        found = lookup()
        if found is not None or time.monotonic() >= deadline:
            return found
        pause(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 2, BACKOFF_MAX_S)


def send(client: httpx.Client, method: str, url: str, stats: Stats, *,
         lookup: Callable[[], Any] | None = None, sleep: Callable[[int], None] | None = None,
         timeout: float = TIMEOUT_S, deleting: bool = False, gate: Gate | None = None,
         **kwargs: Any) -> httpx.Response | Any:
    """One API call with retries. GET, PUT and DELETE are repeated as they are;
    a POST that may have happened (a timeout, a dropped connection, a 5xx) is
    first looked for with `lookup` until it settles (SETTLE_TIMEOUTS), and
    what it finds is returned instead of repeating it. 429 is always safe to
    repeat (and makes `gate` serialise). 4xx raises Rejected.
    `deleting`: the call deletes (PortSIP deletes with POST …/destroy), so a
    404 on a repeat means an earlier attempt did it."""
    last = ""
    for attempt in range(ATTEMPTS):
        response = None
        error: Exception | None = None
        stats.count(method, retry=attempt > 0)
        try:
            if gate is None:
                response = client.request(method, url, timeout=timeout, **kwargs)
            else:
                with gate:
                    response = client.request(method, url, timeout=timeout, **kwargs)
        except httpx.TransportError as caught:
            error = caught
        if response is not None and response.status_code == 429 and gate is not None \
                and CONCURRENCY_REFUSED in _message(response).lower():
            gate.serialise()
        if response is not None and response.status_code < 400:
            return response
        if response is not None and response.status_code == 401:
            raise AuthFailed(f"{method} {redact(url)}: 401 {_message(response)}")
        if response is not None and 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            if (method == "DELETE" or deleting) and response.status_code == 404 and attempt:
                return response  # an earlier attempt deleted it
            raise Rejected(f"{method} {redact(url)}: {response.status_code} {_message(response)}",
                           response.status_code)
        last = f"{response.status_code} {_message(response)}" if response is not None else type(error).__name__
        stats.log.append(f"{method} {redact(url)}: {last} (attempt {attempt + 1})")
        if method == "POST" and lookup is not None and _ambiguous(error, response):
            found = settle(lookup, SETTLE_TIMEOUTS * timeout if error is not None else 0.0)
            if found is not None:
                return found
        (sleep or backoff)(attempt)
    raise NetworkFailed(f"{method} {redact(url)} failed {ATTEMPTS} times; last: {last}")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return redact(response.text[:200])
    if isinstance(body, dict) and isinstance(body.get("errors"), list):  # PortSIP: [{code, message, detail}]
        return redact("; ".join(f"{e.get('message', '')}" + (f" ({e['detail']})" if e.get("detail") else "")
                                for e in body["errors"] if isinstance(e, dict)))[:300]
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "errors"):
            if key in body:
                return redact(str(body[key]))[:300]
    return redact(str(body))[:300]


#: Get a new token this long before the old one expires.
REFRESH_EARLY_S = 60


class HttpSession:
    """One httpx client and the deploy's Stats, closed with the session."""

    def __init__(self, *, http: httpx.Client | None = None, stats: Stats | None = None):
        self.http = http or httpx.Client()
        self.stats = stats or Stats()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ApiClient(HttpSession, abc.ABC):
    """A platform's API during a deploy: retries through `send`, and a bearer
    token from `sign_in` (the target's own), renewed before it expires and
    once more on a 401. `CONCURRENCY` (None: no limit) bounds the requests
    in flight when a target reads in threads."""

    CONCURRENCY: int | None = None

    def __init__(self, api: str, *, http: httpx.Client | None = None, stats: Stats | None = None,
                 sleep: Callable[[int], None] | None = None, timeout: float | None = None):
        super().__init__(http=http, stats=stats)
        self.api = api.rstrip("/")  # requests' paths are under this
        self.retry: dict[str, Any] = {}
        self.gate = Gate(self.CONCURRENCY) if self.CONCURRENCY is not None else None
        if sleep is not None:
            self.retry["sleep"] = sleep
        if timeout is not None:
            self.retry["timeout"] = timeout
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    @abc.abstractmethod
    def sign_in(self, renew: bool) -> tuple[str, float]:
        """A new token and its lifetime in seconds (`renew`: the old one may still serve to get it)."""

    def token(self, *, force: bool = False) -> str:
        with self._lock:
            if force or self._token is None or time.monotonic() > self._expires - REFRESH_EARLY_S:
                writes = self.stats.writes
                try:
                    token, lifetime = self.sign_in(renew=not force and self._token is not None)
                finally:
                    self.stats.writes = writes  # signing in changes nothing on the platform
                self._token = redact_register(token)
                self._expires = time.monotonic() + lifetime
            return self._token

    def request(self, method: str, path: str, *, lookup: Callable[[], Any] | None = None, deleting: bool = False,
                raw: bool = False, **kwargs: Any) -> Any:
        """A call to the API: its JSON (the response itself with `raw`), or what `lookup` found."""
        extra = kwargs.pop("headers", {})
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self.token(force=attempt == 1)}", **extra}
            try:
                response = send(self.http, method, self.api + path, self.stats, lookup=lookup, deleting=deleting,
                                headers=headers, gate=self.gate, **self.retry, **kwargs)
            except AuthFailed:
                if attempt == 0:
                    continue  # the token may have expired early: get a new one, once
                raise
            if not isinstance(response, httpx.Response) or raw:
                return response
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def get(self, path: str) -> Any:
        return self.request("GET", path)
