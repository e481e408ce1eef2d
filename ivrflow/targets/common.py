"""What the declarative targets share: the environment's values a compiler
needs, the bytes of a flow's prompt files, and placeholders for bindings an
environment would give."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..compiler import ir
from ..compiler.diagnostics import RULES, Diagnostic
from ..config import CALLBACK_TOKEN_VARIABLE, Environment
from ..deploy.tts import speech_diagnostics
from ..prompt_files import PromptFileError, diagnostics, read
from .signing import signature


def env_values(env: Environment | None, keys: Iterable[str]) -> dict[str, Any]:
    """`keys` of the environment that are set, and the callback token (which
    signs callback URLs) as `callback_token_value` with the variable it comes
    from as `callback_token_variable`; `has_env` says there was one."""
    if env is None:
        return {}
    values = {key: env.get(key) for key in keys if env.get(key) is not None}
    values["has_env"] = True
    token = env.secret("callback_token", default_variable=CALLBACK_TOKEN_VARIABLE)
    if token:
        values["callback_token_value"] = token
    values["callback_token_variable"] = token_variable(env)
    if env.get("insecure_callbacks") is True:
        values["insecure_callbacks"] = True
    return values


def token_variable(env: Environment) -> str:
    """The environment variable the callback token is read from."""
    raw = env.settings.get("callback_token")
    if not isinstance(raw, str) or not raw:
        return CALLBACK_TOKEN_VARIABLE
    named = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", raw.strip())
    return named.group(1) if named else raw.strip() if re.fullmatch(r"[A-Z_][A-Z0-9_]*", raw.strip()) \
        else "callback_token"


def prompt_sources(flow: ir.Flow, flow_path: str) -> dict[str, bytes]:
    """The recordings beside the flow, by the path its prompts give: only
    those ivrflow.prompt_files allows (`prompt_diagnostics` says what
    is wrong with the others)."""
    base = Path(flow_path).parent
    sources: dict[str, bytes] = {}
    for prompt in flow.prompts:
        if prompt.kind == "file" and prompt.value not in sources:
            try:
                sources[prompt.value] = read(base, prompt.value)
            except PromptFileError:
                continue
    return sources


def prompt_diagnostics(flow: ir.Flow, flow_path: str, speech: bool = False) -> list[Diagnostic]:
    """What is wrong with the flow's prompt files (IVR112, IVR124 to IVR126)
    and, when `say` prompts will be synthesized, with their languages
    (IVR208): a target's desired state carries them, so no plan is made of a
    file that was not read or a voice that is not there."""
    return diagnostics(flow, flow_path) + (speech_diagnostics(flow) if speech else [])


class TargetCompiler:
    """A target's compiler: the flow, the environment's values, the prompt
    files' bytes, whether `say` may be synthesized, what it found to report,
    and placeholders for bindings an environment would give."""

    def __init__(self, flow: ir.Flow, env: Mapping[str, Any], sources: Mapping[str, bytes], tts: bool):
        self.flow = flow
        self.env = env
        self.sources = sources
        self.tts = tts
        self.diagnostics: list[Diagnostic] = []
        self.placeholders: list[str] = []
        self._unsigned_reported = False

    def placeholder(self, name: str) -> str:
        """A binding left visible in the plan (`<runtime_url>`) and listed."""
        if name not in self.placeholders:
            self.placeholders.append(name)
            self.placeholders.sort()
        return "<" + name + ">"

    def callback_url(self, path: str, query: dict[str, str], span: ir.Span) -> str:
        """A URL the platform calls on the runtime server (`path` under
        runtime_url), signed with the callback token. Deploying a URL the
        server could not verify is IVR303, unless the environment says
        `insecure_callbacks = true` (a local trial with `serve --insecure`)."""
        runtime = self.env.get("runtime_url")
        base = str(runtime).rstrip("/") if runtime else self.placeholder("runtime_url")
        token = self.env.get("callback_token_value")
        if token:
            query["sig"] = signature(str(token), query)
        elif self.env.get("has_env") and not self.env.get("insecure_callbacks") and not self._unsigned_reported:
            self._unsigned_reported = True
            variable = self.env.get("callback_token_variable") or CALLBACK_TOKEN_VARIABLE
            self.diagnostics.append(RULES["IVR303"].at(
                span, f"this flow needs the runtime server, but {variable} is not set: the platform would call "
                      "unsigned URLs that the server refuses, and every such call would hang up",
                hint=f"export {variable}=… (the same value `ivrflow serve` gets); or, for a local trial with "
                     "`serve --insecure`, add `insecure_callbacks = true` to the environment"))
        return f"{base}{path}?{urllib.parse.urlencode(query)}"
