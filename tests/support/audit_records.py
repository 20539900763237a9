"""Audit records as an orchestrator would send them, for the tests that talk to the audit service directly,
and entries planted behind its back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from audit_service.log.records import hash_entry, records_from_proto
from audit_service.log.tables import AUDIT_TRAIL, RECORD_COLUMNS
from civicflow.v1 import audit_pb2


def timestamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def record(instance: str, step_index: int = 0, /, **overrides: Any) -> audit_pb2.AuditRecord:
    started = datetime(2025, 3, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=step_index)
    fields: dict[str, Any] = {
        "instance_id": instance,
        "step_name": f"step_{step_index}",
        "step_index": step_index,
        "attempt": 1,
        "status": audit_pb2.STEP_STATUS_SUCCESS,
        "started_at": timestamp(started),
        "completed_at": timestamp(started + timedelta(milliseconds=5)),
        "input_json": json.dumps({"citizen_id": "c-1", "step": step_index}),
        "output_json": json.dumps({"ok": True}),
        "error": "",
        "actor": "tester",
    }
    fields.update(overrides)
    return audit_pb2.AuditRecord(**fields)


def new_instance() -> str:
    return str(uuid.uuid4())


# Planted entries go far beyond any log head a test reaches, where no append of the service lands.
PLANTED_FROM_SEQ = 1_000_000_000


def plant(admin_url: str, message: audit_pb2.AuditRecord, *, writer: str) -> int:
    """A superuser's INSERT of an entry behind the audit service's back (the triggers refuse only changes and
    removals), as `writer`, without touching the tree: only on a log of the test's own. Answers its seq."""
    (planted,) = records_from_proto([message], writer=writer)
    engine = sa.create_engine(admin_url)
    try:
        with engine.begin() as connection:
            seq = connection.execute(
                sa.text("SELECT greatest(coalesce(max(seq) + 1, 0), :floor) FROM audit.audit_trail"),
                {"floor": PLANTED_FROM_SEQ},
            ).scalar_one()
            recorded_at = connection.execute(sa.text("SELECT now()")).scalar_one()
            values = {name: getattr(planted, name) for name in RECORD_COLUMNS}
            connection.execute(
                sa.insert(AUDIT_TRAIL).values(
                    **values, seq=seq, recorded_at=recorded_at, leaf_hash=hash_entry(seq, planted, recorded_at)
                )
            )
    finally:
        engine.dispose()
    return int(seq)
