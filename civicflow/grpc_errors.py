"""The gRPC error edge of every service: errors become status codes on the way out, and are read back on the way in.

Serving: a servicer class is decorated with `maps_errors(STATUS_CODES)`, its service's table
(each service's errors.py). Every RPC of the class, unary or streaming, then ends like this:

    an error in the table (or a subclass)  ->  its code, with its message (and field problems, if any)
    FieldProblems not in the table         ->  INVALID_ARGUMENT, with its field problems (input_limits.py's)
    UnreadableRequestError, RecursionError ->  INVALID_ARGUMENT (a request that cannot be parsed)
    anything else                          ->  INTERNAL "internal error (error id ...)", and one log
                                               line with the id and the traceback: no class name,
                                               message or traceback of ours crosses the wire

Calling: `classify_rpc_error` says what a failed call to another service means for the caller.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

log = logging.getLogger(__name__)

StatusCodes = Mapping[type[Exception], grpc.StatusCode]
Servicer = TypeVar("Servicer", bound=type)


@dataclass(frozen=True)
class FieldProblem:
    field: str  # dotted path, such as "inputs.population_size"
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class FieldProblems(Exception):
    """An error that names each offending field; sent as a google.rpc.BadRequest beside its code."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = list(problems)


# The launcher restarts a process after a second and it starts within about another.
UNAVAILABLE_RETRY_SECONDS = 2


class RetryLater(Exception):
    """An error the same call may not meet after `retry_after_seconds`: sent as a google.rpc.RetryInfo."""

    retry_after_seconds: float


class UnreadableRequestError(Exception):
    """A request field that does not parse (JSON text that is not JSON): INVALID_ARGUMENT in every service."""


def maps_errors(codes: StatusCodes) -> Callable[[Servicer], Servicer]:
    """Class decorator: every public async method of the servicer (its RPCs) ends errors as the table says."""

    def decorate(servicer: Servicer) -> Servicer:
        for name, method in list(vars(servicer).items()):
            if name.startswith("_"):
                continue
            if inspect.isasyncgenfunction(method):
                setattr(servicer, name, _streaming(method, codes))
            elif inspect.iscoroutinefunction(method):
                setattr(servicer, name, _unary(method, codes))
        return servicer

    return decorate


def _unary(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]], codes: StatusCodes
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    @functools.wraps(handler)
    async def rpc(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(self, request, context)
        except Exception as error:
            await _abort(context, error, codes, rpc=handler.__name__)
            raise AssertionError("abort() raises") from error

    return rpc


def _streaming(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[Any]], codes: StatusCodes
) -> Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    @functools.wraps(handler)
    async def rpc(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for reply in handler(self, request, context):
                yield reply
        except Exception as error:
            await _abort(context, error, codes, rpc=handler.__name__)

    return rpc


async def _abort(context: grpc.aio.ServicerContext, error: Exception, codes: StatusCodes, *, rpc: str) -> None:
    if isinstance(error, grpc.aio.AbortError):
        raise error  # the handler ended the call itself
    code = _code_for(error, codes)
    if code is None and isinstance(error, FieldProblems):
        code = grpc.StatusCode.INVALID_ARGUMENT  # a request's values broke a limit every service keeps
    if code is not None:
        await context.abort(code, str(error), trailing_metadata=_details(code, error))
    if isinstance(error, UnreadableRequestError | RecursionError):
        message = str(error) if isinstance(error, UnreadableRequestError) else "the request is nested too deeply"
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
    error_id = uuid.uuid4().hex[:12]
    log.error("unexpected error in an RPC", exc_info=error, extra={"rpc": rpc, "error_id": error_id})
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (error id {error_id}); the service log has it")


def _code_for(error: Exception, codes: StatusCodes) -> grpc.StatusCode | None:
    for cls in type(error).__mro__:
        if cls in codes:
            return codes[cls]
    return None


def _details(code: grpc.StatusCode, error: Exception) -> tuple[tuple[str, str | bytes], ...]:
    """Trailing metadata carrying a google.rpc.Status with the error's field problems or retry delay, if it has any."""
    details: list[any_pb2.Any] = []
    if isinstance(error, FieldProblems):
        violations = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=problem.field, description=problem.problem)
                for problem in error.problems
            ]
        )
        details.append(_packed(violations))
    retry_after_seconds = error.retry_after_seconds if isinstance(error, RetryLater) else None
    if retry_after_seconds is None and code is grpc.StatusCode.UNAVAILABLE:
        # A service's own "unavailable" (its database, a service behind it): retried after what a restart takes.
        # Attached details also tell a caller these words are ours, not gRPC's about a connection it could not make.
        retry_after_seconds = UNAVAILABLE_RETRY_SECONDS
    if retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromTimedelta(datetime.timedelta(seconds=retry_after_seconds))
        details.append(_packed(retry))
    if not details:
        return ()
    status = status_pb2.Status(code=code.value[0], message=str(error), details=details)
    return tuple(rpc_status.to_status(status).trailing_metadata)


def _packed(message: Any) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


class CallFailure(StrEnum):
    """What a failed call to another service means for whoever made it."""

    TIMEOUT = "timeout"  # DEADLINE_EXCEEDED: no answer in time; another attempt may get one
    UNAVAILABLE = "unavailable"  # the service could not be reached; another attempt may reach it
    REFUSED = "refused"  # the service refused what it was sent: the same call would be refused again
    FAILED = "failed"  # the service failed to answer for a reason of its own (INTERNAL, DATA_LOSS, ...)


_FAILURE_OF_CODE = {
    grpc.StatusCode.DEADLINE_EXCEEDED: CallFailure.TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: CallFailure.UNAVAILABLE,
    grpc.StatusCode.INVALID_ARGUMENT: CallFailure.REFUSED,
    grpc.StatusCode.FAILED_PRECONDITION: CallFailure.REFUSED,
    grpc.StatusCode.OUT_OF_RANGE: CallFailure.REFUSED,
    grpc.StatusCode.UNIMPLEMENTED: CallFailure.REFUSED,
    grpc.StatusCode.NOT_FOUND: CallFailure.REFUSED,
    grpc.StatusCode.PERMISSION_DENIED: CallFailure.REFUSED,
    grpc.StatusCode.UNAUTHENTICATED: CallFailure.REFUSED,
}


@dataclass(frozen=True)
class DownstreamError:
    """A failed call, classified: its kind, and the code and details the other service sent."""

    failure: CallFailure
    code: grpc.StatusCode
    details: str

    @property
    def transient(self) -> bool:
        """Whether the same call, made again later, may succeed."""
        return self.failure in (CallFailure.TIMEOUT, CallFailure.UNAVAILABLE)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}"


def classify_rpc_error(error: grpc.aio.AioRpcError) -> DownstreamError:
    code = error.code()
    return DownstreamError(
        failure=_FAILURE_OF_CODE.get(code, CallFailure.FAILED), code=code, details=error.details() or ""
    )
