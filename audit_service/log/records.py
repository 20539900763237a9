"""Audit records as the service knows them, checked and converted at the gRPC boundary."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audit_service.errors import InvalidRequestError
from audit_service.log.canonical_entry import (
    EntryEncodingError,
    canonical_bytes_spliced,
    canonicalise,
    entry_leaf_hash,
    rfc3339,
)
from audit_service.tree.merkle import leaf_hash
from civicflow.input_limits import InvalidInputError, parse_json, shown, text_problem
from civicflow.timestamps import to_timestamp
from civicflow.v1 import audit_pb2

STATUS_NAMES: dict[int, str] = {
    audit_pb2.STEP_STATUS_SUCCESS: "success",
    audit_pb2.STEP_STATUS_FAILED: "failed",
}
STATUS_VALUES: dict[str, int] = {name: value for value, name in STATUS_NAMES.items()}
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# The longest each text field of a record may be (the JSON fields are bounded by the message size alone).
TEXT_LIMITS: dict[str, int | None] = {
    "step_name": 200,
    "input_json": None,
    "output_json": None,
    "error": 65536,
    "actor": 1024,
    "idempotency_key": MAX_IDEMPOTENCY_KEY_LENGTH,
}


@dataclass(frozen=True)
class AuditRecord:
    """What a writer records about one attempt of one step; the JSON is kept exactly as sent."""

    instance_id: uuid.UUID
    step_name: str
    step_index: int
    attempt: int
    status: str
    started_at: datetime
    completed_at: datetime
    input_json: str
    output_json: str
    error: str
    actor: str
    # Not part of the leaf hash: it only lets a writer retry an append without duplicating it.
    idempotency_key: str | None = None
    # Not part of the leaf hash either: the service that appended it (its certificate's name).
    writer: str = ""
    # RFC 8785 bytes of input and output, when the record was checked on the way in: hashing reuses them.
    canonical_input: bytes | None = dataclasses.field(default=None, compare=False, repr=False)
    canonical_output: bytes | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class StoredEntry:
    """A record as stored: its leaf index in the global log (from 0), when it was stored, and its leaf hash."""

    seq: int
    record: AuditRecord
    recorded_at: datetime
    leaf_hash: bytes


def _scalar_fields(seq: int, record: AuditRecord, recorded_at: datetime) -> dict[str, Any]:
    """Every field the leaf hash covers except the input and output documents."""
    return {
        "seq": seq,
        "instance_id": str(record.instance_id),
        "step_name": record.step_name,
        "step_index": record.step_index,
        "attempt": record.attempt,
        "status": record.status,
        "started_at": rfc3339(record.started_at),
        "completed_at": rfc3339(record.completed_at),
        "recorded_at": rfc3339(recorded_at),
        "error": record.error,
        "actor": record.actor,
    }


def entry_document(seq: int, record: AuditRecord, recorded_at: datetime) -> dict[str, Any]:
    """The fields the leaf hash covers (audit_service.log.canonical_entry), as the API shows them."""
    return {
        **_scalar_fields(seq, record, recorded_at),
        "input": json.loads(record.input_json),
        "output": json.loads(record.output_json),
    }


def hash_entry(seq: int, record: AuditRecord, recorded_at: datetime) -> bytes:
    if record.canonical_input is None or record.canonical_output is None:
        return entry_leaf_hash(entry_document(seq, record, recorded_at))
    # The appending path: the JSON values were canonicalised when the record was checked.
    encoded = {"input": record.canonical_input, "output": record.canonical_output}
    return leaf_hash(canonical_bytes_spliced(_scalar_fields(seq, record, recorded_at), encoded))


def parse_instance_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidRequestError(f"instance_id {shown(value)} is not a UUID") from None


def records_from_proto(messages: list[audit_pb2.AuditRecord], *, writer: str) -> list[AuditRecord]:
    """Checks every record, written by `writer`; the first problem is named by record index and field."""
    if not messages:
        raise InvalidRequestError("at least one record is required")
    return [_record_from_proto(message, index, writer) for index, message in enumerate(messages)]


def entry_to_proto(entry: StoredEntry) -> audit_pb2.AuditEntry:
    record = entry.record
    return audit_pb2.AuditEntry(
        seq=entry.seq,
        record=audit_pb2.AuditRecord(
            instance_id=str(record.instance_id),
            step_name=record.step_name,
            step_index=record.step_index,
            attempt=record.attempt,
            status=STATUS_VALUES[record.status],  # type: ignore[arg-type]
            started_at=to_timestamp(record.started_at),
            completed_at=to_timestamp(record.completed_at),
            input_json=record.input_json,
            output_json=record.output_json,
            error=record.error,
            actor=record.actor,
            idempotency_key=record.idempotency_key or "",
        ),
        recorded_at=to_timestamp(entry.recorded_at),
        leaf_hash=entry.leaf_hash,
        writer=record.writer,
    )


def _record_from_proto(message: audit_pb2.AuditRecord, index: int, writer: str) -> AuditRecord:
    def invalid(field: str, problem: str) -> InvalidRequestError:
        return InvalidRequestError(f"records[{index}].{field}: {problem}")

    try:
        instance_id = uuid.UUID(message.instance_id)
    except ValueError:
        raise invalid("instance_id", f"{shown(message.instance_id)} is not a UUID") from None
    if not message.step_name.strip():
        raise invalid("step_name", "must not be empty")
    if message.step_index < 0:
        raise invalid("step_index", f"must be >= 0, got {message.step_index}")
    if message.attempt < 1:
        raise invalid("attempt", f"must be >= 1, got {message.attempt}")
    if message.status not in STATUS_NAMES:
        raise invalid("status", "must be STEP_STATUS_SUCCESS or STEP_STATUS_FAILED")
    for field in ("started_at", "completed_at"):
        if not message.HasField(field):
            raise invalid(field, "must be set")
    started_at = message.started_at.ToDatetime(tzinfo=UTC)
    completed_at = message.completed_at.ToDatetime(tzinfo=UTC)
    if completed_at < started_at:
        raise invalid("completed_at", "is before started_at")
    canonical: dict[str, bytes] = {}
    for field in ("input_json", "output_json"):
        try:
            # Depth, text and numbers as every service's edge checks them (civicflow/input_limits.py).
            value = parse_json(field, getattr(message, field), max_text_length=None)
        except InvalidInputError as error:
            raise invalid(field, "; ".join(problem.problem for problem in error.problems)) from None
        try:
            canonical[field] = canonicalise(value)
        except EntryEncodingError:
            raise invalid(field, "cannot be hashed as RFC 8785 JSON") from None
    for field, max_length in TEXT_LIMITS.items():
        # PostgreSQL text cannot hold NUL; refusing it here keeps it a client error, not a server one.
        if problem := text_problem(getattr(message, field), max_length=max_length):
            raise invalid(field, problem)
    return AuditRecord(
        instance_id=instance_id,
        step_name=message.step_name,
        step_index=message.step_index,
        attempt=message.attempt,
        status=STATUS_NAMES[message.status],
        started_at=started_at,
        completed_at=completed_at,
        input_json=message.input_json,
        output_json=message.output_json,
        error=message.error,
        actor=message.actor,
        idempotency_key=message.idempotency_key or None,
        writer=writer,
        canonical_input=canonical["input_json"],
        canonical_output=canonical["output_json"],
    )
