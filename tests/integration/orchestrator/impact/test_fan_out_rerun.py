"""Re-running evaluate_population after an attempt committed its rows reuses them: same outcome, no second write."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.access import ServiceIdentity
from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.schemes.documents import SchemeDocuments
from orchestrator.schemes.store import SchemeVersionStore
from orchestrator.tasks.contract import TaskContext
from orchestrator.tasks.impact import evaluate_population_task
from orchestrator.templates.step_policy import FailureTolerance
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.impact_results import instance_for_results, migrate, stored_rows
from tests.support.seeded_schemes import overridden_rules, seeded_rules

SIZE = 5_000
FAILING = ("CIT-0000010", "CIT-0004999")
# scheme_delta reads every attribute, so the rebuilt by-category counts are checked against a full evaluation.
INPUTS = {
    "population": {"size": SIZE},
    "rules": seeded_rules("scheme_delta"),
    "proposed_rules": overridden_rules(seeded_rules("scheme_delta"), {"base_general": 150000, "base_sc": 300000}),
}


@pytest.fixture(scope="module")
def evaluator_with_failures(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    from evaluator.config import EvaluatorSettings
    from evaluator.server import start

    settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_fail_citizens=frozenset(FAILING),
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start(settings)) as target:
        yield target


def _attempt(
    background_loop: BackgroundLoop, credentials: Credentials, target: str, engine: sa.Engine, instance_id: uuid.UUID
) -> dict[str, Any]:
    progress: list[tuple[int, int]] = []

    async def attempt() -> dict[str, Any]:
        channel = credentials.aio_channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR)
        try:
            context = TaskContext(
                instance_id=instance_id,
                call_timeout=10.0,
                tolerated_failures=FailureTolerance(count=2),
                report_items=lambda done, total: progress.append((done, total)),
            )
            return await evaluate_population_task(
                INPUTS,
                FanOutConfig(batch_size=700),
                context,
                evaluator=evaluator_pb2_grpc.EvaluatorServiceStub(channel),
                # The rules values carry their documents, as a proposal does: the store is not read.
                documents=SchemeDocuments(SchemeVersionStore(engine)),
                results=ImpactResultStore(engine),
            )
        finally:
            await channel.close()

    output = background_loop.run(attempt())
    assert progress[-1] == (SIZE, SIZE)
    return output


def test_a_second_attempt_rebuilds_the_first_ones_outcome_from_its_rows(
    background_loop: BackgroundLoop, credentials: Credentials, evaluator_with_failures: str, owner: sa.Engine
) -> None:
    migrate(owner)
    instance_id = instance_for_results(owner)

    first = _attempt(background_loop, credentials, evaluator_with_failures, owner, instance_id)
    second = _attempt(background_loop, credentials, evaluator_with_failures, owner, instance_id)

    assert first["evaluation"]["failed"] == 2
    assert [f["citizen_id"] for f in first["evaluation"]["failures"]] == list(FAILING)
    assert second == first
    by_category = first["evaluation"]["by_category"]
    assert list(by_category) == ["general", "obc", "sc", "st"]
    assert sum(counts["total"] for counts in by_category.values()) == SIZE - 2, "failed citizens are in no count"
    for side in ("eligible", "not_eligible", "needs_review"):
        assert sum(counts[side] for counts in by_category.values()) == first["evaluation"]["proposed"][side]
        assert sum(c["baseline"][side] for c in by_category.values()) == first["evaluation"]["baseline"][side]
    assert stored_rows(owner, instance_id) == (SIZE - 2, 1, SIZE)
