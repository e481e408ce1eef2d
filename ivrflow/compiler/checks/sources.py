"""Files the flow needs (IVR112, IVR124 to IVR126)."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from .. import ir
from ..diagnostics import Diagnostic
from .base import RULES, Env, reports


@reports("IVR112", "IVR124", "IVR125", "IVR126")
def check_audio_files(flow: ir.Flow, graph: nx.MultiDiGraph | None, env: Env) -> Iterator[Diagnostic]:
    """A `file` prompt whose audio file ivrflow will not read: it is not
    there (IVR112); it is outside the flow file's folder, also once symbolic
    links are followed (IVR124), so `/etc/passwd`, `/proc/self/environ` or
    `../../secret.key` are never uploaded to a platform; it is a directory,
    a device such as `/dev/zero` or a pipe rather than a regular file
    (IVR125); or it cannot be read, such as a name longer than the system
    allows or no permission, or is larger than 20 MiB (IVR126). The
    platform would play nothing where the caller expects a greeting, so
    `compile`, `plan` and `deploy` stop here before any prompt is read."""
    if env.prompt_file is None:
        return
    for prompt in flow.prompts:
        if prompt.kind != "file":
            continue
        problem = env.prompt_file(prompt.value)
        if problem is not None:
            yield RULES[problem.code].at(prompt.value_span, problem.message, hint=problem.hint)
