"""Result rows built column-wise are byte for byte the rows COPY would print, for any positions and decisions."""

from __future__ import annotations

import uuid

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from civicflow.citizen_ids import population_citizen_id
from orchestrator.impact.result_rows import encode_failures, encode_results

INSTANCE = uuid.UUID("12345678-1234-5678-1234-567812345678")


@st.composite
def batches(draw: st.DrawFn) -> tuple[int, list[int], list[int], list[bool]]:
    # Positions near every change of digit count, where a fixed-width row layout would break.
    first = draw(st.one_of(st.integers(1, 12_000_000), st.sampled_from([1, 9, 95, 999_990, 9_999_990])))
    size = draw(st.integers(1, 40))
    proposed = draw(st.lists(st.integers(1, 3), min_size=size, max_size=size))
    baseline = draw(st.lists(st.integers(1, 3), min_size=size, max_size=size))
    written = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    return first, proposed, baseline, written


@settings(max_examples=200, deadline=None)
@given(batches())
def test_rows_equal_the_text_format_row_by_row(batch: tuple[int, list[int], list[int], list[bool]]) -> None:
    first, proposed, baseline, written = batch

    rows = encode_results(
        INSTANCE, first, np.array(proposed, np.int8), np.array(baseline, np.int8), np.array(written, np.bool_)
    )

    expected = [
        f"{first + i}\t{population_citizen_id(first + i)}\t{proposed[i]}\t{baseline[i]}\n"
        for i in range(len(written))
        if written[i]
    ]
    assert rows.text == "".join(expected).encode()
    assert rows.copy == "".join(f"{INSTANCE}\t{line}" for line in expected).encode()


def test_failure_rows_escape_what_copy_text_would_misread() -> None:
    rows = encode_failures(INSTANCE, [(7, "tab\there"), (12, "back\\slash\nnew line\r")])

    assert (
        rows
        == (
            f"{INSTANCE}\t7\tCIT-0000007\ttab\\there\n{INSTANCE}\t12\tCIT-0000012\tback\\\\slash\\nnew line\\r\n"
        ).encode()
    )
