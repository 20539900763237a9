"""Tasks of an impact analysis: define the population, re-evaluate all of it, report the change."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from civicflow.citizen_ids import population_citizen_id
from orchestrator.batches import batch_count
from orchestrator.decisions import DECISION_NAMES
from orchestrator.errors import StepFailedError
from orchestrator.ordered_sink import PopulationOutcome, Tally
from orchestrator.population import FAILURE_LIST_LIMIT, FanOutShape, evaluate_population
from orchestrator.results_store import FailureRow, ResultWriter
from orchestrator.schemes import SchemeRules
from orchestrator.tables import SCHEMA, ImpactFailureRow, ImpactResultRow
from orchestrator.tasks.base import NoConfig, Task, TaskContext

MOCK_REGISTRY = "civicflow.mock-citizen.v2"
RESULTS_TABLE = f"{SCHEMA}.{ImpactResultRow.__tablename__}"
FAILURES_TABLE = f"{SCHEMA}.{ImpactFailureRow.__tablename__}"


class PopulationConfig(BaseModel):
    """How the fan-out is shaped; none of it changes the results, only how fast they come."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Citizens per stream message: ~1,000 amortises per-message cost while keeping messages small.
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    # Concurrent EvaluateStream calls; spread over evaluator replicas by round_robin.
    streams: int = Field(default=4, ge=1, le=64)
    # Batches in flight per stream before the sender waits for answers (flow control).
    window: int = Field(default=4, ge=1, le=64)
    # Results are sent to PostgreSQL with COPY in chunks of about this many bytes.
    flush_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A batch unanswered this long means its replica stalled: its stream is replaced and the
    # batch sent again. Unset: the orchestrator's downstream_timeout_seconds.
    batch_timeout_seconds: float | None = Field(default=None, gt=0)
    # Broken or stalled streams replaced in one run before the step fails.
    max_stream_restarts: int = Field(default=8, ge=0, le=1000)


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
    inputs: Mapping[str, Any], config: PopulationConfig, context: TaskContext
) -> dict[str, Any]:
    """Evaluates and stores every citizen, or, if an earlier attempt already committed them, sums up its rows."""
    size = int(inputs["population"]["size"])
    writer = await asyncio.to_thread(context.results.open_writer, context.instance_id)
    try:
        first_attempt = await asyncio.to_thread(writer.claim)
        if first_attempt:
            outcome = await _evaluate(inputs, config, context, writer)
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
    if first_attempt:
        await asyncio.to_thread(writer.commit)
    else:
        await asyncio.to_thread(writer.abort)
        outcome = await _stored_outcome(context)
        context.report_items(size, size)
    tally = outcome.tally
    # What an auditor needs to re-check the results, not the results themselves.
    return {
        "evaluation": {
            "total": size,
            "baseline": _named_counts(tally.counts(proposed=False)),
            "proposed": _named_counts(tally.counts(proposed=True)),
            "transitions": [
                {"from": DECISION_NAMES[a], "to": DECISION_NAMES[b], "count": count}
                for a, b, count in tally.transitions()
            ],
            # Failed citizens are in no count above and have no results row: they are listed here.
            "failed": outcome.failed,
            "failures": [_failure_json(failure) for failure in outcome.failures],
            "results_table": RESULTS_TABLE,
            "failures_table": FAILURES_TABLE,
            "results_digest": outcome.results_digest,
            "batches": batch_count(size, config.batch_size),
        }
    }


async def _evaluate(
    inputs: Mapping[str, Any], config: PopulationConfig, context: TaskContext, writer: ResultWriter
) -> PopulationOutcome:
    return await evaluate_population(
        stub=context.evaluator,
        instance_id=context.instance_id,
        size=int(inputs["population"]["size"]),
        rule_sets=(SchemeRules(**inputs["rules"]), SchemeRules(**inputs["proposed_rules"])),
        writer=writer,
        shape=FanOutShape(
            batch_size=config.batch_size,
            streams=config.streams,
            window=config.window,
            flush_bytes=config.flush_bytes,
            batch_timeout=config.batch_timeout_seconds or context.call_timeout,
            max_stream_restarts=config.max_stream_restarts,
        ),
        retry=context.retry,
        tolerance=context.tolerated_failures,
        report_items=context.report_items,
    )


async def _stored_outcome(context: TaskContext) -> PopulationOutcome:
    """The outcome of the attempt that committed this instance's rows, rebuilt from them."""
    stored = await asyncio.to_thread(
        context.results.stored_outcome, context.instance_id, failure_limit=FAILURE_LIST_LIMIT
    )
    tally = Tally()
    for baseline, proposed, count in stored.transitions:
        tally.add_count(baseline, proposed, count)
    return PopulationOutcome(
        tally=tally, results_digest=stored.results_digest, failed=stored.failed, failures=stored.failures
    )


async def build_impact_report(inputs: Mapping[str, Any], _config: NoConfig, context: TaskContext) -> dict[str, Any]:
    evaluation = inputs["evaluation"]
    current, proposed = inputs["rules"], inputs["proposed_rules"]
    return {
        "impact_report": {
            "instance_id": str(context.instance_id),
            "scheme_name": current["scheme_name"],
            "total": evaluation["total"],
            **{name: count for name, count in evaluation["proposed"].items()},
            "baseline": evaluation["baseline"],
            "transitions": evaluation["transitions"],
            "current_rules": _criteria(current),
            "proposed_rules": _criteria(proposed),
            "results_digest": evaluation["results_digest"],
            "failed": evaluation["failed"],
            "failures": evaluation["failures"],
        }
    }


def _failure_json(failure: FailureRow) -> dict[str, Any]:
    return {"position": failure.position, "citizen_id": failure.citizen_id, "error": failure.error}


def _named_counts(counts: Mapping[int, int]) -> dict[str, int]:
    return {DECISION_NAMES[decision].lower(): count for decision, count in counts.items()}


def _criteria(rules: Mapping[str, Any]) -> dict[str, Any]:
    return {key: rules[key] for key in ("min_age", "max_age", "max_income")}


TASKS = (
    Task(
        task_type="load_beneficiaries",
        run=load_beneficiaries,
        required_inputs=frozenset({"population_size"}),
        outputs=frozenset({"population"}),
    ),
    Task(
        task_type="apply_proposed_rules",
        run=apply_proposed_rules,
        required_inputs=frozenset({"rules"}),
        optional_inputs=frozenset({"proposed_rules"}),
        outputs=frozenset({"proposed_rules"}),
    ),
    Task(
        task_type="evaluate_population",
        run=evaluate_population_task,
        required_inputs=frozenset({"population", "rules", "proposed_rules"}),
        outputs=frozenset({"evaluation"}),
        config_model=PopulationConfig,
        fans_out=True,
    ),
    Task(
        task_type="build_impact_report",
        run=build_impact_report,
        required_inputs=frozenset({"evaluation", "rules", "proposed_rules"}),
        outputs=frozenset({"impact_report"}),
    ),
)
