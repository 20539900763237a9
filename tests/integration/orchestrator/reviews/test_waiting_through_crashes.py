"""Waiting runs hold nothing: with every orchestrator killed (kill -9) while they wait, a decision completes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audit_service.config import AuditSettings
from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.eligibility_oracle import citizens_decided
from tests.support.orchestrators import OrchestratorProcess, process_environment
from tests.support.review_runs import JUSTIFICATION, apply, finished, orchestrator_as
from tests.support.stacks import audit_service_on


@pytest.fixture(scope="module")
def environment(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    evaluator_target: str,
    credentials: Credentials,
) -> Iterator[dict[str, str]]:
    database: SetUpDatabase
    with (
        set_up_database(postgres_server_url, name_prefix="waiting") as database,
        audit_service_on(background_loop, audit_settings, database) as audit_target,
    ):
        yield process_environment(
            credentials,
            database_url=database.accounts.orchestrator,
            evaluator_target=evaluator_target,
            audit_target=audit_target,
        )


@pytest.fixture
def processes() -> Iterator[list[OrchestratorProcess]]:
    started: list[OrchestratorProcess] = []
    yield started
    for process in started:
        process.close()


def test_runs_waiting_when_every_orchestrator_is_killed_complete_once_decided(
    environment: dict[str, str], processes: list[OrchestratorProcess], credentials: Credentials
) -> None:
    processes.extend([OrchestratorProcess(**environment), OrchestratorProcess(**environment)])
    citizens = citizens_decided("NEEDS_REVIEW", "scheme_beta", count=3, start=500)
    desks = [orchestrator_as(credentials, process.target, "cw-front-desk", Role.CASEWORKER) for process in processes]
    waiting = [apply(desks[n % 2], citizen_id, "scheme_beta") for n, citizen_id in enumerate(citizens)]
    assert {run.status for run in waiting} == {orchestrator_pb2.RUN_STATUS_WAITING}
    for process in processes:
        process.kill()

    survivor = OrchestratorProcess(**environment)
    processes.append(survivor)
    reviewer = orchestrator_as(credentials, survivor.target, "cw-back-office", Role.CASEWORKER)
    for run, decision in zip(waiting, ("ELIGIBLE", "NOT_ELIGIBLE", "ELIGIBLE"), strict=True):
        assert reviewer.GetWorkflow(
            orchestrator_pb2.GetWorkflowRequest(instance_id=run.instance_id)
        ).instance.status == (orchestrator_pb2.RUN_STATUS_WAITING)
        task_id = run.waiting_for_review_task_id
        reviewer.ClaimReview(orchestrator_pb2.ClaimReviewRequest(review_task_id=task_id))
        reviewer.DecideReview(
            orchestrator_pb2.DecideReviewRequest(review_task_id=task_id, decision=decision, justification=JUSTIFICATION)
        )
        done = finished(reviewer, run.instance_id)
        assert done.status == orchestrator_pb2.RUN_STATUS_COMPLETED, done.error
        assert (
            '"reviewed_by": "cw-back-office"' in done.outputs_json and f'"decision": "{decision}"' in done.outputs_json
        )
    assert not [line for line in survivor.lines if line.get("levelname") == "ERROR"]
