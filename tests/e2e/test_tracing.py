"""One trace per request: an eligibility check through the gateway is one trace in all four services and PostgreSQL.

The services run in this process, started after an in-memory exporter is installed (civicflow/tracing.py), so
each builds its interceptors, middleware and statement hooks as a traced process does; every span names its
service (`service.name`), as each process's spans would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from audit_service.config import AuditSettings
from civicflow import tracing
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.logs import RunContextFilter
from evaluator.config import EvaluatorSettings
from evaluator.server import start as start_evaluator
from gateway.app import create_app
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.rest_api import RestApi
from tests.support.stacks import own_stack

SERVICES = {"gateway", "orchestrator", "evaluator", "audit_service"}


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    tracing.add_span_processor(processor)
    try:
        yield exporter
    finally:
        tracing.remove_span_processor(processor)


@pytest.fixture
def traced_api(
    exported: InMemorySpanExporter,
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    credentials: Credentials,
) -> Iterator[RestApi]:
    """A caseworker's API on a system of its own whose every service was started with tracing on."""
    evaluator_settings = EvaluatorSettings(
        host="127.0.0.1", evaluator_port=0, **credentials.tls_settings(ServiceIdentity.EVALUATOR)
    )
    with (
        serve_on_loopback(background_loop, start_evaluator(evaluator_settings)) as evaluator_target,
        own_stack(
            postgres_server_url,
            background_loop,
            audit_settings=audit_settings,
            orchestrator_settings=orchestrator_settings,
            name_prefix="civicflow_traced",
            evaluator_target=evaluator_target,
        ) as stack,
    ):
        settings = GatewaySettings(
            orchestrator_target=stack.orchestrator_target,
            evaluator_target=evaluator_target,
            audit_target=stack.audit_target,
            **credentials.service_settings(ServiceIdentity.GATEWAY),
        )
        with TestClient(create_app(settings)) as client:
            yield RestApi.acting_as(client, credentials, Role.CASEWORKER)


def _server_spans_of(exporter: InMemorySpanExporter, trace_id: int) -> dict[str, set[str]]:
    """Per service, the names of its spans in the trace."""
    services: dict[str, set[str]] = {}
    for span in exporter.get_finished_spans():
        assert span.context is not None
        if span.context.trace_id == trace_id:
            service = str(span.resource.attributes["service.name"])
            services.setdefault(service, set()).add(span.name)
    return services


def _is_statement(span: ReadableSpan, service: str) -> bool:
    return (
        span.resource.attributes["service.name"] == service
        and span.attributes is not None
        and span.attributes.get("db.system") == "postgresql"
    )


def _request_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = [span for span in exporter.get_finished_spans() if span.name == "POST /workflows/execute"]
    assert len(spans) == 1, [span.name for span in exporter.get_finished_spans()]
    return spans[0]


def test_an_eligibility_check_is_one_trace_across_all_four_services_and_postgresql(
    traced_api: RestApi, exported: InMemorySpanExporter
) -> None:
    exported.clear()
    decided = traced_api.check_eligibility("CIT-1001", "scheme_alpha")
    assert decided["status"] == "completed", decided

    request = _request_span(exported)
    assert request.context is not None
    trace_id = request.context.trace_id
    # The run's audit entries are appended just after it answers (recorder.py): wait for them.
    deadline = time.monotonic() + 10
    while "/civicflow.v1.AuditService/AppendEntries" not in _server_spans_of(exported, trace_id).get(
        "audit_service", set()
    ):
        assert time.monotonic() < deadline, _server_spans_of(exported, trace_id)
        time.sleep(0.05)

    services = _server_spans_of(exported, trace_id)
    assert set(services) == SERVICES
    assert "/civicflow.v1.OrchestratorService/ExecuteWorkflow" in services["orchestrator"]
    assert "/civicflow.v1.EvaluatorService/Evaluate" in services["evaluator"]
    # The orchestrator's statements (the run's row) are spans of the trace.
    spans = exported.get_finished_spans()
    assert any(_is_statement(span, "orchestrator") and span.context.trace_id == trace_id for span in spans)
    # The audit service commits many callers' appends in one transaction: its span links to each caller's,
    # and the transaction's statements are its children.
    appends = {span.context.span_id for span in spans if span.name == "/civicflow.v1.AuditService/AppendEntries"}
    commits = [
        span
        for span in spans
        if span.name == "audit group commit" and any(link.context.span_id in appends for link in span.links)
    ]
    assert commits, [span.name for span in spans]
    assert any(
        _is_statement(span, "audit_service") and span.context.trace_id == commits[0].context.trace_id for span in spans
    )
    # Another request is another trace.
    traced_api.check_eligibility("CIT-1002", "scheme_alpha")
    assert len({span.context.trace_id for span in exported.get_finished_spans() if span.parent is None}) >= 2


def test_a_log_line_inside_a_trace_carries_its_trace_id(exported: InMemorySpanExporter) -> None:
    provider = tracing.tracer_provider("gateway")
    assert provider is not None
    record = logging.makeLogRecord({"msg": "inside"})
    with provider.get_tracer("test").start_as_current_span("request") as span:
        RunContextFilter().filter(record)
    assert record.trace_id == format(span.get_span_context().trace_id, "032x")
    outside = logging.makeLogRecord({"msg": "outside"})
    RunContextFilter().filter(outside)
    assert not hasattr(outside, "trace_id")


def test_an_impact_analysis_traces_its_evaluate_streams_and_completes(
    traced_api: RestApi, exported: InMemorySpanExporter
) -> None:
    # The fan-out writes to its streams (call.write), which must work through the tracing interceptors.
    analysed = traced_api.as_role(Role.ANALYST).execute(
        "impact_analysis", {"scheme_name": "scheme_alpha", "population_size": 3000}
    )
    assert analysed["status"] == "completed", analysed
    trace_id = _request_span(exported).context.trace_id  # type: ignore[union-attr]
    streams = _server_spans_of(exported, trace_id).get("evaluator", set())
    assert "/civicflow.v1.EvaluatorService/EvaluateStream" in streams


def test_a_request_span_keeps_the_query_parameters_names_not_their_values(
    traced_api: RestApi, exported: InMemorySpanExporter
) -> None:
    exported.clear()
    listed = traced_api.get("/workflows", params={"citizen_id": "CIT-0000042", "limit": 5})
    assert listed.status_code == 200, listed.text

    (request,) = [span for span in exported.get_finished_spans() if span.name == "GET /workflows"]
    recorded = " ".join(str(value) for value in (request.attributes or {}).values())
    assert "citizen_id=…" in recorded, request.attributes
    assert "CIT-0000042" not in recorded
