"""Event stream slots: at most so many per subject, each given back once however often it is released."""

from __future__ import annotations

import pytest

from gateway.stream_slots import StreamSlots, TooManyStreamsError


def test_a_subject_holds_at_most_its_slots_and_others_are_not_held_back() -> None:
    slots = StreamSlots(per_subject=2)
    held = [slots.acquire("alice"), slots.acquire("alice")]

    with pytest.raises(TooManyStreamsError) as refused:
        slots.acquire("alice")

    assert refused.value.retry_after_seconds >= 1
    assert "at most 2" in str(refused.value)
    slots.acquire("bob")
    held[0].release()
    slots.acquire("alice")


def test_a_slot_released_twice_is_given_back_once() -> None:
    slots = StreamSlots(per_subject=2)
    first = slots.acquire("alice")
    slots.acquire("alice")

    first.release()
    first.release()

    assert slots.open_streams("alice") == 1
    slots.acquire("alice")
    with pytest.raises(TooManyStreamsError):
        slots.acquire("alice")
