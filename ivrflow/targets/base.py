"""The one protocol every target implements.

A target is a folder `ivrflow/targets/NAME/` whose `__init__.py` exposes
`TARGET`, a `Target` built from the package's own functions, and one line in
`ivrflow/targets/__init__.py`'s registry. Nothing outside the folder names
the platform: the command line, `ivrflow targets`, the runtime server and
the emulators all go through these members. docs/targets.md walks through
adding one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..compiler import ir
from ..compiler.diagnostics import Diagnostic
from ..config import Environment
from ..deploy.plan import Change, Plan

#: How a construct is expressed: "native", "runtime" (the runtime server),
#: "synthesized" (made at compile time) or "no", with a short note.
Capability = tuple[str, str]


class Desired(Protocol):
    """What a flow becomes on a platform; every target's has at least these."""

    diagnostics: list[Diagnostic]
    placeholders: list[str]


class Api(Protocol):
    """A platform's API client, as the deploy engine uses it."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class EmulatorOptions:
    """What `ivrflow emulate` passes to a target's stand-in."""

    domain: str = "localhost"
    client_id: str = "demo"
    client_secret: str = "demo"
    username: str = "demo"
    password: str = "demo"
    faults: Any = None  # targets.emulation.Faults
    #: (calls, window in seconds) a client may make; None: the platform's own.
    rate_limit: tuple[int, float] | None = None


@dataclass(frozen=True)
class Emulator:
    """A local stand-in of the platform: the ASGI app and the line `emulate` prints."""

    app: Any
    banner: str
    #: Where a POST runs a call against what the stand-in holds: the call
    #: executor the differential tests compare with the machine.
    call_path: str = "/_emulator/call"


@dataclass(frozen=True)
class Target:
    """A platform ivrflow compiles and deploys to."""

    #: The name users type after --target and in ivrflow.toml's `target`.
    name: str
    #: One (level, note) per construct of targets.capabilities.CONSTRUCTS.
    capabilities: Mapping[str, Capability]
    #: The environment keys of ivrflow.toml this target reads.
    env_keys: Sequence[str]
    #: The objects the flow becomes (with IVR2xx diagnostics): desired(flow, flow_path, env, tts).
    desired: Callable[[ir.Flow, str, Environment | None, bool], Desired]
    #: The plan that creates the flow from nothing (compile's plan.json).
    make_empty_plan: Callable[[Any], Plan]
    #: compile's files: write_artifacts(wanted, plan, out, base_url, flow=, flow_path=) -> paths.
    write_artifacts: Callable[..., list[Path]]
    #: The API client for an environment: api_for(env, http=, stats=).
    api_for: Callable[..., Api]
    #: Desired state against what is live: plan(flow, flow_path, env, api) -> (desired, plan).
    plan: Callable[[ir.Flow, str, Environment, Any], tuple[Any, Plan]]
    #: Send one change: apply(flow, flow_path, change, api, ids).
    apply: Callable[[ir.Flow, str, Change, Any, dict[str, Any]], None]
    #: The stand-in for `ivrflow emulate NAME`.
    emulator: Callable[[EmulatorOptions], Emulator]
    #: What callers dial to reach the flow, for compile, plan and deploy: dial(desired) -> "7000 (…)".
    dial: Callable[[Any], str]
    #: What ivrflow made for the flow, as a plan that removes it (deletes, and
    #: updates that put back what it changed): destroy(flow, flow_path, env,
    #: api) -> (desired, Plan). Only objects ivrflow marked are in it; what
    #: someone else made stays (listed as unmanaged where it holds ivrflow's).
    #: `ivrflow status` counts its changes as what is deployed. None: the
    #: target cannot destroy.
    destroy: Callable[[ir.Flow, str, Environment, Any], tuple[Any, Plan]] | None = None
    #: Routes the runtime server mounts at /NAME for the platform's callbacks,
    #: given a runtime.webhooks.Webhooks; None when the platform calls nothing.
    webhooks: Callable[[Any], list[Any]] | None = None
    #: One paragraph for `serve --help`: what the platform calls and where.
    webhook_help: str = ""
    #: What `emulate --help` says of the stand-in.
    emulator_help: str = ""
    #: Keys of the environment that name secrets (never printed).
    secrets: Sequence[str] = field(default_factory=tuple)
    #: Whether `plan` takes `adopt=True`: the target can tell objects a person
    #: made among its own, leaves them alone, and adopts them on request.
    adopts: bool = False
    #: For constructs the target carries only in part: refusals(flow) -> an
    #: IVR205 at each use it cannot carry, with the reason (capabilities.unsupported
    #: adds them to the refusals of the constructs it declares "no").
    refusals: Callable[[ir.Flow], list[Diagnostic]] | None = None



def lazy(module: str, name: str) -> Callable[..., Any]:
    """`module.name`, imported when first called: a target's server and
    emulator code (Starlette, uvicorn) stays out of `check`'s cold start."""
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    return call
