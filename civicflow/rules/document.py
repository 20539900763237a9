"""A scheme document, parsed and checked: what a scheme version is, and its rule_hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from jsonschema import Draft202012Validator

from civicflow.canonical_json import canonical_json_bytes
from civicflow.grpc_errors import FieldProblem, FieldProblems
from civicflow.rules.checker import MAX_EXPRESSION_NODES, check_document, value_type
from civicflow.rules.expressions import CheckedCriterion, ExpressionType
from civicflow.rules.schema import DOCUMENT_SCHEMA
from civicflow.rules.structure import expression_problems

_VALIDATOR = Draft202012Validator(DOCUMENT_SCHEMA)


class DocumentError(FieldProblems):
    """A document that is not a valid scheme document: every problem, each at its path (422, INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class SchemeDocument:
    """A checked document. `content` is the JSON as submitted; never mutate it."""

    content: Mapping[str, Any]
    rule_hash: str
    # The criteria as typed trees, which compile_rules compiles (it checks again if these are missing).
    checked: tuple[CheckedCriterion, ...] = dataclass_field(default=(), compare=False, repr=False)

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.content["parameters"]  # type: ignore[no-any-return]

    @property
    def criteria(self) -> list[Mapping[str, Any]]:
        return self.content["criteria"]  # type: ignore[no-any-return]


def rule_hash(content: Any) -> str:
    """SHA-256 (hex) of the document's RFC 8785 JSON."""
    return hashlib.sha256(canonical_json_bytes(content)).hexdigest()


# Deeper than this, a document is refused before the schema walks it (recursively) at all.
MAX_DEPTH = 200
# More JSON values than this, likewise: the checker allows MAX_EXPRESSION_NODES expressions, and
# a document's parameters and lists cannot add much beside them.
MAX_JSON_NODES = 4 * MAX_EXPRESSION_NODES
# A schema message longer than this quotes the document back; it is replaced by one that does not.
MAX_MESSAGE = 200


def parse_document(content: Any, *, field: str = "document") -> SchemeDocument:
    """The document checked; DocumentError with every problem, each named at `field` + its path inside.

    First its shape (the JSON Schema), then, if the shape is right, the types of its expressions
    (checker.py).
    """
    depth, nodes = _size(content)
    if depth > MAX_DEPTH:
        raise DocumentError([FieldProblem(field, f"the document nests deeper than {MAX_DEPTH} levels")])
    # Counted before the schema walks it: a refusal must cost little however large the document.
    if nodes > MAX_JSON_NODES:
        raise DocumentError([FieldProblem(field, f"the document has more than {MAX_JSON_NODES} values")])
    problems = _shape_problems(content, field)
    if problems:
        raise DocumentError(problems)
    criteria, problems = check_document(content, field=field)
    if problems:
        raise DocumentError(problems)
    return SchemeDocument(content=content, rule_hash=rule_hash(content), checked=tuple(criteria))


def _size(content: Any) -> tuple[int, int]:
    """How deep the document nests, and how many JSON values it holds (both only up to just past their limits)."""
    deepest = nodes = 0
    pending = [(content, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        nodes += 1
        if deepest > MAX_DEPTH or nodes > MAX_JSON_NODES:
            break
        if isinstance(node, Mapping):
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
    return deepest, nodes


def _shape_problems(content: Any, field: str) -> list[FieldProblem]:
    """The JSON Schema's problems, but those inside a criterion's test told node by node (structure.py).

    The schema can only say a test matches none of the expression forms, quoting it whole.
    """
    problems: dict[FieldProblem, None] = {}
    tests_told: set[int] = set()
    for error in sorted(_VALIDATOR.iter_errors(content), key=lambda e: list(map(str, e.absolute_path))):
        parts = list(error.absolute_path)
        if parts[:1] == ["criteria"] and len(parts) >= 3 and parts[2] == "test" and isinstance(parts[1], int):
            index = parts[1]
            if index not in tests_told:
                tests_told.add(index)
                criterion = content["criteria"][index]
                named = criterion.get("id") if isinstance(criterion.get("id"), str) else f"#{index + 1}"
                told = expression_problems(criterion["test"], f"{field}.criteria[{index}].test", named)
                problems.update(dict.fromkeys(told))
                if told:
                    continue
            else:
                continue
        problems[FieldProblem(_path(field, parts), _message(error))] = None
    return list(problems)


def _message(error: Any) -> str:
    """The validator's words, unless they quote a large part of the document back."""
    message = str(error.message)
    return message if len(message) <= MAX_MESSAGE else f"does not satisfy the document schema ('{error.validator}')"


def _path(field: str, parts: Any) -> str:
    path = field
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def with_parameters(document: SchemeDocument, overrides: Mapping[str, Any], *, field: str) -> SchemeDocument:
    """The document with some parameters' values replaced, checked again; DocumentError naming each bad override.

    Only parameters the document has may be overridden: a new name could change nothing.
    """
    unknown = sorted(set(overrides) - set(document.parameters))
    if unknown:
        known = ", ".join(sorted(document.parameters))
        raise DocumentError(
            [
                FieldProblem(f"{field}.{name}", f"the document has no parameter {name!r} (it has {known})")
                for name in unknown
            ]
        )
    # An override of another type would surface as type errors inside criteria the caller never
    # wrote: say it of the override itself.
    mismatched = [
        FieldProblem(f"{field}.{name}", f"parameter {name!r} is {kind} in the document; {value!r} is {other}")
        for name, value in overrides.items()
        for kind, other in [(value_type(document.parameters[name])[0], value_type(value)[0])]
        if other is not None and kind is not None and not _fits(other, kind)
    ]
    if mismatched:
        raise DocumentError(mismatched)
    content = {**document.content, "parameters": {**document.parameters, **overrides}}
    try:
        return parse_document(content, field=field)
    except DocumentError as error:
        prefix = f"{field}.parameters."
        raise DocumentError(
            [
                FieldProblem(f"{field}.{problem.field.removeprefix(prefix)}", problem.problem)
                if problem.field.startswith(prefix)
                else problem
                for problem in error.problems
            ]
        ) from None


def _fits(override: ExpressionType, original: ExpressionType) -> bool:
    if override == original:
        return True
    # An empty list fits a list of anything, and a list of anything replaces an empty one.
    return override.is_list and original.is_list and None in (override.item, original.item)


def attributes_read(content: Any) -> frozenset[str]:
    """The citizen attributes (`var`s) an expression, a criterion or a whole document reads."""
    found: set[str] = set()
    pending = [content]
    while pending:
        node = pending.pop()
        if isinstance(node, Mapping):
            if isinstance(node.get("var"), str) and len(node) == 1:
                found.add(node["var"])
            else:
                pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return frozenset(found)
