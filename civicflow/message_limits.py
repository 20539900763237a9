"""How large a request each RPC may receive, sized to what the RPC carries.

gRPC sets one receive limit per server. A server's limit is its largest method's here, and gRPC
itself refuses anything over it (RESOURCE_EXHAUSTED "Received message larger than max"); a
method that needs less has its own limit checked by an interceptor on the bytes received,
before they are parsed, and a request over it ends RESOURCE_EXHAUSTED the same way, naming the
method and both sizes. Every other RPC of the server (health, reflection) gets the default.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from civicflow.tls import MAX_MESSAGE_BYTES

KiB = 1024
MiB = 1024 * KiB
# Requests that name things (ids, offsets, a tree size): a few hundred bytes, with a wide margin.
SMALL_REQUEST_BYTES = 64 * KiB


@dataclass(frozen=True)
class ReceiveLimits:
    """Bytes a request may have: by RPC name (the method's short name), else `default_bytes`."""

    per_method: Mapping[str, int] = field(default_factory=dict)
    default_bytes: int = SMALL_REQUEST_BYTES

    @property
    def server_bytes(self) -> int:
        return max(self.default_bytes, *self.per_method.values())

    def for_method(self, full_method: str) -> int:
        """The limit of `/package.Service/Method`."""
        return self.per_method.get(full_method.rsplit("/", 1)[-1], self.default_bytes)

    def server_options(self) -> tuple[tuple[str, int], ...]:
        # Answers may be large (an audit trail, a page of results): sending keeps the shared limit.
        return (
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", self.server_bytes),
        )


@dataclass(frozen=True)
class _Oversized:
    """Stands in for a request over its method's limit: the bytes are dropped unparsed."""

    size: int


class ReceiveLimitInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, limits: ReceiveLimits) -> None:
        self._limits = limits
        # Each method's checked handler, built at its first call: only methods the server has, a bounded set.
        self._checked: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        checked = self._checked.get(method)
        if checked is not None:
            return checked
        handler = await continuation(handler_call_details)
        limit = self._limits.for_method(method)
        if handler is None or limit >= self._limits.server_bytes:
            return handler  # an unknown method, or one whose limit is gRPC's own
        checked = self._checked[method] = _limited(handler, method=method, limit=limit)
        return checked


def _limited(handler: grpc.RpcMethodHandler, *, method: str, limit: int) -> grpc.RpcMethodHandler:
    parse = handler.request_deserializer

    def read(raw: bytes) -> Any:
        if len(raw) > limit:
            return _Oversized(len(raw))
        return parse(raw) if parse is not None else raw

    async def refuse_if_oversized(request: Any, context: grpc.aio.ServicerContext) -> None:
        if isinstance(request, _Oversized):
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{method}: a request of {request.size} bytes is over this method's limit of {limit} bytes",
            )

    async def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for request in requests:
            await refuse_if_oversized(request, context)
            yield request

    serialize = handler.response_serializer
    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary

        async def unary_unary_checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await refuse_if_oversized(request, context)
            return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary_checked, read, serialize)
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream
        _require_async_generator(unary_stream, method)

        async def unary_stream_checked(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await refuse_if_oversized(request, context)
            async for reply in unary_stream(request, context):
                yield reply

        return grpc.unary_stream_rpc_method_handler(unary_stream_checked, read, serialize)
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary

        async def stream_unary_checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            return await stream_unary(checked(requests, context), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary_checked, read, serialize)
    stream_stream = handler.stream_stream
    assert stream_stream is not None
    _require_async_generator(stream_stream, method)

    async def stream_stream_checked(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async for reply in stream_stream(checked(requests, context), context):
            yield reply

    return grpc.stream_stream_rpc_method_handler(stream_stream_checked, read, serialize)


def _require_async_generator(behaviour: Callable[..., Any], method: str) -> None:
    # Our servicers answer streams as async generators (STYLE.md); one written with context.write would
    # need a wrapper of that kind instead, and is refused at its first call rather than served unchecked.
    if not inspect.isasyncgenfunction(behaviour):
        raise TypeError(f"{method}: a streaming RPC with a receive limit must be an async generator")
