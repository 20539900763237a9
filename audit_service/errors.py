"""Audit service errors, and the table that turns them into gRPC status codes (civicflow/grpc_errors.py applies it).

AuditError
├── InvalidRequestError        INVALID_ARGUMENT     (a malformed record, instance id or argument)
├── EntryNotFoundError         NOT_FOUND            (no entry with that seq)
├── OutOfRangeError            OUT_OF_RANGE         (a tree size the log has not reached)
├── NotYetCoveredError         FAILED_PRECONDITION  (an entry newer than the latest checkpoint)
├── LogCorruptedError          DATA_LOSS            (a stored node a proof needs is missing)
└── AuditStoreUnavailableError UNAVAILABLE          (the database is out of reach)
"""

from __future__ import annotations

import grpc

from civicflow.auth.guards import REFUSAL_CODES


class AuditError(Exception):
    """Base of the errors a request can end with."""


class InvalidRequestError(AuditError):
    pass


class EntryNotFoundError(AuditError):
    pass


class OutOfRangeError(AuditError):
    pass


class NotYetCoveredError(AuditError):
    pass


class LogCorruptedError(AuditError):
    pass


class AuditStoreUnavailableError(AuditError):
    pass


STATUS_CODES: dict[type[Exception], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    EntryNotFoundError: grpc.StatusCode.NOT_FOUND,
    OutOfRangeError: grpc.StatusCode.OUT_OF_RANGE,
    NotYetCoveredError: grpc.StatusCode.FAILED_PRECONDITION,
    LogCorruptedError: grpc.StatusCode.DATA_LOSS,
    AuditStoreUnavailableError: grpc.StatusCode.UNAVAILABLE,
    # A caller without a valid credential, or one whose roles or identity do not allow the call.
    **REFUSAL_CODES,
}
