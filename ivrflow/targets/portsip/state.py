"""What the PortSIP emulator holds: the PBX's state (tokens, uploads, files,
virtual receptionists and their action URLs, the request log), shared by the
emulator's API (emulator.py) and the calls run on it (calls.py)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ..emulation import Faults

#: The keys of a receptionist's custom office hours, Monday first.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class PortSip:
    """The PBX's state."""

    username: str = "demo"
    password: str = "demo"
    token_lifetime_s: int = 1800
    #: Answer a good sign-in with the second-step answer `{two_factor_enabled, token}`
    #: (OpenAPI v22 `POST /auth/sign_in`: oneOf that or the tokens), as a PBX
    #: whose user has two-factor authentication on.
    two_factor: bool = False
    tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_data: dict[str, bytes] = field(default_factory=dict)
    ivrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    urls: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # by receptionist id
    faults: Faults = field(default_factory=Faults)
    log: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> str:
        return f"{next(self._ids):016d}"

    def writes(self) -> int:
        return sum(e["method"] != "GET" and not e["path"].startswith(("/api/login", "/api/auth"))
                   for e in self.log)

    def by_number(self, number: str) -> dict[str, Any] | None:
        return next((i for i in self.ivrs.values() if i["extension_number"] == number), None)

    def configuration(self) -> dict[str, Any]:
        """Every receptionist by name, without ids: for comparing two PBXs."""
        out = {}
        for ivr in self.ivrs.values():
            view = {k: v for k, v in ivr.items() if k not in ("id", "prompt_file_id")}
            view["action_urls"] = sorted(({k: v for k, v in u.items() if k != "id"}
                                          for u in self.urls.get(ivr["id"], {}).values()), key=str)
            out[ivr["name"]] = view
        return out
