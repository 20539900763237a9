"""The OrchestratorService RPCs: thin adapters from protobuf to the runner, the appeal desk and the stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from civicflow.auth.access import Action, authorize, authorize_on_run
from civicflow.auth.guards import Guard, caller, guarded
from civicflow.grpc_errors import FieldProblem, maps_errors
from civicflow.input_limits import MAX_INT64, check_integer, check_text, parse_json, parse_uuid, shown
from civicflow.logs import bind_instance_id
from civicflow.v1 import orchestrator_pb2
from orchestrator import messages
from orchestrator.appeals import AppealDesk
from orchestrator.errors import STATUS_CODES, InputValidationError, ReportNotAvailableError, TemplateNotFoundError
from orchestrator.impact.admission import ImpactAdmission
from orchestrator.impact.report import ImpactReport
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.reviews.rpcs import ReviewRpcs
from orchestrator.reviews.service import ReviewService
from orchestrator.runs import idempotency
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.cancellation import RunCanceller
from orchestrator.runs.replica import Replica
from orchestrator.runs.retries import RetryDesk
from orchestrator.runs.run_list_query import run_list_query
from orchestrator.schemes.rpcs import SchemeRpcs
from orchestrator.schemes.service import SchemeService
from orchestrator.storage.instance_records import COMPLETED, InstanceRecord
from orchestrator.storage.run_list import RunList
from orchestrator.templates.registry import TemplateRegistry

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_TEMPLATE_ID_LENGTH = 64
_EXECUTION_MODES = frozenset(orchestrator_pb2.ExecutionMode.values())
REPORT_OUTPUT = "impact_report"


@maps_errors(STATUS_CODES)
@guarded
class OrchestratorServicer(SchemeRpcs, ReviewRpcs):
    """Every RPC is admitted by a bearer token; what the token's roles allow is decided by access.authorize.

    The scheme RPCs are SchemeRpcs's (orchestrator/schemes/rpcs.py), the review RPCs ReviewRpcs's
    (orchestrator/reviews/rpcs.py).
    """

    def __init__(
        self,
        *,
        guard: Guard,
        templates: TemplateRegistry,
        replica: Replica,
        admission: ImpactAdmission,
        appeals: AppealDesk,
        results: ImpactResultStore,
        audit: AuditClient,
        schemes: SchemeService,
        reviews: ReviewService,
        run_list: RunList,
        canceller: RunCanceller,
        retries: RetryDesk,
    ) -> None:
        self.guard = guard
        self.schemes = schemes
        self.reviews = reviews
        self._templates = templates
        self._replica = replica
        self._admission = admission
        self._appeals = appeals
        self._results = results
        self._audit = audit
        self._run_list = run_list
        self._canceller = canceller
        self._retries = retries

    async def ListTemplates(
        self, request: orchestrator_pb2.ListTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListTemplatesResponse:
        authorize(caller(), Action.LIST_TEMPLATES)
        return orchestrator_pb2.ListTemplatesResponse(
            templates=[messages.template_message(template) for template in self._templates]
        )

    async def GetTemplate(
        self, request: orchestrator_pb2.GetTemplateRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetTemplateResponse:
        authorize(caller(), Action.LIST_TEMPLATES)
        check_text("template_id", request.template_id, max_length=MAX_TEMPLATE_ID_LENGTH)
        versions = await asyncio.to_thread(self._templates.versions, request.template_id)
        if not versions:
            raise TemplateNotFoundError(f"no template {shown(request.template_id)}")
        return orchestrator_pb2.GetTemplateResponse(
            template_id=request.template_id, versions=[messages.template_version_message(entry) for entry in versions]
        )

    async def ReloadTemplates(
        self, request: orchestrator_pb2.ReloadTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ReloadTemplatesResponse:
        """This replica's directory read now; the others read theirs at their next watch (or their own reload)."""
        authorize(caller(), Action.RELOAD_TEMPLATES)
        outcome = await asyncio.to_thread(self._templates.reload, every_problem=True)
        return orchestrator_pb2.ReloadTemplatesResponse(
            loaded=[messages.template_version_message(entry) for entry in outcome.loaded],
            problems=[messages.template_problem_message(problem) for problem in outcome.problems],
        )

    async def ExecuteWorkflow(
        self, request: orchestrator_pb2.ExecuteWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ExecuteWorkflowResponse:
        principal = caller()
        check_text("template_id", request.template_id, max_length=MAX_TEMPLATE_ID_LENGTH)
        if request.mode not in _EXECUTION_MODES:
            raise InputValidationError([FieldProblem("mode", f"unknown execution mode {request.mode}")])
        template = self._templates.get(request.template_id)
        authorize(principal, Action.RUN_WORKFLOW, template_roles=template.allowed_roles, what=template.template_id)
        inputs = parse_json("inputs_json", request.inputs_json or "{}")
        self._admission.authorize_population(principal, template, inputs)
        instance = await self._replica.execute(
            template,
            inputs,
            wait=request.mode != orchestrator_pb2.EXECUTION_MODE_ASYNC,
            idempotency_key=idempotency.checked_key(request.idempotency_key),
            actor=principal.subject,
        )
        return orchestrator_pb2.ExecuteWorkflowResponse(instance=messages.instance_message(instance))

    async def GetWorkflow(
        self, request: orchestrator_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetWorkflowResponse:
        instance = await self._instance(request.instance_id)
        return orchestrator_pb2.GetWorkflowResponse(instance=messages.instance_message(instance))

    async def WatchWorkflow(
        self, request: orchestrator_pb2.WatchWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[orchestrator_pb2.WatchWorkflowResponse]:
        first = await self._instance(request.instance_id)
        async for instance in self._replica.watch(first.instance_id):
            yield orchestrator_pb2.WatchWorkflowResponse(instance=messages.instance_message(instance))

    async def GetAuditTrail(
        self, request: orchestrator_pb2.GetAuditTrailRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetAuditTrailResponse:
        instance = await self._instance(request.instance_id)
        return orchestrator_pb2.GetAuditTrailResponse(entries=await self._audit.entries(instance.instance_id))

    async def SubmitAppeal(
        self, request: orchestrator_pb2.SubmitAppealRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.SubmitAppealResponse:
        original_id = parse_uuid("original_instance_id", request.original_instance_id)
        new_data = parse_json("new_data_json", request.new_data_json)
        key = idempotency.checked_key(request.idempotency_key)
        result = await self._appeals.submit(original_id, new_data, idempotency_key=key, principal=caller())
        return messages.appeal_message(result)

    async def GetImpactReport(
        self, request: orchestrator_pb2.GetImpactReportRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetImpactReportResponse:
        report = _report_of(await self._instance(request.instance_id))
        return orchestrator_pb2.GetImpactReportResponse(report=report.to_proto())

    async def ListImpactResults(
        self, request: orchestrator_pb2.ListImpactResultsRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListImpactResultsResponse:
        check_integer("offset", request.offset, minimum=0, maximum=MAX_INT64)
        limit = request.limit or DEFAULT_PAGE_SIZE
        check_integer("limit", limit, minimum=1, maximum=MAX_PAGE_SIZE)
        instance = await self._instance(request.instance_id)
        total = _report_of(instance).total
        rows = await asyncio.to_thread(self._results.page, instance.instance_id, offset=request.offset, limit=limit)
        return orchestrator_pb2.ListImpactResultsResponse(
            results=[messages.result_message(row) for row in rows],
            total=total,
            # Offsets are positions (keyset): a failed citizen leaves a gap, so the next page starts after the last row.
            # Past the end it stays where the caller asked: a next page never points backwards.
            next_offset=rows[-1].position
            if len(rows) == limit and rows[-1].position < total
            else max(request.offset, total),
        )

    async def ListWorkflows(
        self, request: orchestrator_pb2.ListWorkflowsRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListWorkflowsResponse:
        query = run_list_query(request, caller(), self._templates)
        page = await asyncio.to_thread(self._run_list.page, query.runs, after=query.after, limit=query.limit)
        return messages.run_page_message(page)

    async def CancelWorkflow(
        self, request: orchestrator_pb2.CancelWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.CancelWorkflowResponse:
        principal = caller()
        instance = await self._replica.current(parse_uuid("instance_id", request.instance_id))
        what = f"run {instance.instance_id}, which another subject started"
        authorize_on_run(principal, Action.CANCEL_RUN, started_by=instance.actor, what=what)
        cancelled = await self._canceller.cancel(instance.instance_id, actor=principal.subject)
        self._replica.cancelled(cancelled)
        return orchestrator_pb2.CancelWorkflowResponse(instance=messages.instance_message(cancelled))

    async def RetryWorkflow(
        self, request: orchestrator_pb2.RetryWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.RetryWorkflowResponse:
        principal = caller()
        old = await self._replica.current(parse_uuid("instance_id", request.instance_id))
        roles = self._templates.roles_of(old.template_id)
        authorize(principal, Action.RETRY_RUN, template_roles=roles, what=f"{old.template_id} runs")
        try:
            # In a worker thread: a version this replica never loaded is read from the database.
            template = await asyncio.to_thread(self._templates.version, old.template_id, old.template_version)
        except TemplateNotFoundError:
            pass  # the desk refuses it, saying so
        else:
            self._admission.authorize_population(principal, template, old.inputs)
        retry = await self._retries.retry(old, actor=principal.subject)
        return orchestrator_pb2.RetryWorkflowResponse(instance=messages.instance_message(retry))

    async def _instance(self, raw_id: str) -> InstanceRecord:
        """The instance, if the caller may read runs of its template; NOT_FOUND or PERMISSION_DENIED otherwise."""
        instance = await self._replica.current(parse_uuid("instance_id", raw_id))
        bind_instance_id(instance.instance_id)  # the rest of this RPC's log lines name the run
        roles = self._templates.roles_of(instance.template_id)
        authorize(caller(), Action.READ_RUN, template_roles=roles, what=f"{instance.template_id} runs")
        return instance


def _report_of(instance: InstanceRecord) -> ImpactReport:
    report = instance.outputs.get(REPORT_OUTPUT)
    if instance.status != COMPLETED or not isinstance(report, dict):
        raise ReportNotAvailableError(
            f"instance {instance.instance_id} is a {instance.status} {instance.template_id} run, "
            "not a completed impact analysis"
        )
    return ImpactReport.from_document(report)
