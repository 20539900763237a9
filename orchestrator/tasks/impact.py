"""Tasks of an impact analysis: define the population, re-evaluate all of it, report the change."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.citizens import population_citizen_id
from orchestrator.decisions import DECISION_NAMES
from orchestrator.errors import StepFailedError
from orchestrator.population import evaluate_population
from orchestrator.schemes import SchemeRules
from orchestrator.tables import SCHEMA, ImpactResultRow
from orchestrator.tasks.base import NoConfig, Task, TaskContext

MOCK_REGISTRY = "civicflow.mock-citizen.v1"
RESULTS_TABLE = f"{SCHEMA}.{ImpactResultRow.__tablename__}"


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
    flush_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)


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
    population = inputs["population"]
    baseline = SchemeRules(**inputs["rules"])
    proposed = SchemeRules(**inputs["proposed_rules"])
    writer = await asyncio.to_thread(context.results.open_writer)
    try:
        outcome = await evaluate_population(
            stub=context.evaluator,
            instance_id=context.instance_id,
            size=population["size"],
            rule_sets=(baseline, proposed),
            writer=writer,
            batch_size=config.batch_size,
            streams=config.streams,
            window=config.window,
            flush_bytes=config.flush_bytes,
            call_timeout=context.call_timeout,
        )
        await asyncio.to_thread(writer.commit)
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
    tally = outcome.tally
    # What an auditor needs to re-check the results, not the results themselves.
    return {
        "evaluation": {
            "total": population["size"],
            "baseline": _named_counts(tally.counts(proposed=False)),
            "proposed": _named_counts(tally.counts(proposed=True)),
            "transitions": [
                {"from": DECISION_NAMES[a], "to": DECISION_NAMES[b], "count": count}
                for a, b, count in tally.transitions()
            ],
            "results_table": RESULTS_TABLE,
            "results_digest": outcome.results_digest,
            "batches": outcome.batches,
        }
    }


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
        }
    }


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
