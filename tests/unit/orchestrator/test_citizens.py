"""The mock registry is a pure function of the citizen id, the same one at a time and a whole batch at once."""

from __future__ import annotations

import numpy as np

from civicflow.citizen_ids import population_citizen_id, population_position
from orchestrator.citizens import CATEGORIES, Citizen, mock_citizen, population_columns


def test_citizen_data_is_pinned_to_its_id() -> None:
    # Pinned values: a change here changes every decision ever made, and must be deliberate.
    assert mock_citizen("CIT-0000001") == Citizen(
        citizen_id="CIT-0000001", name="Tara Gupta", age=39, income=162739, category="st"
    )
    assert mock_citizen("CIT-0000042") == Citizen(
        citizen_id="CIT-0000042", name="Arjun Joshi", age=48, income=114920, category="st"
    )
    assert mock_citizen("CIT-1") == Citizen(
        citizen_id="CIT-1", name="Tara Reddy", age=34, income=284143, category="general"
    )


def test_same_id_gives_same_citizen_and_different_ids_differ() -> None:
    assert mock_citizen("CIT-0000042") == mock_citizen("CIT-0000042")
    assert mock_citizen("CIT-0000042") != mock_citizen("CIT-0000043")
    # Not a population id: keyed by its own hash, not by position 1.
    assert mock_citizen("CIT-1").age != mock_citizen("CIT-0000001").age


def test_a_generated_batch_equals_the_citizens_looked_up_one_by_one() -> None:
    ages, incomes = population_columns(9_990, 20)  # crosses the 5-digit boundary of the positions

    singles = [mock_citizen(population_citizen_id(position)) for position in range(9_990, 10_010)]

    assert ages.dtype == np.int32 and incomes.dtype == np.float64
    assert ages.tolist() == [citizen.age for citizen in singles]
    assert incomes.tolist() == [citizen.income for citizen in singles]


def test_generated_values_stay_in_their_ranges_and_cover_them() -> None:
    ages, incomes = population_columns(1, 20_000)
    assert ages.min() == 18 and ages.max() == 80 and len(set(ages.tolist())) == 63
    assert 50_000 <= incomes.min() < 52_000 and 298_000 < incomes.max() <= 300_000
    assert np.array_equal(incomes, np.floor(incomes))
    citizens = [mock_citizen(population_citizen_id(position)) for position in range(1, 2_001)]
    assert {c.category for c in citizens} == set(CATEGORIES)
    assert all(isinstance(c.income, int) for c in citizens)


def test_one_citizen_matches_the_vectorised_generator_for_any_key() -> None:
    # mock_citizen computes one citizen with plain ints; the batch path uses NumPy: they must agree bit for bit.
    from orchestrator.citizens import _fields

    ids = [population_citizen_id(p) for p in (1, 2, 9_999_999, 12_345_678_901, 2**63 - 1)]
    ids += ["CIT-1", "x", "A.b-c_9", "CIT-" + "9" * 60]
    for citizen_id in ids:
        citizen = mock_citizen(citizen_id)
        position = population_position(citizen_id)
        if position is not None and position < 2**63:
            key = position
        else:
            import hashlib

            digest = hashlib.sha256(b"civicflow.mock-citizen.v2:" + citizen_id.encode()).digest()
            key = int.from_bytes(digest[:8], "big") | 2**63
        ages, incomes, labels = _fields(np.array([key], dtype=np.uint64))
        assert (citizen.age, citizen.income) == (int(ages[0]), int(incomes[0]))
        assert citizen.category == CATEGORIES[(int(labels[0]) >> 8) % len(CATEGORIES)]


def test_a_huge_population_id_gets_a_citizen_not_an_overflow() -> None:
    citizen = mock_citizen("CIT-" + "9" * 60)
    assert 18 <= citizen.age <= 80 and citizen.category in CATEGORIES
