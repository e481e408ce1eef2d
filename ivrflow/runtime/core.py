"""The runtime's part of every protocol: run the machine for a live call and
resolve `ask` by calling the routing service. Protocols translate its effects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ..compiler import ir
from ..compiler.machine import (
    Answer,
    AskService,
    Call,
    Effect,
    Event,
    Line,
    LookupResult,
    LookupService,
    Start,
    Visited,
    step,
)
from . import ask, lookup
from .sessions import Session, Store


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Runtime:
    flow: ir.Flow
    store: Store
    http: httpx.AsyncClient
    clock: Callable[[], dt.datetime] = utc_now
    #: Honour the X-Ivrflow-Clock header (local trials with --insecure only).
    accept_test_clock: bool = False
    stats: dict[str, int] = field(default_factory=lambda: {"calls": 0, "callbacks": 0})

    def new_session(self, session_id: str, caller: str | None, called: str | None,
                    started: dt.datetime | None = None) -> Session:
        self.stats["calls"] += 1
        return Session(session_id, Call(), caller=caller, called=called,
                       started=(started or self.clock()).isoformat())

    async def advance(self, session: Session, event: Event) -> list[Effect]:
        """Step the machine; asks are answered by the routing service and
        lookups by their services at once. The session's call and unreported
        path are updated."""
        line = Line(session.start_time, session.caller, session.called)
        call, effects = step(self.flow, session.call, event, line)
        done = list(effects)
        while call.status in ("answer", "lookup"):
            if call.status == "lookup":
                wanted = next(e for e in reversed(done) if isinstance(e, LookupService))
                result = await lookup.lookup(self.http, wanted, session.id)
                call, effects = step(self.flow, call, LookupResult(result), line)
                done += effects
                continue
            url = next(e.url for e in reversed(done) if isinstance(e, AskService))
            keys = next((v.keys for v in reversed(done) if isinstance(v, Visited)), None)
            answer = await ask.ask(self.http, self.flow, url, {
                "flow": self.flow.name, "node": call.node, "session": session.id,
                "caller": session.caller, "called": session.called, "keys": keys})
            call, effects = step(self.flow, call, Answer(answer), line)
            done += effects
        session.call = call
        session.path += [{"node": v.node, "event": v.event, "played": list(v.played), "keys": v.keys}
                         for v in done if isinstance(v, Visited)]
        return done

    async def start(self, session: Session) -> list[Effect]:
        return await self.advance(session, Start())
