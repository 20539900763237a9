"""The run list's cursor: what a page gives back reads as the same place, and anything else is refused naming the
field, whatever its bytes."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicflow.input_limits import InvalidInputError
from orchestrator.storage.run_list import RunCursor

MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(moment=MOMENTS, instance_id=st.uuids())
def test_a_cursor_reads_back_as_the_place_it_was_made_at(moment: datetime, instance_id: uuid.UUID) -> None:
    cursor = RunCursor(moment, instance_id)

    text = cursor.encode()

    assert len(text) == 32 and text.isascii()
    assert RunCursor.decode("cursor", text) == cursor


def test_a_cursor_holds_the_time_whatever_its_offset() -> None:
    moment = datetime(2026, 12, 4, 18, 10, 2, 118204, tzinfo=UTC)
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    instance_id = uuid.uuid4()

    assert RunCursor(elsewhere, instance_id).encode() == RunCursor(moment, instance_id).encode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-cursor",
        "A" * 31,
        "A" * 33,
        "A" * 31 + "=",
        "A" * 31 + "+",
        "A" * 31 + "\x00",
        "A" * 10_000,
        base64.urlsafe_b64encode(b"\x7f" * 24).decode(),  # after the year 9999
        base64.urlsafe_b64encode(b"\x80" + b"\x00" * 23).decode(),  # before the year 1
    ],
    ids=lambda text: repr(text[:12]),
)
def test_anything_but_a_cursor_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        RunCursor.decode("cursor", text)
    assert [problem.field for problem in refused.value.problems] == ["cursor"]


@given(text=st.text(max_size=64))
def test_any_text_is_a_cursor_or_refused(text: str) -> None:
    try:
        RunCursor.decode("cursor", text)
    except InvalidInputError:
        pass
