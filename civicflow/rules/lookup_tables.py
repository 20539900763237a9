"""Subexpressions that read only small-domain attributes, tabulated at compile time and looked up per batch.

`category` (4 values), `has_disability` (2) and `household_size` (1 to 100 for every real
citizen) have so few values that any number or boolean computed from them alone (a ceiling by
category and household size, say) can be computed once per combination by the scalar
interpreter, and then read for a whole column with one np.take: the same floats as `explain`
gives, by construction, at the cost of one gather instead of a pass per operator.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from civicflow.rules.attributes import CATEGORY_CODES
from civicflow.rules.expressions import BOOLEAN, NUMBER, Node
from civicflow.rules.scalar import evaluate

# Longer than any string a document may hold (schema.MAX_TEXT), so equal to none of them.
NO_CATEGORY = "\x00" * 1001
# Category codes index 0..5: 1..4 are the categories, 0 and 5 stand for any other code (clipped there).
CATEGORY_INDEX: tuple[str, ...] = (
    NO_CATEGORY,
    *(sorted(CATEGORY_CODES, key=CATEGORY_CODES.__getitem__)),
    NO_CATEGORY,
)
HOUSEHOLD_SIZES = (1, 100)
DOMAINS: dict[str, tuple[Any, ...]] = {
    "category": CATEGORY_INDEX,
    "has_disability": (False, True),
    "household_size": tuple(float(size) for size in range(HOUSEHOLD_SIZES[0], HOUSEHOLD_SIZES[1] + 1)),
}
LOOKUP = "lookup"


def tabulate(node: Node) -> Node:
    """The folded tree with each largest number or boolean subtree reading only DOMAINS turned into a lookup.

    A lookup node keeps the subtree as its one operand, for a batch whose household sizes fall
    outside the table.
    """
    if node.kind in ("var", "literal"):
        return node
    names = sorted(name for kind, name in node.reads if kind == "var")
    if names and node.type in (NUMBER, BOOLEAN) and set(names) <= set(DOMAINS):
        table = tuple(
            evaluate(node, dict(zip(names, combination, strict=True)))
            for combination in itertools.product(*(DOMAINS[name] for name in names))
        )
        return Node(LOOKUP, node.type, (node,), name=",".join(names), value=table)
    return Node(node.kind, node.type, tuple(tabulate(operand) for operand in node.operands))


def lookup_index(names: list[str], columns: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.integer] | None:
    """Each row's position in a table over `names`; None if a household size falls outside the table.

    Computed in the columns' own small integer types: cheaper than widening them first.
    """
    index: npt.NDArray[np.integer] | None = None
    for name in names:
        column = np.asarray(columns[name])
        if name == "category":
            part = np.clip(column, 0, len(CATEGORY_INDEX) - 1)
        elif name == "has_disability":
            part = column.astype(np.bool_, copy=False).view(np.uint8)
        else:
            low, high = HOUSEHOLD_SIZES
            if not np.issubdtype(column.dtype, np.integer) or (
                column.size and (column.min() < low or column.max() > high)
            ):
                return None
            part = column - low
        index = part if index is None else index * len(DOMAINS[name]) + part
    return index
