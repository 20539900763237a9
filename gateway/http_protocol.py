"""uvicorn's HTTP protocol with a deadline on reading a request's headers, which uvicorn itself does not have.

Without it, a connection that sends half a request line and stops stays open until the client
goes away: a few hundred of them hold every file descriptor. The deadline runs from the
connection's first byte of a request (or the connection's opening) to the end of its headers; a
connection that misses it is closed. The body's deadline is gateway/body_deadline.py's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderDeadlineProtocol(HttpToolsProtocol):
    # Set by `with_header_deadline`: uvicorn builds the protocol itself, from the class alone.
    header_timeout_seconds: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # Next request on a kept-alive connection: its headers get the same time.
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout_seconds, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers did not arrive in time")
            self.transport.close()


def with_header_deadline(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class uvicorn is given, with the deadline of this gateway's settings."""
    return type("GatewayHttpProtocol", (HeaderDeadlineProtocol,), {"header_timeout_seconds": seconds})
