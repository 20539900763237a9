"""uvicorn's HTTP protocol with deadlines uvicorn itself does not have: on a request's headers, and on the rest of
a body the app answered without reading (a 413).

Without the first, a connection that sends half a request line and stops stays open until the
client goes away: a few hundred of them hold every file descriptor. The header deadline runs
from the connection's opening, or the first byte a kept-alive connection sends after an answer, to the
end of the headers. Once a response is complete, uvicorn drops whatever is left of its request's
body as it arrives; the second deadline bounds how long it does so. A connection that misses
either is closed. The body's own deadline, while the app reads it, is gateway/body_limits.py's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class DeadlineProtocol(HttpToolsProtocol):
    # Set by `with_deadlines`: uvicorn builds the protocol itself, from the class alone.
    header_timeout_seconds: float = 10.0
    discard_timeout_seconds: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_seconds, "its request headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Bytes that start no request (blank lines between requests, the tail of a dropped body) cancel
        # uvicorn's keep-alive timer: an idle connection must still send its next headers in time.
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._deadline is None and self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self._arm(self.header_timeout_seconds, "its request headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.header_timeout_seconds, "its request headers")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            self._arm(self.discard_timeout_seconds, "the rest of a body answered without reading it")

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, what: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection: %s did not arrive in time", what)
            self.transport.close()


def with_deadlines(*, header_timeout_seconds: float, discard_timeout_seconds: float) -> type[DeadlineProtocol]:
    """The protocol class uvicorn is given, with this gateway's deadlines."""
    return type(
        "GatewayHttpProtocol",
        (DeadlineProtocol,),
        {"header_timeout_seconds": header_timeout_seconds, "discard_timeout_seconds": discard_timeout_seconds},
    )
