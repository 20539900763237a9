"""One citizen through a checked expression tree: a small interpreter, float64 arithmetic exactly as NumPy does it.

Python floats are IEEE float64, as NumPy's are; where Python departs from IEEE (division by
zero raises) or from NumPy (min and max skip NaN), the functions below follow NumPy, so that
this form and the vectorised one agree bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from civicflow.rules.expressions import Node


def divide(numerator: float, denominator: float) -> float:
    """IEEE division, as np.divide: x/0 is ±inf by the signs of both, 0/0 and NaN/0 are NaN."""
    if denominator != 0:
        return numerator / denominator
    if numerator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return math.copysign(math.inf, numerator) * math.copysign(1.0, denominator)


def minimum(left: float, right: float) -> float:
    """np.minimum: NaN if either is NaN; of two equal values (0.0 and -0.0) the second."""
    return left if left < right or left != left else right


def maximum(left: float, right: float) -> float:
    """np.maximum: NaN if either is NaN; of two equal values (0.0 and -0.0) the second."""
    return left if left > right or left != left else right


def _fold(function: Callable[[float, float], float], values: list[float]) -> float:
    result = values[0]
    for value in values[1:]:
        result = function(result, value)
    return result


def _add(left: float, right: float) -> float:
    return left + right


def _multiply(left: float, right: float) -> float:
    return left * right


_VARIADIC: dict[str, Callable[[float, float], float]] = {
    "+": _add,
    "*": _multiply,
    "min": minimum,
    "max": maximum,
}


def evaluate(node: Node, citizen: Mapping[str, Any]) -> Any:
    """The expression's value for a citizen whose attributes are already plain (numbers as float).

    Every operand is evaluated, with no short cut, as the vectorised form evaluates every row.
    """
    kind = node.kind
    if kind == "var":
        return citizen[node.name]
    if kind in ("param", "literal"):
        return node.value
    values = [evaluate(operand, citizen) for operand in node.operands]
    if kind in _VARIADIC:
        return _fold(_VARIADIC[kind], values)
    if kind == "==":
        return values[0] == values[1]
    if kind == "!=":
        return values[0] != values[1]
    if kind == "<":
        return values[0] < values[1]
    if kind == "<=":
        return values[0] <= values[1]
    if kind == ">":
        return values[0] > values[1]
    if kind == ">=":
        return values[0] >= values[1]
    if kind == "in":
        return any(values[0] == item for item in values[1])
    if kind == "and":
        return all(values)
    if kind == "or":
        return any(values)
    if kind == "not":
        return not values[0]
    if kind == "-":
        return -values[0] if len(values) == 1 else values[0] - values[1]
    if kind == "/":
        return divide(values[0], values[1])
    if kind == "if":
        return values[1] if values[0] else values[2]
    raise AssertionError(f"unchecked operator {kind!r}")  # pragma: no cover


def reads(node: Node, citizen: Mapping[str, Any] | None = None) -> tuple[tuple[str, str], ...]:
    """The attributes and parameters the expression's value depends on, in the order it names them.

    Without a citizen, those of every operand. For a citizen, of an `if` only its condition and
    the branch the condition takes: a ceiling chosen by category depends on that category's
    base, not on every base.
    """
    found: dict[tuple[str, str], None] = {}
    pending = [node]
    while pending:
        current = pending.pop()
        if current.kind in ("var", "param"):
            found[(current.kind, current.name)] = None
        elif current.kind == "if" and citizen is not None:
            condition, then, otherwise = current.operands
            pending.extend((then if evaluate(condition, citizen) else otherwise, condition))
        else:
            pending.extend(reversed(current.operands))
    return tuple(found)
