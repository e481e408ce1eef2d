"""What the Opentact emulator holds: the account's state, shared by the API
(emulator.py) and the calls run on it (calls.py)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..emulation import Faults

#: The numbers the emulated account leases unless told otherwise.
DEFAULT_NUMBERS = tuple(f"+1415555{n:04d}" for n in range(100, 110))
#: The SIP products the emulated account may create apps under.
DEFAULT_PRODUCTS = (12,)
#: ASSUMPTION: a token from /rest/auth lasts an hour (its lifetime is not documented).
TOKEN_LIFETIME_S = 3600


@dataclass
class Opentact:
    email: str = "demo@example.com"
    password: str = "demo"
    faults: Faults = field(default_factory=Faults)
    products: tuple[int, ...] = DEFAULT_PRODUCTS
    tokens: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Each app's call-flow XML and the dialect it was found to follow.
    flows: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    #: Leases by uuid: {uuid, tn, sip_control_app (an app's uuid or None)}.
    leases: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    numbers: tuple[str, ...] = DEFAULT_NUMBERS

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        if self.faults is None:
            self.faults = Faults()
        for number in self.numbers:
            self.lease(number)

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=next(self._ids)))

    def lease(self, number: str) -> dict[str, Any]:
        key = self.new_uuid()
        lease: dict[str, Any] = {"uuid": key, "tn": number, "sip_control_app": None}
        self.leases[key] = lease
        return lease

    def lease_of(self, number: str) -> dict[str, Any] | None:
        return next((lease for lease in self.leases.values() if lease["tn"] == number), None)
