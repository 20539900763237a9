"""Fixtures shared by every test: a real PostgreSQL database, the real services on loopback ports, and the
credentials they trust: a local certificate authority and token issuer made for the session.

Fixtures only: the helpers they use live in tests/support.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

# Imported first on purpose: CPython 3.11.7 can fail to compile hypothesis when its pytest
# plugin imports it late, at the terminal summary ("AST constructor recursion depth mismatch").
import hypothesis  # noqa: F401
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from audit_service.config import AuditSettings
from audit_service.server import start as start_audit_service
from bench.run_list_seed import RunListShape, seed_runs
from civicflow.auth.access import ServiceIdentity
from civicflow.launch.embedded_postgres import embedded_database_url, start_embedded_postgres
from evaluator.config import EvaluatorSettings
from evaluator.server import start as start_evaluator
from gateway.app import create_app
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from orchestrator.server import start as start_orchestrator
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, set_up_database


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A superuser URL of a real PostgreSQL: TEST_DATABASE_URL, or an embedded server."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    server = start_embedded_postgres(tmp_path_factory.mktemp("pgdata"))
    try:
        yield embedded_database_url(server)
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def database(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    """A database created for this session, with the services' own roles, migrated; dropped after it."""
    with set_up_database(postgres_server_url) as database:
        yield database


@pytest.fixture(scope="session")
def database_url(database: SetUpDatabase) -> str:
    """The session database as a superuser sees it."""
    return database.admin_url


@pytest.fixture(scope="session")
def owner(database_url: str) -> Iterator[sa.Engine]:
    """The session database's owner, a superuser: it may do anything the database itself does not forbid."""
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    """The session's certificate authority (a certificate per service) and token issuer, as `make run` makes them."""
    return Credentials.create(tmp_path_factory.mktemp("credentials"))


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def evaluator_target(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    """Address of a real evaluator server on a free loopback port."""
    settings = EvaluatorSettings(
        host="127.0.0.1", evaluator_port=0, **credentials.tls_settings(ServiceIdentity.EVALUATOR)
    )
    with serve_on_loopback(background_loop, start_evaluator(settings)) as target:
        yield target


@pytest.fixture(scope="session")
def audit_settings(
    database: SetUpDatabase, tmp_path_factory: pytest.TempPathFactory, credentials: Credentials
) -> AuditSettings:
    """Settings of the session's audit service: a signing key made for the session, checkpoints signed on demand."""
    return AuditSettings(
        host="127.0.0.1",
        audit_port=0,
        database_url=database.accounts.audit,
        audit_signing_key_path=tmp_path_factory.mktemp("audit-key") / "signing-key.pem",
        audit_signing_key_create=True,
        audit_checkpoint_interval_seconds=0,
        **credentials.service_settings(ServiceIdentity.AUDIT_SERVICE),
    )


@pytest.fixture(scope="session")
def audit_target(background_loop: BackgroundLoop, audit_settings: AuditSettings) -> Iterator[str]:
    """Address of a real audit service on a free loopback port, migrated into the session's database."""
    with serve_on_loopback(background_loop, start_audit_service(audit_settings)) as target:
        yield target


@pytest.fixture(scope="session")
def orchestrator_settings(
    database: SetUpDatabase, evaluator_target: str, audit_target: str, credentials: Credentials
) -> OrchestratorSettings:
    return OrchestratorSettings(
        host="127.0.0.1",
        orchestrator_port=0,
        database_url=database.accounts.orchestrator,
        evaluator_target=evaluator_target,
        audit_target=audit_target,
        **credentials.service_settings(ServiceIdentity.ORCHESTRATOR),
    )


@pytest.fixture(scope="session")
def orchestrator_target(background_loop: BackgroundLoop, orchestrator_settings: OrchestratorSettings) -> Iterator[str]:
    """Address of a real orchestrator wired to the real evaluator and audit service."""
    with serve_on_loopback(background_loop, start_orchestrator(orchestrator_settings)) as target:
        yield target


@pytest.fixture(scope="session")
def gateway_settings(
    orchestrator_target: str, evaluator_target: str, audit_target: str, credentials: Credentials
) -> GatewaySettings:
    return GatewaySettings(
        orchestrator_target=orchestrator_target,
        evaluator_target=evaluator_target,
        audit_target=audit_target,
        **credentials.service_settings(ServiceIdentity.GATEWAY),
    )


@pytest.fixture(scope="session")
def gateway_client(gateway_settings: GatewaySettings) -> Iterator[TestClient]:
    """The real FastAPI app, talking gRPC to the real services."""
    with TestClient(create_app(gateway_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def seeded_runs(owner: sa.Engine) -> RunListShape:
    """10,000 finished runs made straight in the session database (bench/run_list_seed.py), a day old, with actors
    and citizen ids of their own: a filter on them lists these runs alone."""
    tag = uuid.uuid4().hex[:8]
    shape = RunListShape(
        runs=10_000,
        newest=datetime.now(UTC).replace(microsecond=0) - timedelta(days=1),
        actors=tuple(f"seeded-{tag}-{number}" for number in range(5)),
        citizens=499,  # coprime with the templates and actors, so that a citizen has runs of each
        citizen_prefix=f"SEED-{tag}-",
    )
    with owner.begin() as connection:
        seed_runs(connection, shape)
    with owner.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            sa.text("ANALYZE orchestrator.workflow_instances")
        )
    return shape
