"""Population citizen ids are zero-padded positions, and only the id a position is written as reads back to it."""

from __future__ import annotations

from civicflow.citizen_ids import population_citizen_id, population_position


def test_a_position_is_written_in_at_least_seven_digits() -> None:
    assert population_citizen_id(1) == "CIT-0000001"
    assert population_citizen_id(1_000_000) == "CIT-1000000"
    assert population_citizen_id(12_345_678) == "CIT-12345678"


def test_a_population_id_reads_back_to_its_position() -> None:
    assert population_position("CIT-0000001") == 1
    assert population_position("CIT-12345678") == 12_345_678
    assert all(population_position(population_citizen_id(p)) == p for p in (1, 9_999_999, 10_000_000, 2**70))


def test_an_id_not_written_from_a_position_has_none() -> None:
    others = [
        *("CIT-1", "CIT-00000001", "CIT-0000000", "X-0000001", "cit-0000001", "CIT-", "CIT-+000001"),
        "CIT-000001\u0663",  # a non-ASCII digit, which int() would read
    ]
    assert [population_position(other) for other in others] == [None] * len(others)
