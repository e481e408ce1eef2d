"""Targets: one module per platform, registered here by name.

A target module offers `desired(flow, flow_path, env, tts)` (the objects the
flow becomes, with IVR2xx diagnostics), `api_for(env, …)`, `plan(flow,
flow_path, env, api)`, `apply(flow, flow_path, change, api, ids)` and
`write_artifacts(…)`.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

TARGETS = {
    "mediaservice": "ivrflow.targets.mediaservice.target",
    "portsip": "ivrflow.targets.portsip.target",
    "telphin": "ivrflow.targets.telphin.target",
}


class UnknownTarget(Exception):
    """A target name that is not registered; the message suggests the closest one."""


def get(name: str) -> ModuleType:
    if name not in TARGETS:
        close = difflib.get_close_matches(name, TARGETS, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise UnknownTarget(f"no target `{name}`; the targets are {', '.join(sorted(TARGETS))}.{hint}")
    return importlib.import_module(TARGETS[name])
