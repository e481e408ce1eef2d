"""Where live calls are kept between callbacks: in memory (one process) or in
Redis (several processes behind a load balancer). Both expire sessions, and
bound what one session may hold, so nothing grows without bound even when
`sessionCompleted` never comes or a callback sends huge values."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from ..compiler.machine import Call
from .http import HTTPProblem, ascii_json
from .redis_pipeline import Pipeline

#: A call left this long without a callback is forgotten.
SESSION_TTL_S = 2 * 3600
#: The memory store holds at most this many calls; the oldest go first.
MAX_MEMORY_SESSIONS = 100_000
#: …and at most this many bytes of them (keys and serialized sessions).
MAX_MEMORY_BYTES = 256 * 1024 * 1024
#: The longest value a callback may put in each field of a session (characters);
#: a longer one is refused with 422 before anything is stored. Platforms' ids
#: are UUIDs or short tokens, numbers and SIP URIs are far below these.
FIELD_LIMITS = {"id": ("sessionId", 256), "caller": ("callingParty", 256), "called": ("calledParty", 256),
                "reply_id": ("replyId", 256), "connection_id": ("connectionId", 256),
                "api_base": ("siteBaseUrl", 2048)}
#: The largest serialized session (what the flow queued and the path not yet
#: reported included): a bound on what one call can make a store hold.
MAX_SESSION_BYTES = 64 * 1024


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
    #: The stored version this session was read from (Redis); never serialized.
    version: str | None = field(default=None, repr=False, compare=False)

    @property
    def start_time(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.started)

    def dumps(self) -> str:
        # By hand: dataclasses.asdict deep-copies, and was a sixth of a callback's time (a dict display is
        # three times faster than one made field by field). Every field but `version`.
        # ASCII only, so that any string the platform sent (a lone surrogate too) can be stored.
        return ascii_json({"id": self.id, "call": self.call.to_dict(), "caller": self.caller, "called": self.called,
                           "started": self.started, "reply_id": self.reply_id, "connection_id": self.connection_id,
                           "api_base": self.api_base, "pending": self.pending, "transfer": self.transfer,
                           "path": self.path})

    def copy(self) -> Session:
        """A copy sharing nothing a callback changes, for stores that keep
        sessions in this process: its lists are new (commands and steps in
        them are replaced or removed, never changed in place). Far cheaper
        than loads(dumps()), which was a fifth of a callback's time."""
        return Session(self.id, self.call, self.caller, self.called, self.started, self.reply_id, self.connection_id,
                       self.api_base, list(self.pending), self.transfer, list(self.path), self.version)

    @classmethod
    def loads(cls, text: str | bytes) -> Session:
        data = json.loads(text)
        data["call"] = Call.from_dict(data.pop("call"))
        return cls(**data)


def check_id(session_id: str) -> None:
    """422 for a session id no store keeps (too long to be a platform's id)."""
    name, limit = FIELD_LIMITS["id"]
    if len(session_id) > limit:
        raise HTTPProblem(422, "field_too_long", f"`{name}` is longer than {limit} characters")


def check_fields(session: Session) -> None:
    """422 when a field the platform sent is longer than a store keeps (FIELD_LIMITS)."""
    for attribute, (name, limit) in FIELD_LIMITS.items():
        value = getattr(session, attribute)
        if value is not None and len(value) > limit:
            raise HTTPProblem(422, "field_too_long", f"`{name}` is longer than {limit} characters")


def check(session: Session) -> str:
    """The session serialized, or 422 when a field, or the whole, is larger
    than a store keeps (FIELD_LIMITS, MAX_SESSION_BYTES)."""
    check_fields(session)
    text = session.dumps()
    if len(text) > MAX_SESSION_BYTES:
        raise HTTPProblem(422, "session_too_large", f"the call's state would be larger than {MAX_SESSION_BYTES} "
                                                    "bytes; a field of the callback is too long")
    return text


class SessionConflict(HTTPProblem):
    """Another server changed the session since this one read it: the
    callback must be handled again from the stored session (`retrying`)."""

    def __init__(self, session_id: str):
        super().__init__(503, "session_conflict", "the call was changed by another request at the same time; "
                                                  "retry")
        self.session_id = session_id


