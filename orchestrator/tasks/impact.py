"""Tasks of an impact analysis: define the population, re-evaluate all of it, report the change."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from civicflow.citizen_ids import population_citizen_id
from civicflow.decisions import DECISION_NAMES
from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.errors import StepFailedError
from orchestrator.impact.batches import batch_count
from orchestrator.impact.fan_out import FAILURE_LIST_LIMIT, evaluate_population
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.impact.outcome import PopulationOutcome
from orchestrator.impact.report import CategoryImpact, ImpactReport, failure_json
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.storage.tables import SCHEMA, ImpactFailureRow, ImpactResultRow
from orchestrator.tasks.contract import NoConfig, Task, TaskContext, TaskContract
from orchestrator.templates.schemes import SchemeRules

MOCK_REGISTRY = "civicflow.mock-citizen.v2"
RESULTS_TABLE = f"{SCHEMA}.{ImpactResultRow.__tablename__}"
FAILURES_TABLE = f"{SCHEMA}.{ImpactFailureRow.__tablename__}"


async def load_beneficiaries(inputs: Mapping[str, Any], _config: NoConfig, _context: TaskContext) -> dict[str, Any]:
    """Defines the population rather than materialising it: citizens are generated lazily downstream."""
    size = int(inputs["population_size"])
    return {
        "population": {
            "source": MOCK_REGISTRY,
            "size": size,
            "first_citizen_id": population_citizen_id(1),
            "last_citizen_id": population_citizen_id(size),
        }
    }


async def apply_proposed_rules(inputs: Mapping[str, Any], _config: NoConfig, _context: TaskContext) -> dict[str, Any]:
    current = inputs["rules"]
    try:
        proposed = SchemeRules(**{**current, **(inputs.get("proposed_rules") or {})})
    except ValidationError as error:
        problems = "; ".join(problem["msg"] for problem in error.errors())
        raise StepFailedError(f"proposed rules are inconsistent: {problems}") from error
    return {"proposed_rules": proposed.to_json()}


async def evaluate_population_task(
    inputs: Mapping[str, Any],
    config: FanOutConfig,
    context: TaskContext,
    *,
    evaluator: evaluator_pb2_grpc.EvaluatorServiceStub,
    results: ImpactResultStore,
) -> dict[str, Any]:
    """Evaluates and stores every citizen, or, if an earlier attempt already committed them, sums up its rows."""
    size = int(inputs["population"]["size"])
    writer = await asyncio.to_thread(results.open_writer, context.instance_id)
    try:
        first_attempt = await asyncio.to_thread(writer.claim)
        if first_attempt:
            outcome = await evaluate_population(
                stub=evaluator,
                instance_id=context.instance_id,
                size=size,
                rules=(inputs["rules"], inputs["proposed_rules"]),
                writer=writer,
                config=config,
                batch_timeout=config.batch_timeout(context.call_timeout),
                retry=context.retry,
                tolerance=context.tolerated_failures,
                report_items=context.report_items,
                outage_seconds=context.outage_seconds,
            )
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
    if first_attempt:
        await asyncio.to_thread(writer.commit)
    else:
        await asyncio.to_thread(writer.abort)
        outcome = await asyncio.to_thread(results.stored_outcome, context.instance_id, failure_limit=FAILURE_LIST_LIMIT)
        context.report_items(size, size)
    return {"evaluation": _evaluation(outcome, size=size, batches=batch_count(size, config.batch_size))}


def _evaluation(outcome: PopulationOutcome, *, size: int, batches: int) -> dict[str, Any]:
    """What an auditor needs to re-check the results, not the results themselves."""
    tally = outcome.tally
    return {
        "total": size,
        "baseline": _named_counts(tally.counts(proposed=False)),
        "proposed": _named_counts(tally.counts(proposed=True)),
        # As the report gives them: the proposed counts at the top.
        "by_category": {
            category: CategoryImpact.from_tally(category, counts).to_json()
            for category, counts in tally.by_category().items()
        },
        "transitions": [
            {"from": DECISION_NAMES[a], "to": DECISION_NAMES[b], "count": count} for a, b, count in tally.transitions()
        ],
        # Failed citizens are in no count above and have no results row: they are listed here.
        "failed": outcome.failed,
        "failures": [failure_json(failure) for failure in outcome.failures],
        "results_table": RESULTS_TABLE,
        "failures_table": FAILURES_TABLE,
        "results_digest": outcome.results_digest,
        "batches": batches,
    }


async def build_impact_report(inputs: Mapping[str, Any], _config: NoConfig, context: TaskContext) -> dict[str, Any]:
    report = ImpactReport.from_evaluation(
        inputs["evaluation"],
        instance_id=str(context.instance_id),
        baseline=inputs["rules"],
        proposed=inputs["proposed_rules"],
    )
    return {"impact_report": report.to_document()}


def _named_counts(counts: Mapping[int, int]) -> dict[str, int]:
    return {DECISION_NAMES[decision].lower(): count for decision, count in counts.items()}


LOAD_BENEFICIARIES = TaskContract(
    task_type="load_beneficiaries",
    required_inputs=frozenset({"population_size"}),
    outputs=frozenset({"population"}),
)

APPLY_PROPOSED_RULES = TaskContract(
    task_type="apply_proposed_rules",
    required_inputs=frozenset({"rules"}),
    optional_inputs=frozenset({"proposed_rules"}),
    outputs=frozenset({"proposed_rules"}),
)

EVALUATE_POPULATION = TaskContract(
    task_type="evaluate_population",
    required_inputs=frozenset({"population", "rules", "proposed_rules"}),
    outputs=frozenset({"evaluation"}),
    config_model=FanOutConfig,
    fans_out=True,
)

BUILD_IMPACT_REPORT = TaskContract(
    task_type="build_impact_report",
    required_inputs=frozenset({"evaluation", "rules", "proposed_rules"}),
    outputs=frozenset({"impact_report"}),
)

CONTRACTS = (LOAD_BENEFICIARIES, APPLY_PROPOSED_RULES, EVALUATE_POPULATION, BUILD_IMPACT_REPORT)


def tasks(*, evaluator: evaluator_pb2_grpc.EvaluatorServiceStub, results: ImpactResultStore) -> tuple[Task, ...]:
    return (
        Task(LOAD_BENEFICIARIES, load_beneficiaries),
        Task(APPLY_PROPOSED_RULES, apply_proposed_rules),
        Task(EVALUATE_POPULATION, functools.partial(evaluate_population_task, evaluator=evaluator, results=results)),
        Task(BUILD_IMPACT_REPORT, build_impact_report),
    )
