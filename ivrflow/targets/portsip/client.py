"""PortSIP's REST API over httpx: sign-in with username, password and tenant
domain (the token refreshed before it expires, and once on a 401), paged
lists, the three-step prompt upload, and reading what ivrflow manages."""

from __future__ import annotations

import hashlib
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
READ_CONCURRENCY = 4


class PortSipApi(ApiClient):
    def __init__(self, base_url: str, username: str, password: str, domain: str, *,
                 http: httpx.Client | None = None, stats: Stats | None = None,
                 sleep: Callable[[int], None] | None = None, timeout: float | None = None):
        super().__init__(base_url, http=http, stats=stats, sleep=sleep, timeout=timeout)
        self.username = username
        self.password = redact.register(password)
        self.domain = domain
        self._refresh: str | None = None
        # Set by target.plan for the deploy that follows: the PIN and how to make prompt files.
        self.pin = ""
        self.read_audio: Callable[[str], bytes] = lambda name: b""

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
    live = Live()
    live.files = {str(f["name"]): f for f in api.items("/files") if is_prompt_file(flow, str(f.get("name", "")))}
    mine = []
    for ivr in api.items("/ivrs"):
        live.taken.add(str(ivr.get("extension_number")))
        if str(ivr.get("name", "")).startswith(prefix(flow)):
            mine.append(ivr)

    def read(ivr: dict[str, Any]) -> None:
        full = api.get(f"/ivrs/{ivr['id']}") or ivr
        full.setdefault("id", ivr["id"])
        live.ivrs[str(full["name"])] = full
        urls = api.get(f"/ivrs/{ivr['id']}/action_urls") or {}
        items = urls.get("items", []) if isinstance(urls, dict) else urls
        live.urls[str(full["name"])] = [u for u in items if str(u.get("name", "")).startswith(f"{MARKER}:")]

    with ThreadPoolExecutor(READ_CONCURRENCY) as pool:
        list(pool.map(read, mine))
    return live
