"""The fan-out over real gRPC: rule documents as canonical JSON, only the columns they read, counts by category.

Against a stand-in evaluator that decides with the eligibility oracle (tests/support/oracle_evaluator.py),
so that what goes over the wire is checked apart from the evaluator's own implementation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.access import ServiceIdentity
from civicflow.canonical_json import canonical_json
from civicflow.rules.attributes import CATEGORIES, CATEGORY_CODES
from civicflow.v1 import evaluator_pb2_grpc
from evaluator.config import EvaluatorSettings
from orchestrator.citizens import population_attributes
from orchestrator.errors import StepFailedError
from orchestrator.impact.fan_out import evaluate_population
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.impact.outcome import PopulationOutcome
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.schemes.documents import SchemeDocuments
from orchestrator.schemes.store import SchemeVersionStore
from orchestrator.tasks.contract import NoConfig, TaskContext
from orchestrator.tasks.impact import build_impact_report, evaluate_population_task
from orchestrator.templates.step_policy import FAIL_FAST, NO_RETRY
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import reference_decisions
from tests.support.impact_results import instance_for_results, migrate, stored_rows
from tests.support.oracle_evaluator import OracleEvaluator, start_oracle_evaluator
from tests.support.seeded_schemes import overridden_rules, seeded_rules

SIZE = 2_345
CONFIG = FanOutConfig(batch_size=500, streams=2, window=2)
BASELINE = seeded_rules("scheme_alpha")
PROPOSED = overridden_rules(BASELINE, {"max_income": 200000, "max_age": 65})


@pytest.fixture(scope="module")
def oracle(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[tuple[OracleEvaluator, str]]:
    servicer = OracleEvaluator()
    settings = EvaluatorSettings(
        host="127.0.0.1", evaluator_port=0, **credentials.tls_settings(ServiceIdentity.EVALUATOR)
    )
    with serve_on_loopback(background_loop, start_oracle_evaluator(servicer, settings)) as target:
        yield servicer, target


def _evaluate(
    background_loop: BackgroundLoop,
    credentials: Credentials,
    target: str,
    store: ImpactResultStore,
    instance: uuid.UUID,
    *,
    rules: tuple[dict[str, Any], dict[str, Any]] = (BASELINE, PROPOSED),
) -> PopulationOutcome:
    async def run() -> PopulationOutcome:
        channel = credentials.aio_channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR)
        writer = store.open_writer(instance)
        assert writer.claim()
        try:
            outcome = await evaluate_population(
                stub=evaluator_pb2_grpc.EvaluatorServiceStub(channel),
                instance_id=instance,
                size=SIZE,
                rules=rules,
                writer=writer,
                config=CONFIG,
                batch_timeout=30.0,
                retry=NO_RETRY,
                tolerance=FAIL_FAST,
                report_items=lambda done, total: None,
            )
        finally:
            writer.commit()
            await channel.close()
        return outcome

    return background_loop.run(run(), timeout=60)


def test_documents_and_only_the_columns_they_read_go_to_the_evaluator_and_are_counted_by_category(
    background_loop: BackgroundLoop, credentials: Credentials, oracle: tuple[OracleEvaluator, str], owner: sa.Engine
) -> None:
    servicer, target = oracle
    migrate(owner)
    store = ImpactResultStore(owner)
    instance = instance_for_results(owner)

    outcome = _evaluate(background_loop, credentials, target, store, instance)

    assert sorted(size for size, _, _ in servicer.requests) == [345, 500, 500, 500, 500]
    assert {filled for _, filled, _ in servicer.requests} == {frozenset({"ages", "incomes"})}
    assert all(
        documents
        == [
            ("scheme_alpha", 1, canonical_json(BASELINE["document"])),
            ("scheme_alpha", 0, canonical_json(PROPOSED["document"])),
        ]
        for _, _, documents in servicer.requests
    )
    assert stored_rows(owner, instance) == (SIZE, 1, SIZE)
    expected = _expected_by_category()
    assert {name: (c.total, c.baseline, c.proposed) for name, c in outcome.tally.by_category().items()} == expected
    # An attempt that finds the rows committed rebuilds the same counts from them.
    stored = store.stored_outcome(instance, failure_limit=10)
    assert {name: (c.total, c.baseline, c.proposed) for name, c in stored.tally.by_category().items()} == expected
    assert stored.results_digest == outcome.results_digest


def test_a_document_reading_an_attribute_no_citizen_has_fails_the_step_before_anything_is_sent(
    background_loop: BackgroundLoop, credentials: Credentials, oracle: tuple[OracleEvaluator, str], owner: sa.Engine
) -> None:
    servicer, target = oracle
    migrate(owner)
    sent_before = len(servicer.requests)
    wealth = {"==": [{"var": "wealth"}, 1]}
    slipped_by = {
        **PROPOSED,
        "document": {**PROPOSED["document"], "criteria": [{"id": "w", "kind": "review", "test": wealth}]},
    }

    with pytest.raises(StepFailedError, match="read wealth, which no citizen has"):
        _evaluate(
            background_loop,
            credentials,
            target,
            ImpactResultStore(owner),
            instance_for_results(owner),
            rules=(BASELINE, slipped_by),
        )

    assert len(servicer.requests) == sent_before


def _expected_by_category() -> dict[str, tuple[int, dict[int, int], dict[int, int]]]:
    """What a direct evaluation of the whole population gives, per category."""
    columns = population_attributes(1, SIZE, {"age", "income", "category"})
    assert columns.age is not None and columns.income is not None and columns.category is not None
    before = reference_decisions(columns.age, columns.income, BASELINE["document"]["parameters"]) + 1
    after = reference_decisions(columns.age, columns.income, PROPOSED["document"]["parameters"]) + 1
    expected = {}
    for name in CATEGORIES:
        mine = columns.category == CATEGORY_CODES[name]
        expected[name] = (
            int(mine.sum()),
            {decision: int((before[mine] == decision).sum()) for decision in (1, 2, 3)},
            {decision: int((after[mine] == decision).sum()) for decision in (1, 2, 3)},
        )
    return expected


def test_the_tasks_pass_the_by_category_counts_and_both_documents_into_the_report(
    background_loop: BackgroundLoop, credentials: Credentials, oracle: tuple[OracleEvaluator, str], owner: sa.Engine
) -> None:
    _, target = oracle
    migrate(owner)
    context = TaskContext(instance_id=instance_for_results(owner), call_timeout=10.0)
    inputs = {"population": {"size": SIZE}, "rules": BASELINE, "proposed_rules": PROPOSED}
    # Both rules values carry their documents, as a proposal does: the store is not read.
    documents = SchemeDocuments(SchemeVersionStore(owner))

    async def evaluate_and_report() -> dict[str, Any]:
        channel = credentials.aio_channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR)
        try:
            stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
            store = ImpactResultStore(owner)
            evaluated = await evaluate_population_task(
                inputs, CONFIG, context, evaluator=stub, documents=documents, results=store
            )
        finally:
            await channel.close()
        return await build_impact_report({**inputs, **evaluated}, NoConfig(), context, documents=documents)

    report = background_loop.run(evaluate_and_report(), timeout=60)["impact_report"]

    names = {1: "eligible", 2: "not_eligible", 3: "needs_review"}
    assert report["by_category"] == {
        category: {
            "total": total,
            **{names[d]: n for d, n in proposed.items()},
            "baseline": {names[d]: n for d, n in baseline.items()},
        }
        for category, (total, baseline, proposed) in _expected_by_category().items()
    }
    assert (report["baseline_version"], report["proposed_version"]) == (1, None)
    assert (report["baseline_rule_hash"], report["proposed_rule_hash"]) == (
        BASELINE["rule_hash"],
        PROPOSED["rule_hash"],
    )
    assert report["proposed_rules"]["max_age"] == 65 and report["current_rules"]["max_age"] == 60
