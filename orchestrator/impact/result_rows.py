"""Per-citizen result rows in PostgreSQL's COPY text format, built column-wise with NumPy rather than row by row."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from civicflow.citizen_ids import CITIZEN_ID_MIN_DIGITS, CITIZEN_ID_PREFIX, population_citizen_id

_TAB, _NEWLINE, _ZERO = ord("\t"), ord("\n"), ord("0")
# The citizen id format of civicflow.citizen_ids, written with array operations (unit-tested equal).
_ID_PREFIX = np.frombuffer(CITIZEN_ID_PREFIX.encode(), dtype=np.uint8)
_POWERS_OF_TEN = 10 ** np.arange(19, dtype=np.int64)
# COPY text escapes, in the order that keeps an escaped backslash from being escaped again.
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))

Decisions = npt.NDArray[np.int8]


@dataclass(frozen=True)
class EncodedRows:
    # `position \t citizen_id \t decision \t baseline_decision \n` per row: what the results digest covers.
    text: bytes
    # The same rows with the instance id in front: what COPY into impact_results reads.
    copy: bytes


def encode_results(
    instance_id: uuid.UUID,
    first_position: int,
    proposed: Decisions,
    baseline: Decisions,
    written: npt.NDArray[np.bool_],
) -> EncodedRows:
    """Rows of the citizens at first_position + i for each i where written[i], in position order.

    Decisions are single digits (1..3), so a row's width depends only on how many digits its
    position has: rows are built as a byte matrix per digit count, a batch has one or two.
    """
    offsets = np.flatnonzero(written)
    positions = first_position + offsets.astype(np.int64)
    prefix = np.frombuffer(f"{instance_id}\t".encode(), dtype=np.uint8)
    # Where the positions (ascending) pass 10, 100, 1000, ...: the rows in between share a width.
    bounds = [0, *np.searchsorted(positions, _POWERS_OF_TEN[1:]).tolist(), len(positions)]
    text_parts: list[bytes] = []
    copy_parts: list[bytes] = []
    for digits, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False), start=1):
        if start == stop:
            continue
        rows = _rows(positions[start:stop], digits, proposed[offsets[start:stop]], baseline[offsets[start:stop]])
        text_parts.append(rows.tobytes())
        with_prefix = np.empty((rows.shape[0], len(prefix) + rows.shape[1]), dtype=np.uint8)
        with_prefix[:, : len(prefix)] = prefix
        with_prefix[:, len(prefix) :] = rows
        copy_parts.append(with_prefix.tobytes())
    return EncodedRows(text=b"".join(text_parts), copy=b"".join(copy_parts))


def encode_failures(instance_id: uuid.UUID, failures: Iterable[tuple[int, str]]) -> bytes:
    """COPY text rows of impact_failures for (position, error) pairs; rare, so built one by one."""
    return "".join(
        f"{instance_id}\t{position}\t{population_citizen_id(position)}\t{_escape(error)}\n"
        for position, error in failures
    ).encode()


def _rows(positions: npt.NDArray[np.int64], digits: int, proposed: Decisions, baseline: Decisions) -> np.ndarray:
    id_digits = max(digits, CITIZEN_ID_MIN_DIGITS)
    rows = np.empty((len(positions), digits + id_digits + 10), dtype=np.uint8)
    column = 0

    def put(values: npt.ArrayLike, width: int = 1) -> None:
        nonlocal column
        rows[:, column : column + width] = values
        column += width

    put(_digits(positions, digits), digits)
    put(_TAB)
    put(_ID_PREFIX, len(_ID_PREFIX))
    put(_digits(positions, id_digits), id_digits)
    put(_TAB)
    put((_ZERO + proposed)[:, None])
    put(_TAB)
    put((_ZERO + baseline)[:, None])
    put(_NEWLINE)
    return rows


def _digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """ASCII decimal digits of each value, zero-padded to `width`: one row per value."""
    return (values[:, None] // _POWERS_OF_TEN[width - 1 :: -1][None, :] % 10 + _ZERO).astype(np.uint8)


def _escape(text: str) -> str:
    for raw, escaped in _COPY_ESCAPES:
        text = text.replace(raw, escaped)
    return text
