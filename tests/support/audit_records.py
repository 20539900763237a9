"""Audit records as an orchestrator would send them, for the tests that talk to the audit service directly."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

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
