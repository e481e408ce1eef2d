"""The Telphin target: compile to plan.json and deploy.sh, plan against what
is live, deploy with the shared engine."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from ...compiler import ir
from ...config import Environment
from ...deploy.http import Stats
from ...deploy.plan import Change, Plan
from ...deploy.tts import synthesize
from ...prompt_files import read as read_prompt_file
from ..base import Emulator, EmulatorOptions, Target, lazy
from ..common import env_values, prompt_diagnostics, prompt_sources
from .client import TelphinApi, read_live
from .compile import MAX_SYNTHESIZED_OPTIONS, Desired, compile_flow, piece_text
from .planner import apply_change, destroy_plan, make_plan

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
    # The second edition (docs/platforms/telphin.md has the decision per construct).
    "languages": ("synthesized", "a copy of each context per language"),
    "prompt-variants": ("synthesized", "a sound per variant"),
    "play-first-again": ("synthesized", "a replayed copy of the context"),
    "variables": ("native", "set_variable, transfer_from_variable; not in prompts"),
    "set-language": ("synthesized", "a jump to that language's copy"),
    "collect": ("runtime", "record_digits, then call_interactive"),
    "lookup": ("runtime", "call_interactive"),
    "conditions": ("runtime", "call_interactive, with $variables"),
    "key-ranges": ("synthesized", f"an option per number, up to {MAX_SYNTHESIZED_OPTIONS}"),
    "key-patterns": ("synthesized", f"an option per entry, up to {MAX_SYNTHESIZED_OPTIONS}"),
    "end-key": ("synthesized", "options ending in the key; # in a collect"),
    "split-retries": ("synthesized", "a context per pair of counts"),
    "replay": ("native", "jump_to_context"),
    "transfer-else": ("no", "Telphin documents no outcome of an unanswered transfer"),
}
DEFAULT_BASE_URL = "https://apiproxy.telphin.ru"
ENV_KEYS = ("extension", "runtime_url", "voicemail", "tts")


def desired(flow: ir.Flow, flow_path: str, env: Environment | None, tts: bool = False) -> Desired:
    values = env_values(env, ENV_KEYS)
    speech = tts or values.get("tts") == "espeak"
    wanted = compile_flow(flow, values, sources=prompt_sources(flow, flow_path), tts=speech)
    wanted.diagnostics[:0] = prompt_diagnostics(flow, flow_path, speech)
    return wanted


def api_for(env: Environment, *, http: httpx.Client | None = None, stats: Stats | None = None) -> TelphinApi:
    return TelphinApi(str(env.get("base_url") or DEFAULT_BASE_URL), str(env.require("client_id")),
                      env.secret("client_secret") or "", http=http, stats=stats)


def plan(flow: ir.Flow, flow_path: str, env: Environment, api: TelphinApi, *,
         adopt: bool = False) -> tuple[Desired, Plan]:
    """`adopt`: change or delete what ivrflow did not make, to match the flow."""
    wanted = desired(flow, flow_path, env)
    live = read_live(api, flow.name, wanted.extension)
    the_plan = make_plan(wanted, live, adopt=adopt)
    wanted.held_by = next((u.reason for u in the_plan.unmanaged if u.kind == "ivr"), None)
    return wanted, the_plan


def destroy(flow: ir.Flow, flow_path: str, env: Environment, api: TelphinApi) -> tuple[Desired, Plan]:
    """What ivrflow made for the flow, as a plan that removes it (planner.destroy_plan)."""
    wanted = desired(flow, flow_path, env)
    return wanted, destroy_plan(read_live(api, flow.name, wanted.extension))


def file_reader(flow: ir.Flow, flow_path: str) -> Callable[[str], tuple[str, bytes]]:
    """How the deploy reads a sound: a file beside the flow, or synthesized speech."""
    base = Path(flow_path).parent

    def read(upload: str) -> tuple[str, bytes]:
        if upload.startswith("tts:"):  # `welcome`, `welcome@es-US` (a variant), `you_entered.0` (a piece)
            text, spoken = piece_text(flow, upload[4:])
            return f"{upload[4:]}.wav", synthesize(text, spoken or "en-US")
        return Path(upload).name, read_prompt_file(base, upload)
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
    variable = _Variables()
    calls = [_shell_call(change, variable) for change in the_plan.changes]
    template = jinja2.Environment(loader=jinja2.PackageLoader("ivrflow.targets.telphin", "."),
                                  autoescape=False, keep_trailing_newline=True, trim_blocks=False)
    script = template.get_template("deploy.sh.j2").render(
        flow=_comment(wanted.flow), calls=calls, base_url=shlex.quote(base_url or DEFAULT_BASE_URL),
        placeholders=[_comment(name) for name in wanted.placeholders])
    script_path = out / "deploy.sh"
    script_path.write_text(script, encoding="utf-8")
    script_path.chmod(0o755)
    return [plan_path, script_path]


def _comment(text: str) -> str:
    """Text for a `#` comment: one line."""
    return " ".join(str(text).split())


class _Variables:
    """Shell variable names for the ids a script creates, one per ref."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def __call__(self, ref: str) -> str:
        if ref not in self.names:
            base = "ID_" + re.sub(r"[^A-Z0-9]+", "_", ref.upper()).strip("_")
            name, n = base, 1
            while name in self.names.values():
                n += 1
                name = f"{base}_{n}"
            self.names[ref] = name
        return self.names[ref]


