"""The static check of a document the JSON Schema accepted: the type of every expression, every problem at its path.

It turns each criterion's test into a typed tree (expressions.Node), which is what the compiled
forms evaluate, so a tree that exists has been checked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import shown
from civicflow.rules.attributes import ATTRIBUTES, ValueType
from civicflow.rules.expressions import (
    BOOLEAN,
    EQUALITY,
    LOGICAL,
    NUMBER,
    ORDERING,
    SCALARS,
    VARIADIC_ARITHMETIC,
    CheckedCriterion,
    ExpressionType,
    Node,
)

# Operators whose operands all have one type: (that type, the result's type).
_UNIFORM: dict[str, tuple[ExpressionType, ExpressionType]] = {
    **{operator: (NUMBER, BOOLEAN) for operator in ORDERING},
    **{operator: (BOOLEAN, BOOLEAN) for operator in (*LOGICAL, "not")},
    **{operator: (NUMBER, NUMBER) for operator in (*VARIADIC_ARITHMETIC, "-", "/")},
}

# Beyond this many expression nodes in all, a document could be made expensive to check and to run.
MAX_EXPRESSION_NODES = 5000


def scalar_type(value: Any) -> ExpressionType | None:
    """The type of a JSON scalar; None for anything else. A JSON true is a boolean, never the number 1."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return SCALARS[ValueType.STRING]
    return None


def value_type(value: Any) -> tuple[ExpressionType | None, str]:
    """The type of a literal or parameter value, or None and what is wrong with it."""
    if isinstance(value, list):
        types = {scalar_type(item) for item in value}
        if None in types:
            return None, "a list may only hold numbers, strings or booleans"
        if len(types) > 1:
            named = " and ".join(sorted(f"{kind.base.value}s" for kind in types if kind))
            return None, f"a list mixes {named}; its items must all be of one type"
        if any(not _finite(item) for item in value):
            return None, f"a list holds a number that is not finite or beyond ±{MAX_EXACT_NUMBER} (2^53 - 1)"
        item = next(iter(types)) if types else None
        return ExpressionType(ValueType.LIST, item.base if item else None), ""
    kind = scalar_type(value)
    if kind is None:
        return None, "a value must be a number, a string, a boolean or a list of one of these"
    if not _finite(value):
        return None, f"the number {shown(repr(value))} is not finite or beyond ±{MAX_EXACT_NUMBER} (2^53 - 1)"
    return kind, ""


