"""Cancelling runs on real replicas: a running impact analysis stops within 2 s wherever the request went and leaves
no result rows, a queued one never starts, a waiting one's review task is cancelled with it; an ended run is refused.

Two replicas share a database of their own: the first drives analyses against an evaluator that holds one
citizen's batch back for a minute (so an analysis is mid-flight for as long as a test needs), the second
answers the cancellation.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from audit_service.config import AuditSettings
from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2
from orchestrator.config import OrchestratorSettings
from orchestrator.reviews.store import ReviewTaskStore
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import SUBJECTS, Credentials
from tests.support.eligibility_oracle import citizens_decided
from tests.support.fault_evaluators import evaluator_with_faults
from tests.support.orchestrators import serving, wait_until
from tests.support.review_runs import JUSTIFICATION, apply, finished, orchestrator_as, refusal, review_events
from tests.support.stacks import OwnStack, own_stack

POPULATION = 5000
STALLED_CITIZEN = "CIT-0002500"
CANCELLED, QUEUED, COMPLETED, WAITING = (
    orchestrator_pb2.RUN_STATUS_CANCELLED,
    orchestrator_pb2.RUN_STATUS_QUEUED,
    orchestrator_pb2.RUN_STATUS_COMPLETED,
    orchestrator_pb2.RUN_STATUS_WAITING,
)


@pytest.fixture(scope="module")
def stalling_evaluator(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    stall = {"evaluator_stall_citizens": frozenset({STALLED_CITIZEN}), "evaluator_stall_seconds": 60}
    with evaluator_with_faults(background_loop, credentials, **stall) as target:
        yield target


@pytest.fixture(scope="module")
def stack(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    stalling_evaluator: str,
) -> Iterator[OwnStack]:
    with own_stack(
        postgres_server_url,
        background_loop,
        audit_settings=audit_settings,
        orchestrator_settings=orchestrator_settings,
        name_prefix="cancel",
        evaluator_target=stalling_evaluator,
        impact_max_running=1,
        impact_queue_poll_seconds=0.1,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def second_replica(background_loop: BackgroundLoop, stack: OwnStack, evaluator_target: str) -> Iterator[str]:
    """Another replica on the same database, with the session's evaluator, which stalls nobody."""
    settings = stack.orchestrator_settings.model_copy(
        update={"replica_id": f"second-{uuid.uuid4().hex[:8]}", "evaluator_target": evaluator_target}
    )
    with serving(background_loop, settings) as target:
        yield target


@pytest.fixture(scope="module")
def admin_engine(stack: OwnStack) -> Iterator[sa.Engine]:
    engine = sa.create_engine(stack.database.admin_url)
    yield engine
    engine.dispose()


def _analyse(stub: Any, population: int = POPULATION) -> orchestrator_pb2.WorkflowInstance:
    inputs = {"scheme_name": "scheme_beta", "population_size": population, "proposed_rules": {"min_age": 25}}
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id="impact_analysis", inputs_json=json.dumps(inputs), mode=orchestrator_pb2.EXECUTION_MODE_ASYNC
    )
    return stub.ExecuteWorkflow(request, timeout=10).instance


def _get(stub: Any, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    return stub.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=instance_id), timeout=10).instance


def _cancel(stub: Any, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    return stub.CancelWorkflow(orchestrator_pb2.CancelWorkflowRequest(instance_id=instance_id), timeout=30).instance


def _count(engine: sa.Engine, table: str, instance_id: str) -> int:
    with engine.connect() as connection:
        query = f"SELECT count(*) FROM orchestrator.{table} WHERE instance_id = :id"
        return int(connection.execute(sa.text(query), {"id": instance_id}).scalar_one())


def _stopped_here(caplog: pytest.LogCaptureFixture, instance_id: str) -> bool:
    return any(
        record.getMessage() == "run cancelled; stopping it here" and getattr(record, "instance_id", "") == instance_id
        for record in caplog.records
    )


def test_a_running_analysis_cancelled_through_another_replica_stops_within_2_s_and_leaves_no_results(
    credentials: Credentials,
    stack: OwnStack,
    second_replica: str,
    admin_engine: sa.Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.runs.cancellation")
    analyst = orchestrator_as(credentials, stack.orchestrator_target, SUBJECTS[Role.ANALYST], Role.ANALYST)
    elsewhere = orchestrator_as(credentials, second_replica, SUBJECTS[Role.ANALYST], Role.ANALYST)
    running = _analyse(analyst)
    wait_until(
        lambda: _get(analyst, running.instance_id).progress.items_done >= 1000,
        timeout=30,
        what="the analysis to be evaluating",
    )
    behind = _analyse(analyst, population=100)
    assert behind.status == QUEUED

    started = time.monotonic()
    cancelled = _cancel(elsewhere, running.instance_id)

    assert (cancelled.status, cancelled.error) == (CANCELLED, f"cancelled by {SUBJECTS[Role.ANALYST]}")
    assert cancelled.completed_at.seconds > 0
    wait_until(lambda: _stopped_here(caplog, running.instance_id), timeout=2, what="the driving replica to stop it")
    assert time.monotonic() - started < 2
    # The slot it held is free: the analysis queued behind it runs to its end.
    assert finished(analyst, behind.instance_id).status == COMPLETED
    assert _get(analyst, running.instance_id).status == CANCELLED  # never marked failed afterwards
    assert _count(admin_engine, "impact_results", running.instance_id) == 0
    assert _count(admin_engine, "impact_failures", running.instance_id) == 0
    trail = analyst.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=running.instance_id)).entries
    cancellations = [entry.record for entry in trail if entry.record.step_name == "run:cancelled"]
    assert [(record.actor, json.loads(record.input_json)["status"]) for record in cancellations] == [
        (SUBJECTS[Role.ANALYST], "running")
    ]


