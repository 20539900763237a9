"""PostgreSQL itself keeps finished runs, appeals and per-citizen results unchanged."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials


@pytest.fixture(scope="module")
def orchestrator(credentials: Credentials, orchestrator_target: str) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    """As a caseworker calls it: eligibility checks and appeals."""
    return orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(orchestrator_target))


@pytest.fixture(scope="module")
def analyst_orchestrator(
    credentials: Credentials, orchestrator_target: str
) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    """As an analyst calls it: impact analyses."""
    channel = credentials.orchestrator_channel(orchestrator_target, role=Role.ANALYST)
    return orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


def _execute(stub: orchestrator_pb2_grpc.OrchestratorServiceStub, template_id: str, inputs: dict) -> str:
    reply = stub.ExecuteWorkflow(
        orchestrator_pb2.ExecuteWorkflowRequest(template_id=template_id, inputs_json=json.dumps(inputs))
    )
    assert reply.instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, reply.instance.error
    return reply.instance.instance_id


def _refused(engine: sa.Engine, statement: str, **params: object) -> str:
    with pytest.raises(sa.exc.DBAPIError) as refused, engine.begin() as connection:
        connection.execute(sa.text(statement), params)
    return str(refused.value.orig)


def test_completed_instance_cannot_be_updated_or_deleted(orchestrator, owner: sa.Engine) -> None:
    instance_id = _execute(orchestrator, "eligibility_check", {"citizen_id": "CIT-7", "scheme_name": "scheme_beta"})
    update = "UPDATE orchestrator.workflow_instances SET outputs = '{}' WHERE instance_id = :id"
    assert "a finished instance cannot be changed" in _refused(owner, update, id=instance_id)
    delete = "DELETE FROM orchestrator.workflow_instances WHERE instance_id = :id"
    assert "cannot be deleted" in _refused(owner, delete, id=instance_id)
    with owner.connect() as connection:
        outputs = connection.execute(
            sa.text("SELECT outputs FROM orchestrator.workflow_instances WHERE instance_id = :id"), {"id": instance_id}
        ).scalar_one()
    assert outputs["decision"]["citizen_id"] == "CIT-7"


def test_running_instance_keeps_its_identity_and_inputs(owner: sa.Engine) -> None:
    instance_id = uuid.uuid4()
    with owner.begin() as connection:
        # Leased for an hour to a replica that does not exist, so that no orchestrator of the session resumes it.
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status,"
                " inputs, created_at, owner, lease_expires_at) VALUES (:id, 'eligibility_check', '1.0.0', 'running',"
                " '{}', now(), 'elsewhere', now() + interval '1 hour')"
            ),
            {"id": instance_id},
        )
    rewrite = 'UPDATE orchestrator.workflow_instances SET inputs = \'{"citizen_id": "x"}\' WHERE instance_id = :id'
    assert "only status, outputs, error, completed_at, progress and lease may change" in _refused(
        owner, rewrite, id=instance_id
    )
    for column, value in (("actor", "'someone else'"), ("idempotency_key", "'k'")):
        change = f"UPDATE orchestrator.workflow_instances SET {column} = {value} WHERE instance_id = :id"
        assert "may change" in _refused(owner, change, id=instance_id), column


def test_appeals_are_append_only(orchestrator, owner: sa.Engine) -> None:
    original = _execute(orchestrator, "eligibility_check", {"citizen_id": "CIT-8", "scheme_name": "scheme_alpha"})
    appeal = orchestrator.SubmitAppeal(
        orchestrator_pb2.SubmitAppealRequest(original_instance_id=original, new_data_json='{"age": 99}')
    )
    assert appeal.outcome != orchestrator_pb2.APPEAL_OUTCOME_UNSPECIFIED
    for statement in (
        "UPDATE orchestrator.appeals SET outcome = 'decision_upheld' WHERE appeal_id = :id",
        "DELETE FROM orchestrator.appeals WHERE appeal_id = :id",
    ):
        assert "is append-only" in _refused(owner, statement, id=appeal.appeal_id)


def test_impact_results_are_append_only(analyst_orchestrator, owner: sa.Engine) -> None:
    instance_id = _execute(
        analyst_orchestrator, "impact_analysis", {"scheme_name": "scheme_gamma", "population_size": 50}
    )
    for statement in (
        "UPDATE orchestrator.impact_results SET decision = 1 WHERE instance_id = :id",
        "DELETE FROM orchestrator.impact_results WHERE instance_id = :id",
    ):
        assert "is append-only" in _refused(owner, statement, id=instance_id)
    assert "is append-only" in _refused(owner, "TRUNCATE orchestrator.impact_results CASCADE")
    with owner.connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM orchestrator.impact_results WHERE instance_id = :id"), {"id": instance_id}
        ).scalar_one()
    assert count == 50


def test_a_recorded_template_version_never_changes_or_vanishes(orchestrator, owner: sa.Engine) -> None:
    orchestrator.ListTemplates(orchestrator_pb2.ListTemplatesRequest())  # the session's replica has loaded them
    key = {"id": "eligibility_check"}
    for statement in (
        "UPDATE orchestrator.template_versions SET digest = repeat('0', 64) WHERE template_id = :id",
        "DELETE FROM orchestrator.template_versions WHERE template_id = :id",
    ):
        assert "is append-only" in _refused(owner, statement, **key)
    assert "is append-only" in _refused(owner, "TRUNCATE orchestrator.template_versions")
    with owner.connect() as connection:
        digests = list(
            connection.execute(
                sa.text("SELECT digest FROM orchestrator.template_versions WHERE template_id = :id"), key
            ).scalars()
        )
    assert digests and "0" * 64 not in digests
