"""Pydantic models of the REST contract: request bodies are validated here, responses documented at /docs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from civicflow.decisions import DecisionName

RunStatusName = Literal["queued", "running", "waiting", "completed", "failed", "cancelled"]
StepStatusName = Literal["success", "failed"]
AppealOutcomeName = Literal["decision_changed", "decision_upheld", "run_failed"]
# As the orchestrator's templates name themselves (pydantic's patterns match `$` at the very end only).
TEMPLATE_ID_PATTERN = r"^[a-z][a-z0-9_]*$"


class RequestBody(BaseModel):
    # A misspelt field is a client's mistake to report, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


class ExecuteWorkflowBody(RequestBody):
    template_id: str = Field(
        description="Which template to run; see GET /templates.",
        examples=["eligibility_check"],
        min_length=1,
        max_length=64,
        pattern=TEMPLATE_ID_PATTERN,
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Inputs validated against the template's input_schema.",
        examples=[{"citizen_id": "CIT-000042", "scheme_name": "scheme_alpha"}],
    )
    mode: Literal["sync", "async"] = Field(
        default="sync",
        description="sync: answer when the run has ended (200). async: answer at once (202) while the run goes on; "
        "follow it with GET /workflows/{id} or GET /workflows/{id}/events.",
    )


class AppealBody(RequestBody):
    original_instance_id: uuid.UUID = Field(description="A completed eligibility_check or appeal_processing instance.")
    new_data: dict[str, Any] = Field(
        description="Corrected data overriding the registry's (mock) data: any of age (0..130), income (>= 0), "
        "category (general, sc, st, obc).",
        examples=[{"age": 30, "income": 90000}],
    )


class WaitingFor(BaseModel):
    review_task_id: str = Field(description="The review task the run waits for: GET /reviews/{review_task_id}.")


class _ShowsWaitingFor(BaseModel):
    """A run that names what it waits for while it waits, and leaves the key out otherwise."""

    waiting_for: WaitingFor | None = Field(
        default=None, description="While the run is waiting: the review task it waits for. Absent otherwise."
    )

    @model_serializer(mode="wrap")
    def _waiting_for_only_while_waiting(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        shown: dict[str, Any] = handler(self)
        if shown.get("waiting_for") is None:
            shown.pop("waiting_for", None)
        return shown


class ExecuteWorkflowResult(_ShowsWaitingFor):
    instance_id: str
    template_id: str
    status: RunStatusName = Field(
        description="How the run ended, completed or failed; or waiting, when it waits for a person's review."
    )
    outputs: dict[str, Any] = Field(description="What its steps produced; so far, while it waits.")
    error: str | None = Field(description="Why the run failed; null when it completed.")


class ExecuteWorkflowAccepted(_ShowsWaitingFor):
    instance_id: str
    status: RunStatusName = Field(
        description="running; queued for an impact analysis waiting for a free slot; or, if a repeated request "
        "finds it so already, how the run ended or waiting for a person's review."
    )


class RunProgress(BaseModel):
    steps_completed: int
    steps_total: int
    items_done: int = Field(description="Items (citizens) the step that fans out has finished; 0 before it starts.")
    items_total: int


class WorkflowInstance(_ShowsWaitingFor):
    instance_id: str
    template_id: str
    template_version: str
    status: RunStatusName
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    created_at: datetime | None
    completed_at: datetime | None = Field(description="Null while the run has not ended.")
    appealed_instance_id: str | None = Field(description="The instance this one appeals, if it is an appeal.")
    actor: str = Field(description="Who started the run: the subject of the bearer token it was started with.")
    progress: RunProgress


class WorkflowSummary(BaseModel):
    instance_id: str
    template_id: str
    template_version: str
    status: RunStatusName
    actor: str = Field(description="Who started the run.")
    created_at: datetime
    completed_at: datetime | None = Field(description="Null while the run has not ended.")


class WorkflowPage(BaseModel):
    items: list[WorkflowSummary] = Field(description="Newest first (by created_at, then instance_id).")
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page, with the same filters; null on the last page."
    )


class AuditEntry(BaseModel):
    seq: int = Field(description="Position in the global append-only log, from 0: the entry's Merkle leaf index.")
    instance_id: str
    step_name: str
    step_index: int
    attempt: int
    status: StepStatusName
    started_at: datetime | None
    completed_at: datetime | None
    input: Any = Field(description="What the step consumed.")
    output: Any = Field(description="What the step produced.")
    error: str | None
    actor: str
    recorded_at: datetime | None
    leaf_hash: str = Field(
        description="SHA-256 leaf hash (hex); GET /audit/entries/{seq}/proof proves it is in the log."
    )


class AppealResult(BaseModel):
    appeal_id: str
    original_instance_id: str
    new_instance_id: str
    original_decision: DecisionName | None
    new_decision: DecisionName | None = Field(description="Null when the appeal's run failed.")
    outcome: AppealOutcomeName
    status: RunStatusName = Field(description="Status of the new instance.")
    error: str | None = Field(description="Error of the new instance, if its run failed.")


class DecisionCounts(BaseModel):
    eligible: int
    not_eligible: int
    needs_review: int


class DecisionTransition(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_decision: DecisionName = Field(alias="from")
    to_decision: DecisionName = Field(alias="to")
    count: int


class CategoryImpact(BaseModel):
    total: int
    eligible: int = Field(description="Under the proposed rules, as are not_eligible and needs_review.")
    not_eligible: int
    needs_review: int
    baseline: DecisionCounts


class ItemFailure(BaseModel):
    position: int
    citizen_id: str
    error: str


class ImpactReport(BaseModel):
    instance_id: str
    scheme_name: str
    baseline_version: int | None = Field(description="The scheme version decisions are compared with.")
    proposed_version: int | None = Field(
        description="The version proposed; null when the proposal is proposed_rules overriding the baseline's."
    )
    baseline_rule_hash: str | None = Field(description="SHA-256 of the baseline document's RFC 8785 JSON.")
    proposed_rule_hash: str | None = Field(description="SHA-256 of the proposed document's RFC 8785 JSON.")
    total: int
    eligible: int = Field(description="Under the proposed rules, as are not_eligible and needs_review.")
    not_eligible: int
    needs_review: int
    baseline: DecisionCounts = Field(description="Counts under the scheme's current rules.")
    by_category: dict[str, CategoryImpact] = Field(
        description="The same counts for the citizens of each category: general, obc, sc and st."
    )
    transitions: list[DecisionTransition] = Field(description="Every (from, to) pair, unchanged ones included.")
    current_rules: dict[str, Any] = Field(description="The parameters of the baseline document.")
    proposed_rules: dict[str, Any] = Field(description="The parameters of the proposed document.")
    results_digest: str = Field(description="SHA-256 (hex) over the per-citizen results.")
    failed: int = Field(description="Citizens whose evaluation failed for good; in no count above and no result row.")
    failures: list[ItemFailure] = Field(description="The failed citizens in population order (the first 1,000).")


class CitizenResult(BaseModel):
    position: int = Field(description="Position in the analysed population, from 1.")
    citizen_id: str
    decision: DecisionName = Field(description="Under the proposed rules.")
    baseline_decision: DecisionName = Field(description="Under the current rules.")


class ImpactResultsPage(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int = Field(
        description="Offset of the next page; on the last page total, or offset when that is past the end: "
        "never smaller than offset, and the last page when it is >= total."
    )
    results: list[CitizenResult]


class TemplateSummary(BaseModel):
    template_id: str
    version: str
    description: str
    input_schema: dict[str, Any] = Field(description="JSON Schema the inputs must satisfy.")
    steps: list[str]


class ApiIndex(BaseModel):
    name: str
    version: str
    links: dict[str, str] = Field(
        description="Where to go next: docs, openapi, health (no token), workflows, templates, reviews (a token)."
    )


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    services: dict[str, str] = Field(examples=[{"gateway": "SERVING", "orchestrator": "SERVING"}])


class ErrorProblem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(
        description="The gRPC status name (INVALID_ARGUMENT for every refused value), or the HTTP reason."
    )
    message: str
    details: list[ErrorProblem] = Field(default_factory=list)
    error_id: str | None = Field(
        default=None, description="Only on a 500: the id of the log line that says what went wrong."
    )


class ErrorResponse(BaseModel):
    error: ErrorBody