def test_a_queued_analysis_cancelled_never_starts(
    credentials: Credentials, stack: OwnStack, admin_engine: sa.Engine
) -> None:
    admin = orchestrator_as(credentials, stack.orchestrator_target, "admin-canceller", Role.ADMIN)
    analyst = orchestrator_as(credentials, stack.orchestrator_target, SUBJECTS[Role.ANALYST], Role.ANALYST)
    running = _analyse(analyst)
    queued = _analyse(analyst, population=100)
    assert queued.status == QUEUED

    cancelled = _cancel(admin, queued.instance_id)
    _cancel(admin, running.instance_id)  # frees the slot: a queued run would start now
    time.sleep(0.5)

    assert (cancelled.status, cancelled.error) == (CANCELLED, "cancelled by admin-canceller")
    assert _get(analyst, queued.instance_id).status == CANCELLED
    assert _count(admin_engine, "workflow_steps", queued.instance_id) == 0


def test_a_waiting_application_cancelled_by_its_submitter_cancels_its_review_task(
    credentials: Credentials, stack: OwnStack, second_replica: str
) -> None:
    submitter = orchestrator_as(credentials, second_replica, "cw-canceller", Role.CASEWORKER)
    colleague = orchestrator_as(credentials, second_replica, "cw-colleague", Role.CASEWORKER)
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=300)
    waiting = apply(submitter, citizen_id)
    assert waiting.status == WAITING
    task_id = waiting.waiting_for_review_task_id
    request = orchestrator_pb2.CancelWorkflowRequest(instance_id=waiting.instance_id)
    assert refusal(colleague.CancelWorkflow, request) == grpc.StatusCode.PERMISSION_DENIED  # not theirs, no admin

    cancelled = submitter.CancelWorkflow(request).instance

    assert (cancelled.status, cancelled.waiting_for_review_task_id) == (CANCELLED, "")
    task = colleague.GetReview(orchestrator_pb2.GetReviewRequest(review_task_id=task_id)).task
    assert task.status == orchestrator_pb2.REVIEW_STATUS_CANCELLED
    decide = orchestrator_pb2.DecideReviewRequest(
        review_task_id=task_id, decision="ELIGIBLE", justification=JUSTIFICATION
    )
    assert refusal(colleague.DecideReview, decide) == grpc.StatusCode.FAILED_PRECONDITION
    assert refusal(submitter.CancelWorkflow, request) == grpc.StatusCode.FAILED_PRECONDITION
    assert review_events(submitter, waiting.instance_id)[-2:] == [
        ("run:cancelled", "cw-canceller"),
        ("caseworker_review:cancelled", "cw-canceller"),
    ]
    assert _get(submitter, waiting.instance_id).status == CANCELLED


