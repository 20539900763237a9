import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from civicflow.v1 import audit_pb2 as _audit_pb2
from civicflow.v1 import evaluator_pb2 as _evaluator_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_COMPLETED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_QUEUED: _ClassVar[RunStatus]
    RUN_STATUS_WAITING: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]

class ExecutionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_MODE_UNSPECIFIED: _ClassVar[ExecutionMode]
    EXECUTION_MODE_SYNC: _ClassVar[ExecutionMode]
    EXECUTION_MODE_ASYNC: _ClassVar[ExecutionMode]

class AppealOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPEAL_OUTCOME_UNSPECIFIED: _ClassVar[AppealOutcome]
    APPEAL_OUTCOME_DECISION_CHANGED: _ClassVar[AppealOutcome]
    APPEAL_OUTCOME_DECISION_UPHELD: _ClassVar[AppealOutcome]
    APPEAL_OUTCOME_RUN_FAILED: _ClassVar[AppealOutcome]

class SchemeVersionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEME_VERSION_STATUS_UNSPECIFIED: _ClassVar[SchemeVersionStatus]
    SCHEME_VERSION_STATUS_DRAFT: _ClassVar[SchemeVersionStatus]
    SCHEME_VERSION_STATUS_PUBLISHED: _ClassVar[SchemeVersionStatus]

class ReviewStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATUS_UNSPECIFIED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_OPEN: _ClassVar[ReviewStatus]
    REVIEW_STATUS_CLAIMED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_DECIDED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_CANCELLED: _ClassVar[ReviewStatus]
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_COMPLETED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_QUEUED: RunStatus
RUN_STATUS_WAITING: RunStatus
RUN_STATUS_CANCELLED: RunStatus
EXECUTION_MODE_UNSPECIFIED: ExecutionMode
EXECUTION_MODE_SYNC: ExecutionMode
EXECUTION_MODE_ASYNC: ExecutionMode
APPEAL_OUTCOME_UNSPECIFIED: AppealOutcome
APPEAL_OUTCOME_DECISION_CHANGED: AppealOutcome
APPEAL_OUTCOME_DECISION_UPHELD: AppealOutcome
APPEAL_OUTCOME_RUN_FAILED: AppealOutcome
SCHEME_VERSION_STATUS_UNSPECIFIED: SchemeVersionStatus
SCHEME_VERSION_STATUS_DRAFT: SchemeVersionStatus
SCHEME_VERSION_STATUS_PUBLISHED: SchemeVersionStatus
REVIEW_STATUS_UNSPECIFIED: ReviewStatus
REVIEW_STATUS_OPEN: ReviewStatus
REVIEW_STATUS_CLAIMED: ReviewStatus
REVIEW_STATUS_DECIDED: ReviewStatus
REVIEW_STATUS_CANCELLED: ReviewStatus

class WorkflowInstance(_message.Message):
    __slots__ = ("instance_id", "template_id", "template_version", "status", "inputs_json", "outputs_json", "error", "created_at", "completed_at", "appealed_instance_id", "progress", "actor", "waiting_for_review_task_id", "retry_of", "retried_by")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    APPEALED_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    WAITING_FOR_REVIEW_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    RETRY_OF_FIELD_NUMBER: _ClassVar[int]
    RETRIED_BY_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    template_id: str
    template_version: str
    status: RunStatus
    inputs_json: str
    outputs_json: str
    error: str
    created_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    appealed_instance_id: str
    progress: RunProgress
    actor: str
    waiting_for_review_task_id: str
    retry_of: str
    retried_by: str
    def __init__(self, instance_id: _Optional[str] = ..., template_id: _Optional[str] = ..., template_version: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., inputs_json: _Optional[str] = ..., outputs_json: _Optional[str] = ..., error: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., appealed_instance_id: _Optional[str] = ..., progress: _Optional[_Union[RunProgress, _Mapping]] = ..., actor: _Optional[str] = ..., waiting_for_review_task_id: _Optional[str] = ..., retry_of: _Optional[str] = ..., retried_by: _Optional[str] = ...) -> None: ...

class RunProgress(_message.Message):
    __slots__ = ("steps_completed", "steps_total", "items_done", "items_total")
    STEPS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    STEPS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_DONE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    steps_completed: int
    steps_total: int
    items_done: int
    items_total: int
    def __init__(self, steps_completed: _Optional[int] = ..., steps_total: _Optional[int] = ..., items_done: _Optional[int] = ..., items_total: _Optional[int] = ...) -> None: ...

