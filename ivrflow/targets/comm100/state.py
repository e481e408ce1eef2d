"""What the Comm100 emulator holds: one site's voicebots, channel
configurations and instances, responses, actions and smart triggers, the
credentials it accepts, its rate limit and the request log; shared by the
API (emulator.py) and the calls run on it (calls.py)."""

from __future__ import annotations

import collections
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..emulation import Faults
from . import schema

#: The collections the API serves, by their path under /v4.
COLLECTIONS = {
    schema.VOICEBOTS: "voicebots",
    schema.CHANNEL_INSTANCES: "instances",
    schema.SIP_CONFIGURATIONS: "sip",
    schema.TWILIO_CONFIGURATIONS: "twilio",
    schema.RESPONSES: "responses",
    schema.ACTIONS: "actions",
    schema.SMART_TRIGGERS: "triggers",
}


@dataclass
class Comm100:
    """One site."""

    site_id: int = 10000
    email: str = "demo@example.com"
    api_key: str = "demo"
    bearer: str = "demo-token"
    #: The rate limit (PLATFORMS.md §4: 300 calls per 5 minutes per IP).
    rate_limit: int = schema.RATE_LIMIT_CALLS
    rate_window_s: float = schema.RATE_LIMIT_WINDOW_S
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in COLLECTIONS.values()})
    faults: Faults = field(default_factory=Faults)
    log: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, collections.deque[float]] = field(default_factory=dict)  # per client IP
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def new_id(self) -> str:
        return str(uuid.UUID(int=next(self._ids)))

    def writes(self) -> int:
        return sum(e["method"] != "GET" and e["path"].startswith("/v4/") for e in self.log)

    def reads(self) -> int:
        return sum(e["method"] == "GET" and e["path"].startswith("/v4/") for e in self.log)

    def throttled(self) -> int:
        return sum(e["status"] == 429 for e in self.log)

    def bot_named(self, name: str) -> dict[str, Any] | None:
        return next((b for b in self.objects["voicebots"].values() if b.get("name") == name), None)

    def actions_of(self, response_id: str) -> dict[str, dict[str, Any]]:
        return {k: a for k, a in self.objects["actions"].items() if a.get("voicebotResponseId") == response_id}
