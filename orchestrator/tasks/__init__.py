"""The task types templates can use: their contracts, and their functions bound to the services they need.

A new task type: write its function and its TaskContract (contract.py) in a module here, then
add the contract to TASK_CONTRACTS and the bound task to task_registry below.
"""

from __future__ import annotations

from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.tasks import eligibility, impact
from orchestrator.tasks.contract import TaskContract, TaskRegistry
from orchestrator.templates.schemes import SchemeCatalog

# What templates are checked against: needs no service, so templates can be checked anywhere.
TASK_CONTRACTS: dict[str, TaskContract] = {
    contract.task_type: contract for contract in (*eligibility.CONTRACTS, *impact.CONTRACTS)
}


def task_registry(
    *,
    evaluator: evaluator_pb2_grpc.EvaluatorServiceStub,
    schemes: SchemeCatalog,
    results: ImpactResultStore,
) -> TaskRegistry:
    registry = TaskRegistry(
        (
            *eligibility.tasks(evaluator=evaluator, schemes=schemes),
            *impact.tasks(evaluator=evaluator, results=results),
        )
    )
    assert registry.contracts() == TASK_CONTRACTS, "every task type has a contract and a bound function"
    return registry
