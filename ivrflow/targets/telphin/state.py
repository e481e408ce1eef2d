"""What the Telphin emulator holds: the platform's state, shared by the API
(emulator.py) and the calls run on it (calls.py)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ..emulation import Faults

#: Options every context has from its creation; they cannot be deleted.
BUILT_IN = ("start", "timeout", "invalid")
#: Items per page when a list read gives no `per_page` (unverified: the Telphin
#: SDKs in PLATFORMS.md §7 page lists with `page`/`per_page` but no default is
#: documented; tests make it small so a first-page-only client fails).
PAGE_SIZE = 20
#: The most items a page holds, whatever `per_page` asks (unverified, as above).
MAX_PER_PAGE = 100


@dataclass
class Telphin:
    """The platform's state."""

    client_id: str = "demo"
    client_secret: str = "demo"
    token_lifetime_s: int = 3600
    client: int = 12
    tokens: dict[str, float] = field(default_factory=dict)
    sounds: dict[int, dict[str, Any]] = field(default_factory=dict)
    sound_data: dict[int, bytes] = field(default_factory=dict)
    extensions: dict[int, dict[str, Any]] = field(default_factory=dict)
    ivrs: dict[int, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[int, dict[str, Any]] = field(default_factory=dict)  # with "extension", "options"
    faults: Faults = field(default_factory=Faults)
    page_size: int = PAGE_SIZE
    max_per_page: int = MAX_PER_PAGE
    max_concurrent: int | None = None  # more API requests at once are answered 429
    in_flight: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return int(next(self._ids))

    def writes(self) -> int:
        return sum(entry["method"] != "GET" and "/oauth/" not in entry["path"] for entry in self.log)

    def configuration(self, extension: str) -> dict[str, Any]:
        """Everything an extension's voice menu is, by names instead of ids:
        what a person would compare with the guide."""
        found = next((e for e in self.extensions.values() if e["name"].endswith("*" + extension)), None)
        if found is None:
            return {}
        names = {c["id"]: c["name"] for c in self.contexts.values()}
        sounds = {s["id"]: s["filename"] for s in self.sounds.values()}

        def rule(r: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in r.items() if k != "id"}
            if "sound" in out:
                out["sound"] = sounds.get(out["sound"], out["sound"])
            if "context" in out:
                out["context"] = names.get(out["context"], out["context"])
            return out

        ivr = dict(self.ivrs.get(found["id"], {}))
        ivr["entry_context"] = names.get(ivr.get("entry_context"), ivr.get("entry_context"))
        contexts = {}
        for context in self.contexts.values():
            if context["extension"] == found["id"]:
                fields = {k: context[k] for k in ("digit_len", "inter_digit_timeout", "timeout", "allow_any_dial")}
                options = {d: [rule(r) for r in rules] for d, rules in context["options"].items()}
                contexts[context["name"]] = {**fields, "options": options}
        return {"extension": {"name": found["name"], "type": found["type"], "label": found["label"]},
                "ivr": ivr, "contexts": contexts}
