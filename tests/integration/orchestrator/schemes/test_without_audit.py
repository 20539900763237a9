"""With the audit service out of reach, a draft or a publication does not half-happen: nothing changes, and the
same request succeeds once it is back."""

from __future__ import annotations

import asyncio
import socket
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.access import ServiceIdentity
from civicflow.v1 import audit_pb2_grpc
from orchestrator.errors import AuditUnavailableError
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.outages import OutagePolicy
from orchestrator.schemes.service import SchemeService
from orchestrator.schemes.store import SchemeVersionStore
from tests.integration.orchestrator.schemes.conftest import ADMIN, ANALYST
from tests.support.credentials import Credentials
from tests.support.scheme_versions import fresh_scheme
from tests.support.seeded_schemes import seeded_document


def unused_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def without_audit(scheme_engine: sa.Engine, credentials: Credentials) -> Any:
    channel = credentials.aio_channel(
        unused_address(), server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR
    )
    audit = AuditClient(audit_pb2_grpc.AuditServiceStub(channel), timeout=1, outages=OutagePolicy(limit_seconds=0.5))
    return channel, SchemeService(SchemeVersionStore(scheme_engine), audit, audit_timeout=2)


def test_a_draft_is_not_stored_without_its_audit_entry(
    scheme_engine: sa.Engine, credentials: Credentials, open_service: Any
) -> None:
    name = fresh_scheme("it")

    async def scenario() -> None:
        channel, service = without_audit(scheme_engine, credentials)
        try:
            with pytest.raises(AuditUnavailableError, match="nothing was changed"):
                await service.create_draft(name, seeded_document("scheme_alpha"), principal=ANALYST)
        finally:
            await channel.close()
        assert SchemeVersionStore(scheme_engine).versions(name) == []
        async with open_service() as reachable:
            created = await reachable.create_draft(name, seeded_document("scheme_alpha"), principal=ANALYST)
        assert created.version == 1

    asyncio.run(scenario())


def test_a_publication_is_not_stored_without_its_audit_entry(
    scheme_engine: sa.Engine, credentials: Credentials, open_service: Any
) -> None:
    name = fresh_scheme("it")

    async def scenario() -> None:
        async with open_service() as reachable:
            await reachable.create_draft(name, seeded_document("scheme_alpha"), principal=ANALYST)
        channel, service = without_audit(scheme_engine, credentials)
        try:
            with pytest.raises(AuditUnavailableError):
                await service.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)
        finally:
            await channel.close()
        (version,) = SchemeVersionStore(scheme_engine).versions(name)
        assert version.status == "draft" and version.effective_from is None
        async with open_service() as reachable:
            published = await reachable.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)
        assert published.status == "published"

    asyncio.run(scenario())
