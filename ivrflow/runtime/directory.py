"""Ids a webhook reads from the platform's API while a call waits (Telphin's
context ids, PortSIP's receptionist numbers): cached, read again when stale
or when one is missing (as after a redeploy). When the API fails, the cached
ids still serve (stale beats nothing); with none cached the callback gets a
503 JSON error, and the failure is logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

from ..deploy.http import DeployError
from .http import HTTPProblem

log = logging.getLogger("ivrflow.runtime")
V = TypeVar("V")

#: How long ids are trusted before they are read again.
TTL_S = 60.0
#: After a failed read, how long the cached ids serve before the API is tried again.
RETRY_AFTER_S = 5.0
#: A caller is waiting: each API request gets this long (the deploy client's own default is 10 s) …
API_TIMEOUT_S = 3.0
#: … and retries pause this long, instead of a deploy's growing backoff.
API_RETRY_PAUSE_S = 0.05
#: However the API misbehaves (it may hang on every retry), a callback waits at
#: most this long for a read before it is answered from the cache, or with 503.
READ_DEADLINE_S = 5.0


def retry_pause(attempt: int) -> None:
    """The pause between retries of an API call made during a callback (the API client calls it in a thread)."""
    time.sleep(API_RETRY_PAUSE_S)


class Lookup(Generic[V]):
    """`read()` (blocking; run in a thread) gives every id by key."""

    def __init__(self, read: Callable[[], dict[str, V]], platform: str):
        self.read = read
        self.platform = platform
        self.ids: dict[str, V] = {}
        self.read_at = 0.0

    async def get(self, key: str) -> V | None:
        """The id of `key`, or None when the platform has none (not deployed)."""
        if key not in self.ids or time.monotonic() - self.read_at > TTL_S:
            try:
                # The thread is not stopped at the deadline: it ends with the client's own timeouts.
                self.ids = await asyncio.wait_for(asyncio.to_thread(self.read), READ_DEADLINE_S)
                self.read_at = time.monotonic()
            except TimeoutError:
                self._failed(key, TimeoutError(f"no answer within {READ_DEADLINE_S:g} s"))
            except (DeployError, httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                self._failed(key, error)
        return self.ids.get(key)

    def _failed(self, key: str, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"
        if key in self.ids:
            log.warning("the %s API failed (%s); using the ids read %.0f s ago", self.platform, reason,
                        time.monotonic() - self.read_at)
            self.read_at = time.monotonic() - TTL_S + RETRY_AFTER_S
            return
        log.error("the %s API failed (%s) and `%s` is not cached", self.platform, reason, key)
        raise HTTPProblem(503, "platform_unavailable", f"the {self.platform} API could not be reached to look up "
                                                       f"`{key}`; try again later")
