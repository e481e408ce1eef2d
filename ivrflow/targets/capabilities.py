"""What each target can express: natively, through the runtime server, or not
at all. Each target declares its own CAPABILITIES; `ivrflow targets` and the
README's table are written from them."""

from __future__ import annotations

from . import all_targets
from .base import Target

#: The constructs of the language, in the order a table shows them.
CONSTRUCTS = (
    ("menu", "menu"),
    ("prompt-file", "prompt … file"),
    ("prompt-say", "prompt … say"),
    ("fully", "play … fully"),
    ("keys", "press KEY (several digits, * and #)"),
    ("dial-extensions", "dial-extensions"),
    ("timeout", "timeout, inter-digit, digits"),
    ("retries", "retries, repeat, on exhausted"),
    ("invalid", "on invalid"),
    ("handler-prompts", "play in a handler"),
    ("goto", "goto"),
    ("transfer", "transfer"),
    ("hangup", "hangup"),
    ("voicemail", "voicemail"),
    ("ask", "ask"),
    ("route-hours", "route: when open HOURS"),
    ("route-caller", "route: when caller MASK"),
    ("answer-delay", "answer-delay"),
    ("max-duration", "max-duration"),
)
LEVELS = {"native": "native", "runtime": "runtime server", "synthesized": "synthesized", "no": "—"}


def capabilities() -> dict[str, Target]:
    return {target.name: target for target in all_targets()}


def rows() -> list[list[str]]:
    """One row per construct: its name, then each target's level (and note)."""
    targets = capabilities()
    table = []
    for key, label in CONSTRUCTS:
        row = [label]
        for target in targets.values():
            level, note = target.capabilities[key]
            row.append(LEVELS[level] + (f" ({note})" if note else ""))
        table.append(row)
    return table


def markdown() -> str:
    names = list(capabilities())
    lines = ["| construct | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    return "\n".join(lines) + "\n"
