"""Builds the API's protobuf messages from the orchestrator's records."""

from __future__ import annotations

import json

from civicflow.decisions import DECISION_VALUES, as_decision
from civicflow.timestamps import to_timestamp
from civicflow.v1 import evaluator_pb2, orchestrator_pb2
from orchestrator.appeals import AppealResult
from orchestrator.impact.results_store import ResultRow
from orchestrator.storage.instance_records import InstanceRecord
from orchestrator.storage.run_list import RunPage
from orchestrator.templates.problems import TemplateProblem
from orchestrator.templates.registry import LoadedTemplate, TemplateVersionEntry

_RUN_STATUS = {
    "running": orchestrator_pb2.RUN_STATUS_RUNNING,
    "completed": orchestrator_pb2.RUN_STATUS_COMPLETED,
    "failed": orchestrator_pb2.RUN_STATUS_FAILED,
    "queued": orchestrator_pb2.RUN_STATUS_QUEUED,
    "waiting": orchestrator_pb2.RUN_STATUS_WAITING,
    "cancelled": orchestrator_pb2.RUN_STATUS_CANCELLED,
}
# A request's RunStatus (a filter) as the database names it.
RUN_STATUS_NAMES = {value: name for name, value in _RUN_STATUS.items()}
_APPEAL_OUTCOME = {
    "decision_changed": orchestrator_pb2.APPEAL_OUTCOME_DECISION_CHANGED,
    "decision_upheld": orchestrator_pb2.APPEAL_OUTCOME_DECISION_UPHELD,
    "run_failed": orchestrator_pb2.APPEAL_OUTCOME_RUN_FAILED,
}


def instance_message(instance: InstanceRecord) -> orchestrator_pb2.WorkflowInstance:
    message = orchestrator_pb2.WorkflowInstance(
        instance_id=str(instance.instance_id),
        template_id=instance.template_id,
        template_version=instance.template_version,
        status=_RUN_STATUS[instance.status],
        inputs_json=json.dumps(instance.inputs),
        outputs_json=json.dumps(instance.outputs),
        error=instance.error or "",
        created_at=to_timestamp(instance.created_at),
        appealed_instance_id=str(instance.appealed_instance_id or ""),
        actor=instance.actor,
        waiting_for_review_task_id=str(instance.waiting_for or ""),
        progress=orchestrator_pb2.RunProgress(
            steps_completed=instance.progress.steps_completed,
            steps_total=instance.progress.steps_total,
            items_done=instance.progress.items_done,
            items_total=instance.progress.items_total,
        ),
    )
    if instance.completed_at is not None:
        message.completed_at.CopyFrom(to_timestamp(instance.completed_at))
    return message


def run_page_message(page: RunPage) -> orchestrator_pb2.ListWorkflowsResponse:
    response = orchestrator_pb2.ListWorkflowsResponse(
        next_cursor=page.next_cursor.encode() if page.next_cursor is not None else ""
    )
    for run in page.items:
        summary = response.items.add(
            instance_id=str(run.instance_id),
            template_id=run.template_id,
            template_version=run.template_version,
            status=_RUN_STATUS[run.status],
            actor=run.actor,
            created_at=to_timestamp(run.created_at),
        )
        if run.completed_at is not None:
            summary.completed_at.CopyFrom(to_timestamp(run.completed_at))
    return response


def template_message(template: LoadedTemplate) -> orchestrator_pb2.TemplateSummary:
    return orchestrator_pb2.TemplateSummary(
        template_id=template.template_id,
        version=template.model.version,
        description=template.model.description,
        input_schema_json=json.dumps(template.model.input_schema),
        step_names=[step.spec.name for step in template.steps],
    )


def template_version_message(entry: TemplateVersionEntry) -> orchestrator_pb2.TemplateVersion:
    summary = template_message(entry.template)
    return orchestrator_pb2.TemplateVersion(
        template_id=summary.template_id,
        version=summary.version,
        description=summary.description,
        input_schema_json=summary.input_schema_json,
        step_names=summary.step_names,
        digest=entry.template.digest,
        source_file=entry.source_file,
        loaded_at=to_timestamp(entry.loaded_at),
        current=entry.current,
    )


def template_problem_message(problem: TemplateProblem) -> orchestrator_pb2.TemplateProblem:
    return orchestrator_pb2.TemplateProblem(file=problem.file, location=problem.location, message=problem.message)


def appeal_message(result: AppealResult) -> orchestrator_pb2.SubmitAppealResponse:
    appeal = result.appeal
    return orchestrator_pb2.SubmitAppealResponse(
        appeal_id=str(appeal.appeal_id),
        original_instance_id=str(appeal.original_instance_id),
        new_instance_id=str(appeal.new_instance_id),
        original_decision=DECISION_VALUES[appeal.original_decision],
        new_decision=DECISION_VALUES.get(appeal.new_decision or "", evaluator_pb2.DECISION_UNSPECIFIED),
        outcome=_APPEAL_OUTCOME[appeal.outcome],
        new_instance=instance_message(result.new_instance),
    )


def result_message(row: ResultRow) -> orchestrator_pb2.CitizenResult:
    return orchestrator_pb2.CitizenResult(
        position=row.position,
        citizen_id=row.citizen_id,
        decision=as_decision(row.decision),
        baseline_decision=as_decision(row.baseline_decision),
    )
