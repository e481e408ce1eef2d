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
    """The header deadline costs no timer per request: a request notes when
    its headers began (`_headers_since`, None once they are complete), and
    one timer per connection at a time checks it, due at the earliest moment
    the current request's headers can be late; when it fires early (a later
    request began after it was set) it sets itself again for that request.

    The size bound costs no Python call per header line (those were most of
    this class's cost): the pieces received while a request's headers are
    incomplete are counted as they come (a client sending endless headers is
    cut off once they pass the bound, give or take the end of a previous
    request in the same piece), and the headers are measured one by one only
    when the pieces they came in add up to more than the bound."""

    _header_bytes = 0  # received in earlier pieces since the current request's headers began
    _piece = 0  # the size of the piece being parsed
    _headers_since: float | None = None
    _headers_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._headers_begin()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_since = None
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._piece = len(data)
        super().data_received(data)
        if self._headers_since is None or self.transport.is_closing():
            return
        self._header_bytes += len(data)  # the headers are still incomplete
        if self._header_bytes > MAX_HEADER_BYTES:
            log.warning("%s: the request's headers are larger than %d bytes; connection closed", self._client(),
                        MAX_HEADER_BYTES)
            self.send_400_response(f"the request's headers are larger than {MAX_HEADER_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._headers_begin()

    def on_headers_complete(self) -> None:
        self._headers_since = None
        if self._header_bytes + self._piece > MAX_HEADER_BYTES and \
                len(self.url) + sum(len(name) + len(value) for name, value in self.headers) > MAX_HEADER_BYTES:
            raise HeadersTooLarge(f"the request's headers are larger than {MAX_HEADER_BYTES} bytes")
        super().on_headers_complete()

    def _headers_begin(self) -> None:
        self._headers_since = self.loop.time()
        if self._headers_due is None:
            self._headers_due = self.loop.call_at(self._headers_since + HEADER_TIMEOUT_S, self._check_headers)

    def _check_headers(self) -> None:
        self._headers_due = None
        if self._headers_since is None:
            return  # no request is sending headers: the next one sets the timer again
        due = self._headers_since + HEADER_TIMEOUT_S
        if self.loop.time() < due:
            self._headers_due = self.loop.call_at(due, self._check_headers)
        elif not self.transport.is_closing():
            log.info("%s: no complete request headers within %g s; connection closed", self._client(),
                     HEADER_TIMEOUT_S)
            self.transport.close()

    def _client(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
