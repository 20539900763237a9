"""Who is calling an RPC: every RPC of a guarded servicer is admitted by its guard before its body runs.

`guarded` is a class decorator, applied under `maps_errors` so that a refusal ends the call with
UNAUTHENTICATED or PERMISSION_DENIED like any other error. The guard of a service decides:

    BearerTokenGuard  people and programs with a bearer token (the orchestrator's public API), each
                      subject within its rate limit (civicflow/rate_limits.py) when given a limiter
    ServiceGuard      other services, by the certificate they connected with (access.SERVICE_RULES),
                      and, for calls a service makes on a person's behalf, that person's token too

The principal admitted is the `caller()` of the rest of the RPC.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import grpc

from civicflow.auth.access import PermissionDeniedError, ServiceIdentity, ServiceRule, authorize, authorize_service
from civicflow.auth.principals import Principal
from civicflow.auth.tokens import InvalidTokenError, TokenVerifier, bearer_token
from civicflow.rate_limits import RateLimitedError, RateLimiter
from civicflow.tls import peer_identity

AUTHORIZATION = "authorization"
Servicer = TypeVar("Servicer", bound=type)
_caller: ContextVar[Principal] = ContextVar("civicflow_caller")


class Guard(Protocol):
    def admit(self, rpc: str, context: grpc.aio.ServicerContext) -> None: ...


def caller() -> Principal:
    """The person the running RPC was admitted for."""
    try:
        return _caller.get()
    except LookupError:
        raise PermissionDeniedError("no person was admitted for this call") from None


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying a bearer token, as a client sends it."""
    return ((AUTHORIZATION, f"Bearer {token}"),)


class BearerTokenGuard:
    """Admits a valid token's subject, within the subject's rate limit if there is a limiter.

    Calls the gateway relays count too, in this replica's own bucket: the public port asks for no
    client certificate, so a relayed call cannot be told from a direct one, and it need not be. A
    REST request takes one token from the gateway's bucket and one from this one, each refilling at
    the same rate, so a REST caller still has the whole rate; a subject calling both ways shares one.
    """

    def __init__(self, verifier: TokenVerifier, limiter: RateLimiter | None = None) -> None:
        self._verifier = verifier
        self._limiter = limiter

    def admit(self, rpc: str, context: grpc.aio.ServicerContext) -> None:
        principal = self._verifier.verify(bearer_token(_metadata(context, AUTHORIZATION)))
        if self._limiter is not None:
            self._limiter.admit(principal.subject)
        _caller.set(principal)


class ServiceGuard:
    def __init__(self, rules: Mapping[str, ServiceRule], verifier: TokenVerifier | None = None) -> None:
        self._rules = rules
        self._verifier = verifier

    def admit(self, rpc: str, context: grpc.aio.ServicerContext) -> None:
        rule = self._rules.get(rpc)
        service = peer_identity(context)
        authorize_service(service, rpc, rule)
        assert rule is not None, "authorize_service refuses an RPC without a rule"
        action = rule.person_actions.get(ServiceIdentity(service)) if service is not None else None
        if action is None:
            return
        if self._verifier is None:
            raise PermissionDeniedError(f"{rpc} needs a person's token, and this service verifies none")
        principal = self._verifier.verify(bearer_token(_metadata(context, AUTHORIZATION)))
        authorize(principal, action)
        _caller.set(principal)


def guarded(servicer: Servicer) -> Servicer:
    """Class decorator: every public async method (an RPC) first asks `self.guard` to admit its caller."""
    for name, method in list(vars(servicer).items()):
        if name.startswith("_"):
            continue
        if inspect.isasyncgenfunction(method):
            setattr(servicer, name, _guarded_stream(method))
        elif inspect.iscoroutinefunction(method):
            setattr(servicer, name, _guarded_unary(method))
    return servicer


def _guarded_unary(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    @functools.wraps(handler)
    async def rpc(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.guard.admit(handler.__name__, context)
        return await handler(self, request, context)

    return rpc


def _guarded_stream(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[Any]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    @functools.wraps(handler)
    async def rpc(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        self.guard.admit(handler.__name__, context)
        async for reply in handler(self, request, context):
            yield reply

    return rpc


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value if isinstance(value, str) else value.decode()
    return None


# The status codes of refusals, for every service's error table (civicflow/grpc_errors.py).
REFUSAL_CODES: dict[type[Exception], grpc.StatusCode] = {
    InvalidTokenError: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    RateLimitedError: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
