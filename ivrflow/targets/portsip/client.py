"""PortSIP's REST API over httpx: sign-in with username, password and tenant
domain (the token refreshed before it expires, and once on a 401), paged
lists, the three-step prompt upload, and reading what ivrflow manages."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import redact
from ...deploy.http import ApiClient, AuthFailed, Rejected, Stats, send
from .compile import MARKER, is_prompt_file

#: PortSIP's largest page (`top`).
PAGE = 100
#: Calls in flight at once while reading what is live. PortSIP limits API calls
#: per minute (1,000 in v16.0-16.1, 5,000 from v16.2, `access_limit` in
#: system.ini: PLATFORMS.md §2), not how many run at once; a plan of 50 menus
#: reads about 200 objects, far inside a minute's allowance. A 429 halves how
#: many run at once and its retry goes alone (`Gate`); each RECOVER_AFTER calls
#: answered without one, one more may run at once again.
READ_CONCURRENCY = 8
RECOVER_AFTER = 20


class Gate:
    """At most `limit` API calls at once, a call's retries included. A call
    answered 429 (`throttled`) is retried alone: before its next attempt
    (`before_attempt`) it waits until no other call runs, and no call starts
    until it is done; the limit is halved (one at a time against a PBX that
    refuses any concurrency), and grows back by one each RECOVER_AFTER calls
    that were not refused. Re-entrant: a call that looks something up while
    it retries is not blocked by itself."""

    def __init__(self, limit: int):
        self.limit = self.most = limit
        self.calm = 0  # calls done since the last 429 or the last step up
        self.active = 0
        self.holding = 0  # calls answered 429 and not yet done
        self.waiting = 0  # of those, the ones waiting to run alone
        self.alone = False  # one of them runs alone
        self._changed = threading.Condition()
        self._local = threading.local()

    def throttled(self) -> None:
        """The current thread's call was answered 429."""
        if getattr(self._local, "depth", 0) and not getattr(self._local, "narrowed", False):
            self._local.narrowed = True
            with self._changed:
                self.holding += 1
                self.limit, self.calm = max(1, self.limit // 2), 0

    def before_attempt(self) -> None:
        """Before each attempt of the current thread's call: a throttled call waits to run alone."""
        if not getattr(self._local, "narrowed", False) or getattr(self._local, "alone", False):
            return
        with self._changed:
            self.active -= 1
            self.waiting += 1
            self._changed.notify_all()
            while self.active or self.alone:
                self._changed.wait()
            self.waiting -= 1
            self.active += 1
            self.alone = self._local.alone = True

    def __enter__(self) -> None:
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if depth:
            return
        with self._changed:
            while self.active >= (1 if self.holding else self.limit) or self.waiting or self.alone:
                self._changed.wait()
            self.active += 1

    def __exit__(self, *exc: object) -> None:
        self._local.depth -= 1
        if self._local.depth:
            return
        with self._changed:
            self.active -= 1
            if getattr(self._local, "narrowed", False):
                self._local.narrowed = False
                self.holding -= 1
            elif self.limit < self.most:
                self.calm += 1
                if self.calm >= RECOVER_AFTER:
                    self.limit, self.calm = self.limit + 1, 0
            if getattr(self._local, "alone", False):
                self._local.alone = self.alone = False
            self._changed.notify_all()


class PortSipApi(ApiClient):
    def __init__(self, base_url: str, username: str, password: str, domain: str, *,
                 http: httpx.Client | None = None, stats: Stats | None = None,
                 sleep: Callable[[int], None] | None = None, timeout: float | None = None):
        super().__init__(base_url, http=http, stats=stats, sleep=sleep, timeout=timeout)
        self.username = username
        self.password = redact.register(password)
        self.domain = domain
        self.throttle = Gate(READ_CONCURRENCY)
        self.http.event_hooks["request"].append(lambda request: self.throttle.before_attempt())
        self.http.event_hooks["response"].append(self._throttled)
        self._refresh: str | None = None
        # Set by target.plan for the deploy that follows: the PIN and how to make prompt files.
        self.pin = ""
        self.read_audio: Callable[[str], bytes] = lambda name: b""

    def _throttled(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            self.throttle.throttled()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.throttle:
            return super().request(method, path, **kwargs)

    def sign_in(self, renew: bool) -> tuple[str, float]:
        """A refresh while the refresh token works; else the username and password."""
        body = None
        if renew and self._refresh is not None:
            body = self._post("/auth/refresh_token", {"refresh_token": self._refresh}, quiet=True)
        if body is None:
            body = self._post("/login", {"username": self.username, "password": self.password,
                                         "domain": self.domain})
        assert body is not None
        if body.get("two_factor_enabled"):  # OpenAPI v22: the other `oneOf` answer of a sign-in
            redact.register(str(body.get("token") or ""))
            raise AuthFailed(f"PortSIP asks `{self.username}` for a second sign-in step (two-factor "
                             "authentication is on); ivrflow cannot answer it: deploy as a user without "
                             "two-factor authentication")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthFailed(f"PortSIP answered the sign-in of `{self.username}` without an access token")
        self._refresh = redact.register(str(body.get("refresh_token") or "")) or None
        try:
            lifetime = float(body.get("expires_in", 1800))
        except (TypeError, ValueError):
            lifetime = 1800.0
        return token, lifetime

    def _post(self, path: str, payload: dict[str, str], *, quiet: bool = False) -> dict[str, Any] | None:
        try:
            response = send(self.http, "POST", self.api + path, self.stats, json=payload, **self.retry)
        except (Rejected, AuthFailed) as error:
            if quiet:
                return None  # a refresh token that no longer works: sign in again
            raise AuthFailed(f"PortSIP refused the sign-in of `{self.username}` at `{self.domain}` ({error})") \
                from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if quiet:
                return None
            raise AuthFailed(f"PortSIP answered the sign-in of `{self.username}` with no JSON object "
                             f"(HTTP {response.status_code})")
        return body

    def items(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paged list."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", path, params={"top": PAGE, "skip": len(found)}) or {}
            items = page.get("items", []) if isinstance(page, dict) else page
            found += items
            if len(items) < PAGE:
                return found

    def upload(self, filename: str, data: bytes) -> str:
        """The three-step upload; the file's id. A repeated append could double
        the data, so any failure after the first step starts again, and the
        sha256 digest lets PortSIP refuse a damaged file."""
        digest = hashlib.sha256(data).hexdigest()
        last: Exception | None = None
        for _ in range(3):
            started = self.request("POST", "/blobs/uploads", params={"filename": filename}, raw=True,
                                   lookup=None)
            upload_id = started.headers["PortSIP-Upload-ID"]
            token = {"PortSIP-Upload-Token": started.headers["PortSIP-Upload-Token"]}
            try:
                self.request("POST", f"/blobs/uploads/{upload_id}/append", content=data, raw=True,
                             headers={**token, "Content-Type": "application/octet-stream"})
                done = self.request("POST", f"/blobs/uploads/{upload_id}/complete", params={"digest": digest},
                                    headers=token, lookup=lambda: self.find_file(filename))
            except Rejected as error:
                last = error  # a damaged or half-finished upload: start again
                continue
            return str(done["id"])
        assert last is not None
        raise last

    def find_file(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.items("/files") if f.get("name") == name), None)


@dataclass
class Live:
    """What ivrflow manages on the platform now, by name."""

    ivrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    urls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by receptionist name
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)  # every receptionist's number, ours or not


