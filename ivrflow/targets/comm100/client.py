"""Comm100's v4 API over httpx: API-key auth (Basic email:API_KEY and
`siteId` on every call) or an OAuth bearer token, a pacer that keeps the
whole deploy under the rate limit (300 calls per 5 minutes), and reading
what ivrflow manages for a flow."""

from __future__ import annotations

import base64
import collections
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import redact
from ...deploy.http import AuthFailed, HttpSession, Stats, send
from . import schema
from .compile import marker


class Pacer:
    """At most `calls` requests in any `window` seconds (Comm100 counts per
    IP over 5 minutes): a request waits until the oldest of the last `calls`
    is older than the window. A request counts from when its answer came
    (the platform counts it when it arrives, after the client sent it), so
    the two clocks never disagree in the platform's favour. A 429 (the
    platform counted differently) waits a share of the window more.
    `waited` is the total pause."""

    def __init__(self, calls: int = schema.RATE_LIMIT_CALLS, window: float = schema.RATE_LIMIT_WINDOW_S, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.calls, self.window = calls, window
        self.clock, self.sleep = clock, sleep
        self.sent: collections.deque[list[float]] = collections.deque()
        self.waited = 0.0
        self.lock = threading.Lock()

    def acquire(self) -> list[float]:
        """Wait for room; the request's slot, to `done` when it is answered."""
        with self.lock:
            while True:
                now = self.clock()
                while self.sent and now - min(s[0] for s in self.sent) >= self.window:
                    self.sent.remove(min(self.sent))
                if len(self.sent) < self.calls:
                    slot = [now]
                    self.sent.append(slot)
                    return slot
                pause = self.window - (now - min(s[0] for s in self.sent)) + 0.001
                self.waited += pause
                self.sleep(pause)

    def done(self, slot: list[float]) -> None:
        with self.lock:
            slot[0] = self.clock()

    def throttled(self, attempt: int) -> None:
        """After a 429 or a failure: wait a share of the window (doubling)."""
        pause = self.backoff(attempt)
        self.waited += pause
        self.sleep(pause)

    def backoff(self, attempt: int) -> float:
        return min(self.window, self.window / self.calls * 2 ** attempt)

    def refused(self, retry_after: str | None, attempt: int) -> float:
        """How long to wait after the `attempt`th 429 in a row: the answer's
        Retry-After (seconds) when it has one, else a share of the window,
        doubling; at least one call's share of the window, at most a window."""
        try:
            pause = float(retry_after) if retry_after is not None else self.backoff(attempt)
        except ValueError:  # an HTTP date, or nonsense: back off as without one
            pause = self.backoff(attempt)
        return min(self.window, max(self.window / self.calls, pause))


def pacing_seconds(calls: int, limit: int = schema.RATE_LIMIT_CALLS,
                   window: float = schema.RATE_LIMIT_WINDOW_S) -> float:
    """The least time `calls` requests take under the limit, from a fresh window."""
    if calls <= limit:
        return 0.0
    return ((calls - 1) // limit) * window


class Comm100Api(HttpSession):
    """The API under `base_url` (…/v4)."""

    def __init__(self, base_url: str, *, auth: str, email: str | None, secret: str, site_id: int | None,
                 http: httpx.Client | None = None, stats: Stats | None = None, pacer: Pacer | None = None):
        super().__init__(http=http, stats=stats)
        self.api = base_url.rstrip("/")
        self.retry: dict[str, Any] = {}
        self.pacer = pacer or Pacer()
        self.site_id = site_id
        redact.register(secret)
        if auth == "api_key":
            token = base64.b64encode(f"{email}:{secret}".encode()).decode()
            self.headers = {"Authorization": f"Basic {redact.register(token)}"}
        else:
            self.headers = {"Authorization": f"Bearer {secret}"}
        #: Secrets a plan carries as {"$secret": key}, filled in when sent.
        self.secrets: dict[str, str] = {}

    def request(self, method: str, path: str, *, lookup: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        params = dict(kwargs.pop("params", {}) or {})
        if self.site_id is not None:
            params[schema.SITE_ID_PARAMETER] = self.site_id
        pacer = self.pacer
        sleep = self.retry.get("sleep")

        def pause(attempt: int) -> None:
            (sleep or pacer.throttled)(attempt)
        paced = _PacedClient(self.http, pacer, self.stats, sleep)
        options = {k: v for k, v in self.retry.items() if k != "sleep"}
        try:
            response = send(paced, method, self.api + path, self.stats, lookup=lookup,  # type: ignore[arg-type]
                            sleep=pause, headers=self.headers, params=params, **options, **kwargs)
        finally:
            self.stats.paused = pacer.waited  # what the deploy's last line reports
        if not isinstance(response, httpx.Response):
            return response
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)


@dataclass
class _PacedClient:
    """The httpx client with the pacer in front of every attempt. A 429
    means the platform counts more calls than the pacer (another process on
    the same address, an earlier command): the call waits (Retry-After, or
    backing off) and goes again, for up to a whole window and one more try,
    before the 429 is handed back to `send`'s own retries, so a deploy that
    meets a full window waits it out rather than failing. `sleep` (the
    tests' retry pause, by attempt) replaces the waiting."""

    http: httpx.Client
    pacer: Pacer
    stats: Stats
    sleep: Callable[[int], None] | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        waited = 0.0
        for attempt in itertools.count():
            slot = self.pacer.acquire()
            try:
                response = self.http.request(method, url, **kwargs)
            finally:
                self.pacer.done(slot)
            if response.status_code != 429 or waited >= self.pacer.window:
                return response
            pause = self.pacer.refused(response.headers.get(schema.RETRY_AFTER_HEADER), attempt)
            waited += pause
            self.stats.log.append(f"{method} {redact.redact(url)}: 429, waiting {pause:g} s for the rate limit")
            if self.sleep is not None:
                self.sleep(attempt)
            else:
                self.pacer.waited += pause
                self.pacer.sleep(pause)
            self.stats.count(method, retry=True)
        raise AssertionError("unreachable")


@dataclass
class Live:
    """What is on the site for one flow."""

    bot: dict[str, Any] | None = None
    #: A voicebot with the flow's name that ivrflow did not make.
    foreign: dict[str, Any] | None = None
    instance: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    #: The other responses of the voicebot (someone else's: ivrflow makes one).
    responses: list[dict[str, Any]] = field(default_factory=list)
    #: Every action of the response, ivrflow's (marked) and anyone else's.
    actions: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)


def read_live(api: Comm100Api, flow: str, channel: str, channel_fields: dict[str, Any], response_name: str, *,
              adopt: bool = False) -> Live:
    """The flow's voicebot (by name, ours by its marker; `adopt`: one of
    the flow's name without it too), its channel and configuration, its
    start response and the others, that response's actions and the bot's
    smart triggers. Without a bot of ours: a channel configuration that
    already serves the same line (same SIP server and username, or the same
    Twilio number), so a deploy reuses it rather than duplicating it."""
    live = Live()
    bots = api.get(schema.VOICEBOTS) or []
    mine = [b for b in bots if b.get("name") == flow]
    ours = next((b for b in mine if b.get("description") == marker(flow)), mine[0] if adopt and mine else None)
    if ours is None:
        live.foreign = mine[0] if mine else None
        live.config = _matching_config(api, channel, channel_fields)
        live.instance = _free_instance(api, channel, live.config, bots)
        return live
    live.bot = ours
    instance_id = (ours.get("channel") or {}).get("id") or ours.get("channelId")
    if instance_id:
        live.instance = _get_or_none(api, f"{schema.CHANNEL_INSTANCES}/{instance_id}")
    if live.instance and live.instance.get("infoId"):
        path = schema.SIP_CONFIGURATIONS if live.instance.get("channelType") == "sip" else schema.TWILIO_CONFIGURATIONS
        live.config = _get_or_none(api, f"{path}/{live.instance['infoId']}")
    number_changed = channel == "twilio" and live.config is not None \
        and live.config.get("phoneNumber") != channel_fields.get("phoneNumber")  # immutable: another configuration
    if live.config is None or live.instance is None or live.instance.get("channelType") != channel or number_changed:
        live.config = _matching_config(api, channel, channel_fields)
    responses = api.get(schema.RESPONSES, **{schema.RESPONSE_FILTER: ours["id"]}) or []
    live.response = next((r for r in responses if r.get("name") == response_name), None)
    live.responses = [r for r in responses if r is not live.response]
    if live.response is not None:
        live.actions = api.get(schema.ACTIONS, **{schema.ACTION_FILTER: live.response["id"]}) or []
    live.triggers = api.get(schema.BOT_SMART_TRIGGERS.format(bot=ours["id"])) or []
    return live


def _get_or_none(api: Comm100Api, path: str) -> Any:
    from ...deploy.http import Rejected

    try:
        return api.get(path)
    except Rejected as rejected:
        if rejected.status == 404:
            return None
        raise


def _free_instance(api: Comm100Api, channel: str, config: dict[str, Any] | None,
                   bots: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A channel instance of `config` that no voicebot uses: one a deploy
    cut short before its voicebot made, reused rather than duplicated
    (ASSUMED: instances can be listed, like the configurations)."""
    if config is None:
        return None
    used = {(b.get("channel") or {}).get("id") or b.get("channelId") for b in bots}
    return next((i for i in api.get(schema.CHANNEL_INSTANCES) or [] if i.get("infoId") == config.get("id")
                 and i.get("channelType") == channel and i.get("id") not in used), None)


def _matching_config(api: Comm100Api, channel: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    if channel == "twilio":
        return next((c for c in api.get(schema.TWILIO_CONFIGURATIONS) or []
                     if c.get("phoneNumber") == fields.get("phoneNumber")), None)
    return next((c for c in api.get(schema.SIP_CONFIGURATIONS) or []
                 if c.get("sIPServer") == fields.get("sIPServer") and c.get("username") == fields.get("username")),
                None)


__all__ = ["AuthFailed", "Comm100Api", "Live", "Pacer", "pacing_seconds", "read_live"]
