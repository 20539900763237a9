"""Idempotency keys: a repeated request with the same key gets the run the first one created.

Keys belong to the subject that sends them: the same key from another subject is another key,
which neither returns nor names the first one's run. The key is stored on the run with a
fingerprint of the request (SHA-256 of its canonical JSON), and PostgreSQL's unique constraint
on (actor, key) decides which of several concurrent requests creates the run. The fingerprint
covers what the request asks for (the template and its inputs after defaults are filled in,
or the appealed instance and its new data, and the mode).
"""

from __future__ import annotations

import hashlib
from typing import Any

from civicflow.canonical_json import canonical_json
from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import shown
from orchestrator.errors import IdempotencyConflictError, InputValidationError
from orchestrator.storage.instance_records import InstanceRecord

MAX_KEY_LENGTH = 200


def checked_key(raw: str) -> str | None:
    """The key to use, or None when the request has none."""
    if not raw:
        return None
    if len(raw) > MAX_KEY_LENGTH or not raw.isprintable():
        raise InputValidationError(
            [FieldProblem("idempotency_key", f"must be 1 to {MAX_KEY_LENGTH} printable characters")]
        )
    return raw


def fingerprint(request: str, **content: Any) -> str:
    return hashlib.sha256(canonical_json({"request": request, **content}).encode()).hexdigest()


def ensure_same_request(existing: InstanceRecord, *, key: str, request_hash: str) -> None:
    if existing.request_hash != request_hash:
        raise IdempotencyConflictError(
            f"idempotency key {shown(key)} was already used for a different request (instance {existing.instance_id})"
        )
