"""Fixtures shared by every test: a real PostgreSQL database and the real services on loopback ports."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

# Imported first on purpose: CPython 3.11.7 can fail to compile hypothesis when its pytest
# plugin imports it late, at the terminal summary ("AST constructor recursion depth mismatch").
import hypothesis  # noqa: F401
import pytest
import sqlalchemy as sa

from civicflow.embedded_postgres import embedded_database_url, start_embedded_postgres
from civicflow.grpc_server import RunningServer
from civicflow.local_database import scratch_database

T = TypeVar("T")


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
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A database created for this session and dropped after it."""
    with scratch_database(postgres_server_url, prefix="civicflow_test") as url:
        yield url


@pytest.fixture(scope="session")
def owner(database_url: str) -> Iterator[sa.Engine]:
    """The session database's owner, a superuser: it may do anything the database itself does not forbid."""
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


class BackgroundLoop:
    """An asyncio loop on its own thread: the gRPC servers under test live there while tests call them synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="grpc-servers", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@contextmanager
def serve_on_loopback(
    background_loop: BackgroundLoop, start: Coroutine[Any, Any, RunningServer], *, grace: float = 1.0
) -> Iterator[str]:
    """Runs the server that `start` starts on the background loop; yields its address, then stops it."""
    running = background_loop.run(start)
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        background_loop.run(running.stop(grace=grace))


@pytest.fixture(scope="session")
def evaluator_target(background_loop: BackgroundLoop) -> Iterator[str]:
    """Address of a real evaluator server on a free loopback port."""
    from evaluator.config import EvaluatorSettings
    from evaluator.server import start

    with serve_on_loopback(background_loop, start(EvaluatorSettings(host="127.0.0.1", evaluator_port=0))) as target:
        yield target


@pytest.fixture(scope="session")
def audit_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Settings of the session's audit service: a signing key made for the session, checkpoints signed on demand."""
    from audit_service.config import AuditSettings

    return AuditSettings(
        host="127.0.0.1",
        audit_port=0,
        database_url=database_url,
        audit_signing_key_path=tmp_path_factory.mktemp("audit-key") / "signing-key.pem",
        audit_signing_key_create=True,
        audit_checkpoint_interval_seconds=0,
    )


@pytest.fixture(scope="session")
def audit_target(background_loop: BackgroundLoop, audit_settings: Any) -> Iterator[str]:
    """Address of a real audit service on a free loopback port, migrated into the session's database."""
    from audit_service.server import start

    with serve_on_loopback(background_loop, start(audit_settings)) as target:
        yield target


@pytest.fixture(scope="session")
def orchestrator_settings(database_url: str, evaluator_target: str, audit_target: str) -> Any:
    from orchestrator.config import OrchestratorSettings

    return OrchestratorSettings(
        host="127.0.0.1",
        orchestrator_port=0,
        database_url=database_url,
        evaluator_target=evaluator_target,
        audit_target=audit_target,
    )


@pytest.fixture(scope="session")
def orchestrator_target(background_loop: BackgroundLoop, orchestrator_settings: Any) -> Iterator[str]:
    """Address of a real orchestrator wired to the real evaluator and audit service."""
    from orchestrator.server import start

    with serve_on_loopback(background_loop, start(orchestrator_settings)) as target:
        yield target


@pytest.fixture(scope="session")
def gateway_settings(orchestrator_target: str, evaluator_target: str, audit_target: str) -> Any:
    from gateway.config import GatewaySettings

    return GatewaySettings(
        orchestrator_target=orchestrator_target,
        evaluator_target=evaluator_target,
        audit_target=audit_target,
    )


@pytest.fixture(scope="session")
def gateway_client(gateway_settings: Any) -> Iterator[Any]:
    """The real FastAPI app, talking gRPC to the real services."""
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    with TestClient(create_app(gateway_settings)) as client:
        yield client
