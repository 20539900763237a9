"""Migrates the audit schema, then serves the audit trail with a role that may only INSERT and SELECT."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from audit_service.config import AuditSettings
from audit_service.servicer import AuditServicer
from audit_service.store import AuditStore
from civicflow.database import create_engine, is_reachable, run_migrations
from civicflow.grpc_server import RunningServer, start_grpc_server
from civicflow.v1 import audit_pb2, audit_pb2_grpc

SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA = "audit"
WRITER_ROLE = "civicflow_audit_writer"


async def start(settings: AuditSettings) -> RunningServer:
    """Serves on settings.host:settings.audit_port (0 picks a free port); SERVING while the database answers."""
    await asyncio.to_thread(_migrate, settings.database_url)
    # The owner's engine is gone by now: serving connections can append and read, never change or remove.
    writer = create_engine(
        settings.database_url,
        application_name="audit_service",
        role=WRITER_ROLE,
        pool_size=settings.database_pool_size,
    )
    servicer = AuditServicer(AuditStore(writer))

    def register(server: grpc.aio.Server) -> None:
        audit_pb2_grpc.add_AuditServiceServicer_to_server(servicer, server)

    async def database_reachable() -> bool:
        return await asyncio.to_thread(is_reachable, writer)

    async def dispose_writer() -> None:
        await asyncio.to_thread(writer.dispose)

    try:
        running = await start_grpc_server(
            service_names=[SERVICE_NAME],
            register=register,
            host=settings.host,
            port=settings.audit_port,
            readiness=database_reachable,
        )
    except BaseException:
        await dispose_writer()
        raise
    running.cleanups.append(dispose_writer)
    return running


def _migrate(database_url: str) -> None:
    owner = create_engine(database_url, application_name="audit_service-migrations", pool_size=1)
    try:
        run_migrations(owner, script_location=MIGRATIONS, schema=SCHEMA)
    finally:
        owner.dispose()
