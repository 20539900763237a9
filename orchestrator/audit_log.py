"""Writes step records to the audit service and reads an instance's trail back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc

from civicflow.canonical_json import canonical_json
from civicflow.timestamps import to_timestamp
from civicflow.v1 import audit_pb2, audit_pb2_grpc
from orchestrator.errors import DependencyUnavailableError


@dataclass(frozen=True)
class StepRecord:
    """One attempt of one step: what it consumed, what it produced or why it failed."""

    instance_id: uuid.UUID
    step_name: str
    step_index: int
    attempt: int
    succeeded: bool
    started_at: datetime
    completed_at: datetime
    input: Any
    output: Any
    error: str = ""
    actor: str = ""


class AuditLog:
    def __init__(self, stub: audit_pb2_grpc.AuditServiceStub, *, timeout: float) -> None:
        self._stub = stub
        self._timeout = timeout

    async def append(self, record: StepRecord) -> audit_pb2.AuditEntry:
        request = audit_pb2.AppendEntriesRequest(records=[_to_proto(record)])
        try:
            reply: audit_pb2.AppendEntriesResponse = await self._stub.AppendEntries(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise DependencyUnavailableError(
                f"audit service did not record step '{record.step_name}': {error.code().name}: {error.details()}"
            ) from error
        return reply.entries[0]

    async def entries(self, instance_id: uuid.UUID) -> list[audit_pb2.AuditEntry]:
        try:
            reply = await self._stub.ListEntries(
                audit_pb2.ListEntriesRequest(instance_id=str(instance_id)), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            raise DependencyUnavailableError(
                f"audit service unavailable: {error.code().name}: {error.details()}"
            ) from error
        return list(reply.entries)


def _to_proto(record: StepRecord) -> audit_pb2.AuditRecord:
    return audit_pb2.AuditRecord(
        instance_id=str(record.instance_id),
        step_name=record.step_name,
        step_index=record.step_index,
        attempt=record.attempt,
        status=audit_pb2.STEP_STATUS_SUCCESS if record.succeeded else audit_pb2.STEP_STATUS_FAILED,
        started_at=to_timestamp(record.started_at),
        completed_at=to_timestamp(record.completed_at),
        input_json=canonical_json(record.input),
        output_json=canonical_json(record.output),
        error=record.error,
        actor=record.actor,
    )
