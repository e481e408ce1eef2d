"""uvicorn's HTTP protocol (httptools) with the two limits it lacks: a
deadline for a request's headers, so a client that connects and sends
nothing, or trickles its headers (slowloris), is disconnected; and a bound
on their size (uvicorn's own limit applies only to its h11 protocol).
The body has its own deadline and size limit in runtime.http.read_body."""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("ivrflow.runtime")

#: How long a client may take from connecting (or from the first byte of a
#: next request on a kept-alive connection) to the end of its headers.
HEADER_TIMEOUT_S = 10.0
#: The request line and headers of a callback fit in a few KiB.
MAX_HEADER_BYTES = 16 * 1024


class HeadersTooLarge(Exception):
    """Raised inside the parser: uvicorn answers 400 and closes the connection."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    _header_bytes = 0
    _headers_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise HeadersTooLarge(f"the request's headers are larger than {MAX_HEADER_BYTES} bytes")

    def _arm(self) -> None:
        self._disarm()
        self._headers_due = self.loop.call_later(HEADER_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _too_slow(self) -> None:
        self._headers_due = None
        if not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.info("%s: no complete request headers within %g s; connection closed", client, HEADER_TIMEOUT_S)
            self.transport.close()
