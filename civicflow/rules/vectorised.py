"""A checked expression over whole columns of citizens at once, with NumPy.

Compiling folds every subtree that reads no attribute into a constant (computed by the scalar
interpreter, so both forms hold the same float), and turns every string into an integer code:
the categories keep their civicflow.v1.Category values, other strings get codes after them, so
string equality and `in` are integer comparisons. Evaluating a tree remembers each distinct
subtree's column, so a subexpression two criteria share (a ceiling and its review band) is
computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from civicflow.rules.attributes import CATEGORY_CODES
from civicflow.rules.expressions import BOOLEAN, Node
from civicflow.rules.lookup_tables import LOOKUP, lookup_index
from civicflow.rules.scalar import evaluate

Column = Any  # an ndarray, or a constant NumPy broadcasts
_NUMBER_ATTRIBUTES = ("age", "income", "household_size")

_BINARY: dict[str, Callable[[Column, Column], Column]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "/": np.divide,
}
_FOLDED: dict[str, Callable[[Column, Column], Column]] = {
    "+": np.add,
    "*": np.multiply,
    "min": np.minimum,
    "max": np.maximum,
    "and": np.logical_and,
    "or": np.logical_or,
}


_ARITHMETIC = frozenset({"+", "*", "min", "max", "-", "/"})


def _widened(value: Column) -> Column:
    """An integer column as float64, so arithmetic on it is the language's (no int32 wrap-around)."""
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
        return value.astype(np.float64)
    return value


def fold_constants(node: Node) -> Node:
    """The tree with every subtree that reads no attribute replaced by its value."""
    if node.kind in ("var", "literal"):
        return node
    if not any(kind == "var" for kind, _ in node.reads):
        return Node("literal", node.type, value=evaluate(node, {}))
    operands = tuple(fold_constants(operand) for operand in node.operands)
    if node.kind == "if" and operands[0].kind == "literal":
        return operands[1] if operands[0].value else operands[2]
    folded = Node(node.kind, node.type, operands)
    if all(operand.kind == "literal" for operand in operands):  # an `if` above chose a constant branch
        return Node("literal", node.type, value=evaluate(folded, {}))
    return folded


def string_codes(trees: Iterable[Node]) -> dict[str, int]:
    """Each string of the trees and each category, with its integer code."""
    codes = dict(CATEGORY_CODES)
    pending = list(trees)
    while pending:
        node = pending.pop()
        pending.extend(node.operands)
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        for value in values:
            if isinstance(value, str) and value not in codes:
                codes[value] = max(codes.values()) + 1
    return codes


class ColumnEvaluator:
    """Evaluates folded trees over one batch of columns; remembers each subtree's column for the batch."""

    def __init__(self, columns: Mapping[str, npt.NDArray[Any]], size: int, codes: Mapping[str, int]) -> None:
        self._columns = columns
        self._size = size
        self._codes = codes
        self._memo: dict[Node, Column] = {}
        self._indexes: dict[str, npt.NDArray[np.integer] | None] = {}

    def boolean(self, node: Node) -> npt.NDArray[np.bool_]:
        """A boolean tree's column, a full one even where the tree folded to a constant."""
        value = self.column(node)
        if isinstance(value, np.ndarray) and value.shape == (self._size,):
            return value
        return np.full(self._size, bool(value), dtype=np.bool_)

    def column(self, node: Node) -> Column:
        found = self._memo.get(node)
        if found is None:
            found = self._memo[node] = self._compute(node)
        return found

    def _compute(self, node: Node) -> Column:
        kind = node.kind
        if kind == "var":
            return self._attribute(node.name)
        if kind == "literal":
            return self._constant(node.value)
        if kind == "in":
            return self._contains(node)
        if kind == LOOKUP:
            return self._lookup(node)
        operands = [self.column(operand) for operand in node.operands]
        if kind in _ARITHMETIC:
            operands = [_widened(operand) for operand in operands]
        if kind in _FOLDED:
            result = operands[0]
            for operand in operands[1:]:
                result = _FOLDED[kind](result, operand)
            return result
        if kind in _BINARY:
            return _BINARY[kind](operands[0], operands[1])
        if kind == "not":
            return np.logical_not(operands[0])
        if kind == "-":
            return np.negative(operands[0]) if len(operands) == 1 else np.subtract(operands[0], operands[1])
        if kind == "if":
            return np.where(operands[0], operands[1], operands[2])
        raise AssertionError(f"unchecked operator {kind!r}")  # pragma: no cover

    def _lookup(self, node: Node) -> Column:
        if node.name not in self._indexes:
            self._indexes[node.name] = lookup_index(node.name.split(","), self._columns)
        index = self._indexes[node.name]
        if index is None:  # values outside the table: the subtree itself
            return self.column(node.operands[0])
        table = np.array(node.value, dtype=np.bool_ if node.type == BOOLEAN else np.float64)
        return np.take(table, index)

    def _attribute(self, name: str) -> Column:
        column = self._columns[name]
        if name in _NUMBER_ATTRIBUTES:
            # Numbers are float64 in the language. An integer column stays one until arithmetic needs
            # it (_widened): comparing int32 with a float compares exactly, and skips a converted copy.
            column = np.asarray(column)
            return column if np.issubdtype(column.dtype, np.integer) else column.astype(np.float64, copy=False)
        if name == "has_disability":
            return np.asarray(column, dtype=np.bool_)
        return np.asarray(column)

    def _constant(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._codes[value]
        return value

    def _contains(self, node: Node) -> Column:
        value_node, collection = node.operands
        value = self.column(value_node)
        items = [self._constant(item) for item in collection.value]
        found = np.zeros(self._size, dtype=np.bool_)
        for item in dict.fromkeys(items):
            found |= np.equal(value, item)
        return found
