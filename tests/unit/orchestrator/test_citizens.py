"""The mock registry is a pure function of the citizen id, the same one at a time and a whole batch at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from civicflow.citizen_ids import population_citizen_id
from civicflow.rules.attributes import ATTRIBUTES, CATEGORIES, CATEGORY_CODES
from civicflow.settings import REPO_ROOT
from orchestrator.citizens import (
    Citizen,
    attributes_at,
    citizen_key,
    mock_citizen,
    population_attributes,
    population_columns,
)


def test_citizen_data_is_pinned_to_its_id() -> None:
    # Pinned values: a change here changes every decision ever made, and must be deliberate.
    assert mock_citizen("CIT-0000001") == Citizen(
        citizen_id="CIT-0000001",
        name="Tara Gupta",
        age=39,
        income=162739,
        category="st",
        household_size=1,
        has_disability=False,
    )
    assert mock_citizen("CIT-0000042") == Citizen(
        citizen_id="CIT-0000042",
        name="Arjun Joshi",
        age=48,
        income=114920,
        category="st",
        household_size=8,
        has_disability=False,
    )
    assert mock_citizen("CIT-1") == Citizen(
        citizen_id="CIT-1",
        name="Tara Reddy",
        age=34,
        income=284143,
        category="general",
        household_size=7,
        has_disability=False,
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


def test_the_citizen_at_a_position_is_the_same_looked_up_alone_or_generated_in_a_batch() -> None:
    # Up to the largest position a key can hold, where 64-bit arithmetic wraps: both paths must wrap alike.
    for first in (1, 9_999_998, 12_345_678_900, 2**63 - 3):
        ages, incomes = population_columns(first, 3)

        singles = [mock_citizen(population_citizen_id(position)) for position in range(first, first + 3)]

        assert [(c.age, c.income) for c in singles] == list(zip(ages.tolist(), incomes.tolist(), strict=True))


def test_a_citizen_is_keyed_by_its_position_not_by_where_its_batch_starts() -> None:
    ages, incomes = population_columns(1, 1_000)

    pieces = [population_columns(first, count) for first, count in ((1, 300), (301, 1), (302, 699))]

    assert np.array_equal(ages, np.concatenate([piece[0] for piece in pieces]))
    assert np.array_equal(incomes, np.concatenate([piece[1] for piece in pieces]))
    assert ages[41] == mock_citizen("CIT-0000042").age


def test_an_id_that_only_looks_like_a_population_id_is_not_that_citizen() -> None:
    for position in range(1, 301):
        citizen = mock_citizen(population_citizen_id(position))
        for other in (f"CIT-{position}", f"CIT-{position:08d}", f"cit-{position:07d}", f"CIT-{position:07d} "):
            assert not citizen_equal(mock_citizen(other), citizen), (other, citizen)


def test_the_same_ids_give_the_same_citizens_in_another_process() -> None:
    ids = ["CIT-0000001", "CIT-0000042", "CIT-12345678901", "CIT-1", "x", "A.b-c_9"]
    script = (
        "import json, sys\n"
        "from orchestrator.citizens import mock_citizen, population_columns\n"
        "ages, incomes = population_columns(999_990, 20)\n"
        "print(json.dumps({'citizens': [mock_citizen(i).to_json() for i in sys.argv[1:]],"
        " 'ages': ages.tolist(), 'incomes': incomes.tolist()}))\n"
    )
    # Another hash seed than ours: data derived from Python's hash() would differ.
    completed = subprocess.run(
        [sys.executable, "-c", script, *ids],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONHASHSEED": "4242"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    there = json.loads(completed.stdout)

    ages, incomes = population_columns(999_990, 20)
    assert there["citizens"] == [mock_citizen(citizen_id).to_json() for citizen_id in ids]
    assert (there["ages"], there["incomes"]) == (ages.tolist(), incomes.tolist())


def test_fields_are_spread_evenly_and_independently_over_a_population() -> None:
    ages, incomes = population_columns(1, 100_000)

    per_age = np.bincount(ages, minlength=81)[18:]
    assert per_age.min() > 0.85 * 100_000 / 63 and per_age.max() < 1.15 * 100_000 / 63
    per_tenth, _ = np.histogram(incomes, bins=10, range=(50_000, 300_001))
    assert per_tenth.min() > 9_500 and per_tenth.max() < 10_500
    # Neither field tells anything of the other, nor of the next citizen's.
    for x, y in ((ages, incomes), (ages[:-1], ages[1:]), (incomes[:-1], incomes[1:])):
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.02
    citizens = [mock_citizen(population_citizen_id(position)) for position in range(1, 10_001)]
    per_category = Counter(citizen.category for citizen in citizens)
    assert set(per_category) == set(CATEGORIES) and min(per_category.values()) > 0.22 * 10_000
    assert len({citizen.name for citizen in citizens}) == 16 * 16


def test_citizens_far_into_a_population_are_pinned_too() -> None:
    # Regression anchors beyond 7 digits and at the largest position a key holds.
    assert mock_citizen("CIT-12345678901") == Citizen(
        citizen_id="CIT-12345678901",
        name="Ishaan Rao",
        age=30,
        income=237140,
        category="obc",
        household_size=5,
        has_disability=False,
    )
    assert mock_citizen(population_citizen_id(2**63 - 1)) == Citizen(
        citizen_id="CIT-9223372036854775807",
        name="Arjun Gupta",
        age=53,
        income=268078,
        category="sc",
        household_size=4,
        has_disability=False,
    )
    assert mock_citizen("CIT-00000042") == Citizen(
        citizen_id="CIT-00000042",
        name="Aarav Joshi",
        age=58,
        income=119872,
        category="obc",
        household_size=7,
        has_disability=False,
    )


def citizen_equal(one: Citizen, other: Citizen) -> bool:
    """The same person, whatever the id they were asked for by."""
    return (one.name, one.age, one.income, one.category) == (other.name, other.age, other.income, other.category)


def test_a_huge_population_id_gets_a_citizen_not_an_overflow() -> None:
    citizen = mock_citizen("CIT-" + "9" * 60)
    assert 18 <= citizen.age <= 80 and citizen.category in CATEGORIES


def test_household_size_and_disability_are_pinned_to_the_id() -> None:
    # Added after the other fields, from bits of the second output none of them used: those stayed as they were.
    assert mock_citizen("CIT-0000040") == Citizen(
        citizen_id="CIT-0000040",
        name="Riya Patel",
        age=58,
        income=178403,
        category="obc",
        household_size=5,
        has_disability=True,
    )
    disabled = [p for p in range(1, 400) if mock_citizen(population_citizen_id(p)).has_disability]
    assert disabled[:5] == [40, 150, 154, 169, 173] and len(disabled) == 14


def test_every_attribute_is_the_same_looked_up_alone_or_generated_in_a_batch() -> None:
    ids = [population_citizen_id(p) for p in (*range(1, 500), 9_999_998, 12_345_678_900, 2**63 - 3, 2**63 - 1)]
    # Ids that are no population position are keyed by their hash; the batch path takes those keys too.
    ids += ["CIT-1", "CIT-00000042", "x", "A.b-c_9", "CIT-" + "9" * 60, *(f"CIT-{n}" for n in range(300))]
    singles = [mock_citizen(citizen_id) for citizen_id in ids]

    columns = attributes_at(np.array([citizen_key(i) for i in ids], dtype=np.uint64), ATTRIBUTES)

    assert columns.size == len(ids)
    assert columns.age is not None and columns.age.tolist() == [c.age for c in singles]
    assert columns.income is not None and columns.income.tolist() == [c.income for c in singles]
    assert columns.category is not None
    assert columns.category.tolist() == [CATEGORY_CODES[c.category] for c in singles]
    assert columns.household_size is not None
    assert columns.household_size.tolist() == [c.household_size for c in singles]
    assert columns.has_disability is not None
    assert columns.has_disability.tolist() == [c.has_disability for c in singles]


def test_only_the_attributes_asked_for_are_generated_and_agree_with_the_cheap_path() -> None:
    ages, incomes = population_columns(9_990, 20)

    both = population_attributes(9_990, 20, {"age", "income"})
    labels = population_attributes(9_990, 20, {"household_size"})

    assert both.age is not None and both.income is not None
    assert np.array_equal(both.age, ages) and np.array_equal(both.income, incomes)
    assert both.category is None and both.household_size is None and both.has_disability is None
    assert labels.household_size is not None and labels.age is None and labels.category is None
    assert labels.household_size.dtype == np.int32
    assert population_attributes(1, 5, ()).size == 5


def test_an_unknown_attribute_is_refused() -> None:
    with pytest.raises(ValueError, match="'wealth'"):
        population_attributes(1, 5, {"age", "wealth"})


def test_household_sizes_and_disabilities_are_spread_as_specified_and_independent() -> None:
    columns = population_attributes(1, 200_000, ATTRIBUTES)
    assert columns.household_size is not None and columns.has_disability is not None
    assert columns.age is not None and columns.income is not None and columns.category is not None

    per_size = np.bincount(columns.household_size, minlength=9)
    assert per_size[0] == 0 and per_size[1:].min() > 0.95 * 200_000 / 8 and per_size.max() < 1.05 * 200_000 / 8
    assert 0.045 < columns.has_disability.mean() < 0.055
    size, disabled = columns.household_size.astype(np.float64), columns.has_disability.astype(np.float64)
    for x, y in ((size, disabled), (size, columns.age), (size, columns.income), (disabled, columns.income)):
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.02
    for code in CATEGORY_CODES.values():
        in_category = columns.category == code
        assert 0.045 < columns.has_disability[in_category].mean() < 0.055
        assert abs(columns.household_size[in_category].mean() - 4.5) < 0.05
