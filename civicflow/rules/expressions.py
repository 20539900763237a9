"""Typed expression trees: what the checker makes of a criterion's test, and what the compiled forms walk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from civicflow.rules.attributes import ValueType

# Operators by the operands they take (docs/rules.md lists each with its types).
EQUALITY = ("==", "!=")
ORDERING = ("<", "<=", ">", ">=")
LOGICAL = ("and", "or")
VARIADIC_ARITHMETIC = ("+", "*", "min", "max")
OPERATORS = (*EQUALITY, *ORDERING, "in", *LOGICAL, "not", *VARIADIC_ARITHMETIC, "-", "/", "if")


@dataclass(frozen=True)
class ExpressionType:
    """A scalar type, or a list of one scalar type (`item` None for an empty list, which fits any)."""

    base: ValueType
    item: ValueType | None = None

    @property
    def is_list(self) -> bool:
        return self.base is ValueType.LIST

    def __str__(self) -> str:
        if not self.is_list:
            return f"a {self.base.value}"
        if self.item is None:
            return "an empty list"
        return f"a list of {self.item.value}s"


NUMBER = ExpressionType(ValueType.NUMBER)
STRING = ExpressionType(ValueType.STRING)
BOOLEAN = ExpressionType(ValueType.BOOLEAN)
SCALARS = {ValueType.NUMBER: NUMBER, ValueType.STRING: STRING, ValueType.BOOLEAN: BOOLEAN}


@dataclass(frozen=True, eq=False)
class Node:
    """One checked expression. `kind` is "var", "param", "literal" or an operator.

    Numbers are Python floats (float64) from here on, lists are tuples; `value` holds a literal's
    or a parameter's value, `name` a var's or a parameter's name.
    """

    kind: str
    type: ExpressionType
    operands: tuple[Node, ...] = ()
    name: str = ""
    value: Any = None
    _key: tuple[Any, ...] = field(default=(), init=False, repr=False)
    _hash: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        # Trees are memo keys in the vectorised form, so equal must mean the same value to the bit:
        # 0.0 == -0.0 in Python, yet 1/0.0 and 1/-0.0 differ. A float is keyed by its repr.
        key = (self.kind, self.type, self.name, _value_key(self.value), self.operands)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and (self is other or (self._hash == other._hash and self._key == other._key))

    def __hash__(self) -> int:
        return self._hash

    @property
    def reads(self) -> frozenset[tuple[str, str]]:
        """("var" | "param", name) of everything this expression reads."""
        found: set[tuple[str, str]] = set()
        pending = [self]
        while pending:
            node = pending.pop()
            if node.kind in ("var", "param"):
                found.add((node.kind, node.name))
            pending.extend(node.operands)
        return frozenset(found)


def _value_key(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_value_key(item) for item in value)
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


@dataclass(frozen=True)
class CheckedCriterion:
    id: str
    kind: str
    description: str
    test: Node
