"""Evaluator errors, and the table that turns them into gRPC status codes (civicflow/grpc_errors.py applies it).

EvaluatorError
├── InvalidRulesError     INVALID_ARGUMENT  (rules that contradict themselves or are out of range)
├── InvalidCitizenError   INVALID_ARGUMENT  (a missing citizen, an age or income out of range)
├── InvalidBatchError     INVALID_ARGUMENT  (a stream batch whose columns do not line up)
├── InjectedFaultError    INTERNAL          (a fault hook failed this citizen on purpose)
└── BatchRefusedError     INVALID_ARGUMENT  (one of the first three, in a stream batch: ends the stream)
"""

from __future__ import annotations

import grpc

from civicflow.auth.guards import REFUSAL_CODES


class EvaluatorError(Exception):
    """Base of the errors a request can end with."""


class InvalidRulesError(EvaluatorError):
    pass


class InvalidCitizenError(EvaluatorError):
    pass


class InvalidBatchError(EvaluatorError):
    pass


class InjectedFaultError(EvaluatorError):
    pass


class BatchRefusedError(EvaluatorError):
    """A stream batch that cannot be evaluated (one of the errors above): it ends the stream, naming the batch."""

    def __init__(self, batch_id: int, error: EvaluatorError) -> None:
        super().__init__(f"batch {batch_id}: {error}")


STATUS_CODES: dict[type[Exception], grpc.StatusCode] = {
    InvalidRulesError: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidCitizenError: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidBatchError: grpc.StatusCode.INVALID_ARGUMENT,
    InjectedFaultError: grpc.StatusCode.INTERNAL,
    BatchRefusedError: grpc.StatusCode.INVALID_ARGUMENT,
    # A caller without a valid credential, or one whose roles or identity do not allow the call.
    **REFUSAL_CODES,
}
