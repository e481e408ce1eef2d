"""The mediaservice target: nothing to create but prompt files (the flow runs
in the runtime server). Files go up with `PUT /{domain}/promptfile/{name}`
under names of their own (`ivrflow-FLOW-STEM-HASH.wav`, protocol.
platform_file_name), so they never replace a person's file or another
flow's; a manifest prompt file (`ivrflow-FLOW.json`) records which files
ivrflow put there and their digests, so unchanged files are not sent again
and only files it put there are ever deleted."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from ...compiler import ir
from ...compiler.diagnostics import RULES, Diagnostic
from ...config import Environment
from ...deploy.http import HttpSession, Stats, send
from ...deploy.plan import Change, FieldChange, Op, Plan
from ...prompt_files import read as read_prompt_file
from ..base import Emulator, EmulatorOptions, Target, lazy
from ..common import prompt_diagnostics
from .protocol import (
    ENV_KEYS,
    Settings,
    api_origin,
    file_forms,
    is_uploaded_name,
    polly_language,
    polly_voice,
    prompt_files,
    voice_problems,
)

NAME = "mediaservice"
#: The flow runs in the runtime server; only prompt files are on the platform.
CAPABILITIES = {key: ("runtime", "") for key in (
    "menu", "fully", "keys", "dial-extensions", "timeout", "retries", "invalid", "handler-prompts",
    "goto", "transfer", "hangup", "voicemail", "ask", "route-hours", "route-caller", "answer-delay",
    "max-duration")}
CAPABILITIES["prompt-file"] = ("native", "promptfile")
CAPABILITIES["prompt-say"] = ("runtime", "the platform's TTS")
# The second edition runs in the runtime server like the first; what the
# platform does natively is noted.
CAPABILITIES.update({
    "languages": ("runtime", "a Polly voice per language"),
    "prompt-variants": ("runtime", "the variant's voice or uploaded file"),
    "play-first-again": ("runtime", ""),
    "variables": ("runtime", "spoken by TTS with the values"),
    "set-language": ("runtime", ""),
    "collect": ("runtime", "the dtmf block: maxDigits, timeouts"),
    "lookup": ("runtime", "called by the runtime server"),
    "conditions": ("runtime", ""),
    "key-ranges": ("runtime", ""),
    "key-patterns": ("runtime", ""),
    "end-key": ("native", "dtmf terminationKey"),
    "split-retries": ("runtime", ""),
    "replay": ("runtime", ""),
    "transfer-else": ("runtime", "maxRingTime; the callEvent reporting the failure"),
})


@dataclass
class Desired:
    flow: str
    files: dict[str, tuple[str, str, ir.Span]]  # name on the platform → (path, sha256, source)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> str:
        return f"ivrflow-{self.flow}.json"


def settings_of(env: Environment | None) -> Settings:
    """The protocol's settings from the environment (defaults without one)."""
    if env is None:
        return Settings()
    return Settings.from_env({key: env.get(key) for key in ENV_KEYS if env.get(key) is not None})


def desired(flow: ir.Flow, flow_path: str, env: Environment | None, tts: bool = False) -> Desired:
    """The prompt files to upload (by their names on the platform), and
    IVR205 for a `say` prompt Polly cannot speak with the voice the
    environment names (or the language's default)."""
    files = {}
    by_path = prompt_files(flow, Path(flow_path).parent)
    for form in file_forms(flow):  # every variant's recording
        name, data = by_path[form.value]
        if data is not None and name not in files:
            files[name] = (form.value, hashlib.sha256(data).hexdigest(), form.value_span)
    return Desired(flow.name, files, prompt_diagnostics(flow, flow_path) + _voice_diagnostics(flow, env))


