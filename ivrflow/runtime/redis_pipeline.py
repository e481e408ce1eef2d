"""Redis commands of concurrent callbacks pipelined over a few connections
(the session store's transport, `sessions.RedisStore`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


class Pipeline:
    """Redis commands issued in the same turn of the event loop are sent
    together as one pipeline, over at most `connections` connections at a
    time (waiting in order for one). Under load this is what keeps Redis
    from costing more than the callback itself: one write and one read of
    the socket for many commands, instead of a connection taken from a pool
    for each (redis-py's BlockingConnectionPool also lets a waiter starve
    for seconds while others take the freed connections).

    A connection is taken from the pool once and kept while it works (one
    that failed goes back, disconnected; one that Redis closed meanwhile is
    connected again before it is used), and each exchange has one deadline,
    `timeout`, for its write and all its replies."""

    def __init__(self, pool: Any, connections: int, timeout: float, script: str):
        self._pool = pool
        self._script = script  # loaded again when Redis has forgotten it
        self._connections = connections
        self._timeout = timeout
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[Any] = []  # connections taken from the pool, free now
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    def call(self, *args: Any) -> Awaitable[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((args, future))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        import redis.exceptions

        if self._slots is None:
            self._slots = asyncio.Semaphore(self._connections)
        try:
            async with self._slots:
                results = await self._exchange([args for args, _ in batch])
        except Exception as error:
            if isinstance(error, redis.exceptions.RedisError):
                failure = error
            elif isinstance(error, TimeoutError):
                failure = redis.exceptions.TimeoutError(f"no answer within {self._timeout:g} s")
            else:
                failure = redis.exceptions.ConnectionError(f"{type(error).__name__}: {error}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its callback was cancelled (the client went away)
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _exchange(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send the commands in one write and read their replies (an error
        reply is returned as its exception), within the deadline. Commands
        that met a script Redis forgot (it restarted) are sent again after
        loading it."""
        import redis.exceptions

        connection = self._idle.pop() if self._idle else None
        try:
            async with asyncio.timeout(self._timeout):
                if connection is None:
                    connection = await self._pool.get_connection()
                elif await connection.can_read():  # at its end (Redis closed it: a `timeout`, a restart)
                    await connection.disconnect()
                    await connection.connect()
                results = await _replies(connection, commands)
                again = [i for i, r in enumerate(results) if isinstance(r, redis.exceptions.NoScriptError)]
                if again:
                    loaded, *repeated = await _replies(connection, [("SCRIPT", "LOAD", self._script),
                                                                    *(commands[i] for i in again)])
                    if isinstance(loaded, Exception):
                        raise loaded
                    for i, result in zip(again, repeated, strict=True):
                        results[i] = result
        except BaseException:
            if connection is not None:
                await connection.disconnect()  # replies may be left unread on it
                await self._pool.release(connection)
            raise
        self._idle.append(connection)
        return results

    async def close(self) -> None:
        """Give the connections back to the pool (which closes them)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._pool.release(connection)


async def _replies(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Write the commands at once (RESP, packed by hiredis) and read a reply
    to each; an error reply is returned as its exception."""
    import hiredis
    import redis.exceptions

    await connection.send_packed_command(b"".join([hiredis.pack_command(args) for args in commands]),
                                         check_health=False)
    results: list[Any] = []
    for _ in commands:
        try:
            results.append(await connection.read_response(disable_decoding=True))
        except redis.exceptions.ResponseError as error:
            results.append(error)
    return results
