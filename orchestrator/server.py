"""Builds the orchestrator from its settings, starts its gRPC server, and tears it down."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from civicflow.database import create_engine, is_reachable, run_migrations
from civicflow.grpc_server import RunningServer, check_health, insecure_channel, start_grpc_server
from civicflow.v1 import audit_pb2_grpc, evaluator_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.appeals import AppealDesk
from orchestrator.audit_log import AuditLog
from orchestrator.config import OrchestratorSettings
from orchestrator.leases import LeaseStore
from orchestrator.replica import Replica
from orchestrator.results_store import ImpactResultStore
from orchestrator.schemes import SchemeCatalog
from orchestrator.servicer import OrchestratorServicer
from orchestrator.step_journal import StepJournal
from orchestrator.store import InstanceStore
from orchestrator.tables import SCHEMA
from orchestrator.tasks import default_task_registry
from orchestrator.tasks.base import TaskContext
from orchestrator.template_registry import TemplateRegistry

SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


async def start(settings: OrchestratorSettings) -> RunningServer:
    """Loads templates and schemes (refusing to start on a bad one), migrates, and serves."""
    templates = TemplateRegistry.load_directory(settings.templates_dir, default_task_registry())
    schemes = SchemeCatalog.load(settings.schemes_file)
    engine = create_engine(
        settings.database_url, application_name="civicflow-orchestrator", pool_size=settings.database_pool_size
    )
    await asyncio.to_thread(run_migrations, engine, script_location=MIGRATIONS, schema=SCHEMA)
    # A run's reads and writes are single statements: no BEGIN/COMMIT round trips on the hot path.
    statements = create_engine(
        settings.database_url,
        application_name="civicflow-orchestrator",
        pool_size=settings.database_pool_size,
        autocommit=True,
    )

    evaluator_channel = insecure_channel(settings.evaluator_target)
    audit_channel = insecure_channel(settings.audit_target)
    evaluator = evaluator_pb2_grpc.EvaluatorServiceStub(evaluator_channel)
    audit = AuditLog(audit_pb2_grpc.AuditServiceStub(audit_channel), timeout=settings.downstream_timeout_seconds)
    instances = InstanceStore(statements)
    results = ImpactResultStore(engine)

    def task_context(instance_id: uuid.UUID) -> TaskContext:
        return TaskContext(
            instance_id=instance_id,
            evaluator=evaluator,
            schemes=schemes,
            results=results,
            call_timeout=settings.downstream_timeout_seconds,
        )

    replica = Replica(
        settings=settings,
        templates=templates,
        store=instances,
        journal=StepJournal(statements),
        leases=LeaseStore(statements),
        audit=audit,
        task_context=task_context,
    )
    servicer = OrchestratorServicer(
        templates=templates,
        replica=replica,
        appeals=AppealDesk(templates=templates, store=instances, replica=replica),
        results=results,
        audit=audit,
    )

    async def ready() -> bool:
        checks = await asyncio.gather(
            asyncio.to_thread(is_reachable, engine), check_health(evaluator_channel), check_health(audit_channel)
        )
        return all(checks)

    async def close() -> None:
        await evaluator_channel.close()
        await audit_channel.close()
        await asyncio.gather(asyncio.to_thread(engine.dispose), asyncio.to_thread(statements.dispose))

    try:
        # Before any request can start a run: the first claim takes back what this replica id left.
        await replica.start()
        running = await start_grpc_server(
            service_names=[SERVICE_NAME],
            register=lambda server: orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(servicer, server),
            host=settings.host,
            port=settings.orchestrator_port,
            readiness=ready,
        )
    except BaseException:  # a port already taken, say: leave no run, channel or pool behind
        await replica.stop(grace=0)
        await close()
        raise
    running.on_stop.append(replica.stop)
    running.cleanups.append(close)
    return running
