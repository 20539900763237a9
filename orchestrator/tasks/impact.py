"""Tasks of an impact analysis: define the population, re-evaluate all of it, report the change."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from civicflow.citizen_ids import population_citizen_id
from civicflow.decisions import DECISION_NAMES
from civicflow.rules.document import DocumentError, parse_document, with_parameters
from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.errors import StepFailedError
from orchestrator.impact.batches import batch_count
from orchestrator.impact.fan_out import FAILURE_LIST_LIMIT, evaluate_population
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.impact.outcome import PopulationOutcome
from orchestrator.impact.report import CategoryImpact, ImpactReport, failure_json
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.schemes.documents import SchemeDocuments
from orchestrator.storage.tables import SCHEMA, ImpactFailureRow, ImpactResultRow
from orchestrator.tasks.contract import NoConfig, Task, TaskContext, TaskContract

MOCK_REGISTRY = "civicflow.mock-citizen.v2"
# How an override's problem is named: as the run's input it came from.
PROPOSED_RULES_FIELD = "inputs.proposed_rules"
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


async def apply_proposed_rules(
    inputs: Mapping[str, Any], _config: NoConfig, _context: TaskContext, *, documents: SchemeDocuments
) -> dict[str, Any]:
    """The rules to compare with the baseline: a fetched version, the baseline with parameters overridden, or itself.

    A template has no conditional steps, so the fetching step always runs: it fetches the
    version the run names, or nothing (`version_rules` null) when the run names none.
    """
    baseline = inputs["rules"]
    if "proposed_version" in inputs and inputs.get("proposed_rules"):
        # The shipped template refuses both at submission; a template that lets both through must not guess.
        raise StepFailedError("give proposed_rules or proposed_version, not both")
    if "proposed_version" in inputs:
        fetched = inputs.get("version_rules")
        if fetched is None or fetched["version"] != inputs["proposed_version"]:
            raise StepFailedError(
                f"version {inputs['proposed_version']} of {baseline['scheme_name']} was not fetched for the proposal"
            )
        return {"proposed_rules": fetched}
    overrides = inputs.get("proposed_rules") or {}
    if not overrides:
        return {"proposed_rules": baseline}
    return {"proposed_rules": overridden_rules(await documents.with_document(baseline), overrides)}


def overridden_rules(baseline: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The rules value R' of the baseline's document with some parameters' values replaced: no stored version (0)."""
    try:
        document = with_parameters(parse_document(baseline["document"]), overrides, field=PROPOSED_RULES_FIELD)
    except DocumentError as error:
        problems = "; ".join(f"{_as_override(problem.field)}: {problem.problem}" for problem in error.problems)
        raise StepFailedError(
            f"proposed_rules do not fit {baseline['scheme_name']} version {baseline['version']}: {problems}"
        ) from error
    return {
        "scheme_name": baseline["scheme_name"],
        "version": 0,
        "status": "proposed",
        "effective_from": None,
        "rule_hash": document.rule_hash,
        "document": dict(document.content),
    }


def _as_override(field: str) -> str:
    """A problem the checked document has at `parameters.<name>`, named as the override it came from."""
    inside = f"{PROPOSED_RULES_FIELD}.parameters."
    return PROPOSED_RULES_FIELD + "." + field.removeprefix(inside) if field.startswith(inside) else field


async def evaluate_population_task(
    inputs: Mapping[str, Any],
    config: FanOutConfig,
    context: TaskContext,
    *,
    evaluator: evaluator_pb2_grpc.EvaluatorServiceStub,
    documents: SchemeDocuments,
    results: ImpactResultStore,
) -> dict[str, Any]:
    """Evaluates and stores every citizen, or, if an earlier attempt already committed them, sums up its rows."""
    size = int(inputs["population"]["size"])
    writer = await asyncio.to_thread(results.open_writer, context.instance_id)
    try:
        first_attempt = await asyncio.to_thread(writer.claim)
        if first_attempt:
            # Only an attempt that evaluates needs the documents: one that rebuilds from stored rows reads none.
            rules = (
                await documents.with_document(inputs["rules"]),
                await documents.with_document(inputs["proposed_rules"]),
            )
            outcome = await evaluate_population(
                stub=evaluator,
                instance_id=context.instance_id,
                size=size,
                rules=rules,
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


async def build_impact_report(
    inputs: Mapping[str, Any], _config: NoConfig, context: TaskContext, *, documents: SchemeDocuments
) -> dict[str, Any]:
    report = ImpactReport.from_evaluation(
        inputs["evaluation"],
        instance_id=str(context.instance_id),
        baseline=await documents.with_document(inputs["rules"]),
        proposed=await documents.with_document(inputs["proposed_rules"]),
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
    # version_rules: the version fetched for proposed_version, used only when the run gave one.
    optional_inputs=frozenset({"proposed_rules", "proposed_version", "version_rules"}),
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


def tasks(
    *, evaluator: evaluator_pb2_grpc.EvaluatorServiceStub, documents: SchemeDocuments, results: ImpactResultStore
) -> tuple[Task, ...]:
    return (
        Task(LOAD_BENEFICIARIES, load_beneficiaries),
        Task(APPLY_PROPOSED_RULES, functools.partial(apply_proposed_rules, documents=documents)),
        Task(
            EVALUATE_POPULATION,
            functools.partial(evaluate_population_task, evaluator=evaluator, documents=documents, results=results),
        ),
        Task(BUILD_IMPACT_REPORT, functools.partial(build_impact_report, documents=documents)),
    )
