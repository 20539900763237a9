"""Checks a run's inputs against its template's input_schema, naming each field and never quoting a value whole.

jsonschema's own messages repeat the offending value (a 20 KB citizen id made a 20 KB status,
too big for gRPC's trailers), so a problem with text, a list or an object is described here from
the keyword that failed; one with a number keeps jsonschema's words.
JSON Schema patterns are ECMA-262 regular expressions, where `$` matches only at the very end;
Python's `re` also matches it before a final newline, which let "CIT-0000042\\n" through. The
pattern keyword here gives `$` its ECMA meaning.
The one format asserted is "date": a real calendar date written YYYY-MM-DD (RFC 3339's full-date),
which Python's own date parser is looser about (it takes 20260101 and 2026-W01-1).
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator

from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import ECHO_LIMIT, shown


def input_validator(schema: dict[str, Any]) -> Validator:
    """A draft 2020-12 validator of `schema` whose patterns anchor as ECMA-262 ones do, and whose dates are real."""
    return _ANCHORED_VALIDATOR(schema, format_checker=_FORMATS)


def input_problems(validator: Validator, inputs: dict[str, Any]) -> list[FieldProblem]:
    """Every problem of `inputs`, in field order; each problem appears once."""
    problems: dict[FieldProblem, None] = {}
    errors = sorted(validator.iter_errors(inputs), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        problems.update(dict.fromkeys(_describe(error)))
    return list(problems)


@functools.lru_cache(maxsize=256)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled with each `$` outside a character class meaning end of text, as in ECMA-262."""
    translated: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        translated.append(char)
    return re.compile("".join(translated))


def _pattern(validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"must match the pattern {pattern}")


_ANCHORED_VALIDATOR = validators.extend(Draft202012Validator, {"pattern": _pattern})

# Only the formats listed here are asserted; any other "format" stays an annotation, as draft 2020-12 has it.
_FORMATS = FormatChecker(formats=())
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_date(instance: object) -> bool:
    """A string is a date if it is YYYY-MM-DD and that day exists; other types are the type keyword's business."""
    if not isinstance(instance, str):
        return True
    if not _FULL_DATE.fullmatch(instance):
        return False
    datetime.date.fromisoformat(instance)  # ValueError for 2026-02-30
    return True


_FORMATS.checks("date", raises=ValueError)(is_date)


def _describe(error: ValidationError) -> Iterator[FieldProblem]:
    field = "inputs" + "".join(f".{_part(part)}" for part in error.absolute_path)
    keyword, instance = str(error.validator), error.instance
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        unexpected = [shown(name) for name in instance if name not in known]
        more = f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        yield FieldProblem(field, f"unexpected fields: {', '.join(unexpected[:3])}{more}")
    elif keyword == "required" or instance is None or isinstance(instance, bool | int | float):
        # jsonschema's words quote the schema or a number (at most 2**53 - 1 by now): short either way.
        yield FieldProblem(field, error.message)
    else:
        yield FieldProblem(field, _problem(keyword, error.validator_value, error.message))


def _problem(keyword: str, expected: Any, message: str) -> str:
    match keyword:
        case "type":
            kinds = expected if isinstance(expected, list) else [expected]
            return f"must be of type {' or '.join(map(str, kinds))}"
        case "maxLength":
            return f"must be at most {expected} characters"
        case "minLength":
            return "must not be empty" if expected == 1 else f"must be at least {expected} characters"
        case "pattern":
            return message  # _pattern's own, which quotes the schema, not the value
        case "minimum":
            return f"must be >= {expected}"
        case "maximum":
            return f"must be <= {expected}"
        case "exclusiveMinimum":
            return f"must be > {expected}"
        case "exclusiveMaximum":
            return f"must be < {expected}"
        case "enum":
            return "must be one of " + ", ".join(map(str, expected))
        case "const":
            return f"must be {expected}"
        case "format":
            return "must be a date, YYYY-MM-DD" if expected == "date" else f"must be in the format {expected}"
        case "not" if isinstance(expected, dict) and isinstance(expected.get("required"), list):
            return f"must not give {' and '.join(map(str, expected['required']))} together"
        case "minProperties":
            return f"must have at least {expected} field{'s' if expected != 1 else ''}"
        case "maxProperties":
            return f"must have at most {expected} fields"
        case _:
            return f"breaks the schema's '{keyword}'"


def _part(part: object) -> str:
    text = str(part)
    return text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "…"
