"""Orchestrator errors, and the table that turns them into gRPC status codes (civicflow/grpc_errors.py applies it).

    OrchestratorError
    ├── InvalidRequestError        INVALID_ARGUMENT  (malformed ids, JSON, paging)
    │   └── InputValidationError   INVALID_ARGUMENT  (inputs that break the template's schema)
    ├── TemplateNotFoundError      NOT_FOUND
    ├── InstanceNotFoundError      NOT_FOUND
    ├── NotAppealableError         FAILED_PRECONDITION
    ├── ReportNotAvailableError    FAILED_PRECONDITION
    ├── IdempotencyConflictError   ALREADY_EXISTS (a key reused for a different request)
    ├── SubjectQuotaError          RESOURCE_EXHAUSTED, with a RetryInfo (a subject at its allowance of analyses)
    └── DependencyUnavailableError UNAVAILABLE (audit service or database out of reach)
        ├── AuditUnavailableError  UNAVAILABLE (a step could not be audited: its run fails)
        │   └── AuditMismatchError UNAVAILABLE (the entry stored under its key is not the record sent)
        └── RunHandedOverError     UNAVAILABLE (this replica stopped driving the run; another resumes it)

A step that fails is not an error of the request: the run ends `failed` and the
answer says so. StepFailedError carries the reason from the task to the runner.
LeaseLostError tells a replica that another one now owns a run it was driving.
ConfigurationError (TemplateError, SchemeFileError) stops the orchestrator at start.
"""

from __future__ import annotations

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
    pass


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
    """

    def __init__(self, message: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        self.kind = kind


class LeaseLostError(Exception):
    """Another replica owns the run now (this one's lease expired): stop driving it, write nothing more."""


class ConfigurationError(Exception):
    """A file the orchestrator needs at start is wrong; it refuses to start rather than guess."""


class TemplateError(ConfigurationError):
    """A template file that cannot be loaded; names the file and the problem."""


class SchemeFileError(ConfigurationError):
    """The scheme catalogue cannot be loaded; names the file and the problem."""


STATUS_CODES: dict[type[Exception], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    TemplateNotFoundError: grpc.StatusCode.NOT_FOUND,
    InstanceNotFoundError: grpc.StatusCode.NOT_FOUND,
    NotAppealableError: grpc.StatusCode.FAILED_PRECONDITION,
    ReportNotAvailableError: grpc.StatusCode.FAILED_PRECONDITION,
    IdempotencyConflictError: grpc.StatusCode.ALREADY_EXISTS,
    SubjectQuotaError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DependencyUnavailableError: grpc.StatusCode.UNAVAILABLE,
    # A caller without a valid credential, or one whose roles or identity do not allow the call.
    **REFUSAL_CODES,
}
