"""Targets: one package per platform, each exposing `TARGET` (a
`targets.base.Target`), registered here by name. docs/targets.md says how
to add one.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Target

#: The registry: a target's name and its package. Packages are imported on first use.
TARGETS = {
    "comm100": "ivrflow.targets.comm100",
    "mediaservice": "ivrflow.targets.mediaservice",
    "opentact": "ivrflow.targets.opentact",
    "portsip": "ivrflow.targets.portsip",
    "telphin": "ivrflow.targets.telphin",
}


class UnknownTarget(Exception):
    """A target name that is not registered; the message suggests the closest one."""


def get(name: str) -> Target:
    if name not in TARGETS:
        close = difflib.get_close_matches(name, TARGETS, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise UnknownTarget(f"no target `{name}`; the targets are {', '.join(sorted(TARGETS))}.{hint}")
    target: Target = importlib.import_module(TARGETS[name]).TARGET
    return target


def all_targets() -> list[Target]:
    """Every registered target, by name."""
    return [get(name) for name in sorted(TARGETS)]


def webhooks() -> dict[str, Any]:
    """The runtime server's route factories, by the mount name (the target's name)."""
    return {target.name: target.webhooks for target in all_targets() if target.webhooks is not None}
