"""Opentact's REST API over httpx (PLATFORMS.md §5): Basic email:password to
`GET /rest/auth` for the `X-Auth-Token` JWT (again on a 401), or a
long-lived token; the `{success, payload}` envelope; reading what is live."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import redact
from ...deploy.http import ApiClient, AuthFailed, Rejected, Stats, send

#: ASSUMPTION: a token from /rest/auth lasts this long (the JWT's lifetime is
#: not documented; a 401 gets a new one anyway).
TOKEN_LIFETIME_S = 3600
#: ASSUMPTION: a long-lived token (POST /rest/token) is sent as the same
#: `X-Auth-Token` header; Opentact's own script passes it as `?bearer=`.
LONG_LIVED_HEADER = "X-Auth-Token"


class OpentactApi(ApiClient):
    def __init__(self, base_url: str, *, email: str | None = None, password: str | None = None,
                 api_token: str | None = None, http: httpx.Client | None = None, stats: Stats | None = None,
                 sleep: Callable[[int], None] | None = None, timeout: float | None = None):
        self.base = base_url.rstrip("/")
        super().__init__(f"{self.base}/rest", http=http, stats=stats, sleep=sleep, timeout=timeout)
        self.email = email or ""
        self.password = redact.register(password) if password else ""
        self.api_token = redact.register(api_token) if api_token else None
        #: The call-flow XML a plan made with this client uploads.
        self.xml = b""

    def sign_in(self, renew: bool) -> tuple[str, float]:
        if self.api_token is not None:
            return self.api_token, 10 * 365 * 86400.0
        basic = base64.b64encode(f"{self.email}:{self.password}".encode()).decode()
        try:
            response = send(self.http, "GET", f"{self.api}/auth", self.stats,
                            headers={"Authorization": f"Basic {basic}"}, **self.retry)
        except (Rejected, AuthFailed) as error:
            raise AuthFailed(f"Opentact refused the email and password ({error})") from None
        payload = response.json().get("payload") or {}
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthFailed("Opentact's /rest/auth answered without a token")
        return token, float(TOKEN_LIFETIME_S)

    def request(self, method: str, path: str, *, lookup: Callable[[], Any] | None = None, deleting: bool = False,
                raw: bool = False, **kwargs: Any) -> Any:
        """A call to the API: the envelope's `payload`."""
        for attempt in (0, 1):
            headers = {LONG_LIVED_HEADER: self.token(force=attempt == 1)}
            try:
                response = send(self.http, method, self.api + path, self.stats, lookup=lookup, deleting=deleting,
                                headers=headers, **self.retry, **kwargs)
            except AuthFailed:
                if attempt == 0 and self.api_token is None:
                    continue  # the JWT may have expired: sign in again, once
                raise
            if not isinstance(response, httpx.Response):
                return response
            if raw:
                return response
            body = response.json() if response.content else {}
            if isinstance(body, dict) and body.get("success") is False:
                raise Rejected(f"{method} {path}: {body.get('message', '')}", int(body.get("status") or 400))
            return body.get("payload") if isinstance(body, dict) else body
        raise AssertionError("unreachable")

    def search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The number leases a lease search finds: a read, though Opentact takes it as a POST."""
        writes = self.stats.writes
        try:
            found = self.request("POST", "/lease/tn/search", json=body) or {}
        finally:
            self.stats.writes = writes
        return list(found.get("data") or [])


@dataclass
class Live:
    """What is on the account that a plan compares: the flow's profile and
    app (by name; several under one name are duplicates), the app's call-flow
    XML, and the leases of the environment's numbers and of the app."""

    profiles: list[dict[str, Any]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)
    xml: bytes | None = None
    #: Every lease asked about, by number: {uuid, tn, sip_control_app (its uuid or None)}.
    leases: dict[str, dict[str, Any]] = field(default_factory=dict)


def lease_app(lease: dict[str, Any]) -> str | None:
    """The uuid of the SIP control app a lease is attached to (None: none)."""
    app = lease.get("sip_control_app")
    if isinstance(app, dict):
        app = app.get("uuid")
    return str(app) if app else None


def read_live(api: OpentactApi, profile_name: str, app_name: str, numbers: tuple[str, ...]) -> Live:
    live = Live()
    live.profiles = [p for p in api.get("/profile/outbound_voice") or [] if p.get("name") == profile_name]
    live.apps = [a for a in api.get("/sip/app") or [] if a.get("name") == app_name]
    app_uuid = live.apps[0]["uuid"] if live.apps else None
    if app_uuid is not None:
        response = api.request("GET", f"/sip/app/call/flow/{app_uuid}", raw=True)
        live.xml = response.content or None
        for lease in api.search({"sip_control_app": app_uuid}):
            live.leases[str(lease["tn"])] = lease
    for number in numbers:
        if number not in live.leases:
            for lease in api.search({"tn": number}):
                if str(lease.get("tn")) == number:
                    live.leases[number] = lease
    return live
