"""Orchestrator errors, and the table that turns them into gRPC status codes (civicflow/grpc_errors.py applies it).

    OrchestratorError
    ├── InvalidRequestError        INVALID_ARGUMENT  (malformed ids, JSON, paging)
    │   └── InputValidationError   INVALID_ARGUMENT  (inputs that break the template's schema)
    ├── TemplateNotFoundError      NOT_FOUND
    ├── InstanceNotFoundError      NOT_FOUND
    ├── SchemeNotFoundError        NOT_FOUND (an unknown scheme, or a version it does not have)
    ├── ReviewNotFoundError        NOT_FOUND
    ├── ReviewConflictError        FAILED_PRECONDITION (a task another subject holds, or decided or cancelled)
    ├── NotAppealableError         FAILED_PRECONDITION
    ├── ReportNotAvailableError    FAILED_PRECONDITION
    ├── SchemeVersionConflictError FAILED_PRECONDITION (publishing a published version, or before the latest date)
    ├── IdempotencyConflictError   ALREADY_EXISTS (a key reused for a different request)
    ├── SubjectQuotaError          RESOURCE_EXHAUSTED, with a RetryInfo (a subject at its allowance of analyses)
    └── DependencyUnavailableError UNAVAILABLE (audit service or database out of reach)
        ├── DatabaseUnavailableError UNAVAILABLE (a lost or refused database connection)
        ├── AuditUnavailableError  UNAVAILABLE (a step could not be audited: its run fails)
        │   └── AuditMismatchError UNAVAILABLE (the entry stored under its key is not the record sent)
        └── RunHandedOverError     UNAVAILABLE (this replica stopped driving the run; another resumes it)

A step that fails is not an error of the request: the run ends `failed` and the
answer says so. StepFailedError carries the reason from the task to the runner; one naming
a `dependency` that could not be reached makes the runner wait for it (runs/outages.py), and
DependencyOutageError says the wait outlasted DEPENDENCY_OUTAGE_SECONDS: the run fails.
LeaseLostError tells a replica that another one now owns a run it was driving.
ConfigurationError (SchemeFileError) stops the orchestrator at start; a template file never does (it is
refused alone, templates/registry.py): TemplateError is for tools and tests that want every file loaded.
Publishing one's own draft is a PermissionDeniedError (four eyes), as every refusal of a role is.
"""

from __future__ import annotations

import uuid

import grpc

from civicflow.auth.guards import REFUSAL_CODES
from civicflow.grpc_errors import FieldProblem, FieldProblems, RetryLater
from orchestrator.templates.step_policy import ErrorKind


class OrchestratorError(Exception):
    """Base of the errors a request can end with."""


class InvalidRequestError(OrchestratorError):
    pass


class InputValidationError(InvalidRequestError, FieldProblems):
    """Carries every problem, so that clients can show each next to its field (google.rpc.BadRequest)."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        FieldProblems.__init__(self, problems)


class TemplateNotFoundError(OrchestratorError):
    pass


class InstanceNotFoundError(OrchestratorError):
    pass


class SchemeNotFoundError(OrchestratorError):
    pass


class SchemeVersionConflictError(OrchestratorError):
    pass


class ReviewNotFoundError(OrchestratorError):
    pass


class ReviewConflictError(OrchestratorError):
    """The review task is held by another subject, or decided or cancelled already."""


class NotAppealableError(OrchestratorError):
    pass


class ReportNotAvailableError(OrchestratorError):
    pass


class IdempotencyConflictError(OrchestratorError):
    pass


class SubjectQuotaError(OrchestratorError, RetryLater):
    """The subject already has its allowance of queued or running impact analyses; nothing was created."""

    def __init__(self, message: str, *, retry_after_seconds: float) -> None:
        OrchestratorError.__init__(self, message)
        self.retry_after_seconds = retry_after_seconds


class DependencyUnavailableError(OrchestratorError):
    """`dependency` names what could not be reached when that is an outage to wait out (runs/outages.py)."""

    def __init__(self, message: str, *, dependency: str | None = None) -> None:
        super().__init__(message)
        self.dependency = dependency


class DatabaseUnavailableError(DependencyUnavailableError):
    """The database could not be reached: a step waits for it (runs/outages.py), a request answers UNAVAILABLE."""

    def __init__(self, message: str) -> None:
        super().__init__(message, dependency="database")


class AuditUnavailableError(DependencyUnavailableError):
    pass


class AuditMismatchError(AuditUnavailableError):
    """The audit service answered an entry that is not the record sent (another writer took its key): the run fails."""


class RunHandedOverError(DependencyUnavailableError):
    """The run goes on, but not here: this replica is shutting down or lost the run's lease."""


class StepFailedError(Exception):
    """A step could not produce its output; the message is recorded in the audit trail.

    `kind` says why, when the task knows (an evaluator out of reach is `unavailable`, worth a retry);
    without it the runner looks at the error's cause, and otherwise counts it as `failed`.

    `dependency` names a service the task could not reach (its call answered UNAVAILABLE): the
    runner then waits for it and runs the attempt again, spending no attempt of the step's policy.
    """

    def __init__(self, message: str, *, kind: ErrorKind | None = None, dependency: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.dependency = dependency


class DependencyOutageError(StepFailedError):
    """A dependency stayed out of reach longer than the outage limit: the step, and its run, fail saying which."""

    def __init__(self, dependency: str, *, limit_seconds: float) -> None:
        super().__init__(
            f"the {dependency} could not be reached for {limit_seconds:g} s (DEPENDENCY_OUTAGE_SECONDS)",
            kind=ErrorKind.UNAVAILABLE,
        )
        self.outlasted = dependency


class AwaitingReview(Exception):  # noqa: N818 (not an error: the run waits for a person)
    """Raised by a human_review step whose task is not decided yet: the run parks until it is."""

    def __init__(self, review_task_id: uuid.UUID) -> None:
        super().__init__(f"waiting for review task {review_task_id}")
        self.review_task_id = review_task_id


class LeaseLostError(Exception):
    """Another replica owns the run now (this one's lease expired): stop driving it, write nothing more."""


class ConfigurationError(Exception):
    """A file the orchestrator needs at start is wrong; it refuses to start rather than guess."""


class TemplateError(ConfigurationError):
    """A template file that cannot be loaded; names the file and the problem."""


class SchemeFileError(ConfigurationError):
    """A seed file of schemes/ that cannot be loaded; names the file and the problem."""


STATUS_CODES: dict[type[Exception], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    TemplateNotFoundError: grpc.StatusCode.NOT_FOUND,
    InstanceNotFoundError: grpc.StatusCode.NOT_FOUND,
    SchemeNotFoundError: grpc.StatusCode.NOT_FOUND,
    SchemeVersionConflictError: grpc.StatusCode.FAILED_PRECONDITION,
    ReviewNotFoundError: grpc.StatusCode.NOT_FOUND,
    ReviewConflictError: grpc.StatusCode.FAILED_PRECONDITION,
    NotAppealableError: grpc.StatusCode.FAILED_PRECONDITION,
    ReportNotAvailableError: grpc.StatusCode.FAILED_PRECONDITION,
    IdempotencyConflictError: grpc.StatusCode.ALREADY_EXISTS,
    SubjectQuotaError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DependencyUnavailableError: grpc.StatusCode.UNAVAILABLE,
    # A caller without a valid credential, or one whose roles or identity do not allow the call.
    **REFUSAL_CODES,
}