def _voice_diagnostics(flow: ir.Flow, env: Environment | None) -> list[Diagnostic]:
    settings = settings_of(env)
    found: list[Diagnostic] = []
    voice = settings.voice
    if env is not None and voice is not None and polly_voice(voice) is None:
        found.append(env.error(f"Amazon Polly has no standard voice `{voice}`", "voice",
                               hint="name one from Polly's voice list, or leave `voice` out to use each "
                                    "language's default").diagnostic)
        voice = None
    sites = env.get("site_base_urls") if env is not None else None
    listed = [sites] if isinstance(sites, str) else sites if isinstance(sites, list) else [sites]
    if env is not None and sites is not None and not all(isinstance(u, str) and api_origin(u) for u in listed):
        found.append(env.error("`site_base_urls` must be an http(s) URL or a list of them", "site_base_urls",
                               hint='e.g. site_base_urls = ["https://site-a.example.com/mediaservice"]').diagnostic)
    for prompt, form, language, problem in voice_problems(flow, replace(settings, voice=voice)):
        hint = ("set `voice` in the environment to one that speaks it, or leave it out"
                if polly_language(language) else "use a language code Amazon Polly speaks, such as en-US")
        span = form.span if isinstance(form, ir.Variant) else prompt.span
        found.append(RULES["IVR205"].at(span, f"prompt `{prompt.name}`: {problem}", hint=hint))
    return found


class MediaserviceApi(HttpSession):
    def __init__(self, base_url: str, domain: str, token: Any = None, *, stats: Stats | None = None,
                 http: httpx.Client | None = None):
        super().__init__(http=http, stats=stats)
        self.base = f"{base_url.rstrip('/')}/{domain}"
        self.token = token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}"} if self.token else {}
        response = send(self.http, method, self.base + path, self.stats, headers=headers, **kwargs)
        assert isinstance(response, httpx.Response)
        return response


def api_for(env: Environment, *, stats: Stats | None = None, http: httpx.Client | None = None) -> MediaserviceApi:
    from ...runtime.serve import signer

    key = env.secret("api_private_key")
    token = signer(key, str(env.get("domain"))) if key else None
    return MediaserviceApi(str(env.require("base_url")), str(env.require("domain")), token, stats=stats, http=http)


def _live(api: MediaserviceApi, wanted: Desired) -> tuple[set[str], dict[str, str]]:
    """The files there, and the manifest of the files ivrflow put there for this flow."""
    names: set[str] = set()
    cursor = None
    while True:
        page = api.request("GET", "/promptfile", params={"next": cursor} if cursor else None).json()
        names |= {str(f["name"]) for f in page.get("files") or []}
        cursor = page.get("next")
        if not cursor:
            break
    manifest: dict[str, str] = {}
    if wanted.manifest in names:
        link = api.request("GET", f"/promptfile/{wanted.manifest}/url").json()
        document = send(api.http, "GET", str(link["url"]), api.stats).json()
        manifest = dict(document.get("files") or {})
    return names, manifest


def plan(flow: ir.Flow, flow_path: str, env: Environment, api: MediaserviceApi) -> tuple[Desired, Plan]:
    wanted = desired(flow, flow_path, env)
    names, manifest = _live(api, wanted)
    the_plan = Plan(NAME)
    for name, (path, digest, span) in sorted(wanted.files.items()):
        if manifest.get(name) != digest or name not in names:
            op: Op = "update" if name in names else "create"
            diff = [FieldChange("sha256", manifest.get(name), digest)] if op == "update" else []
            the_plan.changes.append(Change(op, "prompt file", f"file:{name}", "PUT", f"/promptfile/{name}",
                                           source=span, upload=path, diff=diff))
    for name in sorted(set(manifest) - set(wanted.files)):
        if name in names and is_uploaded_name(flow.name, name):
            the_plan.changes.append(Change("delete", "prompt file", f"file:{name}", "DELETE", f"/promptfile/{name}"))
        elif name in names:  # listed by an older ivrflow that used plain names: perhaps a person's file
            the_plan.notes.append(f"{name} is left alone: ivrflow no longer uses it, but its name is not one "
                                  "ivrflow gives, so it may be someone else's")
    new_manifest = {name: digest for name, (_, digest, _) in sorted(wanted.files.items())}
    if new_manifest != manifest or wanted.manifest not in names:
        listed = sorted(set(manifest) | set(new_manifest))
        diff = [FieldChange(f"files.{name}", manifest.get(name), new_manifest.get(name)) for name in listed
                if manifest.get(name) != new_manifest.get(name)] if wanted.manifest in names else []
        the_plan.changes.append(Change("update" if wanted.manifest in names else "create", "manifest",
                                       f"file:{wanted.manifest}", "PUT", f"/promptfile/{wanted.manifest}",
                                       body={"flow": flow.name, "files": new_manifest}, diff=diff))
    return wanted, the_plan


