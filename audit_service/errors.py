"""Audit service errors, and the one table that turns them into gRPC status codes.

    AuditError
    ├── InvalidRequestError        INVALID_ARGUMENT  (a malformed record or instance id)
    └── AuditStoreUnavailableError UNAVAILABLE       (the database is out of reach)
"""

from __future__ import annotations

import grpc


class AuditError(Exception):
    """Base of the errors a request can end with."""


class InvalidRequestError(AuditError):
    pass


class AuditStoreUnavailableError(AuditError):
    pass


STATUS_CODES: dict[type[AuditError], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    AuditStoreUnavailableError: grpc.StatusCode.UNAVAILABLE,
}


def status_code_for(error: AuditError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL
