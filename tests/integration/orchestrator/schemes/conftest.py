"""Fixtures of the scheme tests: the session database as the orchestrator's role sees it, and a SchemeService
appending to the session's real audit service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Principal, Role
from civicflow.v1 import audit_pb2_grpc
from orchestrator.runs.audit_client import AuditClient
from orchestrator.schemes.service import SchemeService, today_utc
from orchestrator.schemes.store import SchemeVersionStore
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase

ANALYST = Principal("analyst-7", frozenset({Role.ANALYST}))
ADMIN = Principal("admin-7", frozenset({Role.ADMIN}))


@pytest.fixture(scope="module")
def scheme_engine(database: SetUpDatabase) -> Iterator[sa.Engine]:
    """The orchestrator's own role: what it may do, and what PostgreSQL refuses it."""
    engine = sa.create_engine(database.accounts.orchestrator, pool_size=12)
    yield engine
    engine.dispose()


@pytest.fixture
def open_service(scheme_engine: sa.Engine, credentials: Credentials, audit_target: str) -> Any:
    """Opens a SchemeService on the running loop (grpc.aio channels belong to one loop)."""

    @asynccontextmanager
    async def service(today: date | None = None) -> AsyncIterator[SchemeService]:
        channel = credentials.aio_channel(
            audit_target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR
        )
        audit = AuditClient(audit_pb2_grpc.AuditServiceStub(channel), timeout=10)
        try:
            yield SchemeService(
                SchemeVersionStore(scheme_engine),
                audit,
                audit_timeout=10,
                today=(lambda: today) if today else today_utc,
            )
        finally:
            await channel.close()

    return service
