"""The Comm100 target: compile to plan.json and one JSON file per resource,
plan against what is live, deploy with the shared engine, paced under
Comm100's rate limit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from ...compiler import ir
from ...config import Environment
from ...deploy.http import Stats
from ...deploy.plan import Change, Plan
from ..base import Emulator, EmulatorOptions, Target
from . import schema, settings
from .client import Comm100Api, Pacer, pacing_seconds, read_live
from .compile import Desired, compile_flow
from .planner import apply_change, destroy_plan, make_plan
from .refusals import refusals

NAME = "comm100"
#: Why the languages are refused: one language per voicebot.
_ONE_LANGUAGE = "a Comm100 voicebot has one languageId (en, zh-CN or zh-TW) for all its messages"
#: What a Comm100 voicebot expresses (see capabilities.py and compile.py).
CAPABILITIES = {
    "menu": ("native", "an IVRMenu action"),
    "prompt-file": ("native", "PlayAudio from audio_base_url"),
    "prompt-say": ("native", "the voicebot's TTS"),
    "fully": ("no", "warning"),
    "keys": ("native", "digits 0-9 only"),
    "dial-extensions": ("no", "warning"),
    "timeout": ("synthesized", "bot-wide timers"),
    "retries": ("native", "invalidInputRepeatTime"),
    "invalid": ("native", ""),
    "handler-prompts": ("native", "PlayText"),
    "goto": ("native", "nextActionId"),
    "transfer": ("native", "TransferCall"),
    "hangup": ("native", "EndCall"),
    "voicemail": ("synthesized", "a transfer to the box's number"),
    "ask": ("no", "its service answers with the next action, and `ivrflow serve` speaks no Comm100 Webhook"),
    "route-hours": ("no", "no documented Condition field holds the time of the call"),
    "route-caller": ("native", "a Condition on the caller, the mask a regular expression"),
    "answer-delay": ("no", "warning"),
    "max-duration": ("no", "warning"),
    # The second edition (docs/platforms/comm100.md: the mapping and what it assumes; a "no"
    # note is the reason IVR205 gives; the constructs carried in part are refused in refusals).
    "languages": ("no", _ONE_LANGUAGE),
    "prompt-variants": ("no", _ONE_LANGUAGE),
    "play-first-again": ("no", "an IVRMenu says one message, the same when Comm100 repeats it"),
    "variables": ("native", "SetVariableValue, {!Variable.name}; not `called`"),
    "set-language": ("no", _ONE_LANGUAGE),
    "collect": ("native", "CollectDTMFDigits, a Condition on the length; a copy per retry"),
    "lookup": ("native", "Webhook: 200 → on done, else on error"),
    "conditions": ("native", "Condition actions; not `called` nor `is set`"),
    "key-ranges": ("synthesized", "an option per key; one-key ranges only"),
    "key-patterns": ("synthesized", "an option per key; one-key patterns only"),
    "end-key": ("native", "a collect's stopGatherAfterPresskey (* or #); not in a menu"),
    "split-retries": ("no", "Comm100 counts silences for the whole voicebot, not per menu or collect"),
    "replay": ("no", "an IVRMenu entered again starts its count of wrong keys at 0, where `replay` keeps it"),
    "transfer-else": ("native", "actionIdWhenTransferFailed; no ring time"),
}
ENV_KEYS = settings.ENV_KEYS
#: The reads of a plan of a deployed flow (voicebots, channel instance and
#: configuration, responses, actions, triggers): `deploy` makes them again to
#: check the result.
VERIFY_READS = 6


def _values(env: Environment | None) -> dict[str, Any]:
    if env is None:
        return {}
    checked = settings.read(env)
    return {"channel": checked.channel, "channel_fields": checked.channel_fields, "language": checked.language,
            "voice": checked.voice, "engine": checked.engine, "transfer_to": checked.transfer_to,
            "voicemail": checked.voicemail, "audio_base_url": checked.audio_base_url}


def desired(flow: ir.Flow, flow_path: str, env: Environment | None, tts: bool = False) -> Desired:
    return compile_flow(flow, _values(env))


def api_for(env: Environment, *, http: httpx.Client | None = None, stats: Stats | None = None) -> Comm100Api:
    checked = settings.read(env)
    key = "api_key" if checked.auth == "api_key" else "access_token"
    secret = env.secret(key) or ""
    if not secret:
        raise env.error(f"`{key}` is empty", key)
    api = Comm100Api(checked.base_url, auth=checked.auth, email=checked.email, secret=secret,
                     site_id=checked.site_id, http=http, stats=stats,
                     pacer=Pacer(checked.rate_limit, checked.rate_window))
    if checked.channel == "sip":
        api.secrets["sip_password"] = env.secret("sip_password") or ""
    return api


def plan(flow: ir.Flow, flow_path: str, env: Environment, api: Comm100Api,
         adopt: bool = False) -> tuple[Desired, Plan]:
    """`adopt`: change or delete what ivrflow did not make, to match the flow."""
    wanted = desired(flow, flow_path, env)
    live = read_live(api, flow.name, wanted.channel, wanted.channel_fields, wanted.response["name"], adopt=adopt)
    the_plan = make_plan(wanted, live, adopt=adopt)
    _pacing_note(the_plan, api.pacer.calls, api.pacer.window, read=api.stats.requests)
    return wanted, the_plan


def destroy(flow: ir.Flow, flow_path: str, env: Environment, api: Comm100Api) -> tuple[Desired, Plan]:
    """What ivrflow made for the flow, as a plan that removes it (planner.destroy_plan)."""
    wanted = desired(flow, flow_path, env)
    live = read_live(api, flow.name, wanted.channel, wanted.channel_fields, wanted.response["name"])
    return wanted, destroy_plan(live, api.get(schema.VOICEBOTS) or [], flow.name)


def _pacing_note(the_plan: Plan, limit: int, window: float, *, read: int = 0) -> None:
    """How many calls the plan sends and how long the pacer makes it wait;
    `read`: the calls already made in the window (reading the site)."""
    writes = len(the_plan.changes)
    if not writes:
        return
    wait = pacing_seconds(read + writes + VERIFY_READS, limit, window)
    the_plan.notes.append(f"{writes} calls (and {VERIFY_READS} reads to check the result); Comm100 allows {limit} "
                          f"per {window:g} s, so the deploy "
                          + (f"pauses about {wait:g} s to stay under it" if wait else "needs no pause"))


def apply(flow: ir.Flow, flow_path: str, change: Change, api: Comm100Api, ids: dict[str, Any]) -> None:
    apply_change(api, change, ids)


# --- artifacts ------------------------------------------------------------------------------

def make_empty_plan(wanted: Desired) -> Plan:
    the_plan = make_plan(wanted, None)
    _pacing_note(the_plan, schema.RATE_LIMIT_CALLS, schema.RATE_LIMIT_WINDOW_S)
    return the_plan


def write_artifacts(wanted: Desired, the_plan: Plan, out: Path, base_url: str | None, *, flow: ir.Flow,
                    flow_path: str) -> list[Path]:
    """plan.json and resources/NNN-KIND-KEY.json: each object as the deploy
    sends it, links as {"$ref"} names, to compare with a bot built in Comm100's UI."""
    out.mkdir(parents=True, exist_ok=True)
    plan_path = out / "plan.json"
    plan_path.write_text(json.dumps(the_plan.calls(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    folder = out / "resources"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    bodies: dict[str, Any] = {}
    for change in the_plan.changes:  # the last body of each object: links set
        bodies[change.key] = change.body
    for index, (key, body) in enumerate(bodies.items()):
        name = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-").lower()
        path = folder / f"{index:03d}-{name}.json"
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [plan_path, folder]


# --- the target -----------------------------------------------------------------------------

def emulator(options: EmulatorOptions) -> Emulator:
    from .emulator import comm100_app
    from .state import Comm100

    state = Comm100(email=options.username if "@" in options.username else "demo@example.com",
                    api_key=options.password, faults=options.faults)
    if options.rate_limit is not None:
        state.rate_limit, state.rate_window_s = options.rate_limit
    return Emulator(comm100_app(state), "comm100 emulator on {url} (API under /v4)")


def dial(wanted: Desired) -> str:
    if wanted.held_by:
        return f"nothing yet: {wanted.held_by}"
    line = wanted.channel_fields.get("phoneNumber") or (
        f"the SIP account {wanted.channel_fields.get('username')}@{wanted.channel_fields.get('sIPServer')}")
    return f"{line} (voicebot `{wanted.flow}`)"


TARGET = Target(
    name=NAME, capabilities=CAPABILITIES, env_keys=ENV_KEYS, secrets=settings.SECRETS, adopts=True,
    desired=desired, make_empty_plan=make_empty_plan, write_artifacts=write_artifacts,
    api_for=api_for, plan=plan, apply=apply, destroy=destroy, emulator=emulator, dial=dial, refusals=refusals,
    emulator_help="the v4 voicebot API under /v4 (voicebots, channel instances, SIP and Twilio configurations, "
                  "responses, actions, smart triggers) with API-key (Basic demo@example.com:demo, ?siteId=…) or "
                  "bearer auth, the documented validation, a rate limit (300 calls per 5 minutes; --rate-limit), "
                  "fault injection, a request log at /_emulator/log, and POST /_emulator/call to run a call "
                  'through the callStarts trigger: {"voicebot": "quickstart", "inputs": ["1", "silence"]}.')
