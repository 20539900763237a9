"""Maps gRPC status codes to HTTP (google/rpc/code.proto) and renders every error in one JSON shape.

Shape: {"error": {"status": <http>, "code": <gRPC code name | VALIDATION_ERROR | HTTP reason>,
"message": <text>, "details": [{"field", "problem"}]}}.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from starlette.exceptions import HTTPException

from civicflow.auth.access import PermissionDeniedError
from civicflow.auth.tokens import InvalidTokenError
from gateway.schemas import ErrorBody, ErrorProblem, ErrorResponse

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": "Bearer"}
# A 503 is a service or the database restarting or out of reach: the launcher restarts a process
# after a second or more, so a client is told to try again after about that (RFC 9110, Retry-After).
RETRY_AFTER_SECONDS = 2
# Nginx's 499 "client closed request", as code.proto suggests for CANCELLED.
CLIENT_CLOSED_REQUEST = 499

HTTP_STATUS_BY_GRPC_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: HTTPStatus.OK,
    grpc.StatusCode.CANCELLED: CLIENT_CLOSED_REQUEST,
    grpc.StatusCode.UNKNOWN: HTTPStatus.INTERNAL_SERVER_ERROR,
    # code.proto says 400 for INVALID_ARGUMENT and OUT_OF_RANGE; the REST contract pins 422, the
    # status FastAPI itself gives a malformed body, so one kind of mistake gets one status.
    grpc.StatusCode.INVALID_ARGUMENT: HTTPStatus.UNPROCESSABLE_ENTITY,
    grpc.StatusCode.DEADLINE_EXCEEDED: HTTPStatus.GATEWAY_TIMEOUT,
    grpc.StatusCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: HTTPStatus.CONFLICT,
    grpc.StatusCode.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
    grpc.StatusCode.RESOURCE_EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    grpc.StatusCode.FAILED_PRECONDITION: HTTPStatus.CONFLICT,
    grpc.StatusCode.ABORTED: HTTPStatus.CONFLICT,
    grpc.StatusCode.OUT_OF_RANGE: HTTPStatus.UNPROCESSABLE_ENTITY,
    grpc.StatusCode.UNIMPLEMENTED: HTTPStatus.NOT_IMPLEMENTED,
    grpc.StatusCode.INTERNAL: HTTPStatus.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS: HTTPStatus.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
}


def http_status_for(code: grpc.StatusCode) -> int:
    return int(HTTP_STATUS_BY_GRPC_CODE.get(code, HTTPStatus.INTERNAL_SERVER_ERROR))


def error_response(status: int, *, code: str, message: str, details: list[ErrorProblem] | None = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(status=status, code=code, message=message, details=details or []))
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"))


def rpc_error_body(exc: grpc.aio.AioRpcError, *, path: str) -> ErrorResponse:
    """The error shape of a failed upstream call, logged once: an answer's body, or an events stream's last event."""
    code = exc.code()
    status = http_status_for(code)
    log.log(
        logging.ERROR if status >= 500 else logging.INFO,
        # The orchestrator's or, for the /audit routes, the audit service's.
        "upstream call failed",
        extra={"path": path, "grpc_code": code.name, "http_status": status, "grpc_details": exc.details()},
    )
    # A status without details still says what went wrong: an error message is never empty.
    message = exc.details() or code.name.replace("_", " ").lower()
    return ErrorResponse(error=ErrorBody(status=status, code=code.name, message=message, details=field_problems(exc)))


async def handle_rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    body = rpc_error_body(exc, path=request.url.path)
    headers = retry_headers(body.error.status) or (CHALLENGE if body.error.status == HTTPStatus.UNAUTHORIZED else None)
    return JSONResponse(status_code=body.error.status, content=body.model_dump(mode="json"), headers=headers)


def retry_headers(status: int) -> dict[str, str] | None:
    """Retry-After on a 503: the request created nothing, and the same request later may well succeed."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == HTTPStatus.SERVICE_UNAVAILABLE else None


async def handle_invalid_token(request: Request, exc: Exception) -> JSONResponse:
    """No token, or one that proves nothing: 401 with the challenge RFC 6750 asks for."""
    response = error_response(HTTPStatus.UNAUTHORIZED, code="UNAUTHENTICATED", message=str(exc))
    response.headers.update(CHALLENGE)
    return response


async def handle_permission_denied(request: Request, exc: Exception) -> JSONResponse:
    return error_response(HTTPStatus.FORBIDDEN, code="PERMISSION_DENIED", message=str(exc))


def field_problems(exc: grpc.aio.AioRpcError) -> list[ErrorProblem]:
    """The field violations of a google.rpc.BadRequest the server attached to its status, if any."""
    try:
        status = rpc_status.from_call(exc)
    except ValueError:  # details that contradict the call's own code or message are ignored, not trusted
        return []
    problems: list[ErrorProblem] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            problems += [ErrorProblem(field=v.field, problem=v.description) for v in bad_request.field_violations]
    return problems


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        ErrorProblem(field=".".join(str(part) for part in error["loc"]), problem=error["msg"]) for error in exc.errors()
    ]
    message = "invalid request"
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        message = f"invalid request: {first.field}: {first.problem}{more}"
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, code="VALIDATION_ERROR", message=message, details=problems)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and wrong methods answer in the same shape as every other error."""
    assert isinstance(exc, HTTPException)
    try:
        code = HTTPStatus(exc.status_code).name
    except ValueError:
        code = f"HTTP_{exc.status_code}"
    response = error_response(exc.status_code, code=code, message=str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A defect of ours still answers in the error shape, never as a bare text 500."""
    log.exception("unhandled error", extra={"path": request.url.path})
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, code="INTERNAL", message="internal error; the gateway log has the details"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, handle_unexpected_error)
    app.add_exception_handler(InvalidTokenError, handle_invalid_token)
    app.add_exception_handler(PermissionDeniedError, handle_permission_denied)
    app.add_exception_handler(grpc.aio.AioRpcError, handle_rpc_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_error)
