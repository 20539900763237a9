"""A failed attempt is classified into the ErrorKind retry policies name, and a failed run says what happened."""

from __future__ import annotations

import re

import grpc
import pytest

from orchestrator.errors import DependencyUnavailableError, StepFailedError
from orchestrator.runs.attempt_failures import classify, run_failure
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


def test_a_defect_is_named_by_an_error_id_alone_and_logged_with_it(caplog: pytest.LogCaptureFixture) -> None:
    kind, message = classify(KeyError("secret_column"), timeout_seconds=None)

    error_id = re.fullmatch(
        r"internal error \(error id ([0-9a-f]{12})\); the orchestrator log has the details", message
    )
    assert kind is ErrorKind.INTERNAL and error_id is not None
    assert "KeyError" not in message and "secret_column" not in message
    [record] = [record for record in caplog.records if getattr(record, "error_id", None) == error_id.group(1)]
    assert record.exc_info is not None and record.exc_info[0] is KeyError


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
