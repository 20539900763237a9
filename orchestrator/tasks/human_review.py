"""The human_review task: the run waits until a person decides the step's review task.

The first attempt creates the task (audited as `created`) and raises AwaitingReview: the runner
parks the run, `waiting`, holding no replica (runs/runner.py). Once the task is decided the run
is resumed and the step runs again: it finds its task decided and produces the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from civicflow.auth.principals import Role
from orchestrator.errors import AwaitingReview, StepFailedError
from orchestrator.reviews.model import CANCELLED, DECIDED
from orchestrator.reviews.service import ReviewService
from orchestrator.tasks.contract import Task, TaskContext, TaskContract

HUMAN_REVIEW = "human_review"


class HumanReviewConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Who may claim and decide the task (admin always may); never the subject who submitted the run.
    candidate_role: Role
    # The task is due this long after it is created; past it, it is overdue and its escalation audited.
    sla_seconds: float = Field(gt=0, le=365 * 86_400)


CONTRACT = TaskContract(
    task_type=HUMAN_REVIEW,
    # The decision the engine recommends (make_decision's): its citizen, scheme, decision and reasons.
    required_inputs=frozenset({"recommendation"}),
    outputs=frozenset({"review"}),
    config_model=HumanReviewConfig,
    audits_itself=True,
)
CONTRACTS = (CONTRACT,)


def tasks(*, reviews: ReviewService) -> tuple[Task, ...]:
    async def human_review(
        inputs: Mapping[str, Any], config: HumanReviewConfig, context: TaskContext
    ) -> dict[str, Any]:
        task = await reviews.open_for_step(
            instance_id=context.instance_id,
            step_index=context.step_index,
            step_name=context.step_name,
            recommendation=inputs["recommendation"],
            candidate_role=config.candidate_role,
            submitted_by=context.actor,
            sla_seconds=config.sla_seconds,
        )
        if task.status == DECIDED:
            return {"review": task.outcome()}
        if task.status == CANCELLED:
            raise StepFailedError(f"review task {task.review_task_id} was cancelled")
        raise AwaitingReview(task.review_task_id)

    return (Task(CONTRACT, human_review),)
