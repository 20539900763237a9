"""The grpc.aio server interceptor that counts every RPC by method and status code and times it.

The packages that exist instrument synchronous servers or trace only; this one records what an
operator alerts on. Only methods the server has a handler for are counted, so a client naming
methods at random cannot add label values; a stream is timed until its last message is sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

# From a health check (sub-millisecond) to an impact analysis over a million citizens (minutes).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600)

GRPC_SERVER_HANDLED = Counter(
    "civicflow_grpc_server_handled",
    "RPCs this server answered, by method and status code.",
    ["grpc_method", "grpc_code"],
)
GRPC_SERVER_LATENCY = Histogram(
    "civicflow_grpc_server_handling_seconds",
    "Time from an RPC's arrival to its answer (a stream's last message), by method.",
    ["grpc_method"],
    buckets=LATENCY_BUCKETS,
)

Behavior = Callable[..., Any]


class RpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Outermost on every server (civicflow/grpc_server.py), so that refused and unreadable calls count too."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        if handler.response_streaming:
            return _replace_behavior(handler, _timed_stream(method, _behavior(handler)))
        return _replace_behavior(handler, _timed_unary(method, _behavior(handler)))


def _behavior(handler: grpc.RpcMethodHandler) -> Behavior:
    return (  # type: ignore[no-any-return]
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )


def _replace_behavior(handler: grpc.RpcMethodHandler, behavior: Behavior) -> grpc.RpcMethodHandler:
    kind = (
        ("stream" if handler.request_streaming else "unary")
        + "_"
        + ("stream" if handler.response_streaming else "unary")
    )
    return handler._replace(**{kind: behavior})


def _timed_unary(method: str, behavior: Behavior) -> Behavior:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        try:
            reply = await behavior(request, context)
            code = grpc.StatusCode.OK
            return reply
        finally:
            _observe(method, started, _final_code(context, code))

    return timed


def _timed_stream(method: str, behavior: Behavior) -> Behavior:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        try:
            async for reply in behavior(request, context):
                yield reply
            code = grpc.StatusCode.OK
        finally:
            _observe(method, started, _final_code(context, code))

    return timed


def _final_code(context: grpc.aio.ServicerContext, fallback: grpc.StatusCode) -> grpc.StatusCode:
    """The code the servicer set or aborted with; else OK for a return, UNKNOWN for an exception (gRPC's own)."""
    if context.cancelled():
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # grpc.aio answers the raw number of a code set with set_code
        return next((known for known in grpc.StatusCode if known.value[0] == code), fallback)
    return fallback


def _observe(method: str, started: float, code: grpc.StatusCode) -> None:
    GRPC_SERVER_LATENCY.labels(method).observe(time.perf_counter() - started)
    GRPC_SERVER_HANDLED.labels(method, code.name).inc()
