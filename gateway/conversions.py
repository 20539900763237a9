"""Translates orchestrator protobuf replies into the REST contract's JSON models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from civicflow.decisions import DECISION_NAMES
from civicflow.v1 import audit_pb2, orchestrator_pb2
from gateway import schemas

RUN_STATUS_NAMES: dict[int, schemas.RunStatusName] = {
    orchestrator_pb2.RUN_STATUS_RUNNING: "running",
    orchestrator_pb2.RUN_STATUS_COMPLETED: "completed",
    orchestrator_pb2.RUN_STATUS_FAILED: "failed",
    orchestrator_pb2.RUN_STATUS_QUEUED: "queued",
    orchestrator_pb2.RUN_STATUS_WAITING: "waiting",
    orchestrator_pb2.RUN_STATUS_CANCELLED: "cancelled",
}
RUN_STATUS_VALUES: dict[schemas.RunStatusName, orchestrator_pb2.RunStatus] = {
    name: cast(orchestrator_pb2.RunStatus, value) for value, name in RUN_STATUS_NAMES.items()
}
STEP_STATUS_NAMES: dict[int, schemas.StepStatusName] = {
    audit_pb2.STEP_STATUS_SUCCESS: "success",
    audit_pb2.STEP_STATUS_FAILED: "failed",
}
APPEAL_OUTCOME_NAMES: dict[int, schemas.AppealOutcomeName] = {
    orchestrator_pb2.APPEAL_OUTCOME_DECISION_CHANGED: "decision_changed",
    orchestrator_pb2.APPEAL_OUTCOME_DECISION_UPHELD: "decision_upheld",
    orchestrator_pb2.APPEAL_OUTCOME_RUN_FAILED: "run_failed",
}


def execute_result(instance: orchestrator_pb2.WorkflowInstance) -> schemas.ExecuteWorkflowResult:
    return schemas.ExecuteWorkflowResult(
        instance_id=instance.instance_id,
        template_id=instance.template_id,
        status=RUN_STATUS_NAMES[instance.status],
        outputs=_parse_json(instance.outputs_json, default={}),
        error=instance.error or None,
        waiting_for=_waiting_for(instance),
    )


def _waiting_for(instance: orchestrator_pb2.WorkflowInstance) -> schemas.WaitingFor | None:
    if instance.status != orchestrator_pb2.RUN_STATUS_WAITING or not instance.waiting_for_review_task_id:
        return None
    return schemas.WaitingFor(review_task_id=instance.waiting_for_review_task_id)


def workflow_instance(instance: orchestrator_pb2.WorkflowInstance) -> schemas.WorkflowInstance:
    return schemas.WorkflowInstance(
        instance_id=instance.instance_id,
        template_id=instance.template_id,
        template_version=instance.template_version,
        status=RUN_STATUS_NAMES[instance.status],
        inputs=_parse_json(instance.inputs_json, default={}),
        outputs=_parse_json(instance.outputs_json, default={}),
        error=instance.error or None,
        created_at=optional_timestamp(instance, "created_at"),
        completed_at=optional_timestamp(instance, "completed_at"),
        appealed_instance_id=instance.appealed_instance_id or None,
        actor=instance.actor,
        progress=schemas.RunProgress(
            steps_completed=instance.progress.steps_completed,
            steps_total=instance.progress.steps_total,
            items_done=instance.progress.items_done,
            items_total=instance.progress.items_total,
        ),
        waiting_for=_waiting_for(instance),
    )


def workflow_page(reply: orchestrator_pb2.ListWorkflowsResponse) -> schemas.WorkflowPage:
    return schemas.WorkflowPage(
        items=[
            schemas.WorkflowSummary(
                instance_id=run.instance_id,
                template_id=run.template_id,
                template_version=run.template_version,
                status=RUN_STATUS_NAMES[run.status],
                actor=run.actor,
                created_at=run.created_at.ToDatetime(tzinfo=UTC),
                completed_at=optional_timestamp(run, "completed_at"),
            )
            for run in reply.items
        ],
        next_cursor=reply.next_cursor or None,
    )


def execute_accepted(instance: orchestrator_pb2.WorkflowInstance) -> schemas.ExecuteWorkflowAccepted:
    return schemas.ExecuteWorkflowAccepted(
        instance_id=instance.instance_id, status=RUN_STATUS_NAMES[instance.status], waiting_for=_waiting_for(instance)
    )


def audit_entry(entry: audit_pb2.AuditEntry) -> schemas.AuditEntry:
    record = entry.record
    return schemas.AuditEntry(
        seq=entry.seq,
        instance_id=record.instance_id,
        step_name=record.step_name,
        step_index=record.step_index,
        attempt=record.attempt,
        status=STEP_STATUS_NAMES[record.status],
        started_at=optional_timestamp(record, "started_at"),
        completed_at=optional_timestamp(record, "completed_at"),
        input=_parse_json(record.input_json, default=None),
        output=_parse_json(record.output_json, default=None),
        error=record.error or None,
        actor=record.actor,
        recorded_at=optional_timestamp(entry, "recorded_at"),
        leaf_hash=entry.leaf_hash.hex(),
    )


def appeal_result(reply: orchestrator_pb2.SubmitAppealResponse) -> schemas.AppealResult:
    return schemas.AppealResult(
        appeal_id=reply.appeal_id,
        original_instance_id=reply.original_instance_id,
        new_instance_id=reply.new_instance_id,
        original_decision=DECISION_NAMES.get(reply.original_decision),
        new_decision=DECISION_NAMES.get(reply.new_decision),
        outcome=APPEAL_OUTCOME_NAMES[reply.outcome],
        status=RUN_STATUS_NAMES[reply.new_instance.status],
        error=reply.new_instance.error or None,
    )


def impact_report(report: orchestrator_pb2.ImpactReport) -> schemas.ImpactReport:
    """The same document the orchestrator stores as `outputs.impact_report` of the instance."""
    return schemas.ImpactReport(
        instance_id=report.instance_id,
        scheme_name=report.scheme_name,
        # proto3 has no null: 0 and "" stand for it (a proposal of overrides, or a report from before versions).
        baseline_version=report.baseline_version or None,
        proposed_version=report.proposed_version or None,
        baseline_rule_hash=report.baseline_rule_hash or None,
        proposed_rule_hash=report.proposed_rule_hash or None,
        total=report.total,
        eligible=report.proposed.eligible,
        not_eligible=report.proposed.not_eligible,
        needs_review=report.proposed.needs_review,
        baseline=_counts(report.baseline),
        by_category={
            impact.category: schemas.CategoryImpact(
                total=impact.total,
                eligible=impact.proposed.eligible,
                not_eligible=impact.proposed.not_eligible,
                needs_review=impact.proposed.needs_review,
                baseline=_counts(impact.baseline),
            )
            for impact in report.by_category
        },
        transitions=[
            schemas.DecisionTransition(
                from_decision=DECISION_NAMES[transition.from_decision],
                to_decision=DECISION_NAMES[transition.to_decision],
                count=transition.count,
            )
            for transition in report.transitions
        ],
        current_rules=_parse_json(report.current_rules_json, default={}),
        proposed_rules=_parse_json(report.proposed_rules_json, default={}),
        results_digest=report.results_digest,
        failed=report.failed,
        failures=[
            schemas.ItemFailure(position=item.position, citizen_id=item.citizen_id, error=item.error)
            for item in report.failures
        ],
    )


def impact_results_page(
    reply: orchestrator_pb2.ListImpactResultsResponse, *, offset: int, limit: int
) -> schemas.ImpactResultsPage:
    return schemas.ImpactResultsPage(
        total=reply.total,
        offset=offset,
        limit=limit,
        next_offset=reply.next_offset,
        results=[
            schemas.CitizenResult(
                position=result.position,
                citizen_id=result.citizen_id,
                decision=DECISION_NAMES[result.decision],
                baseline_decision=DECISION_NAMES[result.baseline_decision],
            )
            for result in reply.results
        ],
    )


def template_summary(template: orchestrator_pb2.TemplateSummary) -> schemas.TemplateSummary:
    return schemas.TemplateSummary(
        template_id=template.template_id,
        version=template.version,
        description=template.description,
        input_schema=_parse_json(template.input_schema_json, default={}),
        steps=list(template.step_names),
    )


def _counts(counts: orchestrator_pb2.DecisionCounts) -> schemas.DecisionCounts:
    return schemas.DecisionCounts(
        eligible=counts.eligible, not_eligible=counts.not_eligible, needs_review=counts.needs_review
    )


def _parse_json(text: str, *, default: Any) -> Any:
    return json.loads(text) if text else default


def optional_timestamp(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    timestamp: Timestamp = getattr(message, field)
    return timestamp.ToDatetime(tzinfo=UTC)
