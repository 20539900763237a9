"""gRPC adapter of the audit service: checked records in, stored entries out."""

from __future__ import annotations

import asyncio

import grpc

from audit_service.errors import AuditError, status_code_for
from audit_service.records import entry_to_proto, parse_instance_id, records_from_proto
from audit_service.store import AuditStore
from civicflow.v1 import audit_pb2, audit_pb2_grpc


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, store: AuditStore) -> None:
        self._store = store

    async def AppendEntries(
        self, request: audit_pb2.AppendEntriesRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.AppendEntriesResponse:
        try:
            records = records_from_proto(list(request.records))
            entries = await asyncio.to_thread(self._store.append, records)
        except AuditError as error:
            await context.abort(status_code_for(error), str(error))
        return audit_pb2.AppendEntriesResponse(entries=[entry_to_proto(entry) for entry in entries])

    async def ListEntries(
        self, request: audit_pb2.ListEntriesRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListEntriesResponse:
        try:
            instance_id = parse_instance_id(request.instance_id)
            entries = await asyncio.to_thread(self._store.list_for_instance, instance_id)
        except AuditError as error:
            await context.abort(status_code_for(error), str(error))
        return audit_pb2.ListEntriesResponse(entries=[entry_to_proto(entry) for entry in entries])
