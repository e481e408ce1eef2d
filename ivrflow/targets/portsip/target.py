"""The PortSIP target: compile to plan.json and the joined prompt files, plan
against what is live, deploy with the shared engine."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx

from ...compiler import ir
from ...compiler.diagnostics import RULES
from ...config import Environment
from ...deploy.http import Stats
from ...deploy.plan import Change, Plan
from ...deploy.tts import synthesize
from ...prompt_files import read as read_prompt_file
from ..base import Emulator, EmulatorOptions, Target, lazy
from ..common import env_values, prompt_diagnostics, prompt_sources
from . import audio
from .client import Live, PortSipApi, read_live
from .compile import DEFAULT_EXTENSIONS, Audio, Desired, compile_flow, pin_problem
from .planner import RangeFull, apply_change, assign_numbers, destroy_plan, make_plan
from .refusals import refusals

NAME = "portsip"
#: What PortSIP expresses natively (see capabilities.py and compile.py).
CAPABILITIES = {
    "menu": ("native", "a receptionist"),
    "prompt-file": ("native", "joined WAV"),
    "prompt-say": ("synthesized", "espeak-ng"),
    "fully": ("no", "warning"),
    "keys": ("native", "key rules"),
    "dial-extensions": ("runtime", "action URL"),
    "timeout": ("native", "timeout rule"),
    "retries": ("native", "repeat_times or copies"),
    "invalid": ("runtime", "action URL"),
    "handler-prompts": ("native", "a receptionist"),
    "goto": ("native", "forward"),
    "transfer": ("native", "forward"),
    "hangup": ("native", ""),
    "voicemail": ("native", "forward"),
    "ask": ("runtime", "action URL"),
    "route-hours": ("native", "on a key; else action URL"),
    "route-caller": ("runtime", "action URL"),
    "answer-delay": ("native", "silence"),
    "max-duration": ("no", "warning"),
    # The second edition (docs/platforms/portsip.md has the decision table and
    # the facts each row rests on). A "no" note is the reason IVR205 gives.
    "languages": ("synthesized", "a receptionist per language"),
    "prompt-variants": ("synthesized", "recorded per language"),
    "play-first-again": ("synthesized", "a receptionist per repeat"),
    "variables": ("runtime", "only `{key}` in a transfer number; others: IVR205"),
    "set-language": ("synthesized", "a receptionist per language"),
    "collect": ("no", "a receptionist keeps no keys: an action URL is told one entry and can only transfer, "
                      "hang up or repeat, so nothing can hold the keys for later"),
    "lookup": ("no", "an action URL can only transfer, hang up or repeat: there is no way to play a dynamic "
                     "prompt, nor to keep the answer for later"),
    "conditions": ("runtime", "a CALLER action URL; not `called`, nor variables"),
    "key-ranges": ("runtime", "a DTMF action URL; one-key ranges: key rules"),
    "key-patterns": ("runtime", "a DTMF action URL; one-key patterns: key rules"),
    "end-key": ("runtime", "a DTMF action URL"),
    "split-retries": ("synthesized", "a receptionist per count of each"),
    "replay": ("synthesized", "a forward to the menu's receptionist again"),
    "transfer-else": ("no", "a forward rule has no ring time, and a forwarded call belongs to its destination "
                            "(that extension's own no-answer and busy rules); `failure_forward_rule` is one per "
                            "receptionist and undocumented"),
}
DEFAULT_BASE_URL = "https://127.0.0.1:8887/api"
ENV_KEYS = ("runtime_url", "voicemail", "tts", "extensions")


def desired(flow: ir.Flow, flow_path: str, env: Environment | None, tts: bool = False) -> Desired:
    values = env_values(env, ENV_KEYS)
    speech = tts or values.get("tts") == "espeak"
    wanted = compile_flow(flow, values, sources=prompt_sources(flow, flow_path), tts=speech)
    wanted.diagnostics[:0] = prompt_diagnostics(flow, flow_path, speech)
    extensions = str(values.get("extensions") or DEFAULT_EXTENSIONS)
    try:  # numbered as on an empty PBX; `plan` numbers again against what is live
        try:
            assign_numbers(wanted, Live(), extensions)
        except ValueError:
            extensions = DEFAULT_EXTENSIONS  # `plan` reports the range
            assign_numbers(wanted, Live(), extensions)
    except RangeFull as full:
        where = "the environment's `extensions`" if values.get("extensions") else "the default range"
        wanted.diagnostics.append(RULES["IVR209"].at(
            wanted.receptionists[full.key].source, f"{full} ({where}); `{full.key}` gets no number",
            hint=f"give the environment a range of at least {full.needed + full.taken} numbers, "
                 f"such as `extensions = \"{_range_for(full)}\"`"))
    return wanted


def _range_for(full: RangeFull) -> str:
    low = full.extensions.partition("-")[0].strip()
    return f"{low}-{str(int(low) + full.needed + full.taken - 1).zfill(len(low))}"


def api_for(env: Environment, *, http: httpx.Client | None = None, stats: Stats | None = None) -> PortSipApi:
    return PortSipApi(str(env.get("base_url") or DEFAULT_BASE_URL), str(env.require("username")),
                      env.secret("password") or "", str(env.require("domain")), http=http, stats=stats)


def pin_of(env: Environment) -> str:
    pin = env.secret("pin")
    if not pin:
        raise env.error("`pin` is required: PortSIP needs a PIN on every receptionist (6 to 10 digits)", "pin",
                        hint='pin = "${PORTSIP_IVR_PIN}", and export that variable')
    problem = pin_problem(pin)
    if problem:
        raise env.error(f"PortSIP would refuse this PIN: {problem}", "pin",
                        hint="6 to 10 digits, not one digit repeated and not a run such as 123456")
    return pin


def plan(flow: ir.Flow, flow_path: str, env: Environment, api: PortSipApi) -> tuple[Desired, Plan]:
    pin = pin_of(env)
    wanted = desired(flow, flow_path, env)
    live = read_live(api, flow.name)
    extensions = str(env.get("extensions") or "")
    if not extensions:
        raise env.error("`extensions` is required: the range the receptionists' numbers come from", "extensions",
                        hint='extensions = "7000-7099"')
    try:
        assign_numbers(wanted, live, extensions)
    except (RangeFull, ValueError) as error:
        raise env.error(str(error), "extensions") from None
    wanted.diagnostics[:] = [d for d in wanted.diagnostics if d.code != "IVR209"]  # numbered against what is live
    api.pin = pin
    api.read_audio = audio_reader(flow, flow_path, wanted)
    return wanted, make_plan(wanted, live, pin)


def destroy(flow: ir.Flow, flow_path: str, env: Environment, api: PortSipApi) -> tuple[Desired, Plan]:
    """What ivrflow made for the flow, as a plan that removes it (planner.destroy_plan)."""
    wanted = desired(flow, flow_path, env)
    live = read_live(api, flow.name)
    with contextlib.suppress(RangeFull, ValueError):  # only `dial` reads the numbers
        assign_numbers(wanted, live, str(env.get("extensions") or DEFAULT_EXTENSIONS))
    return wanted, destroy_plan(live)


def audio_reader(flow: ir.Flow, flow_path: str, wanted: Desired) -> Any:
    """How the deploy makes a prompt file: its parts, joined."""
    files = {r.prompt.name: r.prompt for r in wanted.receptionists.values() if r.prompt is not None}
    base = Path(flow_path).parent

    def read(name: str) -> bytes:
        return build_audio(files[name], base)
    return read


def build_audio(prompt: Audio, base: Path) -> bytes:
    parts = []
    for part in prompt.parts:
        if part.kind == "silence":
            parts.append(audio.silence(int(part.value), prompt.rate))
            continue
        data = read_prompt_file(base, part.value) if part.kind == "file" else synthesize(part.value, part.language)
        values, rate = audio.samples(data)
        parts.append(audio.resample(values, rate, prompt.rate))
    return audio.join(parts, prompt.rate)


def apply(flow: ir.Flow, flow_path: str, change: Change, api: PortSipApi, ids: dict[str, Any]) -> None:
    """Send one change of the plan `plan` made with this `api`."""
    apply_change(api, change, ids, api.pin, api.read_audio)


# --- artifacts ------------------------------------------------------------------------------

def make_empty_plan(wanted: Desired) -> Plan:
    the_plan = make_plan(wanted, None)
    the_plan.notes.append("receptionists' numbers come from the environment's `extensions` when deploying")
    return the_plan


def write_artifacts(wanted: Desired, the_plan: Plan, out: Path, base_url: str | None, *, flow: ir.Flow,
                    flow_path: str) -> list[Path]:
    """plan.json and the joined prompt files (prompts/NAME.wav) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    read = audio_reader(flow, flow_path, wanted)
    folder = out / "prompts"
    written = []
    for change in the_plan.changes:
        if change.kind == "file" and change.upload:
            folder.mkdir(exist_ok=True)
            path = folder / change.upload
            path.write_bytes(read(change.upload))
            written.append(path)
    plan_path = out / "plan.json"
    plan_path.write_text(json.dumps(the_plan.calls(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [plan_path, *written]


# --- the target -----------------------------------------------------------------------------

def emulator(options: EmulatorOptions) -> Emulator:
    from .emulator import PortSip, portsip_app

    state = PortSip(username=options.username, password=options.password, faults=options.faults)
    return Emulator(portsip_app(state), "portsip emulator on {url}/api")


def dial(wanted: Desired) -> str:
    return f"{wanted.numbers.get(wanted.entry)} (receptionist `{wanted.entry}`)"


TARGET = Target(
    name=NAME, capabilities=CAPABILITIES, env_keys=ENV_KEYS, secrets=("password", "pin"),
    desired=desired, make_empty_plan=make_empty_plan, write_artifacts=write_artifacts,
    api_for=api_for, plan=plan, apply=apply, destroy=destroy, emulator=emulator, dial=dial, refusals=refusals,
    webhooks=lazy(f"{__package__}.webhook", "routes"),
    webhook_help="PortSIP's action URLs: /portsip/action (what a receptionist cannot decide; give --env so "
                 "the server can look up the receptionists' numbers).",
    emulator_help="the REST API under /api: sign-in (POST /api/login with username, password and domain), "
                  "files and the three-step blob upload, virtual receptionists and their action URLs, with "
                  "PortSIP's validation and {\"errors\": [...]} answers, fault injection, a request log at "
                  "/_emulator/log, and POST /_emulator/call to run a call, asking action URLs over HTTP: "
                  '{"extension": "7000", "inputs": ["1"], "caller": "+44…"}.')