def plain_value(value: Any) -> Any:
    """A JSON value as the compiled forms hold it: numbers as float64, lists as tuples."""
    if isinstance(value, list):
        return tuple(plain_value(item) for item in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


# Numbers a document may hold: exact in float64 and in RFC 8785 JSON (which refuses larger integers), and
# stored as written by PostgreSQL's JSONB (which writes 1e20 as twenty-one digits).
MAX_EXACT_NUMBER = 2**53 - 1


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    try:
        return math.isfinite(float(value)) and abs(value) <= MAX_EXACT_NUMBER
    except OverflowError:
        return False


def check_document(content: Mapping[str, Any], *, field: str) -> tuple[list[CheckedCriterion], list[FieldProblem]]:
    """The typed criteria, and every problem found (the criteria are only usable if there is none)."""
    problems: list[FieldProblem] = []
    parameters: dict[str, tuple[ExpressionType, Any]] = {}
    for name, value in content["parameters"].items():
        kind, why = value_type(value)
        if kind is None:
            problems.append(FieldProblem(f"{field}.parameters.{name}", f"parameter {name!r}: {why}"))
        else:
            parameters[name] = (kind, plain_value(value))
    bad_parameters = set(content["parameters"]) - set(parameters)
    criteria: list[CheckedCriterion] = []
    seen: dict[str, int] = {}
    nodes = 0
    for index, criterion in enumerate(content["criteria"]):
        path = f"{field}.criteria[{index}]"
        identifier = criterion["id"]
        if identifier in seen:
            problems.append(
                FieldProblem(
                    f"{path}.id", f"criterion {identifier!r}: the id is already used by criteria[{seen[identifier]}]"
                )
            )
        seen.setdefault(identifier, index)
        checker = _CriterionChecker(identifier, parameters, bad_parameters, nodes_before=nodes)
        test = checker.check(criterion["test"], f"{path}.test")
        nodes = checker.nodes
        problems.extend(checker.problems)
        if test is not None and test.type != BOOLEAN:
            problems.append(
                FieldProblem(f"{path}.test", f"criterion {identifier!r}: the test is {test.type}; it must be a boolean")
            )
        if test is not None:
            criteria.append(CheckedCriterion(identifier, criterion["kind"], criterion.get("description", ""), test))
    if nodes > MAX_EXPRESSION_NODES:
        problems.append(
            FieldProblem(
                f"{field}.criteria",
                f"the tests have more than {MAX_EXPRESSION_NODES} expression nodes in all: too many for one document",
            )
        )
    # In the order of the document: paths compared with their indexes as numbers.
    problems.sort(
        key=lambda problem: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", problem.field)]
    )
    return criteria, problems


class _CriterionChecker:
    def __init__(
        self,
        criterion: str,
        parameters: Mapping[str, tuple[ExpressionType, Any]],
        bad_parameters: set[str],
        *,
        nodes_before: int,
    ) -> None:
        self.criterion = criterion
        self.parameters = parameters
        self.bad_parameters = bad_parameters
        self.problems: list[FieldProblem] = []
        self.nodes = nodes_before  # counted over the whole document

    def problem(self, path: str, text: str) -> None:
        self.problems.append(FieldProblem(path, f"criterion {self.criterion!r}: {text}"))

    def check(self, expression: Any, path: str, *, list_allowed: bool = False) -> Node | None:
        """The typed node, or None after reporting why there is none."""
        self.nodes += 1
        if self.nodes > MAX_EXPRESSION_NODES:
            return None  # reported once for the whole document
        if isinstance(expression, Mapping):
            [(operator, operands)] = expression.items()  # the schema allows exactly one key
            if operator == "var":
                return Node("var", SCALARS[ATTRIBUTES[operands]], name=operands)
            if operator == "param":
                return self.parameter(operands, path, list_allowed=list_allowed)
            return self.operation(operator, operands, f"{path}.{operator}")
        kind, why = value_type(expression)
        if kind is None:
            self.problem(path, why)
            return None
        if kind.is_list and not list_allowed:
            self.problem(path, "a list can only be the second operand of 'in'")
            return None
        return Node("literal", kind, value=plain_value(expression))

    def parameter(self, name: str, path: str, *, list_allowed: bool) -> Node | None:
        if name in self.bad_parameters:
            return None  # reported at the parameter itself
        if name not in self.parameters:
            known = ", ".join(sorted(self.parameters)) or "none"
            self.problem(f"{path}.param", f"unknown parameter {name!r} (the document's parameters: {known})")
            return None
        kind, value = self.parameters[name]
        if kind.is_list and not list_allowed:
            self.problem(path, f"parameter {name!r} is a list; a list can only be the second operand of 'in'")
            return None
        return Node("param", kind, name=name, value=value)

    def operation(self, operator: str, operands: list[Any], path: str) -> Node | None:
        checked = [
            self.check(operand, f"{path}[{index}]", list_allowed=operator == "in" and index == 1)
            for index, operand in enumerate(operands)
        ]
        if operator in _UNIFORM:
            # Operands of one wanted type are checked each on its own, so a bad one hides no other.
            wanted, produces = _UNIFORM[operator]
            for index, node in enumerate(checked):
                if node is not None and node.type != wanted:
                    self.problem(f"{path}[{index}]", f"{operator!r} needs {wanted.base.value}s; this is {node.type}")
                    checked[index] = None
            nodes = tuple(node for node in checked if node is not None)
            return Node(operator, produces, nodes) if len(nodes) == len(checked) else None
        if any(node is None for node in checked):
            return None  # the operand's own problem is reported; its type is unknown
        nodes = tuple(node for node in checked if node is not None)
        result = self.result_type(operator, nodes, path)
        return None if result is None else Node(operator, result, nodes)

    def result_type(self, operator: str, nodes: tuple[Node, ...], path: str) -> ExpressionType | None:
        """The type of ==, != , in or if over operands of known types."""
        types = [node.type for node in nodes]
        if operator in EQUALITY:
            if types[0] != types[1]:
                self.problem(path, f"compares {types[0]} with {types[1]}")
                return None
            return BOOLEAN
        if operator == "in":
            value, collection = types
            if not collection.is_list:
                self.problem(f"{path}[1]", f"'in' needs a list here; this is {collection}")
                return None
            if collection.item is not None and collection.item != value.base:
                self.problem(path, f"looks for {value} in {collection}")
                return None
            return BOOLEAN
        if operator == "if":
            if types[0] != BOOLEAN:
                self.problem(f"{path}[0]", f"the condition of 'if' is {types[0]}; it must be a boolean")
                return None
            if types[1] != types[2]:
                self.problem(path, f"the two branches of 'if' differ: 'then' is {types[1]}, 'else' is {types[2]}")
                return None
            return types[1]
        raise AssertionError(f"unchecked operator {operator!r}")  # pragma: no cover
