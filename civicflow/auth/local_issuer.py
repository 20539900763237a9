"""The local token issuer of development and tests: an Ed25519 key under .civicflow/, created on first use.

It signs exactly what an identity provider would: issuer `civicflow-local`, audience `civicflow`,
the subject, its roles, and an expiry. Services verify with its public key alone, which sits
beside the private key (`<name>.pub.pem`); the private key never leaves the machine that mints.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from civicflow.auth.principals import Role
from civicflow.auth.tokens import AUDIENCE, LOCAL_ALGORITHM, LOCAL_ISSUER

DEFAULT_TTL_SECONDS = 8 * 3600


def public_key_path(private_key_path: Path) -> Path:
    return private_key_path.with_name(private_key_path.stem + ".pub.pem")


def ensure_issuer_key(private_key_path: Path) -> Path:
    """Creates the issuer's key pair unless it exists (safe when processes race); returns the public key's path.

    Each file is written whole under a temporary name and then put in place, so that no process ever reads
    half a key: the private key with link(), which refuses an existing target (the first key linked is
    everyone's), the public key, derived from it and so the same in every process, with an atomic rename.
    """
    public_path = public_key_path(private_key_path)
    if not private_key_path.exists():
        private_key_path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = _written_aside(private_key_path, pem)  # mode 0600
        try:
            os.link(temporary, private_key_path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            os.unlink(temporary)
    if not public_path.exists():
        public_pem = (
            _load(private_key_path)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        temporary = _written_aside(public_path, public_pem)
        os.chmod(temporary, 0o644)
        os.replace(temporary, public_path)
    return public_path


def _written_aside(path: Path, content: bytes) -> Path:
    """`content` in a new file (mode 0600) beside `path`, under a name of its own."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    return Path(temporary)


class LocalTokenIssuer:
    def __init__(self, private_key_path: Path) -> None:
        ensure_issuer_key(private_key_path)
        self._key = _load(private_key_path)

    def issue(
        self,
        subject: str,
        roles: Iterable[Role | str],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        audience: str = AUDIENCE,
        issuer: str = LOCAL_ISSUER,
        now: float | None = None,
    ) -> str:
        issued_at = int(time.time() if now is None else now)
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": subject,
            "roles": sorted(str(role) for role in roles),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + int(ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=LOCAL_ALGORITHM)


def _load(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key
