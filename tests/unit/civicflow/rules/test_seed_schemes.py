"""The seed schemes decide as the rule they replace (alpha, beta, gamma) and as the issue writes scheme_delta."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicflow.rules.compiled import ELIGIBLE, NEEDS_REVIEW, NOT_ELIGIBLE, compile_rules
from civicflow.rules.document import parse_document
from tests.support.eligibility_oracle import expected_decision, reference_decisions
from tests.support.seeded_schemes import seeded_document
from tests.unit.civicflow.rules.random_documents import columns_of

DECISIONS = {"ELIGIBLE": ELIGIBLE, "NOT_ELIGIBLE": NOT_ELIGIBLE, "NEEDS_REVIEW": NEEDS_REVIEW}
# reference_decisions answers 0, 1, 2 for ELIGIBLE, NOT_ELIGIBLE, NEEDS_REVIEW.
REFERENCE_CODES = np.array([ELIGIBLE, NOT_ELIGIBLE, NEEDS_REVIEW], dtype=np.int8)

RULE_VALUES = st.fixed_dictionaries(
    {
        "min_age": st.integers(0, 150),
        "max_age": st.integers(0, 150),
        "max_income": st.integers(0, 2_000_000) | st.floats(0, 2e6),
    }
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["scheme_alpha", "scheme_beta", "scheme_gamma"]), RULE_VALUES, st.integers(0, 2**32 - 1))
def test_the_first_three_seeds_decide_as_the_old_rule(scheme_name: str, values: dict[str, Any], seed: int) -> None:
    rules = compile_rules(parse_document(seeded_document(scheme_name, **values)))
    rng = np.random.default_rng(seed)
    ages = rng.integers(0, 151, size=2000).astype(np.int32)
    ceiling = float(values["max_income"])
    # Half the incomes near the ceiling and its review band, where the rule's edges are.
    incomes = np.concatenate(
        [
            rng.uniform(0, 2 * ceiling + 1, size=1000),
            np.array([ceiling, 0.9 * ceiling, np.nextafter(ceiling, np.inf), np.nextafter(0.9 * ceiling, 0)]),
            np.round(rng.uniform(0.8, 1.1, size=996) * ceiling),
        ]
    )
    columns = {"age": ages, "income": incomes}

    decided = rules.decide_columns(columns)

    assert decided.tolist() == REFERENCE_CODES[reference_decisions(ages, incomes, values)].tolist()
    for index in range(0, 2000, 50):
        citizen = {"age": int(ages[index]), "income": float(incomes[index])}
        assert rules.explain(citizen).decision == DECISIONS[expected_decision(citizen, values)]


DELTA = compile_rules(parse_document(seeded_document("scheme_delta")))
BASES = {"general": 200000, "obc": 240000, "sc": 280000, "st": 280000}


def delta(age: int, income: float, category: str = "general", household_size: int = 1, disability: bool = False) -> int:
    citizen = {
        "age": age,
        "income": income,
        "category": category,
        "household_size": household_size,
        "has_disability": disability,
    }
    decision = DELTA.explain(citizen).decision
    assert DELTA.decide_columns(columns_of([citizen])).tolist() == [decision]
    return decision


@pytest.mark.parametrize(("age", "expected"), [(17, NOT_ELIGIBLE), (18, ELIGIBLE), (65, ELIGIBLE), (66, NOT_ELIGIBLE)])
def test_delta_ages_without_a_disability(age: int, expected: int) -> None:
    assert delta(age, 1000.0) == expected


@pytest.mark.parametrize(
    ("age", "income", "expected"),
    [(66, 1000.0, ELIGIBLE), (70, 1000.0, ELIGIBLE), (71, 1000.0, NOT_ELIGIBLE), (66, 200001.0, NOT_ELIGIBLE)],
)
def test_delta_extends_the_age_to_70_with_a_disability_and_then_decides_by_income(
    age: int, income: float, expected: int
) -> None:
    assert delta(age, income, disability=True) == expected


@pytest.mark.parametrize("category", sorted(BASES))
@pytest.mark.parametrize("household_size", [1, 2, 5, 8])
def test_delta_ceiling_by_category_and_household_size(category: str, household_size: int) -> None:
    ceiling = BASES[category] + 40000 * (household_size - 1)
    band = 0.9 * ceiling

    assert delta(40, np.nextafter(band, 0), category, household_size) == ELIGIBLE
    assert delta(40, band, category, household_size) == NEEDS_REVIEW  # exactly 0.9 x the ceiling
    assert delta(40, float(ceiling), category, household_size) == NEEDS_REVIEW  # at the ceiling
    assert delta(40, np.nextafter(float(ceiling), np.inf), category, household_size) == NOT_ELIGIBLE
    assert delta(40, ceiling + 1.0, category, household_size) == NOT_ELIGIBLE


def test_delta_explains_each_criterion_with_the_values_it_read() -> None:
    verdict = DELTA.explain(
        {"age": 40, "income": 260000.0, "category": "obc", "household_size": 2, "has_disability": False}
    )

    assert verdict.decision == NEEDS_REVIEW
    age, ceiling, band = verdict.reasons
    assert (age.criterion, age.kind, age.passed) == ("age", "exclusion", True)
    # Of an `if`, the condition and the branch taken: without a disability, max_age and not the other bound.
    assert age.values == {"age": 40, "min_age": 18, "has_disability": False, "max_age": 65}
    assert ceiling.passed and not band.passed
    # The obc base, found after the general one was not the citizen's; the sc and st bases are not used.
    assert band.values == {
        "income": 260000.0,
        "review_fraction": 0.9,
        "category": "obc",
        "base_obc": 240000,
        "per_extra_member": 40000,
        "household_size": 2,
    }
    assert band.detail == "failed: income clearly below that ceiling"
    assert DELTA.attributes == {"age", "income", "category", "household_size", "has_disability"}
