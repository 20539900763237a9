"""The pinned eligibility rule, its reasons, and the batch path agreeing with the single path."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicflow.v1 import evaluator_pb2
from evaluator.errors import InvalidBatchError, InvalidCitizenError, InvalidRulesError
from evaluator.rules import Rules, check_citizen, check_columns, decide, decide_batch, impossible_citizens

ELIGIBLE = evaluator_pb2.DECISION_ELIGIBLE
NOT_ELIGIBLE = evaluator_pb2.DECISION_NOT_ELIGIBLE
NEEDS_REVIEW = evaluator_pb2.DECISION_NEEDS_REVIEW
ALPHA = Rules(scheme_name="scheme_alpha", min_age=18, max_age=60, max_income=250000.0)


@pytest.mark.parametrize(
    ("age", "income", "expected"),
    [
        (17, 100000.0, NOT_ELIGIBLE),  # min_age - 1
        (18, 100000.0, ELIGIBLE),  # min_age
        (60, 100000.0, ELIGIBLE),  # max_age
        (61, 100000.0, NOT_ELIGIBLE),  # max_age + 1
        (40, 250000.0, NEEDS_REVIEW),  # income == ceiling does not exceed it
        (40, 250000.01, NOT_ELIGIBLE),  # just over the ceiling
        (40, 225000.0, NEEDS_REVIEW),  # income == 0.9 * ceiling
        (40, 224999.99, ELIGIBLE),  # just below the review band
        (40, 0.0, ELIGIBLE),
    ],
)
def test_decision_at_each_boundary(age: int, income: float, expected: int) -> None:
    assert decide(age, income, ALPHA).decision == expected


@pytest.mark.parametrize("age", [0, 17, 61, 150])
@pytest.mark.parametrize("income", [225000.0, 240000.0, 250000.0])
def test_citizen_excluded_by_age_is_never_sent_to_review(age: int, income: float) -> None:
    verdict = decide(age, income, ALPHA)
    batch = decide_batch(np.array([age]), np.array([income]), ALPHA)

    assert verdict.decision == NOT_ELIGIBLE
    assert batch.tolist() == [NOT_ELIGIBLE]


def test_reasons_name_every_criterion_with_its_values_when_all_pass() -> None:
    reasons = {reason.criterion: reason for reason in decide(45, 120000.0, ALPHA).reasons}

    assert list(reasons) == ["age", "income_ceiling", "review_band"]
    assert all(reason.passed for reason in reasons.values())
    assert reasons["age"].detail == "age 45 is within [18, 60]"
    assert reasons["income_ceiling"].detail == "income 120000 does not exceed 250000"
    assert reasons["review_band"].detail == "income 120000 is below 90% of the ceiling (225000)"


def test_reasons_say_which_criteria_failed() -> None:
    review = {reason.criterion: reason for reason in decide(45, 240000.0, ALPHA).reasons}
    excluded = {reason.criterion: reason for reason in decide(70, 260000.5, ALPHA).reasons}

    assert review["review_band"].passed is False
    assert review["review_band"].detail == "income 240000 is at or above 90% of the ceiling (225000)"
    assert review["income_ceiling"].passed is True
    assert excluded["age"].passed is False
    assert excluded["age"].detail == "age 70 is outside [18, 60]"
    assert excluded["income_ceiling"].passed is False
    assert excluded["income_ceiling"].detail == "income 260000.5 exceeds 250000"


@pytest.mark.parametrize(
    ("min_age", "max_age", "max_income"),
    [
        (61, 60, 1000.0),  # min above max
        (-1, 60, 1000.0),
        (18, 151, 1000.0),
        (18, 60, -1.0),
        (18, 60, math.nan),
        (18, 60, math.inf),
    ],
)
def test_invalid_rules_are_refused(min_age: int, max_age: int, max_income: float) -> None:
    with pytest.raises(InvalidRulesError, match="scheme_x"):
        Rules(scheme_name="scheme_x", min_age=min_age, max_age=max_age, max_income=max_income)


def test_rules_round_trip_through_the_proto() -> None:
    assert Rules.from_proto(ALPHA.to_proto()) == ALPHA


@pytest.mark.parametrize(("age", "income"), [(-1, 1.0), (151, 1.0), (30, -0.01), (30, math.nan), (30, math.inf)])
def test_impossible_citizens_are_refused(age: int, income: float) -> None:
    with pytest.raises(InvalidCitizenError):
        check_citizen(age, income)


def test_a_batch_with_an_income_missing_is_refused() -> None:
    with pytest.raises(InvalidBatchError, match="one income per age"):
        check_columns(np.array([30, 40], dtype=np.int32), np.array([1.0]))


def test_impossible_citizens_of_a_batch_are_singled_out() -> None:
    ages = np.array([30, 151, 30, 30, -1, 40], dtype=np.int32)
    incomes = np.array([1.0, 2.0, math.nan, -5.0, 1.0, math.inf])

    assert impossible_citizens(ages, incomes).tolist() == [False, True, True, True, True, True]


@st.composite
def rules_and_population(draw: st.DrawFn) -> tuple[Rules, list[int], list[float]]:
    min_age = draw(st.integers(0, 150))
    max_age = draw(st.integers(min_age, 150))
    max_income = draw(
        st.one_of(
            st.floats(0, 1e9, allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, 120000.0, 180000.0, 250000.0]),
        )
    )
    rules = Rules(scheme_name="drawn", min_age=min_age, max_age=max_age, max_income=max_income)
    threshold = rules.review_threshold
    # Besides arbitrary incomes, the floats right at and around both boundaries, where a mismatch would hide.
    edges = [threshold, max_income, *np.nextafter([threshold, max_income], [-np.inf, np.inf]).tolist()]
    edges += np.nextafter([threshold, max_income], [np.inf, -np.inf]).tolist()
    income = st.one_of(st.floats(0, 2e9, allow_nan=False, allow_infinity=False), st.sampled_from(edges))
    size = draw(st.integers(0, 60))
    ages = draw(st.lists(st.integers(0, 150), min_size=size, max_size=size))
    incomes = draw(st.lists(income, min_size=size, max_size=size))
    return rules, ages, incomes


@settings(max_examples=300, deadline=None)
@given(rules_and_population())
def test_batch_decisions_equal_single_decisions(drawn: tuple[Rules, list[int], list[float]]) -> None:
    rules, ages, incomes = drawn

    batch = decide_batch(np.array(ages, dtype=np.int32), np.array(incomes, dtype=np.float64), rules)

    assert batch.dtype == np.int8
    assert batch.tolist() == [decide(age, income, rules).decision for age, income in zip(ages, incomes, strict=True)]
