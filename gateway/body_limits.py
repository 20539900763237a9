"""Limits on a request's body: its size (413) and the time it takes to arrive (408), both before it is read whole.

A declared Content-Length over the limit is refused before the app runs; a chunked body is
counted as it arrives and refused at the first byte over. The time limit runs from the start of
the request to the last byte of its body, so a client trickling a byte at a time cannot hold a
request open; once the body is in, reading the connection (for a disconnect, as an event stream
does) has no deadline.

After a 413 the rest of the body is dropped as it arrives, never kept, and the connection stays
open, so that the client, still sending, reads the answer (closing with unread data would reset
the connection and lose it); gateway/http_protocol.py closes it if the rest takes too long. A
408 closes the connection at once: its client sends too slowly for that to matter.

FastAPI's own `max_body_size` is not used: for a route that reads no body it answers in plain
text, outside the one error shape.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import TOO_LARGE_CODE, error_response

CLOSE = {"Connection": "close"}


class BodyTooLargeError(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {max_bytes} bytes")


class BodyReadTimeoutError(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            HTTPStatus.REQUEST_TIMEOUT, f"the request body did not arrive within {seconds:g} s", headers=CLOSE
        )


class RequestBodyLimits:
    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_seconds = read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            refusal = BodyTooLargeError(self.max_bytes)
            response = error_response(refusal.status_code, code=TOO_LARGE_CODE, message=refusal.detail)
            await response(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.read_timeout_seconds
        received = 0
        body_complete = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyReadTimeoutError(self.read_timeout_seconds) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        await self.app(scope, limited_receive, send)
