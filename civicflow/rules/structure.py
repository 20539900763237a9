"""The shape of expressions, told plainly: an unknown operator or attribute, or operands of the wrong number.

The JSON Schema describes expressions as one of twenty alternatives, and a schema validator can
only say that a test matches none of them (quoting it whole). This walk says which node is
wrong and why, at its path, so that a document's author is told where to look.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import shown
from civicflow.rules.attributes import ATTRIBUTES
from civicflow.rules.expressions import EQUALITY, LOGICAL, ORDERING

# (fewest, most) operands of each operator; None: no most.
ARITY: dict[str, tuple[int, int | None]] = {
    **dict.fromkeys((*EQUALITY, *ORDERING, "in", "/"), (2, 2)),
    **dict.fromkeys(LOGICAL, (1, None)),
    **dict.fromkeys(("min", "max"), (1, None)),
    **dict.fromkeys(("+", "*"), (2, None)),
    "not": (1, 1),
    "-": (1, 2),
    "if": (3, 3),
}
NAMING = ("var", "param")


def expression_problems(expression: Any, path: str, criterion: str) -> list[FieldProblem]:
    """Every node of the expression whose shape is wrong, each at its path, in the order the expression has them."""
    return [FieldProblem(at, f"criterion {shown(criterion)}: {problem}") for at, problem in _walk(expression, path)]


def _walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        yield from _operation(node, path)
    elif isinstance(node, list):
        if any(isinstance(item, dict | list) or item is None for item in node):
            yield path, "a list is a literal of numbers, strings or booleans, and holds no expression"
    elif node is None:
        yield path, "null is no value; a value is a number, a string, a boolean or a list"


def _operation(node: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    if len(node) != 1:
        yield path, f"an expression is an object with one operator, this one has {len(node)} keys"
        return
    ((operator, operands),) = node.items()
    at = f"{path}.{operator}" if len(operator) <= 16 else path
    if operator in NAMING:
        if operator == "var" and operands not in ATTRIBUTES:
            known = ", ".join(sorted(ATTRIBUTES))
            yield at, f"unknown attribute {shown(str(operands))} (the attributes: {known})"
        elif not isinstance(operands, str):
            yield at, f"'{operator}' names {'an attribute' if operator == 'var' else 'a parameter'} with a string"
        return
    if operator not in ARITY:
        known = ", ".join([*NAMING, *ARITY])
        yield at, f"unknown operator {shown(operator)} (the operators: {known})"
        return
    if not isinstance(operands, list):
        yield at, f"'{operator}' takes its operands as a list"
        return
    fewest, most = ARITY[operator]
    if len(operands) < fewest or (most is not None and len(operands) > most):
        wanted = str(fewest) if fewest == most else f"{fewest} or more" if most is None else f"{fewest} to {most}"
        yield at, f"'{operator}' takes {wanted} operands, not {len(operands)}"
    for index, operand in enumerate(operands):
        # The second operand of `in` is the list it looks in: a list literal is in place there.
        if operator == "in" and index == 1 and isinstance(operand, list):
            yield from _walk(operand, f"{at}[{index}]")
        elif isinstance(operand, list):
            yield f"{at}[{index}]", "a list may only be the second operand of 'in'"
        else:
            yield from _walk(operand, f"{at}[{index}]")
