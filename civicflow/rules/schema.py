"""The JSON Schema of a scheme document (draft 2020-12), served at GET /schemes/schema.

It describes the shape; parse_document (document.py) checks the shape against it and then what
a schema cannot say: the types of expressions, and that every `param` names a parameter.
"""

from __future__ import annotations

from typing import Any

from civicflow.rules.attributes import ATTRIBUTES

NAME_PATTERN = "^[a-z][a-z0-9_]{0,63}$"
MAX_TEXT = 1000
MAX_PARAMETERS = 100
MAX_CRITERIA = 100
MAX_LIST_ITEMS = 100

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_ONE_OR_MORE = ("and", "or", "min", "max")
_TWO_OR_MORE = ("+", "*")


def _operator(name: str, operands: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: operands},
        "required": [name],
        "additionalProperties": False,
    }


def _operands(minimum: int, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "minItems": minimum, "items": {"$ref": "#/$defs/expression"}}
    if maximum is not None:
        schema["maxItems"] = maximum
    return schema


DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://civicflow.example/schemas/scheme-document.json",
    "title": "Civicflow scheme document",
    "description": (
        "One version of a scheme's eligibility rules. A criterion's test true means it passed. If any "
        "exclusion criterion fails the decision is NOT_ELIGIBLE; otherwise if any review criterion fails "
        "it is NEEDS_REVIEW; otherwise ELIGIBLE."
    ),
    "type": "object",
    "properties": {
        "description": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
        "parameters": {
            "type": "object",
            "maxProperties": MAX_PARAMETERS,
            # A parameter named like an attribute would make a reason's values ambiguous.
            "propertyNames": {"pattern": NAME_PATTERN, "not": {"enum": sorted(ATTRIBUTES)}},
            "additionalProperties": {"$ref": "#/$defs/value"},
        },
        "criteria": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CRITERIA,
            "items": {"$ref": "#/$defs/criterion"},
        },
    },
    "required": ["description", "parameters", "criteria"],
    "additionalProperties": False,
    "$defs": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "scalar": {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "maxLength": MAX_TEXT},
                {"type": "boolean"},
            ]
        },
        "list": {"type": "array", "maxItems": MAX_LIST_ITEMS, "items": {"$ref": "#/$defs/scalar"}},
        "value": {"anyOf": [{"$ref": "#/$defs/scalar"}, {"$ref": "#/$defs/list"}]},
        "criterion": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": NAME_PATTERN},
                "kind": {"enum": ["exclusion", "review"]},
                "description": {"type": "string", "maxLength": MAX_TEXT},
                "test": {"$ref": "#/$defs/expression"},
            },
            "required": ["id", "kind", "test"],
            "additionalProperties": False,
        },
        # A list is a value only as the second operand of `in`, so an expression is never one.
        "expression": {
            "anyOf": [
                {"$ref": "#/$defs/scalar"},
                _operator("var", {"enum": sorted(ATTRIBUTES)}),
                _operator("param", {"$ref": "#/$defs/name"}),
                *(_operator(name, _operands(2, 2)) for name in _COMPARISONS),
                _operator(
                    "in",
                    {
                        "type": "array",
                        "prefixItems": [
                            {"$ref": "#/$defs/expression"},
                            {"anyOf": [{"$ref": "#/$defs/list"}, _operator("param", {"$ref": "#/$defs/name"})]},
                        ],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                ),
                *(_operator(name, _operands(1)) for name in _ONE_OR_MORE),
                *(_operator(name, _operands(2)) for name in _TWO_OR_MORE),
                _operator("not", _operands(1, 1)),
                _operator("-", _operands(1, 2)),
                _operator("/", _operands(2, 2)),
                _operator("if", _operands(3, 3)),
            ]
        },
    },
}
