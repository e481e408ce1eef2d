"""What the deploy and differential tests of the declarative targets share:
deploying in-process, random flows, the key entries to try on a flow, and a
routing service for `ask`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

from ivrflow.compiler import ir
from ivrflow.config import Environment
from ivrflow.deploy.http import NetworkFailed, Stats
from ivrflow.loader import load

VOICEMAIL = {"sales": "800", "support": "801", "invoices": "802", "prescriptions": "803", "reception": "804",
             "billing": "805"}
ASK_ANSWER = {"action": "transfer", "target": "+15550100"}
KEYS = list("0123456789*")


def alphabet(flow: ir.Flow) -> list[str]:
    """Every key of the flow, one key it does not use, a number to dial when
    a menu allows it, and silence."""
    keys = sorted({p.key for m in flow.menus for p in m.presses})
    invalid = next(k for k in "7985*0#" if k not in keys)
    extra = ["2045"] if any(m.dial_extensions for m in flow.menus) else []
    return [*keys, invalid, *extra, "silence"]


def flow_of(path: Path) -> ir.Flow:
    result = load(str(path), check_files=False)
    assert result.flow is not None and result.errors == 0
    return result.flow


def deploy_with(target: ModuleType, path: Path, env: Environment, *, timeout: float = 10.0,
                flow: ir.Flow | None = None) -> Stats:
    """`ivrflow deploy` in-process, without pauses between retries."""
    stats = Stats()
    flow = flow or flow_of(path)
    with target.api_for(env, stats=stats) as api:
        api.retry.update(sleep=lambda attempt: None, timeout=timeout)
        wanted, plan = target.plan(flow, str(path), env, api)
        assert [d for d in wanted.diagnostics if d.severity.name == "ERROR"] == []
        ids: dict[str, Any] = {}
        for change in plan.changes:
            target.apply(flow, str(path), change, api, ids)
    return stats


def plan_with(target: ModuleType, path: Path, env: Environment) -> Any:
    """What `ivrflow plan` would show now."""
    with target.api_for(env) as api:
        return target.plan(flow_of(path), str(path), env, api)[1]


def converge(deploy: Callable[[], object], runs: int = 6) -> int:
    """Deploy until a run gets through the injected faults, as a person would
    run it again after a failure; how many runs it took."""
    for run in range(1, runs + 1):
        try:
            deploy()
            return run
        except NetworkFailed:
            continue
    return runs


def ask_answer() -> ir.Transfer:
    return ir.Transfer(ASK_ANSWER["target"], ir.Span("<test>", 1, 1, 1, 1))


class RoutingService:
    """Answers every `ask` with ASK_ANSWER."""

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def answer(request: Any) -> JSONResponse:
            return JSONResponse(ASK_ANSWER)
        return Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])


@st.composite
def flows(draw: st.DrawFn) -> str:
    """A small random flow: keys, handlers with prompts, repeats, gotos and voicemail."""
    count = draw(st.integers(1, 3))
    names = [f"m{i}" for i in range(count)]

    def action() -> str:
        plays = "play hi, " if draw(st.booleans()) else ""
        kind = draw(st.sampled_from(["transfer", "goto", "hangup", "repeat", "voicemail"]))
        if kind == "transfer":
            return plays + f'transfer "{draw(st.integers(100, 999))}"'
        if kind == "goto":
            return plays + f"goto {draw(st.sampled_from(names))}"
        if kind == "voicemail":
            return plays + 'voicemail "sales"'
        return plays + kind

    lines = ['prompt hi file "hi.wav"']
    for name in names:
        lines += [f"menu {name} {{", "    play hi", f"    retries {draw(st.integers(0, 2))}"]
        for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True)):
            lines.append(f"    press {key} -> {action()}")
        for event in ("timeout", "invalid"):
            if draw(st.booleans()):
                lines.append(f"    on {event} -> {action()}")
        if draw(st.booleans()):
            ending = draw(st.sampled_from(['transfer "500"', "hangup", 'voicemail "sales"', "goto m0"]))
            lines.append(f"    on exhausted -> {ending}")
        lines.append("}")
    return "\n".join(lines) + "\n"


def telphin_runtime(url: str) -> dict[str, Any]:
    """create_app's keywords for a runtime server with a Telphin environment: the emulator at `url`, extension 071."""
    from ivrflow import targets

    return {"webhooks": targets.webhooks(),
            "settings": {"voicemail": VOICEMAIL, "base_url": url, "client_id": "demo", "extension": "071"},
            "secret": lambda key: "demo" if key == "client_secret" else None}


def portsip_runtime(url: str) -> dict[str, Any]:
    """create_app's keywords for a runtime server with a PortSIP environment: the emulator at `url`."""
    from ivrflow import targets

    return {"webhooks": targets.webhooks(),
            "settings": {"base_url": url, "username": "demo", "domain": "pbx.example"},
            "secret": lambda key: "demo" if key == "password" else None}
