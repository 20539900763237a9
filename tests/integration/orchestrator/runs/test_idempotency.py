"""Twenty simultaneous requests with one idempotency key create one run, and all of them get it."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
import sqlalchemy as sa

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials

CONCURRENT = 20


async def _execute_together(
    credentials: Credentials, target: str, key: str, inputs: list[dict[str, str]], mode: int
) -> list[object]:
    """Every request by the same caseworker: keys are per subject."""
    channel = credentials.aio_channel(
        target, server=ServiceIdentity.ORCHESTRATOR, token=credentials.token(Role.CASEWORKER)
    )
    async with channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        calls = [
            stub.ExecuteWorkflow(
                orchestrator_pb2.ExecuteWorkflowRequest(
                    template_id="eligibility_check", inputs_json=json.dumps(body), mode=mode, idempotency_key=key
                )
            )
            for body in inputs
        ]
        return await asyncio.gather(*calls, return_exceptions=True)


def _instances_with_key(owner: sa.Engine, key: str) -> int:
    with owner.connect() as connection:
        return int(
            connection.execute(
                sa.text("SELECT count(*) FROM orchestrator.workflow_instances WHERE idempotency_key = :key"),
                {"key": key},
            ).scalar_one()
        )


@pytest.mark.parametrize(
    "mode", [orchestrator_pb2.EXECUTION_MODE_SYNC, orchestrator_pb2.EXECUTION_MODE_ASYNC], ids=["sync", "async"]
)
def test_simultaneous_requests_with_one_key_create_one_run(
    credentials: Credentials, orchestrator_target: str, audit_target: str, owner: sa.Engine, mode: int
) -> None:
    key = f"burst-{uuid.uuid4()}"
    inputs = {"citizen_id": "CIT-0000777", "scheme_name": "scheme_gamma"}

    replies = asyncio.run(_execute_together(credentials, orchestrator_target, key, [inputs] * CONCURRENT, mode))

    assert not [reply for reply in replies if isinstance(reply, BaseException)]
    instances = [reply.instance for reply in replies]  # type: ignore[attr-defined]
    assert len({instance.instance_id for instance in instances}) == 1
    assert _instances_with_key(owner, key) == 1
    if mode == orchestrator_pb2.EXECUTION_MODE_SYNC:
        # Every caller waited for the one run, however early it arrived.
        assert {instance.status for instance in instances} == {orchestrator_pb2.RUN_STATUS_COMPLETED}
        channel = credentials.channel(
            audit_target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR
        )
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        entries = audit.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instances[0].instance_id)).entries
        assert len(entries) == 4


def test_simultaneous_requests_with_one_key_and_different_bodies_create_one_run_and_refuse_the_rest(
    credentials: Credentials, orchestrator_target: str, owner: sa.Engine
) -> None:
    key = f"clash-{uuid.uuid4()}"
    bodies = [{"citizen_id": f"CIT-00009{n:02d}", "scheme_name": "scheme_alpha"} for n in range(CONCURRENT)]

    replies = asyncio.run(
        _execute_together(credentials, orchestrator_target, key, bodies, orchestrator_pb2.EXECUTION_MODE_SYNC)
    )

    refused = [reply for reply in replies if isinstance(reply, grpc.aio.AioRpcError)]
    assert len(refused) == CONCURRENT - 1
    assert {error.code() for error in refused} == {grpc.StatusCode.ALREADY_EXISTS}
    assert _instances_with_key(owner, key) == 1
