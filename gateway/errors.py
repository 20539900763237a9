"""Maps gRPC status codes to HTTP (google/rpc/code.proto) and renders every error in one JSON shape.

Shape: {"error": {"status": <http>, "code": <gRPC code name | HTTP reason>, "message": <text>,
"details": [{"field", "problem"}], "error_id": <only on an unexpected 500>}}. Every refused value, whoever refused
it (FastAPI, the gateway's limits, a service), is 422 INVALID_ARGUMENT; an unexpected 500 says nothing of its
cause but an error id, which the log line with the cause carries too.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from starlette.exceptions import HTTPException

from civicflow.auth.access import PermissionDeniedError
from civicflow.auth.tokens import InvalidTokenError
from civicflow.grpc_errors import FieldProblems
from civicflow.input_limits import ECHO_LIMIT
from civicflow.rate_limits import RateLimitedError
from gateway.schemas import ErrorBody, ErrorProblem, ErrorResponse

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": "Bearer"}
# A body over the gateway's limit: the code gRPC itself gives a message over a server's receive limit.
TOO_LARGE_CODE = "RESOURCE_EXHAUSTED"
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


# One code for every refused value: a tree size beyond the log is as much the client's mistake as a bad id.
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.name
REST_CODE_BY_GRPC_CODE = {grpc.StatusCode.OUT_OF_RANGE: INVALID_ARGUMENT}
# Upstream failures whose details may hold anything (grpc's own "Unexpected <class ...>" for UNKNOWN):
# the answer carries an error id instead, found in our services' own message or made here and logged.
# DATA_LOSS is not among them: the audit service says with it which entry no longer reads, tamper evidence.
OPAQUE_CODES = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
# Codes gRPC itself gives a call no service answered. A service's own UNAVAILABLE carries a RetryInfo
# (civicflow/grpc_errors.py), so its words are kept; without one, the words are the library's.
TRANSPORT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
UPSTREAM_ERROR_ID = re.compile(r"\(error id ([0-9a-f]{12})\)")


def http_status_for(code: grpc.StatusCode) -> int:
    return int(HTTP_STATUS_BY_GRPC_CODE.get(code, HTTPStatus.INTERNAL_SERVER_ERROR))


def new_error_id() -> str:
    return uuid.uuid4().hex[:12]


def internal_error_message(error_id: str) -> str:
    return f"internal error (error id {error_id}); the service log has the details"


def rendered(body: ErrorResponse) -> dict[str, object]:
    return body.model_dump(mode="json", exclude_none=True)


def error_response(
    status: int, *, code: str, message: str, details: list[ErrorProblem] | None = None, error_id: str | None = None
) -> JSONResponse:
    error = ErrorBody(status=status, code=code, message=message, details=details or [], error_id=error_id)
    return JSONResponse(status_code=status, content=rendered(ErrorResponse(error=error)))


def invalid_argument(problems: list[ErrorProblem]) -> JSONResponse:
    """The 422 of every refused value, the first problem in the message and every one in the details."""
    message = "invalid request"
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        message = f"invalid request: {first.field}: {first.problem}{more}"
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, code=INVALID_ARGUMENT, message=message, details=problems)


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
    if code in OPAQUE_CODES:
        found = UPSTREAM_ERROR_ID.search(exc.details() or "")
        error_id = found.group(1) if found else new_error_id()
        if not found:
            log.error("upstream failure without an error id", extra={"path": path, "error_id": error_id})
        message = internal_error_message(error_id)
        return ErrorResponse(error=ErrorBody(status=status, code=code.name, message=message, error_id=error_id))
    if code in TRANSPORT_CODES and not _status_details(exc):
        # No service answered: the details are gRPC's own words about addresses and sockets.
        message = _no_answer_message(code, path=path)
    else:
        # A status without details still says what went wrong: an error message is never empty.
        message = exc.details() or code.name.replace("_", " ").lower()
    rest_code = REST_CODE_BY_GRPC_CODE.get(code, code.name)
    return ErrorResponse(error=ErrorBody(status=status, code=rest_code, message=message, details=field_problems(exc)))


async def handle_rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    body = rpc_error_body(exc, path=request.url.path)
    if body.error.status == HTTPStatus.UNAUTHORIZED:
        headers = dict(CHALLENGE)
    else:
        headers = retry_headers(body.error.status) or {}
    delay = retry_after(exc)
    if delay is not None:
        headers["Retry-After"] = delay
    return JSONResponse(status_code=body.error.status, content=rendered(body), headers=headers)


def too_many_requests(retry_after_seconds: int, message: str) -> JSONResponse:
    """429 with the seconds after which a retry may succeed."""
    response = error_response(HTTPStatus.TOO_MANY_REQUESTS, code="RESOURCE_EXHAUSTED", message=message)
    response.headers["Retry-After"] = str(retry_after_seconds)
    return response


async def handle_rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimitedError)
    return too_many_requests(max(1, math.ceil(exc.retry_after_seconds)), str(exc))


def _no_answer_message(code: grpc.StatusCode, *, path: str) -> str:
    upstream = "the audit service" if path.startswith("/audit") else "the orchestrator"
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{upstream} did not answer in time"
    return f"{upstream} could not be reached; send the request again"


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


def _status_details(exc: grpc.aio.AioRpcError) -> list[Any]:
    try:
        status = rpc_status.from_call(exc)
    except ValueError:  # details that contradict the call's own code or message are ignored, not trusted
        return []
    return list(status.details) if status is not None else []


def retry_after(exc: grpc.aio.AioRpcError) -> str | None:
    """Whole seconds of a google.rpc.RetryInfo the server attached to its status (a Retry-After value), if any."""
    for detail in _status_details(exc):
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return str(max(1, math.ceil(info.retry_delay.ToTimedelta().total_seconds())))
    return None


def field_problems(exc: grpc.aio.AioRpcError) -> list[ErrorProblem]:
    """The field violations of a google.rpc.BadRequest the server attached to its status, if any."""
    problems: list[ErrorProblem] = []
    for detail in _status_details(exc):
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            problems += [ErrorProblem(field=v.field, problem=v.description) for v in bad_request.field_violations]
    return problems


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return invalid_argument([ErrorProblem(field=_field(error["loc"]), problem=error["msg"]) for error in exc.errors()])


async def handle_invalid_values(request: Request, exc: Exception) -> JSONResponse:
    """Values past the limits every service keeps (civicflow/input_limits.py), found by the gateway itself."""
    assert isinstance(exc, FieldProblems)
    return invalid_argument([ErrorProblem(field=p.field, problem=p.problem) for p in exc.problems])


def _field(location: tuple[int | str, ...]) -> str:
    """A dotted path; a part the client chose (an unknown field's name) is cut to ECHO_LIMIT characters."""
    parts = (str(part) for part in location)
    return ".".join(part if len(part) <= ECHO_LIMIT else part[:ECHO_LIMIT] + "…" for part in parts)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and wrong methods answer in the same shape as every other error."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == HTTPStatus.BAD_REQUEST and exc.__cause__ is not None:
        # FastAPI's "error parsing the body": nested too deep for the JSON decoder, or not UTF-8.
        return invalid_argument([ErrorProblem(field="body", problem="is not JSON the gateway can read")])
    try:
        code = HTTPStatus(exc.status_code).name
    except ValueError:
        code = f"HTTP_{exc.status_code}"
    if exc.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        code = TOO_LARGE_CODE
    response = error_response(exc.status_code, code=code, message=str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A defect of ours still answers in the error shape, never as a bare text 500, and names nothing of it."""
    error_id = new_error_id()
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path, "error_id": error_id})
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, code="INTERNAL", message=internal_error_message(error_id), error_id=error_id
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, handle_unexpected_error)
    app.add_exception_handler(InvalidTokenError, handle_invalid_token)
    app.add_exception_handler(PermissionDeniedError, handle_permission_denied)
    app.add_exception_handler(grpc.aio.AioRpcError, handle_rpc_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(FieldProblems, handle_invalid_values)
    app.add_exception_handler(HTTPException, handle_http_error)
    app.add_exception_handler(RateLimitedError, handle_rate_limited)
