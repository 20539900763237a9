"""Decision names as JSON has them, and their civicflow.v1.Decision values: for the services, gateway and CLI."""

from __future__ import annotations

from typing import Literal, cast

from civicflow.v1 import evaluator_pb2

Decision = evaluator_pb2.Decision
DecisionName = Literal["ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW"]

DECISION_NAMES: dict[int, DecisionName] = {
    evaluator_pb2.DECISION_ELIGIBLE: "ELIGIBLE",
    evaluator_pb2.DECISION_NOT_ELIGIBLE: "NOT_ELIGIBLE",
    evaluator_pb2.DECISION_NEEDS_REVIEW: "NEEDS_REVIEW",
}
DECISION_VALUES: dict[str, Decision] = {name: cast(Decision, value) for value, name in DECISION_NAMES.items()}
# Report order: the order counts and transitions are listed in.
DECISION_ORDER: tuple[int, ...] = tuple(DECISION_NAMES)
NAMES_IN_ORDER: tuple[DecisionName, ...] = tuple(DECISION_NAMES.values())


def as_decision(value: int) -> Decision:
    """A stored decision code as the enum type (codes are checked by the database's constraint)."""
    return cast(Decision, value)
