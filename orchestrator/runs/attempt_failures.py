"""Why a step attempt failed, as an ErrorKind a retry policy can name, and how a failed run says so."""

from __future__ import annotations

import uuid

import grpc

from civicflow.grpc_errors import CallFailure, classify_rpc_error
from orchestrator.errors import DependencyUnavailableError, StepFailedError
from orchestrator.templates.step_policy import ErrorKind, RetryPolicy

# The message of an error no task expected: what it said stays in the log, under an error id.
UNEXPECTED = "internal error"
# The transient failures of a call to another service, as the kinds a retry policy names.
_KIND_OF_CALL_FAILURE = {CallFailure.UNAVAILABLE: ErrorKind.UNAVAILABLE, CallFailure.TIMEOUT: ErrorKind.TIMEOUT}


def classify(error: Exception, *, timeout_seconds: float | None) -> tuple[ErrorKind, str]:
    """The kind of a failed attempt and the message its audit entry records.

    A task's StepFailedError is `failed` (the task refused) unless it declares a kind or was
    caused by something transient: an evaluator that was unreachable is worth another attempt,
    a scheme that does not exist is not. Anything a task did not expect is `internal`, and its
    message is UNEXPECTED alone: the runner gives it an error id and logs the rest.
    """
    if isinstance(error, TimeoutError):
        return ErrorKind.TIMEOUT, f"no result within the step's timeout of {timeout_seconds:g} s"
    if isinstance(error, StepFailedError):
        return error.kind or _kind_of_cause(error) or ErrorKind.FAILED, str(error)
    if isinstance(error, DependencyUnavailableError):
        return ErrorKind.UNAVAILABLE, str(error)
    if isinstance(error, grpc.aio.AioRpcError):  # a call a task made and did not expect to fail
        failure = classify_rpc_error(error)
        return _KIND_OF_CALL_FAILURE.get(failure.failure, ErrorKind.INTERNAL), str(failure)
    return ErrorKind.INTERNAL, UNEXPECTED


def _kind_of_cause(error: BaseException) -> ErrorKind | None:
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    seen = 0
    while cause is not None and seen < 10:  # a chain is short; the bound only guards against cycles
        if isinstance(cause, grpc.aio.AioRpcError):
            return _KIND_OF_CALL_FAILURE.get(classify_rpc_error(cause).failure)
        if isinstance(cause, TimeoutError):
            return ErrorKind.TIMEOUT
        if isinstance(cause, DependencyUnavailableError):
            return ErrorKind.UNAVAILABLE
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
        seen += 1
    return None


def run_failure(step_name: str, *, attempts: int, kind: ErrorKind, error: str, policy: RetryPolicy) -> str:
    """The run's error: which step, how many attempts, the last error, and why there was no other attempt."""
    counted = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    why = "no attempts left" if kind in policy.retryable else f"'{kind}' is not retried"
    return f"step '{step_name}' failed: {error} (after {counted}; {why})"


def new_error_id() -> str:
    """Names one unexpected error in both the log line that details it and the message that reports it."""
    return uuid.uuid4().hex[:12]


def unexpected(error_id: str) -> str:
    return f"{UNEXPECTED} (error id {error_id}; the orchestrator log has it)"