class TemplateSummary(_message.Message):
    __slots__ = ("template_id", "version", "description", "input_schema_json", "step_names")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    STEP_NAMES_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    version: str
    description: str
    input_schema_json: str
    step_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, template_id: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., input_schema_json: _Optional[str] = ..., step_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[TemplateSummary]
    def __init__(self, templates: _Optional[_Iterable[_Union[TemplateSummary, _Mapping]]] = ...) -> None: ...

class ExecuteWorkflowRequest(_message.Message):
    __slots__ = ("template_id", "inputs_json", "mode", "idempotency_key")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    inputs_json: str
    mode: ExecutionMode
    idempotency_key: str
    def __init__(self, template_id: _Optional[str] = ..., inputs_json: _Optional[str] = ..., mode: _Optional[_Union[ExecutionMode, str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ExecuteWorkflowResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: WorkflowInstance
    def __init__(self, instance: _Optional[_Union[WorkflowInstance, _Mapping]] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class GetWorkflowResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: WorkflowInstance
    def __init__(self, instance: _Optional[_Union[WorkflowInstance, _Mapping]] = ...) -> None: ...

class WatchWorkflowRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class WatchWorkflowResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: WorkflowInstance
    def __init__(self, instance: _Optional[_Union[WorkflowInstance, _Mapping]] = ...) -> None: ...

class GetAuditTrailRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class GetAuditTrailResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_audit_pb2.AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[_audit_pb2.AuditEntry, _Mapping]]] = ...) -> None: ...

class SubmitAppealRequest(_message.Message):
    __slots__ = ("original_instance_id", "new_data_json", "idempotency_key")
    ORIGINAL_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    original_instance_id: str
    new_data_json: str
    idempotency_key: str
    def __init__(self, original_instance_id: _Optional[str] = ..., new_data_json: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SubmitAppealResponse(_message.Message):
    __slots__ = ("appeal_id", "original_instance_id", "new_instance_id", "original_decision", "new_decision", "outcome", "new_instance")
    APPEAL_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_DECISION_FIELD_NUMBER: _ClassVar[int]
    NEW_DECISION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NEW_INSTANCE_FIELD_NUMBER: _ClassVar[int]
    appeal_id: str
    original_instance_id: str
    new_instance_id: str
    original_decision: _evaluator_pb2.Decision
    new_decision: _evaluator_pb2.Decision
    outcome: AppealOutcome
    new_instance: WorkflowInstance
    def __init__(self, appeal_id: _Optional[str] = ..., original_instance_id: _Optional[str] = ..., new_instance_id: _Optional[str] = ..., original_decision: _Optional[_Union[_evaluator_pb2.Decision, str]] = ..., new_decision: _Optional[_Union[_evaluator_pb2.Decision, str]] = ..., outcome: _Optional[_Union[AppealOutcome, str]] = ..., new_instance: _Optional[_Union[WorkflowInstance, _Mapping]] = ...) -> None: ...

class DecisionCounts(_message.Message):
    __slots__ = ("eligible", "not_eligible", "needs_review")
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    NOT_ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    NEEDS_REVIEW_FIELD_NUMBER: _ClassVar[int]
    eligible: int
    not_eligible: int
    needs_review: int
    def __init__(self, eligible: _Optional[int] = ..., not_eligible: _Optional[int] = ..., needs_review: _Optional[int] = ...) -> None: ...

class DecisionTransition(_message.Message):
    __slots__ = ("from_decision", "to_decision", "count")
    FROM_DECISION_FIELD_NUMBER: _ClassVar[int]
    TO_DECISION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    from_decision: _evaluator_pb2.Decision
    to_decision: _evaluator_pb2.Decision
    count: int
    def __init__(self, from_decision: _Optional[_Union[_evaluator_pb2.Decision, str]] = ..., to_decision: _Optional[_Union[_evaluator_pb2.Decision, str]] = ..., count: _Optional[int] = ...) -> None: ...

class ImpactReport(_message.Message):
    __slots__ = ("instance_id", "scheme_name", "total", "proposed", "baseline", "transitions", "results_digest", "failed", "failures", "current_rules_json", "proposed_rules_json", "baseline_version", "proposed_version", "baseline_rule_hash", "proposed_rule_hash", "by_category")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    CURRENT_RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    BASELINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_RULE_HASH_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_RULE_HASH_FIELD_NUMBER: _ClassVar[int]
    BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    scheme_name: str
    total: int
    proposed: DecisionCounts
    baseline: DecisionCounts
    transitions: _containers.RepeatedCompositeFieldContainer[DecisionTransition]
    results_digest: str
    failed: int
    failures: _containers.RepeatedCompositeFieldContainer[ItemFailure]
    current_rules_json: str
    proposed_rules_json: str
    baseline_version: int
    proposed_version: int
    baseline_rule_hash: str
    proposed_rule_hash: str
    by_category: _containers.RepeatedCompositeFieldContainer[CategoryImpact]
    def __init__(self, instance_id: _Optional[str] = ..., scheme_name: _Optional[str] = ..., total: _Optional[int] = ..., proposed: _Optional[_Union[DecisionCounts, _Mapping]] = ..., baseline: _Optional[_Union[DecisionCounts, _Mapping]] = ..., transitions: _Optional[_Iterable[_Union[DecisionTransition, _Mapping]]] = ..., results_digest: _Optional[str] = ..., failed: _Optional[int] = ..., failures: _Optional[_Iterable[_Union[ItemFailure, _Mapping]]] = ..., current_rules_json: _Optional[str] = ..., proposed_rules_json: _Optional[str] = ..., baseline_version: _Optional[int] = ..., proposed_version: _Optional[int] = ..., baseline_rule_hash: _Optional[str] = ..., proposed_rule_hash: _Optional[str] = ..., by_category: _Optional[_Iterable[_Union[CategoryImpact, _Mapping]]] = ...) -> None: ...

class CategoryImpact(_message.Message):
    __slots__ = ("category", "total", "proposed", "baseline")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    category: str
    total: int
    proposed: DecisionCounts
    baseline: DecisionCounts
    def __init__(self, category: _Optional[str] = ..., total: _Optional[int] = ..., proposed: _Optional[_Union[DecisionCounts, _Mapping]] = ..., baseline: _Optional[_Union[DecisionCounts, _Mapping]] = ...) -> None: ...

class ItemFailure(_message.Message):
    __slots__ = ("position", "citizen_id", "error")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    position: int
    citizen_id: str
    error: str
    def __init__(self, position: _Optional[int] = ..., citizen_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class GetImpactReportRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class GetImpactReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: ImpactReport
    def __init__(self, report: _Optional[_Union[ImpactReport, _Mapping]] = ...) -> None: ...

class CitizenResult(_message.Message):
    __slots__ = ("position", "citizen_id", "decision", "baseline_decision")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_DECISION_FIELD_NUMBER: _ClassVar[int]
    position: int
    citizen_id: str
    decision: _evaluator_pb2.Decision
    baseline_decision: _evaluator_pb2.Decision
    def __init__(self, position: _Optional[int] = ..., citizen_id: _Optional[str] = ..., decision: _Optional[_Union[_evaluator_pb2.Decision, str]] = ..., baseline_decision: _Optional[_Union[_evaluator_pb2.Decision, str]] = ...) -> None: ...

class ListImpactResultsRequest(_message.Message):
    __slots__ = ("instance_id", "offset", "limit")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    offset: int
    limit: int
    def __init__(self, instance_id: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListImpactResultsResponse(_message.Message):
    __slots__ = ("results", "total", "next_offset")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CitizenResult]
    total: int
    next_offset: int
    def __init__(self, results: _Optional[_Iterable[_Union[CitizenResult, _Mapping]]] = ..., total: _Optional[int] = ..., next_offset: _Optional[int] = ...) -> None: ...

class SchemeVersion(_message.Message):
    __slots__ = ("scheme_name", "version", "status", "effective_from", "rule_hash", "created_by", "created_at", "published_by", "published_at", "document_json")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    RULE_HASH_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_BY_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    version: int
    status: SchemeVersionStatus
    effective_from: str
    rule_hash: str
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    published_by: str
    published_at: _timestamp_pb2.Timestamp
    document_json: str
    def __init__(self, scheme_name: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[SchemeVersionStatus, str]] = ..., effective_from: _Optional[str] = ..., rule_hash: _Optional[str] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., published_by: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., document_json: _Optional[str] = ...) -> None: ...

class SchemeSummary(_message.Message):
    __slots__ = ("scheme_name", "current_version", "effective_from")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    current_version: int
    effective_from: str
    def __init__(self, scheme_name: _Optional[str] = ..., current_version: _Optional[int] = ..., effective_from: _Optional[str] = ...) -> None: ...

class GetSchemeDocumentSchemaRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSchemeDocumentSchemaResponse(_message.Message):
    __slots__ = ("schema_json",)
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    schema_json: str
    def __init__(self, schema_json: _Optional[str] = ...) -> None: ...

class ListSchemesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSchemesResponse(_message.Message):
    __slots__ = ("schemes",)
    SCHEMES_FIELD_NUMBER: _ClassVar[int]
    schemes: _containers.RepeatedCompositeFieldContainer[SchemeSummary]
    def __init__(self, schemes: _Optional[_Iterable[_Union[SchemeSummary, _Mapping]]] = ...) -> None: ...

class GetSchemeRequest(_message.Message):
    __slots__ = ("scheme_name",)
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    def __init__(self, scheme_name: _Optional[str] = ...) -> None: ...

class GetSchemeResponse(_message.Message):
    __slots__ = ("scheme_name", "versions")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    versions: _containers.RepeatedCompositeFieldContainer[SchemeVersion]
    def __init__(self, scheme_name: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[SchemeVersion, _Mapping]]] = ...) -> None: ...