def test_an_ended_run_is_not_cancelled_and_an_unknown_one_is_not_found(
    credentials: Credentials, second_replica: str
) -> None:
    caseworker = orchestrator_as(credentials, second_replica, "cw-ended", Role.CASEWORKER)
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id="eligibility_check",
        inputs_json=json.dumps({"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"}),
    )
    completed = caseworker.ExecuteWorkflow(request, timeout=30).instance
    assert completed.status == COMPLETED

    with pytest.raises(grpc.RpcError) as refused:
        _cancel(caseworker, completed.instance_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is completed; only a queued, running or waiting run can be cancelled" in refused.value.details()
    assert _get(caseworker, completed.instance_id).status == COMPLETED
    with pytest.raises(grpc.RpcError) as unknown:
        _cancel(caseworker, str(uuid.uuid4()))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_results_an_analysis_committed_are_deleted_with_its_cancellation_and_none_come_after(
    credentials: Credentials, stack: OwnStack, admin_engine: sa.Engine
) -> None:
    instance_id = str(uuid.uuid4())
    rows = "INSERT INTO orchestrator.impact_results VALUES (:id, 1, 'CIT-0000001', 1, 1), (:id, 2, 'CIT-0000002', 2, 1)"
    with admin_engine.begin() as connection:
        # Driven by a replica that does not exist; its lease lasts a day, so no replica of the test resumes it.
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status,"
                " inputs, created_at, owner, lease_expires_at) VALUES (:id, 'impact_analysis', '1.0.0', 'running',"
                " '{}', now(), 'elsewhere', now() + interval '1 day')"
            ),
            {"id": instance_id},
        )
        connection.execute(sa.text(rows), {"id": instance_id})
    with pytest.raises(sa.exc.DBAPIError, match="is append-only"), admin_engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM orchestrator.impact_results WHERE instance_id = :id"), {"id": instance_id}
        )
    admin = orchestrator_as(credentials, stack.orchestrator_target, "admin-canceller", Role.ADMIN)

    cancelled = _cancel(admin, instance_id)

    assert cancelled.status == CANCELLED
    assert _count(admin_engine, "impact_results", instance_id) == 0
    with pytest.raises(sa.exc.DBAPIError, match="which is not running"), admin_engine.begin() as connection:
        connection.execute(sa.text(rows), {"id": instance_id})
    trail = admin.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=instance_id)).entries
    assert [json.loads(entry.record.output_json)["results_deleted"] for entry in trail] == [2]


def test_a_cancelled_analysis_retried_reuses_its_first_steps_and_evaluates_its_population_again(
    credentials: Credentials, stack: OwnStack, second_replica: str, admin_engine: sa.Engine
) -> None:
    analyst = orchestrator_as(credentials, stack.orchestrator_target, SUBJECTS[Role.ANALYST], Role.ANALYST)
    elsewhere = orchestrator_as(credentials, second_replica, SUBJECTS[Role.ANALYST], Role.ANALYST)
    running = _analyse(analyst)
    # Its first four steps recorded (a step done moments before a cancellation may not be, and then runs again).
    wait_until(
        lambda: _count(admin_engine, "workflow_steps", running.instance_id) == 4,
        timeout=30,
        what="the analysis's first steps to be journalled",
    )
    _cancel(elsewhere, running.instance_id)
    # Through the second replica, whose evaluator holds nobody back: it takes the free slot at once.
    retry = elsewhere.RetryWorkflow(orchestrator_pb2.RetryWorkflowRequest(instance_id=running.instance_id)).instance
    ended = finished(elsewhere, retry.instance_id)

    assert ended.status == COMPLETED, ended.error
    assert json.loads(ended.outputs_json)["impact_report"]["total"] == POPULATION
    assert _count(admin_engine, "impact_results", retry.instance_id) == POPULATION
    assert _count(admin_engine, "impact_results", running.instance_id) == 0
    trail = elsewhere.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=retry.instance_id)).entries
    reused = [(entry.record.step_name, json.loads(entry.record.output_json).get("reused_from")) for entry in trail]
    assert reused == [
        ("load_beneficiaries", running.instance_id),
        ("fetch_scheme_rules", running.instance_id),
        ("fetch_proposed_version", running.instance_id),
        ("apply_proposed_rules", running.instance_id),
        ("evaluate_population", None),
        ("build_impact_report", None),
    ]
    assert _get(elsewhere, running.instance_id).retried_by == retry.instance_id
    # The replica that drove it has let it go by now, and reads it as stored too.
    wait_until(
        lambda: _get(analyst, running.instance_id).retried_by == retry.instance_id,
        timeout=5,
        what="the first replica to show the retry",
    )


def test_no_review_task_is_created_for_a_run_that_is_no_longer_running(admin_engine: sa.Engine) -> None:
    instance_id = uuid.uuid4()
    with admin_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status,"
                " inputs, created_at, completed_at, error) VALUES (:id, 'benefit_application', '1.0.0', 'cancelled',"
                " '{}', now(), now(), 'cancelled by someone')"
            ),
            {"id": instance_id},
        )
    store = ReviewTaskStore(admin_engine)
    recommendation = {"citizen_id": "CIT-0000041", "scheme_name": "scheme_alpha", "decision": "NEEDS_REVIEW"}

    with store.transaction() as connection:
        created = store.create(
            connection,
            instance_id=instance_id,
            step_index=5,
            step_name="caseworker_review",
            recommendation=recommendation,
            candidate_role="caseworker",
            submitted_by="cw-1",
            sla_seconds=60,
        )

    assert created is None
    assert store.for_step(instance_id, 5) is None
