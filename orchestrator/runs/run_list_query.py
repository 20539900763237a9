"""The run list's request made a query: its filters checked as hostile input, and narrowed to what the caller may read.

Who reads which runs is access.py's READ_RUN, as for one run (GetWorkflow): admin and auditor
read every run, templates no longer loaded included; any other caller the runs of the templates
whose allowed_roles it holds, and a caller who may read none gets an empty list. A template_id
filter naming a template the caller may not read is refused (PERMISSION_DENIED, 403), as reading
one of its runs is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from civicflow.auth.access import Action, authorize, permits
from civicflow.auth.principals import Principal
from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import InvalidInputError, check_integer, check_text
from civicflow.v1 import orchestrator_pb2
from orchestrator.messages import RUN_STATUS_NAMES
from orchestrator.reviews.model import MAX_SUBJECT
from orchestrator.storage.run_list import RunCursor, RunFilter
from orchestrator.templates.registry import TemplateRegistry

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TEMPLATE_ID = 64
MAX_CITIZEN_ID = 200


@dataclass(frozen=True)
class RunListQuery:
    runs: RunFilter
    after: RunCursor | None
    limit: int


def run_list_query(
    request: orchestrator_pb2.ListWorkflowsRequest, principal: Principal, templates: TemplateRegistry
) -> RunListQuery:
    """The query; InvalidInputError naming the field of a bad value, PermissionDeniedError for a template not read."""
    check_text("template_id", request.template_id, max_length=MAX_TEMPLATE_ID)
    check_text("citizen_id", request.citizen_id, max_length=MAX_CITIZEN_ID)
    check_text("actor", request.actor, max_length=MAX_SUBJECT)
    if request.status and request.status not in RUN_STATUS_NAMES:
        raise InvalidInputError([FieldProblem("status", f"unknown run status {request.status}")])
    limit = request.limit or DEFAULT_LIMIT
    check_integer("limit", limit, minimum=1, maximum=MAX_LIMIT)
    runs = RunFilter(
        template_ids=readable_templates(principal, templates, request.template_id),
        status=RUN_STATUS_NAMES.get(request.status),
        citizen_id=request.citizen_id or None,
        actor=request.actor or None,
        created_after=_moment(request, "created_after"),
        created_before=_moment(request, "created_before"),
    )
    after = RunCursor.decode("cursor", request.cursor) if request.cursor else None
    return RunListQuery(runs=runs, after=after, limit=limit)


def readable_templates(principal: Principal, templates: TemplateRegistry, template_id: str) -> frozenset[str] | None:
    """The template ids whose runs the principal may list (narrowed to `template_id` if given); None for all."""
    if template_id:
        roles = templates.roles_of(template_id)
        authorize(principal, Action.READ_RUN, template_roles=roles, what=f"{template_id} runs")
        return frozenset({template_id})
    if permits(principal, Action.READ_RUN):
        return None
    return frozenset(
        template.template_id
        for template in templates
        if permits(principal, Action.READ_RUN, template_roles=template.allowed_roles)
    )


def _moment(request: orchestrator_pb2.ListWorkflowsRequest, field: str) -> datetime | None:
    if not request.HasField(field):
        return None
    stamp: Timestamp = getattr(request, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidInputError([FieldProblem(field, "is not a time between the years 1 and 9999")]) from None