class GetSchemeVersionRequest(_message.Message):
    __slots__ = ("scheme_name", "version")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    version: int
    def __init__(self, scheme_name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetSchemeVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: SchemeVersion
    def __init__(self, version: _Optional[_Union[SchemeVersion, _Mapping]] = ...) -> None: ...

class CreateSchemeVersionRequest(_message.Message):
    __slots__ = ("scheme_name", "document_json")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    document_json: str
    def __init__(self, scheme_name: _Optional[str] = ..., document_json: _Optional[str] = ...) -> None: ...

class CreateSchemeVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: SchemeVersion
    def __init__(self, version: _Optional[_Union[SchemeVersion, _Mapping]] = ...) -> None: ...

class PublishSchemeVersionRequest(_message.Message):
    __slots__ = ("scheme_name", "version", "effective_from")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    version: int
    effective_from: str
    def __init__(self, scheme_name: _Optional[str] = ..., version: _Optional[int] = ..., effective_from: _Optional[str] = ...) -> None: ...

class PublishSchemeVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: SchemeVersion
    def __init__(self, version: _Optional[_Union[SchemeVersion, _Mapping]] = ...) -> None: ...

class ReviewTask(_message.Message):
    __slots__ = ("review_task_id", "instance_id", "citizen_id", "scheme_name", "scheme_version", "recommendation", "reasons_json", "status", "assignee", "submitted_by", "created_at", "due_at", "overdue", "decided_at", "decision", "justification", "candidate_role", "claim_expires_at")
    REVIEW_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEME_VERSION_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    REASONS_JSON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_ROLE_FIELD_NUMBER: _ClassVar[int]
    CLAIM_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    review_task_id: str
    instance_id: str
    citizen_id: str
    scheme_name: str
    scheme_version: int
    recommendation: str
    reasons_json: str
    status: ReviewStatus
    assignee: str
    submitted_by: str
    created_at: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    overdue: bool
    decided_at: _timestamp_pb2.Timestamp
    decision: str
    justification: str
    candidate_role: str
    claim_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, review_task_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., citizen_id: _Optional[str] = ..., scheme_name: _Optional[str] = ..., scheme_version: _Optional[int] = ..., recommendation: _Optional[str] = ..., reasons_json: _Optional[str] = ..., status: _Optional[_Union[ReviewStatus, str]] = ..., assignee: _Optional[str] = ..., submitted_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overdue: _Optional[bool] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decision: _Optional[str] = ..., justification: _Optional[str] = ..., candidate_role: _Optional[str] = ..., claim_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListReviewsRequest(_message.Message):
    __slots__ = ("status", "assignee", "scheme_name", "offset", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: ReviewStatus
    assignee: str
    scheme_name: str
    offset: int
    limit: int
    def __init__(self, status: _Optional[_Union[ReviewStatus, str]] = ..., assignee: _Optional[str] = ..., scheme_name: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListReviewsResponse(_message.Message):
    __slots__ = ("items", "next_offset")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ReviewTask]
    next_offset: int
    def __init__(self, items: _Optional[_Iterable[_Union[ReviewTask, _Mapping]]] = ..., next_offset: _Optional[int] = ...) -> None: ...

class GetReviewRequest(_message.Message):
    __slots__ = ("review_task_id",)
    REVIEW_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    review_task_id: str
    def __init__(self, review_task_id: _Optional[str] = ...) -> None: ...

class GetReviewResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: ReviewTask
    def __init__(self, task: _Optional[_Union[ReviewTask, _Mapping]] = ...) -> None: ...

class ClaimReviewRequest(_message.Message):
    __slots__ = ("review_task_id",)
    REVIEW_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    review_task_id: str
    def __init__(self, review_task_id: _Optional[str] = ...) -> None: ...

class ClaimReviewResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: ReviewTask
    def __init__(self, task: _Optional[_Union[ReviewTask, _Mapping]] = ...) -> None: ...

class UnclaimReviewRequest(_message.Message):
    __slots__ = ("review_task_id",)
    REVIEW_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    review_task_id: str
    def __init__(self, review_task_id: _Optional[str] = ...) -> None: ...

class UnclaimReviewResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: ReviewTask
    def __init__(self, task: _Optional[_Union[ReviewTask, _Mapping]] = ...) -> None: ...

class ReassignReviewRequest(_message.Message):
    __slots__ = ("review_task_id", "assignee")
    REVIEW_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    review_task_id: str
    assignee: str
    def __init__(self, review_task_id: _Optional[str] = ..., assignee: _Optional[str] = ...) -> None: ...

class ReassignReviewResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: ReviewTask
    def __init__(self, task: _Optional[_Union[ReviewTask, _Mapping]] = ...) -> None: ...

class DecideReviewRequest(_message.Message):
    __slots__ = ("review_task_id", "decision", "justification")
    REVIEW_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    review_task_id: str
    decision: str
    justification: str
    def __init__(self, review_task_id: _Optional[str] = ..., decision: _Optional[str] = ..., justification: _Optional[str] = ...) -> None: ...

class DecideReviewResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: ReviewTask
    def __init__(self, task: _Optional[_Union[ReviewTask, _Mapping]] = ...) -> None: ...

class ListWorkflowsRequest(_message.Message):
    __slots__ = ("template_id", "status", "citizen_id", "actor", "created_after", "created_before", "limit", "cursor")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    status: RunStatus
    citizen_id: str
    actor: str
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    limit: int
    cursor: str
    def __init__(self, template_id: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., citizen_id: _Optional[str] = ..., actor: _Optional[str] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class WorkflowSummary(_message.Message):
    __slots__ = ("instance_id", "template_id", "template_version", "status", "actor", "created_at", "completed_at")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    template_id: str
    template_version: str
    status: RunStatus
    actor: str
    created_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    def __init__(self, instance_id: _Optional[str] = ..., template_id: _Optional[str] = ..., template_version: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., actor: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListWorkflowsResponse(_message.Message):
    __slots__ = ("items", "next_cursor")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[WorkflowSummary]
    next_cursor: str
    def __init__(self, items: _Optional[_Iterable[_Union[WorkflowSummary, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class CancelWorkflowRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class CancelWorkflowResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: WorkflowInstance
    def __init__(self, instance: _Optional[_Union[WorkflowInstance, _Mapping]] = ...) -> None: ...

class RetryWorkflowRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class RetryWorkflowResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: WorkflowInstance
    def __init__(self, instance: _Optional[_Union[WorkflowInstance, _Mapping]] = ...) -> None: ...

class TemplateVersion(_message.Message):
    __slots__ = ("template_id", "version", "description", "input_schema_json", "step_names", "digest", "source_file", "loaded_at", "current")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    STEP_NAMES_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FILE_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    version: str
    description: str
    input_schema_json: str
    step_names: _containers.RepeatedScalarFieldContainer[str]
    digest: str
    source_file: str
    loaded_at: _timestamp_pb2.Timestamp
    current: bool
    def __init__(self, template_id: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., input_schema_json: _Optional[str] = ..., step_names: _Optional[_Iterable[str]] = ..., digest: _Optional[str] = ..., source_file: _Optional[str] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current: _Optional[bool] = ...) -> None: ...

class GetTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class GetTemplateResponse(_message.Message):
    __slots__ = ("template_id", "versions")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    versions: _containers.RepeatedCompositeFieldContainer[TemplateVersion]
    def __init__(self, template_id: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[TemplateVersion, _Mapping]]] = ...) -> None: ...

class TemplateProblem(_message.Message):
    __slots__ = ("file", "location", "message")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    file: str
    location: str
    message: str
    def __init__(self, file: _Optional[str] = ..., location: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ReloadTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadTemplatesResponse(_message.Message):
    __slots__ = ("loaded", "problems")
    LOADED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    loaded: _containers.RepeatedCompositeFieldContainer[TemplateVersion]
    problems: _containers.RepeatedCompositeFieldContainer[TemplateProblem]
    def __init__(self, loaded: _Optional[_Iterable[_Union[TemplateVersion, _Mapping]]] = ..., problems: _Optional[_Iterable[_Union[TemplateProblem, _Mapping]]] = ...) -> None: ...
