"""The Opentact target: compile to call-flow XML and plan.json, plan against
what is live, deploy with the shared engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx

from ...compiler import ir
from ...config import Environment
from ...deploy.http import Stats
from ...deploy.plan import Change, Plan
from ..base import Emulator, EmulatorOptions, Target, lazy
from ..common import env_values
from . import settings as opentact_settings
from .client import OpentactApi, read_live
from .compile import Desired, compile_flow
from .planner import NumberProblem, apply_change, destroy_plan, make_plan
from .served import MAX_LEGACY_CASES

NAME = "opentact"
#: What Opentact's static call-flow XML expresses (compile.py).
CAPABILITIES = {
    "menu": ("native", "a Gather"),
    "prompt-file": ("native", "Play from prompts_url"),
    "prompt-say": ("native", "Say"),
    "fully": ("no", "warning"),
    "keys": ("native", "DTMF / Case"),
    "dial-extensions": ("runtime", "Gather url; legacy: no, its Gather sends no keys"),
    "timeout": ("native", "legacy dialect; current: the platform's"),
    "retries": ("native", "unrolled, or attempts"),
    "invalid": ("native", "Default"),
    "handler-prompts": ("native", ""),
    "goto": ("native", "a nested Gather; loops: runtime Callback"),
    "transfer": ("native", "Dial"),
    "hangup": ("native", ""),
    "voicemail": ("native", "Dial to the box's number"),
    "ask": ("runtime", "Callback"),
    "route-hours": ("runtime", "Callback"),
    "route-caller": ("runtime", "Callback"),
    "answer-delay": ("native", "Answer delay; legacy: warning"),
    "max-duration": ("no", "warning"),
    # The second edition: a flow that uses any of it is served by `ivrflow serve`
    # from the start (the app's call_flow_url; served.py), the machine's state
    # kept in a session between requests.
    "languages": ("runtime", "Say lang; legacy: default voice, warning"),
    "prompt-variants": ("runtime", "the call's variant in Say"),
    "play-first-again": ("runtime", ""),
    "variables": ("runtime", "filled into Say and Dial"),
    "set-language": ("runtime", ""),
    "collect": ("runtime", "Gather url sends dtmf; legacy: no, its Gather sends no keys"),
    "lookup": ("runtime", "the server calls the service"),
    "conditions": ("runtime", "called: the request's tn"),
    "key-ranges": ("runtime", f"legacy: a Case per entry, up to {MAX_LEGACY_CASES}"),
    "key-patterns": ("runtime", f"legacy: a Case per entry, up to {MAX_LEGACY_CASES}"),
    "end-key": ("runtime", "dtmf_stop / finishOnKey"),
    "split-retries": ("runtime", ""),
    "replay": ("runtime", ""),
    "transfer-else": ("runtime", "Dial Error, ring not kept; legacy: no Error in Dial"),
}
ENV_KEYS = opentact_settings.KEYS


def env_mapping(env: Environment | None) -> dict[str, Any]:
    """The environment's checked values as compile.py reads them (ConfigError at a wrong one)."""
    values = env_values(env, ("runtime_url",))
    if env is not None:
        values.update({k: v for k, v in dataclasses.asdict(opentact_settings.read(env)).items() if v is not None})
    return values


def desired(flow: ir.Flow, flow_path: str, env: Environment | None, tts: bool = False,
            dialect: str | None = None) -> Desired:
    return compile_flow(flow, env_mapping(env), dialect_name=dialect)


def api_for(env: Environment, *, http: httpx.Client | None = None, stats: Stats | None = None) -> OpentactApi:
    checked = opentact_settings.read(env)
    token = env.secret("api_token")
    if token is None and checked.email is None:
        raise env.error("give `email` and `password` (Opentact's sign-in) or `api_token`", "email",
                        hint='email = "ops@example.com" and password = "${OPENTACT_PASSWORD}"')
    return OpentactApi(checked.base_url, email=checked.email, password=env.secret("password"), api_token=token,
                       http=http, stats=stats)


