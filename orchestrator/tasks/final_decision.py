"""The record_final_decision task: the run's decision, the engine's or, after a review, the reviewer's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from civicflow.decisions import DECISION_VALUES
from orchestrator.tasks.contract import NoConfig, Task, TaskContext, TaskContract

CONTRACT = TaskContract(
    task_type="record_final_decision",
    required_inputs=frozenset({"recommendation"}),
    # A human_review step's outcome, on the path that had one.
    optional_inputs=frozenset({"review"}),
    outputs=frozenset({"decision"}),
    pure=True,
    output_values={"decision.decision": frozenset(DECISION_VALUES)},
)
CONTRACTS = (CONTRACT,)


async def record_final_decision(inputs: Mapping[str, Any], _config: NoConfig, _context: TaskContext) -> dict[str, Any]:
    recommendation = dict(inputs["recommendation"])
    review = inputs.get("review")
    if review is None:
        return {"decision": recommendation}
    return {
        "decision": {
            **recommendation,
            "decision": review["decision"],
            "reviewed_by": review["reviewed_by"],
            "justification": review["justification"],
            "review_task_id": review["review_task_id"],
            "recommended": {"decision": recommendation["decision"], "reasons": recommendation.get("reasons", [])},
        }
    }


def tasks() -> tuple[Task, ...]:
    return (Task(CONTRACT, record_final_decision),)
