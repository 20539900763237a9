"""Decision names as they appear in JSON, and their civicflow.v1.Decision values."""

from __future__ import annotations

from typing import cast

from civicflow.v1 import evaluator_pb2

Decision = evaluator_pb2.Decision

DECISION_NAMES: dict[int, str] = {
    evaluator_pb2.DECISION_ELIGIBLE: "ELIGIBLE",
    evaluator_pb2.DECISION_NOT_ELIGIBLE: "NOT_ELIGIBLE",
    evaluator_pb2.DECISION_NEEDS_REVIEW: "NEEDS_REVIEW",
}
DECISION_VALUES: dict[str, Decision] = {name: cast(Decision, value) for value, name in DECISION_NAMES.items()}
# Report order: the order counts and transitions are listed in.
DECISION_ORDER: tuple[int, ...] = tuple(DECISION_NAMES)


def as_decision(value: int) -> Decision:
    """A stored decision code as the enum type (codes are checked by the database's constraint)."""
    return cast(Decision, value)
