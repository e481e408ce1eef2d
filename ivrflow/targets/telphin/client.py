"""Telphin's API over httpx: OAuth client credentials (refreshed before expiry
and once on a 401), and reading what is live."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import redact
from ...deploy.http import AuthFailed, Rejected, Stats, send
from .compile import MARKER

#: Refresh the token this long before it expires (the Go SDK uses 400 s).
REFRESH_EARLY_S = 60
#: Reads of options and rules run this many at a time.
READ_CONCURRENCY = 4


class TelphinApi:
    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 http: httpx.Client | None = None, stats: Stats | None = None,
                 sleep: Callable[[int], None] | None = None, timeout: float | None = None):
        self.base = base_url.rstrip("/")
        self.api = f"{self.base}/api/ver1.0"
        self.client_id = client_id
        self.client_secret = redact.register(client_secret)
        self.http = http or httpx.Client()
        self.stats = stats or Stats()
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._timeout = timeout

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TelphinApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def token(self, *, force: bool = False) -> str:
        with self._lock:
            if force or self._token is None or time.monotonic() > self._expires - REFRESH_EARLY_S:
                try:
                    response = send(self.http, "POST", f"{self.base}/oauth/token", self.stats, data={
                        "grant_type": "client_credentials", "client_id": self.client_id,
                        "client_secret": self.client_secret}, **self._retry_kwargs())
                except Rejected as error:
                    raise AuthFailed(f"Telphin refused the client credentials ({error.status})") from None
                body = response.json()
                self._token = redact.register(str(body["access_token"]))
                self._expires = time.monotonic() + float(body.get("expires_in", 3600))
                self.stats.writes -= 1  # getting a token changes nothing on the platform
            return self._token

    def _retry_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"sleep": self._sleep} if self._sleep is not None else {}
        if self._timeout is not None:
            kwargs["timeout"] = self._timeout
        return kwargs

    def request(self, method: str, path: str, *, lookup: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        """A call to the API; JSON back (or whatever `lookup` found)."""
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self.token(force=attempt == 1)}"}
            try:
                response = send(self.http, method, self.api + path, self.stats, lookup=lookup, headers=headers,
                                **self._retry_kwargs(), **kwargs)
            except AuthFailed:
                if attempt == 0:
                    continue  # the token may have expired early: get a new one, once
                raise
            if not isinstance(response, httpx.Response):
                return response  # found by the look-up
            if not response.content:
                return None
            return response.json()
        raise AssertionError("unreachable")

    def get(self, path: str) -> Any:
        return self.request("GET", path)


@dataclass
class LiveContext:
    id: int
    key: str
    fields: dict[str, Any]
    options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Live:
    """What ivrflow manages on the platform now (and the extension it uses)."""

    sounds: dict[str, dict[str, Any]]  # by title
    extension: dict[str, Any] | None
    ivr: dict[str, Any] | None
    contexts: dict[str, LiveContext]  # by key


def find_extension(extensions: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """Telphin answers names with the client's prefix (`000*071`)."""
    for extension in extensions:
        if str(extension.get("name")) == name or str(extension.get("name", "")).endswith("*" + name):
            return extension
    return None


def read_live(api: TelphinApi, flow: str, extension: str) -> Live:
    prefix = f"{MARKER}:{flow}:"
    sounds = {str(s.get("title")): s for s in api.get("/client/@me/sound/") or []
              if str(s.get("title", "")).startswith(prefix)}
    found = find_extension(api.get("/client/@me/extension/") or [], extension)
    if found is None:
        return Live(sounds, None, None, {})
    base = f"/extension/{found['id']}/ivr"
    ivr = api.get(f"{base}/")
    contexts: dict[str, LiveContext] = {}
    for context in api.get(f"{base}/context/") or []:
        description = str(context.get("description") or "")
        if description.startswith(prefix + "context:"):
            key = description[len(prefix + "context:"):]
            contexts[key] = LiveContext(int(context["id"]), key, context)

    def read_options(context: LiveContext) -> None:
        path = f"{base}/context/{context.id}/options/"
        for option in api.get(path) or []:
            digits = str(option["digits"])
            context.options[digits] = api.get(f"{path}{urllib.parse.quote(digits, safe='*')}/rules/") or []

    with ThreadPoolExecutor(READ_CONCURRENCY) as pool:
        list(pool.map(read_options, contexts.values()))
    return Live(sounds, found, ivr, contexts)
