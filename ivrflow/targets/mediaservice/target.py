"""The mediaservice target: nothing to create but prompt files (the flow runs
in the runtime server). Files go up with `PUT /{domain}/promptfile/{name}`;
a manifest prompt file (`ivrflow-FLOW.json`) records which files ivrflow put
there and their digests, so unchanged files are not sent again and only
files it put there are ever deleted."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ...compiler import ir
from ...compiler.diagnostics import Diagnostic
from ...config import Environment
from ...deploy.http import HttpSession, Stats, send
from ...deploy.plan import Change, Op, Plan
from ...prompt_files import read as read_prompt_file
from ..common import prompt_diagnostics, prompt_sources

NAME = "mediaservice"
#: The flow runs in the runtime server; only prompt files are on the platform.
CAPABILITIES = {key: ("runtime", "") for key in (
    "menu", "fully", "keys", "dial-extensions", "timeout", "retries", "invalid", "handler-prompts",
    "goto", "transfer", "hangup", "voicemail", "ask", "route-hours", "route-caller", "answer-delay",
    "max-duration")}
CAPABILITIES["prompt-file"] = ("native", "promptfile")
CAPABILITIES["prompt-say"] = ("runtime", "the platform's TTS")


@dataclass
class Desired:
    flow: str
    files: dict[str, tuple[str, str, ir.Span]]  # name on the platform → (path, sha256, source)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> str:
        return f"ivrflow-{self.flow}.json"


def desired(flow: ir.Flow, flow_path: str, env: Environment | None, tts: bool = False) -> Desired:
    sources = prompt_sources(flow, flow_path)  # only files ivrflow.prompt_files allows
    files = {}
    for prompt in flow.prompts:
        if prompt.kind == "file" and prompt.value in sources:
            data = sources[prompt.value]
            files[Path(prompt.value).name] = (prompt.value, hashlib.sha256(data).hexdigest(), prompt.value_span)
    return Desired(flow.name, files, prompt_diagnostics(flow, flow_path))


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
    from ...runtime.serve import _signer

    key = env.secret("api_private_key")
    token = _signer(key, str(env.get("domain"))) if key else None
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
            the_plan.changes.append(Change(op, "prompt file", f"file:{name}", "PUT", f"/promptfile/{name}",
                                           source=span, upload=path))
    for name in sorted(set(manifest) - set(wanted.files)):
        if name in names:
            the_plan.changes.append(Change("delete", "prompt file", f"file:{name}", "DELETE", f"/promptfile/{name}"))
    new_manifest = {name: digest for name, (_, digest, _) in sorted(wanted.files.items())}
    if new_manifest != manifest or wanted.manifest not in names:
        the_plan.changes.append(Change("update" if wanted.manifest in names else "create", "manifest",
                                       f"file:{wanted.manifest}", "PUT", f"/promptfile/{wanted.manifest}",
                                       body={"flow": flow.name, "files": new_manifest}))
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
