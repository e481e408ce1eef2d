"""Where live calls are kept between callbacks: in memory (one process) or in
Redis (several processes behind a load balancer). Both expire sessions, so
nothing grows without bound even when `sessionCompleted` never comes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from ..compiler.machine import Call, Outcome
from .http import HTTPProblem

#: A call left this long without a callback is forgotten.
SESSION_TTL_S = 2 * 3600
#: The memory store holds at most this many calls; the oldest go first.
MAX_MEMORY_SESSIONS = 100_000


@dataclass
class Session:
    """A live call: the machine's state and what the protocol needs to remember."""

    id: str
    call: Call
    caller: str | None = None
    called: str | None = None
    started: str = ""  # ISO time of the call's start: routes read the clock from it
    reply_id: str | None = None
    connection_id: str | None = None
    api_base: str | None = None  # where API calls for this call go (siteBaseUrl)
    pending: list[dict[str, Any]] = field(default_factory=list)  # commands not yet sent
    transfer: str | None = None  # destination once the machine has transferred
    path: list[dict[str, Any]] = field(default_factory=list)  # steps not yet reported

    @property
    def start_time(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.started)

    def dumps(self) -> str:
        # By hand: dataclasses.asdict deep-copies, and was a sixth of a callback's time.
        call = self.call
        data = {**vars_of(self), "call": {
            "status": call.status, "node": call.node, "retries": call.retries, "elapsed_ms": call.elapsed_ms,
            "heard": list(call.heard), "outcome": call.outcome.to_dict() if call.outcome else None}}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | bytes) -> Session:
        data = json.loads(text)
        call = data.pop("call")
        outcome = call.pop("outcome")
        call["heard"] = tuple(call["heard"])
        data["call"] = Call(**call, outcome=Outcome(**outcome) if outcome else None)
        return cls(**data)


_SESSION_FIELDS = tuple(f.name for f in fields(Session) if f.name != "call")


def vars_of(session: Session) -> dict[str, Any]:
    return {name: getattr(session, name) for name in _SESSION_FIELDS}


class Store(Protocol):
    async def ping(self) -> None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def put(self, session: Session) -> None: ...
    async def delete(self, session_id: str) -> None: ...
    async def close(self) -> None: ...


class MemoryStore:
    """Sessions in this process, least recently used first out."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, limit: int = MAX_MEMORY_SESSIONS):
        self.ttl_s = ttl_s
        self.limit = limit
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def ping(self) -> None:
        return None

    async def get(self, session_id: str) -> Session | None:
        item = self._items.get(session_id)
        if item is None:
            return None
        if item[0] < time.monotonic():
            del self._items[session_id]
            return None
        return Session.loads(item[1])

    async def put(self, session: Session) -> None:
        # Stored serialized, like Redis: a session never shares objects between callbacks.
        self._items[session.id] = (time.monotonic() + self.ttl_s, session.dumps())
        self._items.move_to_end(session.id)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
        self._expire_some()

    def _expire_some(self) -> None:
        now = time.monotonic()
        for _ in range(2):  # amortized: look at the two oldest on every write
            if not self._items:
                return
            key, (deadline, _) = next(iter(self._items.items()))
            if deadline >= now:
                return
            del self._items[key]

    async def delete(self, session_id: str) -> None:
        self._items.pop(session_id, None)

    async def close(self) -> None:
        self._items.clear()


class RedisStore:
    """Sessions in Redis under `ivrflow:session:ID`, each with the TTL.

    Connections come from a bounded pool: a burst of callbacks waits for a
    free connection (up to POOL_WAIT_S) instead of opening one each."""

    PREFIX = "ivrflow:session:"
    POOL_SIZE = 64
    POOL_WAIT_S = 2.0

    def __init__(self, url: str, ttl_s: float = SESSION_TTL_S):
        import redis.asyncio as redis

        self.ttl_s = int(ttl_s)
        self.url = url
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=self.POOL_SIZE, timeout=self.POOL_WAIT_S)
        self._redis = redis.Redis(connection_pool=pool)

    async def ping(self) -> None:
        import redis.exceptions

        try:
            await self._redis.ping()
        except redis.exceptions.RedisError as error:
            raise RuntimeError(f"cannot reach the session store at {self.url.split('@')[-1]}: {error}") from None

    async def get(self, session_id: str) -> Session | None:
        with _unavailable():
            raw = await self._redis.get(self.PREFIX + session_id)
        return Session.loads(raw) if raw is not None else None

    async def put(self, session: Session) -> None:
        with _unavailable():
            await self._redis.set(self.PREFIX + session.id, session.dumps(), ex=self.ttl_s)

    async def delete(self, session_id: str) -> None:
        with _unavailable():
            await self._redis.delete(self.PREFIX + session_id)

    async def close(self) -> None:
        await self._redis.aclose()


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Redis errors become a 503 with a JSON body (the caller can retry)."""
    import redis.exceptions

    try:
        yield
    except redis.exceptions.RedisError as error:
        raise HTTPProblem(503, "store_unavailable", f"the session store failed: {type(error).__name__}") from None


def open_store(spec: str) -> Store:
    """`memory` or `redis://HOST:PORT/DB`."""
    if spec == "memory":
        return MemoryStore()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            return RedisStore(spec)
        except ValueError as error:  # the URL's port or database; the URL may hold a password
            raise ValueError(f"--sessions: not a Redis URL such as redis://HOST:PORT/DB: {error}") from None
    raise ValueError(f"--sessions: `{spec}` is neither `memory` nor a redis:// URL")
