"""A failed attempt is classified into the ErrorKind retry policies name, and a failed run says what happened."""

from __future__ import annotations

import grpc
import pytest

from orchestrator.errors import DependencyUnavailableError, StepFailedError
from orchestrator.runs.attempt_failures import UNEXPECTED, classify, run_failure, unexpected
from orchestrator.templates.step_policy import ErrorKind, RetryPolicy


def _rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="from the evaluator")


def _caused_by(cause: BaseException) -> StepFailedError:
    try:
        raise cause
    except BaseException as error:
        try:
            raise StepFailedError("evaluator failed") from error
        except StepFailedError as failure:
            return failure
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError(), ErrorKind.TIMEOUT),
        (StepFailedError("no scheme 'scheme_zeta'"), ErrorKind.FAILED),
        (StepFailedError("12 citizens failed", kind=ErrorKind.UNAVAILABLE), ErrorKind.UNAVAILABLE),
        (_caused_by(_rpc_error(grpc.StatusCode.UNAVAILABLE)), ErrorKind.UNAVAILABLE),
        (_caused_by(_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED)), ErrorKind.TIMEOUT),
        (_caused_by(_rpc_error(grpc.StatusCode.INTERNAL)), ErrorKind.FAILED),
        (DependencyUnavailableError("database unavailable"), ErrorKind.UNAVAILABLE),
        (_rpc_error(grpc.StatusCode.UNAVAILABLE), ErrorKind.UNAVAILABLE),
        (_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), ErrorKind.TIMEOUT),
        (_rpc_error(grpc.StatusCode.INVALID_ARGUMENT), ErrorKind.INTERNAL),
        (KeyError("citizen"), ErrorKind.INTERNAL),
    ],
    ids=[
        "timeout",
        "refused",
        "declared-kind",
        "caused-by-unavailable",
        "caused-by-deadline",
        "caused-by-internal",
        "database",
        "grpc-unavailable",
        "grpc-deadline",
        "grpc-other",
        "defect",
    ],
)
def test_each_failure_has_the_kind_a_policy_can_retry_on(error: Exception, kind: ErrorKind) -> None:
    assert classify(error, timeout_seconds=2.5)[0] == kind


def test_a_timeout_says_which_limit_it_hit() -> None:
    assert classify(TimeoutError(), timeout_seconds=2.5)[1] == "no result within the step's timeout of 2.5 s"


def test_a_defect_says_internal_error_and_nothing_of_its_class_or_message() -> None:
    kind, message = classify(KeyError("citizen"), timeout_seconds=None)
    assert (kind, message) == (ErrorKind.INTERNAL, UNEXPECTED)
    assert "KeyError" not in unexpected("abc") and "error id abc" in unexpected("abc")


def test_a_failed_run_names_the_step_the_attempts_and_the_last_error() -> None:
    policy = RetryPolicy(max_attempts=3)
    exhausted = run_failure("evaluate_rules", attempts=3, kind=ErrorKind.TIMEOUT, error="no result", policy=policy)
    assert exhausted == "step 'evaluate_rules' failed: no result (after 3 attempts; no attempts left)"
    refused = run_failure("fetch_scheme_rules", attempts=1, kind=ErrorKind.FAILED, error="no scheme", policy=policy)
    assert refused == "step 'fetch_scheme_rules' failed: no scheme (after 1 attempt; 'failed' is not retried)"


def test_backoff_grows_by_the_multiplier_up_to_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=6, initial_backoff_seconds=0.1, backoff_multiplier=3, max_backoff_seconds=1)
    assert [round(policy.backoff_after(attempt), 6) for attempt in range(1, 5)] == [0.1, 0.3, 0.9, 1.0]
    assert policy.allows_another(attempt=5, kind=ErrorKind.TIMEOUT)
    assert not policy.allows_another(attempt=6, kind=ErrorKind.TIMEOUT)
    assert not policy.allows_another(attempt=1, kind=ErrorKind.FAILED)
