"""What the declarative targets share: the environment's values a compiler
needs, the bytes of a flow's prompt files, and placeholders for bindings an
environment would give."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..compiler import ir
from ..compiler.diagnostics import Diagnostic
from ..config import Environment
from ..deploy.tts import speech_diagnostics
from ..prompt_files import PromptFileError, diagnostics, read


def env_values(env: Environment | None, keys: Iterable[str]) -> dict[str, Any]:
    """`keys` of the environment that are set, and the callback token (which
    signs callback URLs) as `callback_token_value`; `has_env` says there was one."""
    if env is None:
        return {}
    values = {key: env.get(key) for key in keys if env.get(key) is not None}
    values["has_env"] = True
    token = env.secret("callback_token", default_variable="IVRFLOW_CALLBACK_TOKEN")
    if token:
        values["callback_token_value"] = token
    return values


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

    def placeholder(self, name: str) -> str:
        """A binding left visible in the plan (`<runtime_url>`) and listed."""
        if name not in self.placeholders:
            self.placeholders.append(name)
            self.placeholders.sort()
        return "<" + name + ">"
