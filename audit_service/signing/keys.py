"""The Ed25519 key that signs checkpoints: loaded from a PEM file, created only where settings allow it."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"


class SigningKeyError(Exception):
    """The configured key file is missing, unreadable or not an Ed25519 private key."""


@dataclass(frozen=True)
class PublicKey:
    """What an auditor verifies checkpoints with."""

    key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @cached_property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of the raw 32-byte key."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_pem(cls, text: bytes) -> PublicKey:
        """Raises ValueError for anything but an Ed25519 public key."""
        key = serialization.load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"not an Ed25519 public key but {type(key).__name__}")
        return cls(key)

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        return cls(Ed25519PublicKey.from_public_bytes(raw))


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey

    # Cached, with its key_id: every signed checkpoint names the key.
    @cached_property
    def public(self) -> PublicKey:
        return PublicKey(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def load_signing_key(path: Path, *, create_if_missing: bool = False) -> SigningKey:
    """The key in `path` (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it).

    With `create_if_missing`, a new key is written there first if no file exists; replicas
    racing to create it end up with the same one.
    """
    if create_if_missing and not path.exists():
        create_key_file(path)
    try:
        text = path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"cannot read the audit signing key {path}: {error.strerror}") from None
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return SigningKey(key)


def create_key_file(path: Path) -> None:
    """Writes a new Ed25519 key to `path` (mode 0600) unless a file is there already."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(pem)
            # link() refuses an existing target: the first complete file wins, none is ever half-written.
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    except OSError as error:
        raise SigningKeyError(f"cannot create the audit signing key {path}: {error.strerror}") from None
