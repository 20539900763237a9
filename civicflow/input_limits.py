"""The limits every value a client sends is held to, whatever the field: checked at each service's edge.

A request's free-form JSON (a run's inputs, an appeal's evidence, an audit record's input and
output) is refused, with each offending field named, when it is nested deeper than
MAX_JSON_DEPTH, holds text PostgreSQL or UTF-8 cannot store (NUL, lone surrogates) or longer than
MAX_TEXT_LENGTH, or a number outside what canonical JSON (RFC 8785) represents exactly. Messages
quote at most ECHO_LIMIT characters of what the client sent: an answer never grows with a hostile
value, and a gRPC status stays well inside the trailers' size limit.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

from civicflow.grpc_errors import FieldProblem, FieldProblems

MAX_JSON_DEPTH = 32
# Any string inside free-form JSON; a template's schema usually sets a much smaller maxLength per field.
MAX_TEXT_LENGTH = 4096
# RFC 8785 writes numbers as an IEEE double does: beyond 2**53 - 1 an integer is no longer exact.
MAX_SAFE_INTEGER = 2**53 - 1
# The range of a protobuf int64, the widest integer any request field carries.
MAX_INT64 = 2**63 - 1
ECHO_LIMIT = 64
# A hostile value could hold a million problems; the first few say enough.
MAX_PROBLEMS = 20


class InvalidInputError(FieldProblems):
    """Values that break the limits above: INVALID_ARGUMENT over gRPC, 422 over REST, each field named."""


def shown(value: str) -> str:
    """The value as a message may quote it: its first ECHO_LIMIT characters, and how long it really is."""
    if len(value) <= ECHO_LIMIT:
        return repr(value)
    return f"{value[:ECHO_LIMIT]!r}… ({len(value)} characters)"


def text_problem(value: str, *, max_length: int | None = MAX_TEXT_LENGTH) -> str | None:
    """Why `value` cannot be accepted as text, or None."""
    if max_length is not None and len(value) > max_length:
        return f"must be at most {max_length} characters (got {len(value)})"
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogates (not UTF-8)"
    return None


def number_problem(value: float) -> str | None:
    """Why a JSON number cannot be accepted, or None: it must be finite and exact in canonical JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"
    return None


def json_problems(value: Any, field: str, *, max_text_length: int | None = MAX_TEXT_LENGTH) -> list[FieldProblem]:
    """Every limit `value` (parsed JSON) breaks, by dotted field path; empty when it keeps them all."""
    problems: list[FieldProblem] = []
    for problem in _walk(value, field, max_text_length):
        problems.append(problem)
        if len(problems) == MAX_PROBLEMS:
            break
    return problems


def check_json(value: Any, field: str, *, max_text_length: int | None = MAX_TEXT_LENGTH) -> None:
    """InvalidInputError naming every field of `value` that breaks a limit."""
    if problems := json_problems(value, field, max_text_length=max_text_length):
        raise InvalidInputError(problems)


def parse_json(field: str, text: str, *, max_text_length: int | None = MAX_TEXT_LENGTH) -> Any:
    """A request's JSON text field, parsed and checked; InvalidInputError names the field otherwise."""
    if problem := text_problem(text, max_length=None):
        raise InvalidInputError([FieldProblem(field, problem)])
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInputError([FieldProblem(field, _too_deep())]) from None
    except json.JSONDecodeError as error:
        # Our own words and the position: the decoder's message is a library's, not the contract's.
        where = f"line {error.lineno}, column {error.colno}"
        raise InvalidInputError([FieldProblem(field, f"is not valid JSON (at {where})")]) from None
    except ValueError:  # NaN or Infinity, or an integer of thousands of digits
        raise InvalidInputError([FieldProblem(field, "is not valid JSON (a number out of range)")]) from None
    check_json(value, field, max_text_length=max_text_length)
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _too_deep() -> str:
    return f"must not be nested deeper than {MAX_JSON_DEPTH} levels"


def _walk(value: Any, field: str, max_text_length: int | None) -> Iterator[FieldProblem]:
    """Iterative, so that no depth of nesting can exhaust the interpreter's stack."""
    pending: list[tuple[Any, str, int]] = [(value, field, 0)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                yield FieldProblem(path, _too_deep())
                continue
            if isinstance(item, dict):
                for key, child in reversed(item.items()):
                    if not isinstance(key, str):
                        yield FieldProblem(path, "must have text keys")
                        continue
                    if problem := text_problem(key, max_length=max_text_length):
                        yield FieldProblem(path, f"key {shown(key)} {problem}")
                        continue
                    pending.append((child, f"{path}.{_path_part(key)}", depth + 1))
            else:
                pending.extend(
                    (child, f"{path}[{index}]", depth + 1) for index, child in reversed(list(enumerate(item)))
                )
        elif isinstance(item, str):
            if problem := text_problem(item, max_length=max_text_length):
                yield FieldProblem(path, problem)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            if problem := number_problem(item):
                yield FieldProblem(path, problem)
        else:
            yield FieldProblem(path, "must be a JSON value")


def _path_part(key: str) -> str:
    return key if len(key) <= ECHO_LIMIT else key[:ECHO_LIMIT] + "…"


def check_text(field: str, value: str, *, max_length: int) -> None:
    """InvalidInputError naming `field` if `value` is too long or holds what text cannot."""
    if problem := text_problem(value, max_length=max_length):
        raise InvalidInputError([FieldProblem(field, problem)])


# The longest spelling uuid.UUID reads: "urn:uuid:" and 32 hex digits with braces and hyphens.
MAX_UUID_LENGTH = 45


def parse_uuid(field: str, value: str) -> uuid.UUID:
    """A request's id field as a UUID; InvalidInputError naming the field otherwise."""
    try:
        if len(value) > MAX_UUID_LENGTH:
            raise ValueError(value)
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInputError([FieldProblem(field, f"{shown(value)} is not a UUID")]) from None


def check_integer(field: str, value: int, *, minimum: int, maximum: int) -> None:
    """InvalidInputError naming `field` if `value` is outside [minimum, maximum]."""
    if not minimum <= value <= maximum:
        raise InvalidInputError([FieldProblem(field, f"must be between {minimum} and {maximum} (got {value})")])
