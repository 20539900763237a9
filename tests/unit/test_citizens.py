"""The mock registry is a pure function of the citizen id."""

from __future__ import annotations

from orchestrator.citizens import CATEGORIES, Citizen, mock_citizen, population_citizen_id


def test_citizen_data_is_pinned_to_its_id() -> None:
    # Pinned values: a change here changes every decision ever made, and must be deliberate.
    assert mock_citizen("CIT-1") == Citizen(
        citizen_id="CIT-1", name="Ananya Nair", age=27, income=241408, category="obc"
    )


def test_same_id_gives_same_citizen_and_different_ids_differ() -> None:
    assert mock_citizen("CIT-0000042") == mock_citizen("CIT-0000042")
    assert mock_citizen("CIT-0000042") != mock_citizen("CIT-0000043")


def test_generated_values_stay_in_their_ranges_and_cover_them() -> None:
    citizens = [mock_citizen(population_citizen_id(position)) for position in range(1, 20_001)]
    ages = {c.age for c in citizens}
    incomes = [c.income for c in citizens]
    assert min(ages) == 18 and max(ages) == 80 and len(ages) == 63
    assert 50_000 <= min(incomes) < 52_000 and 298_000 < max(incomes) <= 300_000
    assert {c.category for c in citizens} == set(CATEGORIES)


def test_population_ids_are_zero_padded_positions() -> None:
    assert population_citizen_id(1) == "CIT-0000001"
    assert population_citizen_id(1_000_000) == "CIT-1000000"
