"""Migrates the audit schema, then serves the log with a role that may only append, read and move the head."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc

from audit_service import metrics
from audit_service.config import AuditSettings
from audit_service.log.group_commit import GroupCommitWriter
from audit_service.log.store import AuditStore
from audit_service.log.tables import MIGRATIONS, SCHEMA
from audit_service.servicer import AuditServicer
from audit_service.signing.keys import load_signing_key
from audit_service.signing.notary import Notary
from audit_service.tree.proofs import Prover
from audit_service.tree.shared_verification import SharedVerification
from audit_service.tree.verification_worker import VerificationWorker
from civicflow import tracing
from civicflow.auth.access import SERVICE_RULES
from civicflow.auth.guards import ServiceGuard
from civicflow.auth.tokens import TokenVerifier
from civicflow.database import create_engine, is_reachable, require_migrated
from civicflow.grpc_server import RunningServer, start_grpc_server
from civicflow.message_limits import ReceiveLimits
from civicflow.tls import MAX_MESSAGE_BYTES, Identity
from civicflow.v1 import audit_pb2, audit_pb2_grpc

SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
# An append carries up to 500 records (the orchestrator's audit client), each with what a step consumed and
# produced, a run's inputs (up to 8 MiB of JSON text) among them. The other RPCs name entries, sizes and keys.
RECEIVE_LIMITS = ReceiveLimits({"AppendEntries": MAX_MESSAGE_BYTES})


async def start(settings: AuditSettings) -> RunningServer:
    """Serves on settings.host:settings.audit_port (0 picks a free port); SERVING while the database answers.

    Raises SigningKeyError before touching the database when the signing key cannot be loaded.
    """
    identity = Identity.load(settings)
    key = load_signing_key(settings.audit_signing_key_path, create_if_missing=settings.audit_signing_key_create)
    # Its role may append and read, never change or remove (civicflow/database_setup.py).
    writer = create_engine(
        settings.database_login_url(), application_name="audit_service", pool_size=settings.database_pool_size
    )
    tracing.instrument_engine(writer, "audit_service")
    store = AuditStore(writer)
    notary = Notary(store, key, min_interval=timedelta(seconds=settings.audit_checkpoint_interval_seconds))
    try:
        await asyncio.to_thread(require_migrated, writer, script_location=MIGRATIONS, schema=SCHEMA)
        await asyncio.to_thread(notary.register_key)
        metrics.log_size(await asyncio.to_thread(store.head_size))
    except BaseException:
        await asyncio.to_thread(writer.dispose)
        raise
    appender = GroupCommitWriter(store, max_batch_records=settings.audit_max_batch_records)
    appender.start()
    worker = VerificationWorker(settings.database_login_url(), key.public)
    verification = SharedVerification(
        worker.verify, store.head_size, max_age_seconds=settings.audit_verify_cache_seconds
    )
    servicer = AuditServicer(
        guard=ServiceGuard(SERVICE_RULES, TokenVerifier(settings)),
        store=store,
        appender=appender,
        notary=notary,
        prover=Prover(store),
        verification=verification,
    )

    def register(server: grpc.aio.Server) -> None:
        audit_pb2_grpc.add_AuditServiceServicer_to_server(servicer, server)

    async def database_reachable() -> bool:
        return await asyncio.to_thread(is_reachable, writer)

    async def release() -> None:
        worker.close()
        await appender.stop()
        await asyncio.to_thread(writer.dispose)

    try:
        running = await start_grpc_server(
            service_names=[SERVICE_NAME],
            register=register,
            host=settings.host,
            port=settings.audit_port,
            identity=identity,
            # Only services with a certificate of the authority get in; access.SERVICE_RULES says which may call what.
            require_client_certificate=True,
            health_port=settings.health_port,
            readiness=database_reachable,
            receive_limits=RECEIVE_LIMITS,
            metrics_port=settings.metrics_port,
            service="audit_service",
        )
    except BaseException:
        await release()
        raise
    running.cleanups.append(release)
    return running
