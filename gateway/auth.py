"""Who is calling a route: the bearer token verified, and passed on with every call the route makes upstream.

Every route but the public ones (PUBLIC_PATHS) takes a CallerDep or an AuditorDep, which answer 401
for a missing or bad token, 429 beyond the subject's rate limit (civicflow/rate_limits.py) and 403 for
roles that do not allow the route. The orchestrator and the audit service verify the same token
again: the gateway is not trusted to have checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from civicflow.auth.access import Action, authorize
from civicflow.auth.guards import bearer_metadata
from civicflow.auth.principals import Principal
from civicflow.auth.tokens import InvalidTokenError, TokenVerifier
from civicflow.rate_limits import RateLimiter

# Signed tree heads and the key that verifies them are meant to be published; the rest needs a token.
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/healthz",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/audit/public-key",
        "/audit/public-keys",
        "/audit/checkpoint",
        "/audit/checkpoints",
    }
)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer token",
    description="A token from your identity provider or, locally, `civicflow token issue --subject NAME --role ROLE`.",
)


@dataclass(frozen=True)
class Caller:
    principal: Principal
    # The caller's own token, as gRPC metadata: every upstream call carries it.
    metadata: tuple[tuple[str, str], ...]


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


async def authenticated(request: Request, credentials: BearerCredentials) -> Caller:
    if credentials is None:
        raise InvalidTokenError("no bearer token: send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(credentials.credentials)
    # Counted here, per subject, so that the limit holds on every route (the /audit routes never reach the
    # orchestrator, which keeps a limit of its own for its direct callers).
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.admit(principal.subject)
    return Caller(principal=principal, metadata=bearer_metadata(credentials.credentials))


CallerDep = Annotated[Caller, Depends(authenticated)]


async def auditor(caller: CallerDep) -> Caller:
    authorize(caller.principal, Action.READ_AUDIT_LOG)
    return caller


AuditorDep = Annotated[Caller, Depends(auditor)]
