"""The Telphin target: compile to plan.json and deploy.sh, plan against what
is live, deploy with the shared engine."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from ...compiler import ir
from ...config import Environment
from ...deploy.http import Stats
from ...deploy.plan import Change, Plan
from ...deploy.tts import synthesize
from ..common import env_values, prompt_sources
from .client import TelphinApi, read_live
from .compile import Desired, compile_flow
from .planner import apply_change, make_plan

NAME = "telphin"
#: What Telphin expresses natively (see capabilities.py).
CAPABILITIES = {
    "menu": ("native", "a context"),
    "prompt-file": ("native", "uploaded sounds"),
    "prompt-say": ("synthesized", "espeak-ng"),
    "fully": ("native", "foreground"),
    "keys": ("native", "options"),
    "dial-extensions": ("native", "allow_any_dial"),
    "timeout": ("native", ""),
    "retries": ("native", "unrolled into copies"),
    "invalid": ("native", ""),
    "handler-prompts": ("native", ""),
    "goto": ("native", "jump_to_context"),
    "transfer": ("native", ""),
    "hangup": ("native", ""),
    "voicemail": ("native", "a mapped extension"),
    "ask": ("runtime", "call_interactive"),
    "route-hours": ("runtime", "call_interactive"),
    "route-caller": ("runtime", "call_interactive"),
    "answer-delay": ("native", "sleep_time"),
    "max-duration": ("native", "hangup or transfer"),
}
DEFAULT_BASE_URL = "https://apiproxy.telphin.ru"
ENV_KEYS = ("extension", "runtime_url", "voicemail", "tts")


def desired(flow: ir.Flow, flow_path: str, env: Environment | None, tts: bool = False) -> Desired:
    values = env_values(env, ENV_KEYS)
    return compile_flow(flow, values, sources=prompt_sources(flow, flow_path), tts=tts or values.get("tts") == "espeak")


def api_for(env: Environment, *, http: httpx.Client | None = None, stats: Stats | None = None) -> TelphinApi:
    return TelphinApi(str(env.get("base_url") or DEFAULT_BASE_URL), str(env.require("client_id")),
                      env.secret("client_secret") or "", http=http, stats=stats)


def plan(flow: ir.Flow, flow_path: str, env: Environment, api: TelphinApi, *,
         adopt: bool = False) -> tuple[Desired, Plan]:
    """`adopt`: change or delete what ivrflow did not make, to match the flow."""
    wanted = desired(flow, flow_path, env)
    live = read_live(api, flow.name, wanted.extension)
    return wanted, make_plan(wanted, live, adopt=adopt)


def file_reader(flow: ir.Flow, flow_path: str) -> Callable[[str], tuple[str, bytes]]:
    """How the deploy reads a sound: a file beside the flow, or synthesized speech."""
    base = Path(flow_path).parent

    def read(upload: str) -> tuple[str, bytes]:
        if upload.startswith("tts:"):
            prompt = flow.prompt(upload[4:])
            assert prompt is not None
            return f"{prompt.name}.wav", synthesize(prompt.value, prompt.language or flow.language or "en-US")
        return Path(upload).name, (base / upload).read_bytes()
    return read


def apply(flow: ir.Flow, flow_path: str, change: Change, api: TelphinApi, ids: dict[str, Any]) -> None:
    apply_change(api, change, ids, flow.name, file_reader(flow, flow_path))


# --- artifacts ------------------------------------------------------------------------------

def make_empty_plan(wanted: Desired) -> Plan:
    """The calls that create the flow from nothing (compile's plan.json)."""
    return make_plan(wanted, None)


def write_artifacts(wanted: Desired, the_plan: Plan, out: Path, base_url: str | None, *, flow: ir.Flow,
                    flow_path: str) -> list[Path]:
    """plan.json, deploy.sh (the same calls as curl) and, for `say` prompts,
    the synthesized sounds, in `out`."""
    import jinja2

    out.mkdir(parents=True, exist_ok=True)
    spoken = [change.upload[4:] for change in the_plan.changes if change.upload and change.upload.startswith("tts:")]
    if spoken:
        read = file_reader(flow, flow_path)
        (out / "sounds").mkdir(exist_ok=True)
        for name in spoken:
            (out / "sounds" / f"{name}.wav").write_bytes(read(f"tts:{name}")[1])
    plan_path = out / "plan.json"
    plan_path.write_text(json.dumps(the_plan.calls(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    calls = [_shell_call(change) for change in the_plan.changes]
    template = jinja2.Environment(loader=jinja2.PackageLoader("ivrflow.targets.telphin", "."),
                                  autoescape=False, keep_trailing_newline=True, trim_blocks=False)
    script = template.get_template("deploy.sh.j2").render(
        flow=wanted.flow, calls=calls, base_url=base_url or DEFAULT_BASE_URL, placeholders=wanted.placeholders)
    script_path = out / "deploy.sh"
    script_path.write_text(script, encoding="utf-8")
    script_path.chmod(0o755)
    return [plan_path, script_path]


def _variable(ref: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", ref.upper()).strip("_")


def _shell_call(change: Change) -> dict[str, Any]:
    path = re.sub(r"\{([a-z_]+(?::[^{}]+)?)\}", lambda m: "${" + _variable(m.group(1)) + "}", change.path)
    body = None
    if change.body is not None and change.kind != "sound":
        text = json.dumps(change.body, ensure_ascii=False)
        text = re.sub(r'\{"\$ref": "([^"]+)"\}', lambda m: "'\"$" + _variable(m.group(1)) + "\"'", text)
        body = text
    return {
        "title": change.describe(), "line": change.source.line if change.source else None,
        "method": change.method, "path": path, "body": body,
        "variable": _variable(change.ref) if change.ref else None,
        "upload": change.upload if change.upload and not change.upload.startswith("tts:")
        else (f"sounds/{change.upload[4:]}.wav" if change.upload else None),
        "title_field": (change.body or {}).get("title") if isinstance(change.body, Mapping) else None,
    }
