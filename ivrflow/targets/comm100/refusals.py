"""What Comm100 cannot carry of the constructs it declares carried in part
(target.CAPABILITIES: `variables`, `conditions`, `end-key`) and of the first
edition (`*`/`#` keys, `ask`, hours): IVR205 at each use, with the reason,
before anything is compiled for good.

The compiler finds them as it maps the flow (compile.py, conditions.py), so
this runs it without a canvas and keeps its IVR205 errors: one place decides.
"""

from __future__ import annotations

from ...compiler import ir
from ...compiler.diagnostics import Diagnostic
from .compile import compile_flow


def refusals(flow: ir.Flow) -> list[Diagnostic]:
    """IVR205 at each use Comm100 cannot carry, in source order."""
    # `language` stands for the environment's: whether the flow's own language
    # will do depends on it, so that is for compile, plan and deploy to say.
    found = compile_flow(flow, {"language": "en"}, layout=False).diagnostics
    return sorted((d for d in found if d.code == "IVR205"), key=lambda d: d.span)
