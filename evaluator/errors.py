"""Evaluator errors, and the table that turns them into gRPC status codes (civicflow/grpc_errors.py applies it).

EvaluatorError
├── InvalidRulesError     INVALID_ARGUMENT  (a rule document that is not JSON, or does not check)
│   └── InvalidDocumentError                (the same, with every problem at its field: a FieldProblems)
├── InvalidCitizenError   INVALID_ARGUMENT  (a missing citizen, an attribute no real citizen can have)
├── InvalidBatchError     INVALID_ARGUMENT  (a stream batch whose columns do not line up with its size)
├── InjectedFaultError    INTERNAL          (a fault hook failed this citizen on purpose)
└── BatchRefusedError     INVALID_ARGUMENT  (one of the first three, in a stream batch: ends the stream)
    └── BatchDocumentRefusedError           (the same for a document's problems, each at its field)
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from civicflow.auth.guards import REFUSAL_CODES
from civicflow.grpc_errors import FieldProblem, FieldProblems


class EvaluatorError(Exception):
    """Base of the errors a request can end with."""


class InvalidRulesError(EvaluatorError):
    pass


class InvalidDocumentError(InvalidRulesError, FieldProblems):
    """A document the evaluator was sent that does not parse or check; every problem at its field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        FieldProblems.__init__(self, problems)

    @classmethod
    def at(cls, field: str, problem: str) -> InvalidDocumentError:
        return cls([FieldProblem(field, problem)])


class InvalidCitizenError(EvaluatorError):
    pass


class InvalidBatchError(EvaluatorError):
    pass


class InjectedFaultError(EvaluatorError):
    pass


class BatchRefusedError(EvaluatorError):
    """A stream batch that cannot be evaluated (one of the errors above): it ends the stream, naming the batch."""

    def __init__(self, batch_id: int, error: EvaluatorError) -> None:
        # Exception's own, not the next in a subclass's order (FieldProblems wants problems, not text).
        Exception.__init__(self, f"batch {batch_id}: {error}")

    @classmethod
    def of(cls, batch_id: int, error: EvaluatorError) -> BatchRefusedError:
        """The refusal, carrying the document's field problems when the error has them."""
        if isinstance(error, FieldProblems):
            return BatchDocumentRefusedError(batch_id, error)
        return cls(batch_id, error)


class BatchDocumentRefusedError(BatchRefusedError, FieldProblems):
    def __init__(self, batch_id: int, error: EvaluatorError) -> None:
        super().__init__(batch_id, error)
        self.problems = list(error.problems) if isinstance(error, FieldProblems) else []


STATUS_CODES: dict[type[Exception], grpc.StatusCode] = {
    InvalidRulesError: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidCitizenError: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidBatchError: grpc.StatusCode.INVALID_ARGUMENT,
    InjectedFaultError: grpc.StatusCode.INTERNAL,
    BatchRefusedError: grpc.StatusCode.INVALID_ARGUMENT,
    # A caller without a valid credential, or one whose roles or identity do not allow the call.
    **REFUSAL_CODES,
}
