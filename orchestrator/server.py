"""Builds the orchestrator from its settings, starts its gRPC server, and tears it down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from civicflow import tracing
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.guards import BearerTokenGuard
from civicflow.auth.tokens import TokenVerifier
from civicflow.database import create_engine, is_reachable, require_migrated
from civicflow.grpc_server import RunningServer, check_health, start_grpc_server
from civicflow.message_limits import MiB, ReceiveLimits
from civicflow.rate_limits import RateLimiter
from civicflow.tls import Identity
from civicflow.v1 import audit_pb2_grpc, evaluator_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.appeals import AppealDesk
from orchestrator.config import OrchestratorSettings
from orchestrator.impact.admission import ImpactAdmission, impact_templates
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.reviews.service import ReviewService
from orchestrator.reviews.store import ReviewTaskStore
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.cancellation import RunCanceller
from orchestrator.runs.outages import OutagePolicy
from orchestrator.runs.replica import Replica
from orchestrator.runs.retries import RetryDesk
from orchestrator.schemes.seeding import seed_schemes
from orchestrator.schemes.service import SchemeService
from orchestrator.schemes.store import SchemeVersionStore
from orchestrator.servicer import OrchestratorServicer
from orchestrator.storage.appeal_records import AppealStore
from orchestrator.storage.cancellations import CancellationStore
from orchestrator.storage.impact_queue import ImpactQueue, QueueLimits
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.leases import LeaseStore
from orchestrator.storage.run_list import RunList
from orchestrator.storage.step_journal import StepJournal
from orchestrator.storage.tables import MIGRATIONS, SCHEMA
from orchestrator.storage.template_versions import TemplateVersionStore
from orchestrator.tasks import task_registry
from orchestrator.tasks.contract import TaskContract
from orchestrator.templates.registry import TemplateRegistry
from orchestrator.templates.watch import TemplateWatch

log = logging.getLogger(__name__)

SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name


# A run's inputs and an appeal's evidence arrive as JSON text the gateway re-encodes from a body of at most
# 1 MiB: up to 4 times as long ("1e15," becomes "1000000000000000.0, "; a 4-byte character a 12-byte
# escape), so 4 MiB, and as much again for a margin. The other RPCs name things.
# A scheme document arrives as JSON text the gateway re-encodes from a body of at most 1 MiB; documents
# are small (100 criteria of bounded expressions), so 1 MiB and no margin.
RECEIVE_LIMITS = ReceiveLimits({"ExecuteWorkflow": 8 * MiB, "SubmitAppeal": 8 * MiB, "CreateSchemeVersion": 1 * MiB})


async def start(settings: OrchestratorSettings) -> RunningServer:
    """Migrates, seeds schemes the database lacks, loads the templates that load (and watches them), and serves."""
    # Engines and channels connect only when first used: a refused configuration costs nothing here.
    database_url = settings.database_login_url()
    engine = create_engine(
        database_url, application_name="civicflow-orchestrator", pool_size=settings.database_pool_size
    )
    # A run's reads and writes are single statements: no BEGIN/COMMIT round trips on the hot path.
    statements = create_engine(
        database_url,
        application_name="civicflow-orchestrator",
        pool_size=settings.database_pool_size,
        autocommit=True,
    )
    for traced in (engine, statements):
        tracing.instrument_engine(traced, "orchestrator")
    identity = Identity.load(settings)
    # Calls to the evaluator (EvaluateStream too) and to the audit service continue the run's trace.
    traced_calls = tracing.client_interceptors("orchestrator")
    evaluator_channel = identity.channel(
        settings.evaluator_target, server=ServiceIdentity.EVALUATOR, interceptors=traced_calls
    )
    audit_channel = identity.channel(
        settings.audit_target, server=ServiceIdentity.AUDIT_SERVICE, interceptors=traced_calls
    )

    async def close() -> None:
        await evaluator_channel.close()
        await audit_channel.close()
        await asyncio.gather(asyncio.to_thread(engine.dispose), asyncio.to_thread(statements.dispose))

    replica: Replica | None = None
    reviews: ReviewService | None = None
    watch: TemplateWatch | None = None
    try:
        verifier = TokenVerifier(settings)
        evaluator = evaluator_pb2_grpc.EvaluatorServiceStub(evaluator_channel)
        results = ImpactResultStore(engine)
        audit = AuditClient(
            audit_pb2_grpc.AuditServiceStub(audit_channel),
            timeout=settings.downstream_timeout_seconds,
            outages=OutagePolicy(limit_seconds=settings.dependency_outage_seconds),
        )
        scheme_store = SchemeVersionStore(engine)
        schemes = SchemeService(scheme_store, audit, audit_timeout=settings.downstream_timeout_seconds)
        reviews = ReviewService(
            ReviewTaskStore(engine),
            audit,
            owner=settings.replica_id,
            claim_seconds=settings.review_claim_seconds,
            lease_seconds=settings.run_lease_seconds,
            audit_timeout=settings.downstream_timeout_seconds,
            sweep_seconds=settings.review_sweep_seconds,
        )
        tasks = task_registry(evaluator=evaluator, schemes=schemes, results=results, reviews=reviews)
        await asyncio.to_thread(require_migrated, engine, script_location=MIGRATIONS, schema=SCHEMA)
        await asyncio.to_thread(seed_schemes, scheme_store, settings.schemes_dir)
        templates = await _load_templates(settings, engine, tasks.contracts())
        watch = TemplateWatch(templates, interval_seconds=settings.template_reload_seconds)
        instances = InstanceStore(statements)
        journal = StepJournal(statements)
        admission = _impact_admission(settings, statements, templates)
        templates.on_change.append(admission.track)
        replica = Replica(
            settings=settings,
            templates=templates,
            store=instances,
            journal=journal,
            leases=LeaseStore(statements),
            audit=audit,
            tasks=tasks,
            admission=admission,
        )
        servicer = OrchestratorServicer(
            guard=BearerTokenGuard(verifier, RateLimiter.from_settings(settings)),
            templates=templates,
            replica=replica,
            admission=admission,
            appeals=AppealDesk(templates=templates, appeals=AppealStore(statements), replica=replica),
            results=results,
            audit=audit,
            schemes=schemes,
            reviews=reviews,
            run_list=RunList(statements),
            canceller=RunCanceller(CancellationStore(engine), audit, audit_timeout=settings.downstream_timeout_seconds),
            retries=RetryDesk(templates=templates, journal=journal, audit=audit, replica=replica),
        )
        reviews.on_resumed = replica.resume

        async def ready() -> bool:
            checks = await asyncio.gather(
                asyncio.to_thread(is_reachable, engine), check_health(evaluator_channel), check_health(audit_channel)
            )
            return all(checks)

        # Before any request can start a run: the first claim takes back what this replica id left.
        await replica.start()
        reviews.start()
        watch.start()
        running = await start_grpc_server(
            service_names=[SERVICE_NAME],
            register=lambda server: orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(servicer, server),
            host=settings.host,
            port=settings.orchestrator_port,
            identity=identity,
            # Its API is public: people and programs prove who they are with a bearer token, not a certificate.
            require_client_certificate=False,
            health_port=settings.health_port,
            readiness=ready,
            receive_limits=RECEIVE_LIMITS,
            metrics_port=settings.metrics_port,
            service="orchestrator",
        )
    except BaseException:  # a port already taken, say: leave no run, channel or pool behind
        if watch is not None:
            await watch.stop()
        if reviews is not None:
            await reviews.stop()
        if replica is not None:
            await replica.stop(grace=0)
        await close()
        raise
    running.on_stop.append(watch.stop)
    running.on_stop.append(reviews.stop)
    running.on_stop.append(replica.stop)
    running.cleanups.append(close)
    return running


async def _load_templates(
    settings: OrchestratorSettings, engine: Engine, contracts: Mapping[str, TaskContract]
) -> TemplateRegistry:
    """The template directory read once: a file that does not load is logged and refused, and nothing else stops.

    The orchestrator serves even with no template at all (it says so): templates can be fixed while
    it runs, and runs in flight, reviews and schemes need none of the files.
    """
    templates = TemplateRegistry(settings.templates_dir, contracts, store=TemplateVersionStore(engine))
    await asyncio.to_thread(templates.reload)
    if not any(True for _ in templates):
        log.warning(
            "no template loaded: no new run can start until one loads", extra={"file": str(settings.templates_dir)}
        )
    return templates


def _impact_admission(
    settings: OrchestratorSettings, statements: Engine, templates: TemplateRegistry
) -> ImpactAdmission:
    analyses = impact_templates(templates)
    limits = QueueLimits(
        max_running=settings.impact_max_running,
        max_per_subject=settings.impact_max_per_subject,
        retry_after_seconds=settings.impact_retry_after_seconds,
    )
    return ImpactAdmission(
        queue=ImpactQueue(statements, templates=analyses, limits=limits),
        templates=analyses,
        owner=settings.replica_id,
        lease_seconds=settings.run_lease_seconds,
        poll_seconds=settings.impact_queue_poll_seconds,
        population_limits=settings.impact_population_limits,
    )