def _word(pieces: list[tuple[bool, str]]) -> str:
    """One shell word from literal text (quoted) and variables (expanded)."""
    return "".join(f'"${{{text}}}"' if variable else shlex.quote(text) for variable, text in pieces if text) or "''"


def _pieces(text: str, pattern: re.Pattern[str], variable: Callable[[str], str]) -> list[tuple[bool, str]]:
    """`text` cut at each reference `pattern` finds: literals, and the variables that hold the ids."""
    pieces: list[tuple[bool, str]] = []
    last = 0
    for match in pattern.finditer(text):
        pieces += [(False, text[last:match.start()]), (True, variable(match.group(1)))]
        last = match.end()
    return [*pieces, (False, text[last:])]


_PATH_REF = re.compile(r"\{([a-z_]+(?::[^{}]+)?)\}")
_BODY_REF = re.compile(r'\{"\$ref": "((?:[^"\\]|\\.)*)"\}')


def _shell_call(change: Change, variable: _Variables) -> dict[str, Any]:
    """A change as curl's arguments, each a quoted shell word: nothing in a
    flow's labels, prompts or paths is ever read by the shell as code."""
    url = _word([(True, "API"), *_pieces(change.path, _PATH_REF, variable)])
    arguments: list[str] = []
    if change.upload:
        upload = change.upload if not change.upload.startswith("tts:") else f"sounds/{change.upload[4:]}.wav"
        quoted = upload.replace("\\", "\\\\").replace('"', '\\"')  # curl's own quoting of -F file names
        arguments += ["-F", shlex.quote(f'file=@"{quoted}"')]
        if isinstance(change.body, Mapping) and change.body.get("title") is not None:
            arguments += ["--form-string", shlex.quote(f"title={change.body['title']}")]
    elif change.body is not None:
        text = json.dumps(change.body, ensure_ascii=False)
        pieces = _pieces(text, _BODY_REF, lambda name: variable(json.loads(f'"{name}"')))
        arguments += ["-H", shlex.quote("Content-Type: application/json"), "--data-binary", _word(pieces)]
    return {
        "title": _comment(change.describe()), "line": change.source.line if change.source else None,
        "method": change.method, "url": url, "arguments": " ".join(arguments),
        "variable": variable(change.ref) if change.ref else None,
    }


# --- the target -----------------------------------------------------------------------------

def emulator(options: EmulatorOptions) -> Emulator:
    from .emulator import Telphin, telphin_app

    state = Telphin(client_id=options.client_id, client_secret=options.client_secret, faults=options.faults)
    return Emulator(telphin_app(state), "telphin emulator on {url} (API under /api/ver1.0)")


def dial(wanted: Desired) -> str:
    if wanted.held_by:  # never report a number another flow (or a person) answers
        return (f"nothing yet: extension {wanted.extension} answers with someone else's voice menu "
                f"({wanted.held_by}); `--adopt` takes it over")
    return f"extension {wanted.extension} (its IVR starts at `{wanted.entry}`)"


TARGET = Target(
    name=NAME, capabilities=CAPABILITIES, env_keys=ENV_KEYS, secrets=("client_secret",), adopts=True,
    desired=desired, make_empty_plan=make_empty_plan, write_artifacts=write_artifacts,
    api_for=api_for, plan=plan, apply=apply, destroy=destroy, emulator=emulator, dial=dial,
    webhooks=lazy(f"{__package__}.webhook", "routes"),
    webhook_help="Telphin's call_interactive: /telphin/interactive (routes, `ask`, a collect's recorded entry, "
                 "lookups; give --env so the server can look up the deployed contexts).",
    emulator_help="OAuth (client credentials), extensions, sounds, IVR settings, contexts, options and rules, "
                  "calls with IVR variables (set_variable, record_digits, $NAME in call_interactive URLs), "
                  "with Telphin's validation and errors, fault injection (--faults 0.2), a request log at "
                  "/_emulator/log, and POST /_emulator/call to run a call against what it holds: "
                  '{"extension": "071", "inputs": ["1", "silence"], "caller": "+7495…"}.')
