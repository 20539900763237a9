"""Evaluator errors, and the one table that turns them into gRPC status codes.

    EvaluatorError
    ├── InvalidRulesError     INVALID_ARGUMENT  (rules that contradict themselves or are out of range)
    ├── InvalidCitizenError   INVALID_ARGUMENT  (a missing citizen, an age or income out of range)
    ├── InvalidBatchError     INVALID_ARGUMENT  (a stream batch whose columns do not line up)
    └── InjectedFaultError    INTERNAL          (a fault hook failed this citizen on purpose)
"""

from __future__ import annotations

import grpc


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


STATUS_CODES: dict[type[EvaluatorError], grpc.StatusCode] = {
    InvalidRulesError: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidCitizenError: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidBatchError: grpc.StatusCode.INVALID_ARGUMENT,
    InjectedFaultError: grpc.StatusCode.INTERNAL,
}


def status_code_for(error: EvaluatorError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL
