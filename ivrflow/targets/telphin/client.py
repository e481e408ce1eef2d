"""Telphin's API over httpx: OAuth client credentials (refreshed before expiry
and once on a 401), and reading what is live."""

from __future__ import annotations

import itertools
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import redact
from ...deploy.http import ApiClient, AuthFailed, Rejected, Stats, send
from .compile import MARKER, parse_manifest

#: Requests in flight at once while reading what is live (unverified: Telphin
#: documents no limit for the voice-menu API; its stats API answers 429
#: "concurrent request not allowed", PLATFORMS.md §7, and after such an
#: answer the client goes on one request at a time).
READ_CONCURRENCY = 16
#: Items asked for per page of a list (`page`, `per_page`: PLATFORMS.md §7).
#: A page with fewer items is the last one (assumed: Telphin answers as many
#: as asked, up to this many).
PER_PAGE = 100


class TelphinApi(ApiClient):
    CONCURRENCY = READ_CONCURRENCY

    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 http: httpx.Client | None = None, stats: Stats | None = None,
                 sleep: Callable[[int], None] | None = None, timeout: float | None = None,
                 per_page: int = PER_PAGE):
        self.base = base_url.rstrip("/")
        super().__init__(f"{self.base}/api/ver1.0", http=http, stats=stats, sleep=sleep, timeout=timeout)
        self.client_id = client_id
        self.client_secret = redact.register(client_secret)
        self.per_page = per_page

    def get_all(self, path: str) -> list[Any]:
        """Every item of a list, page after page."""
        items: list[Any] = []
        for page in itertools.count(1):
            batch = self.request("GET", path, params={"page": page, "per_page": self.per_page}) or []
            items.extend(batch)
            if len(batch) < self.per_page:
                return items
        raise AssertionError("unreachable")

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
    # What ivrflow made in it, from its description: rules per option (None:
    # written before ivrflow recorded it, so all of it counts as ivrflow's).
    manifest: dict[str, int] | None = None


@dataclass
class Live:
    """What ivrflow manages on the platform now (and the extension it uses).
    Sounds and contexts are listed by title and key; more than one under a
    name are duplicates (a create that landed twice)."""

    sounds: dict[str, list[dict[str, Any]]]
    extension: dict[str, Any] | None
    ivr: dict[str, Any] | None
    contexts: dict[str, list[LiveContext]]


def find_extension(extensions: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """Telphin answers names with the client's prefix (`000*071`)."""
    for extension in extensions:
        if str(extension.get("name")) == name or str(extension.get("name", "")).endswith("*" + name):
            return extension
    return None


def read_live(api: TelphinApi, flow: str, extension: str) -> Live:
    """Everything a plan compares, read concurrently (the lists one after the
    other where a read needs an id from the one before)."""
    prefix = f"{MARKER}:{flow}:"
    with ThreadPoolExecutor(READ_CONCURRENCY) as pool:
        all_sounds = pool.submit(api.get_all, "/client/@me/sound/")
        found = find_extension(api.get_all("/client/@me/extension/"), extension)
        sounds: dict[str, list[dict[str, Any]]] = {}
        for sound in all_sounds.result():
            if str(sound.get("title", "")).startswith(prefix):
                sounds.setdefault(str(sound["title"]), []).append(sound)
        if found is None:
            return Live(sounds, None, None, {})
        base = f"/extension/{found['id']}/ivr"
        ivr = pool.submit(api.get, f"{base}/")
        contexts: dict[str, list[LiveContext]] = {}
        for context in api.get_all(f"{base}/context/"):
            description = str(context.get("description") or "")
            if description.startswith(prefix + "context:"):
                key, manifest = parse_manifest(description[len(prefix + "context:"):])
                contexts.setdefault(key, []).append(LiveContext(int(context["id"]), key, context, manifest=manifest))
        options = {pool.submit(api.get_all, f"{base}/context/{context.id}/options/"): context
                   for same in contexts.values() for context in same}
        order: dict[int, list[str]] = {}  # each context's options, in the platform's order
        rules: dict[tuple[int, str], Future[list[Any]]] = {}
        for done in as_completed(options):  # a context's rules are asked for as soon as its options are known
            context = options[done]
            order[context.id] = [str(option["digits"]) for option in done.result()]
            for digits in order[context.id]:
                path = f"{base}/context/{context.id}/options/{urllib.parse.quote(digits, safe='*')}/rules/"
                rules[context.id, digits] = pool.submit(api.get_all, path)
        for context in options.values():
            context.options = {digits: rules[context.id, digits].result() for digits in order[context.id]}
        return Live(sounds, found, ivr.result(), contexts)
