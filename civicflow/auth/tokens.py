"""Bearer tokens (JWT) verified the one way every service does it: algorithm pinned, iss, aud, exp and nbf checked.

Two key sources sit behind one verifier: the local issuer's public key (development and tests,
EdDSA) and an OpenID Connect provider's JWKS (production; the keys are fetched from the
provider's discovery document and cached). The claim that carries roles is configurable, and
a provider's group names are mapped to Civicflow's roles; names that map to no role are ignored.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import Field
from pydantic_settings import BaseSettings

from civicflow.auth.principals import Principal, Role
from civicflow.settings import ConfigurationError

LOCAL_ISSUER = "civicflow-local"
AUDIENCE = "civicflow"
LOCAL_ALGORITHM = "EdDSA"
MAX_SUBJECT_LENGTH = 200
# Verified tokens remembered, so that a client reusing its token is not verified again on every call.
_CACHE_SIZE = 4096


class TokenConfigurationError(ConfigurationError):
    """No key to verify tokens with: the service refuses to start."""


class InvalidTokenError(Exception):
    """No token, or one that does not prove who the caller is: the message says why, without echoing the token."""


class TokenSettings(BaseSettings):
    """How bearer tokens are verified; the settings of every service that takes them extend this class."""

    token_issuer: str = LOCAL_ISSUER
    token_audience: str = AUDIENCE
    # The local issuer's public key (PEM). Used unless oidc_issuer_url is set.
    token_public_key_path: Path | None = None
    # An OpenID Connect provider: its keys come from <issuer>/.well-known/openid-configuration's jwks_uri.
    # token_issuer must then be the provider's issuer exactly as its tokens name it.
    oidc_issuer_url: str | None = None
    oidc_algorithms: tuple[str, ...] = ("RS256",)
    # The claim whose list of names grants roles ("roles", "groups", ...).
    token_roles_claim: str = "roles"
    # A provider's group name -> a Civicflow role; names not listed are taken as role names themselves.
    token_role_mapping: dict[str, Role] = Field(default_factory=dict)
    # Clock skew tolerated between the issuer and this service.
    token_leeway_seconds: float = Field(default=30.0, ge=0, le=300)


class TokenVerifier:
    def __init__(self, settings: TokenSettings) -> None:
        self._settings = settings
        self._keys = _key_source(settings)
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        """The principal the token proves, or InvalidTokenError."""
        now = time.time()
        with self._lock:
            cached = self._cache.get(token)
            if cached is not None and now < cached[1] + self._settings.token_leeway_seconds:
                self._cache.move_to_end(token)
                return cached[0]
        principal, expires = self._verify(token)
        with self._lock:
            self._cache[token] = (principal, expires)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        key, algorithms = self._keys.key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(algorithms),
                audience=self._settings.token_audience,
                issuer=self._settings.token_issuer,
                leeway=self._settings.token_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"], "verify_nbf": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidTokenError("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError("the token is not meant for this service (audience)") from None
        except jwt.InvalidIssuerError:
            raise InvalidTokenError("the token was not issued by the configured issuer") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidTokenError("the token is not signed with an accepted algorithm") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidTokenError(f"the token lacks the '{error.claim}' claim") from None
        except jwt.PyJWTError:
            raise InvalidTokenError("the token is malformed or its signature does not verify") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT_LENGTH or not subject.isprintable():
            raise InvalidTokenError(f"the token's subject must be 1 to {MAX_SUBJECT_LENGTH} printable characters")
        roles = _roles(claims.get(self._settings.token_roles_claim), self._settings.token_role_mapping)
        return Principal(subject=subject, roles=roles), float(claims["exp"])


def _roles(claim: Any, mapping: Mapping[str, Role]) -> frozenset[Role]:
    names = [claim] if isinstance(claim, str) else claim if isinstance(claim, list) else []
    roles: set[Role] = set()
    for name in names:
        if not isinstance(name, str):
            continue
        if name in mapping:
            roles.add(mapping[name])
        elif name in Role.__members__.values():
            roles.add(Role(name))
    return frozenset(roles)


class _KeySource:
    def key_for(self, token: str) -> tuple[Any, Sequence[str]]:
        raise NotImplementedError


class _LocalKey(_KeySource):
    def __init__(self, path: Path) -> None:
        try:
            self._key = load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as error:
            raise TokenConfigurationError(f"TOKEN_PUBLIC_KEY_PATH {path}: not a readable public key: {error}") from None

    def key_for(self, token: str) -> tuple[Any, Sequence[str]]:
        return self._key, (LOCAL_ALGORITHM,)


class _ProviderKeys(_KeySource):
    """The provider's signing keys, found through its discovery document on first use and cached."""

    def __init__(self, issuer_url: str, algorithms: Sequence[str]) -> None:
        self._issuer_url = issuer_url.rstrip("/")
        self._algorithms = tuple(algorithms)
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def key_for(self, token: str) -> tuple[Any, Sequence[str]]:
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
        except (jwt.PyJWKClientError, jwt.DecodeError) as error:
            raise InvalidTokenError(f"no key of the identity provider verifies the token: {error}") from None
        return key, self._algorithms

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                discovery = f"{self._issuer_url}/.well-known/openid-configuration"
                try:
                    with urllib.request.urlopen(discovery, timeout=10) as response:  # noqa: S310 (configured URL)
                        jwks_uri = json.load(response)["jwks_uri"]
                except (OSError, ValueError, KeyError) as error:
                    raise InvalidTokenError(f"the identity provider's keys cannot be fetched: {error}") from None
                self._client = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=300)
            return self._client


def _key_source(settings: TokenSettings) -> _KeySource:
    if settings.oidc_issuer_url:
        return _ProviderKeys(settings.oidc_issuer_url, settings.oidc_algorithms)
    if settings.token_public_key_path is None:
        raise TokenConfigurationError(
            "TOKEN_PUBLIC_KEY_PATH (the local issuer's public key) or OIDC_ISSUER_URL must be set: every caller is"
            " identified by a bearer token"
        )
    return _LocalKey(settings.token_public_key_path)


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (or gRPC `authorization` metadata)."""
    if not header:
        raise InvalidTokenError("no bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("the Authorization header must be 'Bearer <token>'")
    return token.strip()
