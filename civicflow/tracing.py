"""Traces (OpenTelemetry): one trace per request, from the gateway through every service and PostgreSQL.

Off unless a span processor is installed: `configure_tracing` installs an OTLP exporter (gRPC)
when OTEL_EXPORTER_OTLP_ENDPOINT is set, a test installs an in-memory one. Off, the services
install no interceptor, middleware or statement hook at all, so tracing costs the hot path
nothing. On, every service gets a tracer provider of its own (its `service.name`) that feeds the
processors installed here: services started in one process (tests) still say which span is whose.
Context crosses gRPC calls in W3C `traceparent` metadata, the OpenTelemetry default propagator.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from civicflow.query_values import without_query_values

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine

# The instrumentation packages are imported only when tracing is on: a process without it loads none of them.

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"


class _Processors(SpanProcessor):
    """The processors installed now; every service's provider feeds this one, so they can come and go."""

    def __init__(self) -> None:
        self.installed: list[SpanProcessor] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for processor in self.installed:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self.installed:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self.installed:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self.installed)


_processors = _Processors()
_providers: dict[str, TracerProvider] = {}


def configure_tracing(environ: Mapping[str, str] = os.environ) -> bool:
    """Exports spans over OTLP (gRPC) when OTEL_EXPORTER_OTLP_ENDPOINT is set; answers whether tracing is on.

    The exporter reads the OTEL_EXPORTER_OTLP_* variables itself (endpoint, headers, certificate).
    """
    if not environ.get(ENDPOINT_VARIABLE) or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return True


def add_span_processor(processor: SpanProcessor) -> None:
    """Turns tracing on for services started from now on (a test's in-memory exporter, or OTLP)."""
    _processors.installed.append(processor)


def remove_span_processor(processor: SpanProcessor) -> None:
    _processors.installed.remove(processor)
    processor.shutdown()


def shutdown_tracing() -> None:
    """Sends the spans still buffered; at the end of a process."""
    _processors.force_flush()


def tracing_enabled() -> bool:
    return bool(_processors.installed)


def tracer_provider(service: str) -> TracerProvider | None:
    """The provider whose spans say they are `service`'s; None while tracing is off."""
    if not tracing_enabled():
        return None
    if service not in _providers:
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        provider.add_span_processor(_processors)
        _providers[service] = provider
    return _providers[service]


def server_interceptors(service: str) -> list[grpc.aio.ServerInterceptor]:
    """A server span per RPC, continuing the caller's trace; none while tracing is off."""
    provider = tracer_provider(service)
    if provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(tracer_provider=provider)]  # type: ignore[no-untyped-call]


def client_interceptors(service: str) -> list[grpc.aio.ClientInterceptor]:
    """A client span per call, whose context travels in the call's metadata; none while tracing is off."""
    provider = tracer_provider(service)
    if provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors(tracer_provider=provider))  # type: ignore[no-untyped-call]


def instrument_engine(engine: Engine, service: str) -> None:
    """A span per SQL statement, child of the span that ran it (threads started by asyncio.to_thread carry it).

    The instrumentor's public entry patches create_engine process-wide, once; its engine hook is used
    directly instead, for exactly the engines given. Statements are recorded without their parameters.
    """
    provider = tracer_provider(service)
    if provider is not None:
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import NoOpMeter

        unused_gauge = NoOpMeter("").create_up_down_counter("unused")
        EngineTracer(provider.get_tracer("civicflow.database"), engine, unused_gauge)  # type: ignore[no-untyped-call]


def traced_cursor(cursor: Any, service: str) -> Any:
    """`cursor` (psycopg2's, used directly on the hot paths), with a span per execute while tracing is on.

    SQLAlchemy's statement hooks (instrument_engine) never see statements sent through a raw cursor.
    The span holds the statement's text, never its parameters.
    """
    provider = tracer_provider(service)
    return cursor if provider is None else _TracedCursor(cursor, provider.get_tracer("civicflow.database"))


class _TracedCursor:
    def __init__(self, cursor: Any, tracer: trace.Tracer) -> None:
        self._cursor = cursor
        self._tracer = tracer

    def execute(self, sql: str, params: Any = None) -> None:
        operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
        attributes = {"db.system": "postgresql", "db.statement": sql}
        with self._tracer.start_as_current_span(operation, kind=trace.SpanKind.CLIENT, attributes=attributes):
            self._cursor.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def instrument_app(app: FastAPI, service: str) -> None:
    """A server span per HTTP request (never for /healthz, which probes call every few seconds), its URL
    without query values."""
    provider = tracer_provider(service)
    if provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=provider, excluded_urls="healthz", server_request_hook=_without_query_values
        )


# The attributes in which the instrumentation records the request's URL or query (old and new conventions).
_URL_ATTRIBUTES = ("http.target", "http.url", "url.full", "url.query")


def _without_query_values(span: trace.Span, scope: dict[str, Any]) -> None:
    """A query may name a citizen or a subject: the span keeps the parameters' names only."""
    recorded = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = recorded.get(name)
        if isinstance(value, str):
            query_only = name == "url.query"
            blanked = without_query_values(f"?{value}" if query_only else value)
            span.set_attribute(name, blanked.removeprefix("?") if query_only else blanked)


def current_trace_id() -> str | None:
    """The trace id of the span this code runs in, as 32 hex digits; None outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
