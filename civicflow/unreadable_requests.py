"""Bytes that do not parse as an RPC's request message are the client's mistake: INVALID_ARGUMENT, not UNKNOWN.

grpcio deserializes a request before any handler runs, and answers a failure there with UNKNOWN
"Unexpected <class 'google.protobuf.message.DecodeError'>: ...", a library's class and message
on the wire. This server interceptor gives every method a deserializer that turns such bytes into
a marker, and a handler that ends the call on the marker with INVALID_ARGUMENT in words of ours.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

UNREADABLE_MESSAGE = "the request is not a valid protobuf message of this method"


class _Unreadable:
    """What a request that does not parse becomes: seen by the wrapped handler, never by a servicer."""


UNREADABLE = _Unreadable()


class UnreadableRequestInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        behaviours = {
            name: _guarded(getattr(handler, name), streaming_requests=name.startswith("stream_"))
            for name in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
            if getattr(handler, name) is not None
        }
        # grpcio's handlers are namedtuples: the same handler with a lenient parser and the guard around it.
        return handler._replace(request_deserializer=_lenient(handler.request_deserializer), **behaviours)


def _lenient(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:  # whatever the parser raises, the bytes are the client's
            return UNREADABLE

    return deserialize


def _guarded(behaviour: Callable[..., Any], *, streaming_requests: bool) -> Callable[..., Any]:
    async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if streaming_requests:
            return _checked_stream(request, context)
        if request is UNREADABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, UNREADABLE_MESSAGE)
        return request

    if inspect.isasyncgenfunction(behaviour):

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for reply in behaviour(await checked(request, context), context):
                yield reply

        return streaming

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        result = behaviour(await checked(request, context), context)
        return await result if inspect.isawaitable(result) else result

    return unary


async def _checked_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    async for request in requests:
        if request is UNREADABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, UNREADABLE_MESSAGE)
        yield request