def plan(flow: ir.Flow, flow_path: str, env: Environment, api: OpentactApi) -> tuple[Desired, Plan]:
    wanted = desired(flow, flow_path, env)
    if not isinstance(wanted.product, int):
        raise env.error("`product` is required to deploy: the SIP product id the app is created under", "product",
                        hint="product = 12 (list them with GET /rest/sip/product)")
    live = read_live(api, wanted.profile_name, wanted.app_name, wanted.numbers)
    try:
        the_plan = make_plan(wanted, live)
    except NumberProblem as problem:
        raise env.error(str(problem), "numbers") from None
    api.xml = wanted.xml
    return wanted, the_plan


def destroy(flow: ir.Flow, flow_path: str, env: Environment, api: OpentactApi) -> tuple[Desired, Plan]:
    """What ivrflow made for the flow, as a plan that removes it (planner.destroy_plan)."""
    wanted = desired(flow, flow_path, env)
    return wanted, destroy_plan(wanted, read_live(api, wanted.profile_name, wanted.app_name, ()))


def apply(flow: ir.Flow, flow_path: str, change: Change, api: OpentactApi, ids: dict[str, Any]) -> None:
    apply_change(api, change, ids, lambda: api.xml)


# --- artifacts ------------------------------------------------------------------------------

def make_empty_plan(wanted: Desired) -> Plan:
    the_plan = make_plan(wanted, None)
    the_plan.notes.append("number leases are looked up (POST /rest/lease/tn/search) when deploying")
    return the_plan


def write_artifacts(wanted: Desired, the_plan: Plan, out: Path, base_url: str | None, *, flow: ir.Flow,
                    flow_path: str) -> list[Path]:
    """plan.json and call-flow.xml (the document uploaded to the app) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    plan_path = out / "plan.json"
    plan_path.write_text(json.dumps(the_plan.calls(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not wanted.xml:  # served from the start: plan.json holds the call_flow_url
        return [plan_path]
    xml_path = out / "call-flow.xml"
    xml_path.write_bytes(wanted.xml)
    return [plan_path, xml_path]


# --- the target -----------------------------------------------------------------------------

def emulator(options: EmulatorOptions) -> Emulator:
    from .emulator import Opentact, opentact_app

    email = options.username if "@" in options.username else f"{options.username}@example.com"
    state = Opentact(email=email, password=options.password, faults=options.faults)
    return Emulator(opentact_app(state), "opentact emulator on {url} (API under /rest)")


def dial(wanted: Desired) -> str:
    numbers = ", ".join(wanted.numbers) or "the numbers leased to it"
    return f"{numbers} (SIP control app `{wanted.app_name}`, {wanted.how}, {wanted.dialect} dialect)"


TARGET = Target(
    name=NAME, capabilities=CAPABILITIES, env_keys=ENV_KEYS, secrets=("password", "api_token"),
    desired=desired, make_empty_plan=make_empty_plan, write_artifacts=write_artifacts,
    api_for=api_for, plan=plan, apply=apply, destroy=destroy, emulator=emulator, dial=dial,
    webhooks=lazy(f"{__package__}.webhook", "routes"),
    webhook_help="Opentact's <Callback>s: /opentact/xml (where a flow goes round or a route decides; give --env "
                 "so the answers use the environment's dialect, voicemail numbers and prompts_url).",
    emulator_help="the REST API under /rest: sign-in (GET /rest/auth with Basic email:password; the emulator's "
                  "account is USERNAME@example.com), outbound voice profiles, SIP control apps, call-flow XML "
                  "uploads, number leases (search and tnlease), with Opentact's {success, payload} envelope and "
                  "validation, fault injection, a request log at /_emulator/log, and POST /_emulator/call to run "
                  'a call through an app\'s XML: {"number": "+1415…", "inputs": ["1", "silence"]}.')