class Store(Protocol):
    """Sessions by id. `get` refreshes nothing by itself: every callback that
    reads a session writes it back (`put`, which restarts its expiry) or
    deletes it. `put` raises SessionConflict when the session changed in the
    store since it was read; the callback is then handled again (`retrying`).
    Both refuse over-long fields and sessions with a 422 (`check`)."""

    async def ping(self) -> None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def put(self, session: Session) -> None: ...
    async def delete(self, session_id: str) -> None: ...
    async def close(self) -> None: ...


class MemoryStore:
    """Sessions in this process, least recently used first out, bounded in
    number (`limit`) and in bytes (`max_bytes`)."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, limit: int = MAX_MEMORY_SESSIONS,
                 max_bytes: int = MAX_MEMORY_BYTES):
        self.ttl_s = ttl_s
        self.limit = limit
        self.max_bytes = max_bytes
        self.bytes = 0  # keys and serialized sessions held now
        # id -> (deadline, a copy of the session, its size serialized)
        self._items: OrderedDict[str, tuple[float, Session, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def ping(self) -> None:
        return None

    async def get(self, session_id: str) -> Session | None:
        check_id(session_id)
        item = self._items.get(session_id)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._remove(session_id)
            return None
        return item[1].copy()

    async def put(self, session: Session) -> None:
        # A copy, as Redis would: a callback that fails half-way leaves the stored session as it was.
        size = len(session.id) + len(check(session))
        now = time.monotonic()
        self._remove(session.id)
        self._items[session.id] = (now + self.ttl_s, session.copy(), size)
        self.bytes += size
        while len(self._items) > self.limit or self.bytes > self.max_bytes:
            self._remove(next(iter(self._items)))
        self._expire_some(now)

    def _remove(self, session_id: str) -> None:
        item = self._items.pop(session_id, None)
        if item is not None:
            self.bytes -= item[2]

    def _expire_some(self, now: float) -> None:
        for _ in range(2):  # amortized: look at the two oldest on every write
            oldest = next(iter(self._items.items()), None)
            if oldest is None or oldest[1][0] >= now:
                return
            self._remove(oldest[0])

    async def delete(self, session_id: str) -> None:
        self._remove(session_id)

    async def close(self) -> None:
        self._items.clear()
        self.bytes = 0


#: Writes a session only if it is still the version the callback read ('' = any),
#: with its expiry, in one command: KEYS[1] the key, ARGV = expected version,
#: new version..session, TTL in seconds. 1 when written, 0 when it had changed.
_PUT_SCRIPT = """
if ARGV[1] ~= '' then
  local current = redis.call('GET', KEYS[1])
  if not current or string.sub(current, 1, 16) ~= ARGV[1] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
_VERSION_CHARS = 16  # a stored value is VERSION (hex) followed by the session's JSON
#: Versions only need to differ (they are never shown): a generator seeded once from os.urandom, not a
#: system call per write.
_versions = random.Random(os.urandom(16))


