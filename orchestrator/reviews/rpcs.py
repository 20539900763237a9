"""The review RPCs of OrchestratorService: thin adapters from protobuf to ReviewService.

Who may do what is decided by the service (permissions.authorize_review), the same for every entry point.
OrchestratorServicer inherits them; the server registers the one service.
"""

from __future__ import annotations

import grpc

from civicflow.auth.guards import Guard, caller, guarded
from civicflow.grpc_errors import FieldProblem, maps_errors
from civicflow.input_limits import MAX_INT64, check_integer, check_text, parse_uuid
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.errors import STATUS_CODES, InputValidationError
from orchestrator.reviews.model import MAX_SUBJECT, STATUS_NAMES
from orchestrator.reviews.service import ReviewService

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_SCHEME_NAME = 64


@maps_errors(STATUS_CODES)
@guarded
class ReviewRpcs(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    guard: Guard
    reviews: ReviewService

    async def ListReviews(
        self, request: orchestrator_pb2.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListReviewsResponse:
        if request.status and request.status not in STATUS_NAMES:
            raise InputValidationError([FieldProblem("status", f"unknown review status {request.status}")])
        check_text("assignee", request.assignee, max_length=MAX_SUBJECT)
        check_text("scheme_name", request.scheme_name, max_length=MAX_SCHEME_NAME)
        check_integer("offset", request.offset, minimum=0, maximum=MAX_INT64)
        limit = request.limit or DEFAULT_PAGE_SIZE
        check_integer("limit", limit, minimum=1, maximum=MAX_PAGE_SIZE)
        tasks, next_offset = await self.reviews.page(
            caller(),
            status=STATUS_NAMES.get(request.status),
            assignee=request.assignee or None,
            scheme_name=request.scheme_name or None,
            offset=request.offset,
            limit=limit,
        )
        response = orchestrator_pb2.ListReviewsResponse(items=[task.to_proto() for task in tasks])
        if next_offset is not None:
            response.next_offset = next_offset
        return response

    async def GetReview(
        self, request: orchestrator_pb2.GetReviewRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetReviewResponse:
        task = await self.reviews.get(caller(), parse_uuid("review_task_id", request.review_task_id))
        return orchestrator_pb2.GetReviewResponse(task=task.to_proto())

    async def ClaimReview(
        self, request: orchestrator_pb2.ClaimReviewRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ClaimReviewResponse:
        task = await self.reviews.claim(caller(), parse_uuid("review_task_id", request.review_task_id))
        return orchestrator_pb2.ClaimReviewResponse(task=task.to_proto())

    async def UnclaimReview(
        self, request: orchestrator_pb2.UnclaimReviewRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.UnclaimReviewResponse:
        task = await self.reviews.unclaim(caller(), parse_uuid("review_task_id", request.review_task_id))
        return orchestrator_pb2.UnclaimReviewResponse(task=task.to_proto())

    async def ReassignReview(
        self, request: orchestrator_pb2.ReassignReviewRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ReassignReviewResponse:
        task = await self.reviews.reassign(
            caller(), parse_uuid("review_task_id", request.review_task_id), request.assignee
        )
        return orchestrator_pb2.ReassignReviewResponse(task=task.to_proto())

    async def DecideReview(
        self, request: orchestrator_pb2.DecideReviewRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.DecideReviewResponse:
        task = await self.reviews.decide(
            caller(),
            parse_uuid("review_task_id", request.review_task_id),
            decision=request.decision,
            justification=request.justification,
        )
        return orchestrator_pb2.DecideReviewResponse(task=task.to_proto())
