"""Workflow inputs and an appeal's new data from the command line: `key=value` pairs and JSON files.

A value is taken as the template's input schema types it: text for a string property, JSON
otherwise (`population_size=1000` is a number, `proposed_rules={"max_income": 200000}` an
object), and text when it is not valid JSON. A dotted key sets a nested field:
`proposed_rules.max_income=200000`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A mistake in the command line itself: exit status 2, and nothing is sent."""


def read_json_object(path: str) -> dict[str, Any]:
    """A JSON object from a file, or from standard input for `-`."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise UsageError(f"{path} must hold a JSON object, not {type(document).__name__}")
    return document


def merge_assignments(base: dict[str, Any], assignments: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    """`base` (from a file, say) with every `key=value` of `assignments` set on top, in order."""
    merged: dict[str, Any] = json.loads(json.dumps(base))  # a deep copy: nested objects are changed in place below
    for assignment in assignments:
        path, value = _parse(assignment, schema)
        target = merged
        for depth, key in enumerate(path[:-1]):
            child = target.setdefault(key, {})
            if not isinstance(child, dict):
                raise UsageError(f"{assignment!r}: {'.'.join(path[: depth + 1])} is already set to a non-object value")
            target = child
        target[path[-1]] = value
    return merged


def _parse(assignment: str, schema: dict[str, Any] | None) -> tuple[list[str], Any]:
    key, separator, raw = assignment.partition("=")
    path = key.split(".")
    if not separator or not all(path):
        raise UsageError(f"{assignment!r} is not KEY=VALUE (a dotted KEY sets a nested field: rules.max_income=1000)")
    return path, _typed(raw, _property_schema(schema, path))


def _property_schema(schema: dict[str, Any] | None, path: list[str]) -> dict[str, Any] | None:
    for key in path:
        if schema is None:
            return None
        properties = schema.get("properties")
        schema = properties.get(key) if isinstance(properties, dict) else None
    return schema if isinstance(schema, dict) else None


def _typed(raw: str, schema: dict[str, Any] | None) -> Any:
    if schema is not None and _is_text(schema):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _is_text(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "string":
        return True
    enum = schema.get("enum")
    return isinstance(enum, list) and bool(enum) and all(isinstance(value, str) for value in enum)