def destroy(flow: ir.Flow, flow_path: str, env: Environment, api: MediaserviceApi) -> tuple[Desired, Plan]:
    """What ivrflow put on the platform for the flow, as a plan that removes
    it: the files its manifest lists that are there under a name ivrflow
    gives (protocol.is_uploaded_name), then the manifest itself. Files with
    other names stay, even when an older manifest lists them."""
    wanted = desired(flow, flow_path, env)
    names, manifest = _live(api, wanted)
    the_plan = Plan(NAME)
    for name in sorted(manifest):
        if name in names and is_uploaded_name(flow.name, name):
            the_plan.changes.append(Change("delete", "prompt file", f"file:{name}", "DELETE", f"/promptfile/{name}"))
        elif name in names:
            the_plan.notes.append(f"{name} is left alone: its name is not one ivrflow gives, so it may be "
                                  "someone else's")
    if wanted.manifest in names:
        the_plan.changes.append(Change("delete", "manifest", f"file:{wanted.manifest}", "DELETE",
                                       f"/promptfile/{wanted.manifest}"))
    return wanted, the_plan


def make_empty_plan(wanted: Desired) -> Plan:
    the_plan = Plan(NAME)
    for name, (path, _, span) in sorted(wanted.files.items()):
        the_plan.changes.append(Change("create", "prompt file", f"file:{name}", "PUT", f"/promptfile/{name}",
                                       source=span, upload=path))
    return the_plan


def apply(flow: ir.Flow, flow_path: str, change: Change, api: MediaserviceApi, ids: dict[str, Any]) -> None:
    if change.method == "DELETE":
        api.request("DELETE", change.path)
    elif change.upload:
        api.request("PUT", change.path, content=read_prompt_file(Path(flow_path).parent, change.upload))
    else:
        api.request("PUT", change.path, content=json.dumps(change.body).encode())


def write_artifacts(wanted: Desired, the_plan: Plan, out: Path, base_url: str | None, *, flow: ir.Flow,
                    flow_path: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "plan.json"
    path.write_text(json.dumps(the_plan.calls(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [path]


# --- the target -----------------------------------------------------------------------------



def emulator(options: EmulatorOptions) -> Emulator:
    from .emulator import Platform, platform_app

    return Emulator(platform_app(Platform(domain=options.domain)),
                    f"mediaservice emulator on {{url}}/mediaservice/{options.domain}/", call_path="/_emulator/calls")


def dial(wanted: Desired) -> str:
    return (f"the numbers the platform sends to the callback URL (…/mediaservice/{wanted.flow}, or "
            "…/mediaservice when the server runs one flow)")


TARGET = Target(
    name=NAME, capabilities=CAPABILITIES, env_keys=ENV_KEYS, secrets=("api_private_key",),
    desired=desired, make_empty_plan=make_empty_plan, write_artifacts=write_artifacts,
    api_for=api_for, plan=plan, apply=apply, destroy=destroy, emulator=emulator, dial=dial,
    webhooks=lazy(f"{__package__}.webhook", "routes"),
    webhook_help="the iotcomms mediaservice callbacks: point the callback base URL at "
                 "https://YOUR-HOST/mediaservice/FLOW (or /mediaservice when the server runs one flow).",
    emulator_help="the prompt-file API, /splitconnection and friends, a request log at /_emulator/log, and "
                  "POST /_emulator/calls to drive a call into a runtime server: "
                  '{"callback": "http://127.0.0.1:8080/mediaservice", "inputs": ["1", "12345678#", "silence", '
                  '"busy"], "caller": "+4420…", "token": "…"} (keys are collected as the dtmf block asks; '
                  '"busy", "no-answer" or "failed" is what happens to the next call it places).')
