"""The exact bytes an audit entry's leaf hash covers: RFC 8785 JSON of the fields an auditor relies on.

Shared by the service, which hashes what it stores, and the offline verifier, which hashes
what the API returned; neither may normalise anything the other does not.

    leaf_hash = SHA-256(0x00 || JCS({"seq", "instance_id", "step_name", "step_index", "attempt",
                                      "status", "started_at", "completed_at", "recorded_at",
                                      "input", "output", "error", "actor"}))

Timestamps are strings `YYYY-MM-DDTHH:MM:SS.ffffffZ` (RFC 3339, UTC, always six fraction
digits), `input` and `output` are JSON values, `error` and `actor` are strings ("" when none).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

from audit_service.tree.merkle import leaf_hash
from civicflow.canonical_json import canonical_json_bytes

ENTRY_FIELDS = (
    "seq",
    "instance_id",
    "step_name",
    "step_index",
    "attempt",
    "status",
    "started_at",
    "completed_at",
    "recorded_at",
    "input",
    "output",
    "error",
    "actor",
)

SORTED_FIELDS = tuple(sorted(ENTRY_FIELDS))


class EntryEncodingError(ValueError):
    """A document that is not an audit entry, or a value JSON canonicalisation cannot represent."""


def rfc3339(moment: datetime) -> str:
    """The one timestamp form hashed and signed: UTC, microseconds, `Z`."""
    if moment.tzinfo is None:
        raise EntryEncodingError(f"timestamp {moment!r} has no time zone")
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of exactly ENTRY_FIELDS; a missing or unknown field is an error, not silently dropped."""
    missing = [name for name in ENTRY_FIELDS if name not in document]
    unknown = sorted(set(document) - set(ENTRY_FIELDS))
    if missing or unknown:
        raise EntryEncodingError(f"not an audit entry: missing fields {missing}, unknown fields {unknown}")
    try:
        return canonical_json_bytes(dict(document))
    except rfc8785.CanonicalizationError as error:
        raise EntryEncodingError(f"cannot canonicalise the entry: {error}") from None


def entry_leaf_hash(document: Mapping[str, Any]) -> bytes:
    return leaf_hash(canonical_bytes(document))


def canonicalise(value: Any) -> bytes:
    """RFC 8785 bytes of one JSON value; EntryEncodingError for integers beyond 2**53 or lone surrogates."""
    try:
        return canonical_json_bytes(value)
    except rfc8785.CanonicalizationError as error:
        raise EntryEncodingError(str(error)) from None


def canonical_bytes_spliced(document: Mapping[str, Any], encoded: Mapping[str, bytes]) -> bytes:
    """canonical_bytes() of `document`, taking the members in `encoded` as already canonical JSON.

    RFC 8785 writes an object as its members sorted by key, each value canonical in itself, so
    a value canonicalised once (when the record was checked) is spliced in, not redone. The
    keys are ASCII, where sorting by UTF-16 code units is plain sorting. Property-tested equal
    to canonical_bytes().
    """
    members = []
    for name in SORTED_FIELDS:
        value = encoded[name] if name in encoded else canonicalise(document[name])
        members.append(b'"' + name.encode("ascii") + b'":' + value)
    return b"{" + b",".join(members) + b"}"
