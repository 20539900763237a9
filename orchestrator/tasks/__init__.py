"""The task types templates can use: their contracts, and their functions bound to the services they need.

A new task type: write its function and its TaskContract (contract.py) in a module here, then
add the contract to TASK_CONTRACTS and the bound task to task_registry below.
"""

from __future__ import annotations

from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.reviews.service import ReviewService
from orchestrator.schemes.service import SchemeService
from orchestrator.tasks import eligibility, final_decision, human_review, impact, scheme_rules, switch
from orchestrator.tasks.contract import TaskContract, TaskRegistry

# What templates are checked against: needs no service, so templates can be checked anywhere.
# The switch task runs a template's switch steps; no task step may name it.
TASK_CONTRACTS: dict[str, TaskContract] = {
    contract.task_type: contract
    for contract in (
        *scheme_rules.CONTRACTS,
        *eligibility.CONTRACTS,
        *impact.CONTRACTS,
        *human_review.CONTRACTS,
        *final_decision.CONTRACTS,
        *switch.CONTRACTS,
    )
}


def task_registry(
    *,
    evaluator: evaluator_pb2_grpc.EvaluatorServiceStub,
    schemes: SchemeService,
    results: ImpactResultStore,
    reviews: ReviewService,
) -> TaskRegistry:
    registry = TaskRegistry(
        (
            *scheme_rules.tasks(schemes=schemes),
            *eligibility.tasks(evaluator=evaluator, documents=schemes.documents),
            *impact.tasks(evaluator=evaluator, documents=schemes.documents, results=results),
            *human_review.tasks(reviews=reviews),
            *final_decision.tasks(),
            *switch.tasks(),
        )
    )
    assert registry.contracts() == TASK_CONTRACTS, "every task type has a contract and a bound function"
    return registry
