"""The task types templates can use: their contracts, and their functions bound to the services they need.

A new task type: write its function and its TaskContract (contract.py) in a module here, then
add the contract to TASK_CONTRACTS and the bound task to task_registry below.
"""

from __future__ import annotations

from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.schemes.service import SchemeService
from orchestrator.tasks import eligibility, impact, scheme_rules
from orchestrator.tasks.contract import TaskContract, TaskRegistry

# What templates are checked against: needs no service, so templates can be checked anywhere.
TASK_CONTRACTS: dict[str, TaskContract] = {
    contract.task_type: contract for contract in (*scheme_rules.CONTRACTS, *eligibility.CONTRACTS, *impact.CONTRACTS)
}


def task_registry(
    *,
    evaluator: evaluator_pb2_grpc.EvaluatorServiceStub,
    schemes: SchemeService,
    results: ImpactResultStore,
) -> TaskRegistry:
    registry = TaskRegistry(
        (
            *scheme_rules.tasks(schemes=schemes),
            *eligibility.tasks(evaluator=evaluator, documents=schemes.documents),
            *impact.tasks(evaluator=evaluator, documents=schemes.documents, results=results),
        )
    )
    assert registry.contracts() == TASK_CONTRACTS, "every task type has a contract and a bound function"
    return registry
