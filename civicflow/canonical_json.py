"""Canonical JSON (RFC 8785): one byte sequence per value, so snapshots can be hashed and compared."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

# RFC 8785 refuses integers that a JSON reader might round to a double.
_SAFE_INTEGER = 2**53 - 1
# Python's repr of a float and ECMAScript's Number-to-String (which RFC 8785 prescribes) both give
# the shortest digits that read back as the same double, closest to it on a tie. They differ only
# in layout: ECMAScript writes an integral value without ".0" and switches to an exponent at other
# magnitudes. For a non-integral value from 1e-4 up to 1e16 both write plain decimals, alike; rule
# parameters (0.9) and the values decisions report are such numbers, on every check's audit path.
_PLAIN_FLOATS = (1e-4, 1e16)
_PLAIN_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), check_circular=False)


def canonical_json(value: Any) -> str:
    return canonical_json_bytes(value).decode("utf-8")


def canonical_json_bytes(value: Any) -> bytes:
    """RFC 8785 bytes of `value`; rfc8785.CanonicalizationError if it has none.

    rfc8785 is pure Python and costs tens of microseconds per record. For values made only of
    ASCII strings, safe integers, booleans, null, lists, dicts and the floats described at
    _PLAIN_FLOATS, the stdlib encoder writes the same bytes: ASCII keys sort the same by UTF-16
    code units as by code points, and with ensure_ascii off it escapes exactly what RFC 8785
    escapes. Anything else (other floats, non-ASCII text, subclasses, tuples) goes to rfc8785.
    Property-tested equal to rfc8785.dumps.
    """
    if _plain(value):
        return _PLAIN_ENCODER.encode(value).encode("ascii")
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return value.isascii()  # type: ignore[no-any-return]
    if kind is int:
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER  # type: ignore[no-any-return]
    if value is None or kind is bool:
        return True
    if kind is float:
        low, high = _PLAIN_FLOATS
        return low <= abs(value) < high and not value.is_integer()
    if kind is dict:
        return all(type(key) is str and key.isascii() and _plain(item) for key, item in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    return False
