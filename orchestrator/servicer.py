"""The OrchestratorService RPCs: thin adapters from protobuf to the runner, the appeal desk and the stores."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

import grpc

from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator import messages
from orchestrator.appeals import AppealDesk
from orchestrator.audit_log import AuditLog
from orchestrator.errors import (
    InvalidRequestError,
    OrchestratorError,
    ReportNotAvailableError,
    status_code_for,
    status_details,
)
from orchestrator.results_store import ImpactResultStore
from orchestrator.runner import WorkflowRunner
from orchestrator.store import COMPLETED, InstanceRecord, InstanceStore
from orchestrator.template_registry import TemplateRegistry

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
REPORT_OUTPUT = "impact_report"

Reply = TypeVar("Reply")


def _maps_errors(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Reply]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Reply]]:
    """Ends the call with the status code of any OrchestratorError; the one place errors become codes."""

    @wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Reply:
        try:
            return await handler(self, request, context)
        except OrchestratorError as error:
            await context.abort(status_code_for(error), str(error), trailing_metadata=status_details(error))
            raise AssertionError("abort() raises") from error

    return wrapper


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    def __init__(
        self,
        *,
        templates: TemplateRegistry,
        runner: WorkflowRunner,
        appeals: AppealDesk,
        instances: InstanceStore,
        results: ImpactResultStore,
        audit: AuditLog,
    ) -> None:
        self._templates = templates
        self._runner = runner
        self._appeals = appeals
        self._instances = instances
        self._results = results
        self._audit = audit

    @_maps_errors
    async def ListTemplates(
        self, request: orchestrator_pb2.ListTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListTemplatesResponse:
        return orchestrator_pb2.ListTemplatesResponse(
            templates=[messages.template_message(template) for template in self._templates]
        )

    @_maps_errors
    async def ExecuteWorkflow(
        self, request: orchestrator_pb2.ExecuteWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ExecuteWorkflowResponse:
        inputs = _parse_json("inputs_json", request.inputs_json or "{}")
        instance = await self._runner.execute(request.template_id, inputs)
        return orchestrator_pb2.ExecuteWorkflowResponse(instance=messages.instance_message(instance))

    @_maps_errors
    async def GetWorkflow(
        self, request: orchestrator_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetWorkflowResponse:
        instance = await self._instance(request.instance_id)
        return orchestrator_pb2.GetWorkflowResponse(instance=messages.instance_message(instance))

    @_maps_errors
    async def GetAuditTrail(
        self, request: orchestrator_pb2.GetAuditTrailRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetAuditTrailResponse:
        instance = await self._instance(request.instance_id)
        return orchestrator_pb2.GetAuditTrailResponse(entries=await self._audit.entries(instance.instance_id))

    @_maps_errors
    async def SubmitAppeal(
        self, request: orchestrator_pb2.SubmitAppealRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.SubmitAppealResponse:
        original_id = _parse_uuid("original_instance_id", request.original_instance_id)
        evidence = _parse_json("evidence_json", request.evidence_json)
        return messages.appeal_message(await self._appeals.submit(original_id, evidence))

    @_maps_errors
    async def GetImpactReport(
        self, request: orchestrator_pb2.GetImpactReportRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetImpactReportResponse:
        report = _report_of(await self._instance(request.instance_id))
        return orchestrator_pb2.GetImpactReportResponse(report=messages.report_message(report))

    @_maps_errors
    async def ListImpactResults(
        self, request: orchestrator_pb2.ListImpactResultsRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListImpactResultsResponse:
        instance = await self._instance(request.instance_id)
        total = _report_of(instance)["total"]
        limit = request.limit or DEFAULT_PAGE_SIZE
        if request.offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidRequestError(f"offset must be >= 0 and limit between 1 and {MAX_PAGE_SIZE}")
        rows = await asyncio.to_thread(self._results.page, instance.instance_id, offset=request.offset, limit=limit)
        return orchestrator_pb2.ListImpactResultsResponse(
            results=[messages.result_message(row) for row in rows],
            total=total,
            next_offset=min(request.offset + len(rows), total) if rows else total,
        )

    async def _instance(self, raw_id: str) -> InstanceRecord:
        return await asyncio.to_thread(self._instances.get, _parse_uuid("instance_id", raw_id))


def _report_of(instance: InstanceRecord) -> dict[str, Any]:
    report = instance.outputs.get(REPORT_OUTPUT)
    if instance.status != COMPLETED or not isinstance(report, dict):
        raise ReportNotAvailableError(
            f"instance {instance.instance_id} is a {instance.status} {instance.template_id} run, "
            "not a completed impact analysis"
        )
    return report


def _parse_uuid(field: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidRequestError(f"{field}: '{value}' is not a UUID") from None


def _parse_json(field: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise InvalidRequestError(f"{field}: not valid JSON: {error}") from None