def prefix(flow: str) -> str:
    return f"{MARKER}:{flow}:"


def read_live(api: PortSipApi, flow: str) -> Live:
    """The flow's receptionists (each read whole, with its action URLs), its
    prompt files and every number taken; read READ_CONCURRENCY at a time."""
    live = Live()
    with ThreadPoolExecutor(READ_CONCURRENCY) as pool:
        files, ivrs = pool.map(api.items, ("/files", "/ivrs"))
        live.files = {str(f["name"]): f for f in files if is_prompt_file(flow, str(f.get("name", "")))}
        live.taken = {str(ivr.get("extension_number")) for ivr in ivrs}
        mine = [ivr for ivr in ivrs if str(ivr.get("name", "")).startswith(prefix(flow))]
        whole = pool.map(lambda ivr: api.get(f"/ivrs/{ivr['id']}"), mine)
        urls = pool.map(lambda ivr: api.get(f"/ivrs/{ivr['id']}/action_urls"), mine)
        for ivr, full, found in zip(mine, list(whole), list(urls), strict=True):
            full = full or ivr
            full.setdefault("id", ivr["id"])
            live.ivrs[str(full["name"])] = full
            items = found.get("items", []) if isinstance(found, dict) else found or []
            live.urls[str(full["name"])] = [u for u in items if str(u.get("name", "")).startswith(f"{MARKER}:")]
    return live
