"""The citizen attributes a rule may read (`var`), with their types, and the categories a citizen can be in."""

from __future__ import annotations

from enum import StrEnum

from civicflow.v1 import evaluator_pb2


class ValueType(StrEnum):
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    LIST = "list"


ATTRIBUTES: dict[str, ValueType] = {
    "age": ValueType.NUMBER,
    "income": ValueType.NUMBER,
    "category": ValueType.STRING,
    "household_size": ValueType.NUMBER,
    "has_disability": ValueType.BOOLEAN,
}

# The registry's categories, in the order reports list them; their civicflow.v1.Category values.
CATEGORIES: tuple[str, ...] = ("general", "obc", "sc", "st")
CATEGORY_CODES: dict[str, int] = {name: evaluator_pb2.Category.Value(f"CATEGORY_{name.upper()}") for name in CATEGORIES}
