"""A 100,000-citizen impact analysis over the real services: exact totals, stored rows, digest, all-or-nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.principals import Role
from civicflow.v1 import evaluator_pb2, orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.citizens import mock_citizen
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import SCHEME_RULES, expected_decision, reference_transitions
from tests.support.impact_results import exported_results
from tests.support.orchestrators import serving

POPULATION = 100_000
CURRENT = SCHEME_RULES["scheme_beta"]
PROPOSED = {"min_age": 25, "max_age": 55, "max_income": 150_000}


def _stub(credentials: Credentials, target: str) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    """The orchestrator as an analyst calls it."""
    return orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(target, role=Role.ANALYST))


def _run(stub: orchestrator_pb2_grpc.OrchestratorServiceStub, size: int) -> orchestrator_pb2.WorkflowInstance:
    inputs = {"scheme_name": "scheme_beta", "population_size": size, "proposed_rules": PROPOSED}
    return stub.ExecuteWorkflow(
        orchestrator_pb2.ExecuteWorkflowRequest(template_id="impact_analysis", inputs_json=json.dumps(inputs))
    ).instance


@pytest.fixture(scope="module")
def analysis(credentials: Credentials, orchestrator_target: str) -> dict[str, Any]:
    instance = _run(_stub(credentials, orchestrator_target), POPULATION)
    assert instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, instance.error
    return {"instance_id": instance.instance_id, **json.loads(instance.outputs_json)["impact_report"]}


def test_totals_equal_a_direct_evaluation_of_the_same_population(analysis: dict[str, Any]) -> None:
    pairs = reference_transitions(POPULATION, CURRENT, PROPOSED)
    decisions = ("ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW")
    assert analysis["total"] == POPULATION and analysis["failed"] == 0
    assert {d: analysis[d.lower()] for d in decisions} == {d: sum(pairs[(a, d)] for a in decisions) for d in decisions}
    assert {d: analysis["baseline"][d.lower()] for d in decisions} == {
        d: sum(pairs[(d, b)] for b in decisions) for d in decisions
    }
    assert {(t["from"], t["to"]): t["count"] for t in analysis["transitions"]} == pairs


def test_every_citizen_is_stored_once_and_the_digest_covers_the_rows(
    analysis: dict[str, Any], owner: sa.Engine
) -> None:
    export = exported_results(owner, analysis["instance_id"])
    assert [int(line.split(b"\t")[0]) for line in export.splitlines()] == list(range(1, POPULATION + 1))
    assert hashlib.sha256(export).hexdigest() == analysis["results_digest"]


def test_results_page_by_keyset_from_any_offset(
    credentials: Credentials, orchestrator_target: str, analysis: dict[str, Any]
) -> None:
    page = _stub(credentials, orchestrator_target).ListImpactResults(
        orchestrator_pb2.ListImpactResultsRequest(instance_id=analysis["instance_id"], offset=POPULATION - 10, limit=50)
    )
    assert [r.position for r in page.results] == list(range(POPULATION - 9, POPULATION + 1))
    assert page.total == POPULATION and page.next_offset == POPULATION
    citizen = mock_citizen(page.results[0].citizen_id)
    expected = expected_decision({"age": citizen.age, "income": citizen.income}, PROPOSED)
    assert evaluator_pb2.Decision.Name(page.results[0].decision) == f"DECISION_{expected}"


@pytest.fixture(scope="module")
def orchestrator_without_evaluator(
    background_loop: BackgroundLoop, orchestrator_settings: OrchestratorSettings
) -> Iterator[str]:
    """A real orchestrator whose evaluator address has nothing listening."""
    settings = orchestrator_settings.model_copy(
        update={"evaluator_target": "127.0.0.1:1", "dependency_outage_seconds": 2.0}
    )
    with serving(background_loop, settings) as target:
        yield target


def test_an_evaluator_unreachable_past_the_outage_limit_fails_the_run_naming_it_and_leaves_no_rows(
    credentials: Credentials, orchestrator_without_evaluator: str, owner: sa.Engine
) -> None:
    stub = _stub(credentials, orchestrator_without_evaluator)
    instance = _run(stub, 3_000)
    assert instance.status == orchestrator_pb2.RUN_STATUS_FAILED
    assert instance.error == (
        "step 'evaluate_population' failed: the evaluator could not be reached for 2 s (DEPENDENCY_OUTAGE_SECONDS)"
    )
    trail = stub.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=instance.instance_id)).entries
    assert [(e.record.step_name, e.record.status) for e in trail][-1] == ("evaluate_population", 2)
    with owner.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT count(*) FROM orchestrator.impact_results WHERE instance_id = :id"),
            {"id": instance.instance_id},
        ).scalar_one()
    assert rows == 0
