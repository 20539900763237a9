"""A step that cannot be audited for longer than DEPENDENCY_OUTAGE_SECONDS stops its run: the instance ends failed
and the caller hears UNAVAILABLE; a request that comes meanwhile is refused and creates nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
import sqlalchemy as sa

from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.orchestrators import serving


@pytest.fixture(scope="module")
def orchestrator_without_audit(
    background_loop: BackgroundLoop, orchestrator_settings: OrchestratorSettings
) -> Iterator[str]:
    """A real orchestrator whose audit service address has nothing listening."""
    settings = orchestrator_settings.model_copy(
        update={"audit_target": "127.0.0.1:1", "downstream_timeout_seconds": 2.0, "dependency_outage_seconds": 2.0}
    )
    with serving(background_loop, settings) as target:
        yield target


def test_unauditable_run_is_failed_and_answered_unavailable(
    credentials: Credentials, orchestrator_without_audit: str, owner: sa.Engine
) -> None:
    stub = orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(orchestrator_without_audit))
    inputs = {"citizen_id": "CIT-unaudited-1", "scheme_name": "scheme_alpha"}
    with pytest.raises(grpc.RpcError) as refused:
        stub.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=json.dumps(inputs))
        )
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == (
        "audit service did not record step 'fetch_citizen':"
        " the audit service could not be reached for 2 s (DEPENDENCY_OUTAGE_SECONDS)"
    )

    with owner.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT status, error FROM orchestrator.workflow_instances"
                " WHERE inputs->>'citizen_id' = 'CIT-unaudited-1'"
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].status == "failed" and "audit service did not record" in rows[0].error