class RedisStore:
    """Sessions in Redis under `ivrflow:session:ID`, each with the TTL.

    One round trip per callback: a session this server created (and wrote
    last, as far as it knows) is kept here after each write, so a callback
    needs no read; the write is conditional on the stored version (a script),
    and refreshes the expiry. Had another server changed it, the write is
    refused (SessionConflict), the server stops trusting its copy of that
    call, and the callback is handled again from a fresh read (GETEX, which
    refreshes the expiry too). Commands issued together are pipelined over a
    few connections (`redis_pipeline.Pipeline`), so no callback waits for a free one."""

    PREFIX = "ivrflow:session:"
    #: Connections commands are pipelined over; `?max_connections=N` in the URL overrides it.
    CONNECTIONS = 8
    #: A Redis that does not answer within this many seconds fails the callback with a 503.
    TIMEOUT_S = 5.0
    #: Sessions whose last written copy is kept here (the LRU ones beyond it are read again).
    KEPT = 20_000

    def __init__(self, url: str, ttl_s: float = SESSION_TTL_S):
        import redis.asyncio as redis
        from redis.exceptions import RedisError

        self.ttl_s = max(1, int(ttl_s))
        self.url = url
        # Options in the URL's query win over these defaults. No socket_timeout (redis-py's default is 5 s):
        # TIMEOUT_S bounds each exchange as a whole (Pipeline), instead of a timer per reply and a task per
        # write in redis-py.
        pool = redis.ConnectionPool.from_url(url, max_connections=self.CONNECTIONS, socket_timeout=None,
                                             socket_connect_timeout=self.TIMEOUT_S)
        self._redis = redis.Redis(connection_pool=pool)
        self._pipeline = Pipeline(pool, pool.max_connections, self.TIMEOUT_S, _PUT_SCRIPT)
        self._errors = RedisError
        self._script = _sha1(_PUT_SCRIPT)
        # id -> (version, a copy of the session) of the calls this server created and wrote last, as far as
        # it knows: no write of them was refused, and none was read from Redis.
        self._kept: OrderedDict[str, tuple[str, Session]] = OrderedDict()

    def _key(self, session_id: str) -> bytes:
        # Ids are the platform's: any string, a lone surrogate included, must make a key.
        return (self.PREFIX + session_id).encode("utf-8", "surrogatepass")

    async def ping(self) -> None:
        import redis.exceptions

        try:
            async with asyncio.timeout(self.TIMEOUT_S):
                await self._redis.ping()
                await self._redis.script_load(_PUT_SCRIPT)
        except (redis.exceptions.RedisError, TimeoutError) as error:
            reason = error if isinstance(error, redis.exceptions.RedisError) else \
                f"no answer within {self.TIMEOUT_S:g} s"
            raise RuntimeError(f"cannot reach the session store at {self.url.split('@')[-1]}: {reason}") from None

    async def get(self, session_id: str) -> Session | None:
        check_id(session_id)
        kept = self._kept.get(session_id)
        if kept is not None:
            self._kept.move_to_end(session_id)
            session = kept[1].copy()
            session.version = kept[0]
            return session
        raw = await self._command("GETEX", self._key(session_id), "EX", self.ttl_s)
        if raw is None:
            self._kept.pop(session_id, None)
            return None
        version, text = _split(raw)
        session = Session.loads(text)
        session.version = version
        return session

    async def put(self, session: Session) -> None:
        text = check(session)
        expected = session.version or ""
        version = f"{_versions.getrandbits(_VERSION_CHARS * 4):0{_VERSION_CHARS}x}"
        written = await self._command("EVALSHA", self._script, 1, self._key(session.id), expected, version + text,
                                      self.ttl_s)
        if not written:
            self._kept.pop(session.id, None)
            raise SessionConflict(session.id)
        session.version = version
        kept = self._kept.get(session.id)
        if (kept is None and not expected) or (kept is not None and kept[0] == expected):  # created or kept here
            self._kept[session.id] = (version, session.copy())
            self._kept.move_to_end(session.id)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        else:  # read from Redis: another server may write it next
            self._kept.pop(session.id, None)

    async def delete(self, session_id: str) -> None:
        self._kept.pop(session_id, None)
        if len(session_id) > FIELD_LIMITS["id"][1]:
            return  # never stored
        await self._command("DEL", self._key(session_id))

    async def _command(self, *args: Any) -> Any:
        """The command's reply. Redis errors become a 503 with a JSON body (the caller can retry)."""
        try:
            return await self._pipeline.call(*args)
        except self._errors as error:
            raise HTTPProblem(503, "store_unavailable", f"the session store failed: {type(error).__name__}") \
                from None

    async def close(self) -> None:
        self._kept.clear()
        await self._pipeline.close()
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()  # a pool given to Redis() is not closed by it


def _split(raw: bytes) -> tuple[str | None, str]:
    """(version, JSON) of a stored value; a value written before versions has none."""
    text = raw.decode("ascii")
    if text.startswith("{"):
        return None, text
    return text[:_VERSION_CHARS], text[_VERSION_CHARS:]


def _sha1(script: str) -> str:
    import hashlib

    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def retried(endpoint: Callable[[Request], Awaitable[Response]],
            attempts: int = 3) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint, handled again for the same request (its body is kept:
    `http.read_body`) while its write meets a SessionConflict (another
    server changed the call since it was read; the store then reads it
    afresh). The last conflict is the 503."""

    async def handle(request: Request) -> Response:
        for attempt in range(attempts):
            try:
                return await endpoint(request)
            except SessionConflict:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")
    return handle


def open_store(spec: str) -> Store:
    """`memory` or `redis://HOST:PORT/DB` (`?max_connections=N` sets the connections)."""
    if spec == "memory":
        return MemoryStore()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            return RedisStore(spec)
        except ValueError as error:  # the URL's port or database; the URL may hold a password
            raise ValueError(f"--sessions: not a Redis URL such as redis://HOST:PORT/DB: {error}") from None
    raise ValueError(f"--sessions: `{spec}` is neither `memory` nor a redis:// URL")
