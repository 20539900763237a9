"""Tokens that must prove nothing: each is wrong in one way only, made with pyjwt and the session issuer's own key
(or, for the forged ones, another key), so that a refusal can only be for the flaw it is named for.

Each would grant admin if it were accepted. BAD_TOKENS maps a name to what makes the token, so that tests
can be parametrized by name before the session's credentials exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from civicflow.auth.principals import Role
from civicflow.auth.tokens import AUDIENCE, LOCAL_ALGORITHM, LOCAL_ISSUER
from tests.support.credentials import Credentials

# Well past the verifier's leeway (30 s), so that clock skew cannot explain an acceptance.
HOUR = 3600


def claims(subject: str = "admin-1", *, roles: tuple[Role, ...] = (Role.ADMIN,), **overrides: Any) -> dict[str, Any]:
    """The claims the local issuer signs, with `overrides`; an override of None leaves that claim out."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "roles": [str(role) for role in roles],
        "iat": now,
        "nbf": now,
        "exp": now + HOUR,
        "jti": uuid.uuid4().hex,
    }
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not None}


def signed(credentials: Credentials, payload: dict[str, Any]) -> str:
    """`payload` signed as the session issuer signs: its key, its algorithm."""
    key = serialization.load_pem_private_key(credentials.issuer_key.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return jwt.encode(payload, key, algorithm=LOCAL_ALGORITHM)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tampered(credentials: Credentials) -> str:
    """A caseworker's valid token whose payload is raised to admin, its signature kept."""
    header, _, signature = signed(credentials, claims("caseworker-1", roles=(Role.CASEWORKER,))).split(".")
    return f"{header}.{_b64(json.dumps(claims('caseworker-1')).encode())}.{signature}"


def _hmac_with_public_key(credentials: Credentials) -> str:
    """Algorithm confusion: HS256 keyed with the issuer's public key, which anyone may hold."""
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims()).encode())}"
    mac = hmac.new(credentials.token_public_key.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _ago(seconds: int) -> int:
    return int(time.time()) - seconds


BAD_TOKENS: dict[str, Callable[[Credentials], str]] = {
    "expired": lambda c: signed(c, claims(iat=_ago(3 * HOUR), nbf=_ago(3 * HOUR), exp=_ago(HOUR))),
    "wrong audience": lambda c: signed(c, claims(aud="another-service")),
    "wrong issuer": lambda c: signed(c, claims(iss="https://issuer.example")),
    "not yet valid (nbf)": lambda c: signed(c, claims(nbf=_ago(-HOUR), exp=_ago(-2 * HOUR))),
    "no subject": lambda c: signed(c, claims(sub=None)),
    "empty subject": lambda c: signed(c, claims(sub="")),
    "no expiry": lambda c: signed(c, claims(exp=None)),
    "signed by another key": lambda c: jwt.encode(claims(), Ed25519PrivateKey.generate(), algorithm=LOCAL_ALGORITHM),
    "tampered payload": _tampered,
    "alg none": lambda c: jwt.encode(claims(), None, algorithm="none"),
    "HS256 keyed with the public key": _hmac_with_public_key,
    "not a JWT": lambda c: "not-a-token",
}
