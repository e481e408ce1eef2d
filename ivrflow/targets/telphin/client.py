"""Telphin's API over httpx: OAuth client credentials (refreshed before expiry
and once on a 401), and reading what is live."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import redact
from ...deploy.http import ApiClient, AuthFailed, Rejected, Stats, send
from .compile import MARKER

#: Reads of options and rules run this many at a time.
READ_CONCURRENCY = 4


class TelphinApi(ApiClient):
    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 http: httpx.Client | None = None, stats: Stats | None = None,
                 sleep: Callable[[int], None] | None = None, timeout: float | None = None):
        self.base = base_url.rstrip("/")
        super().__init__(f"{self.base}/api/ver1.0", http=http, stats=stats, sleep=sleep, timeout=timeout)
        self.client_id = client_id
        self.client_secret = redact.register(client_secret)

    def sign_in(self, renew: bool) -> tuple[str, float]:
        try:
            response = send(self.http, "POST", f"{self.base}/oauth/token", self.stats, data={
                "grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret}, **self.retry)
        except Rejected as error:
            raise AuthFailed(f"Telphin refused the client credentials ({error.status})") from None
        body = response.json()
        return str(body["access_token"]), float(body.get("expires_in", 3600))


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
