"""A scheme's eligibility rules and the pinned decision over them, for one citizen or a whole batch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from civicflow.v1 import evaluator_pb2
from evaluator.errors import InvalidBatchError, InvalidCitizenError, InvalidRulesError

AGE_LIMITS = (0, 150)
# Incomes at or above this fraction of the ceiling are close enough to it to need a person's review.
REVIEW_BAND_FRACTION = 0.9

ELIGIBLE = evaluator_pb2.DECISION_ELIGIBLE
NOT_ELIGIBLE = evaluator_pb2.DECISION_NOT_ELIGIBLE
NEEDS_REVIEW = evaluator_pb2.DECISION_NEEDS_REVIEW


@dataclass(frozen=True)
class Rules:
    """The criteria of one scheme; ages are inclusive bounds."""

    scheme_name: str
    min_age: int
    max_age: int
    max_income: float

    def __post_init__(self) -> None:
        low, high = AGE_LIMITS
        if not (low <= self.min_age <= high and low <= self.max_age <= high):
            raise InvalidRulesError(
                f"rules of {self.scheme_name!r}: ages must lie in [{low}, {high}], "
                f"got min_age {self.min_age} and max_age {self.max_age}"
            )
        if self.min_age > self.max_age:
            raise InvalidRulesError(
                f"rules of {self.scheme_name!r}: min_age {self.min_age} is greater than max_age {self.max_age}"
            )
        if not math.isfinite(self.max_income) or self.max_income < 0:
            raise InvalidRulesError(
                f"rules of {self.scheme_name!r}: max_income must be a finite number >= 0, got {self.max_income}"
            )

    @property
    def review_threshold(self) -> float:
        # The one place the threshold is computed, so decide and decide_batch compare against the same float.
        return REVIEW_BAND_FRACTION * self.max_income

    @classmethod
    def from_proto(cls, message: evaluator_pb2.EligibilityRules) -> Rules:
        return cls(
            scheme_name=message.scheme_name,
            min_age=message.min_age,
            max_age=message.max_age,
            max_income=message.max_income,
        )

    def to_proto(self) -> evaluator_pb2.EligibilityRules:
        return evaluator_pb2.EligibilityRules(
            scheme_name=self.scheme_name,
            min_age=self.min_age,
            max_age=self.max_age,
            max_income=self.max_income,
        )


@dataclass(frozen=True)
class Reason:
    criterion: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    decision: int
    reasons: tuple[Reason, ...]


def check_citizen(age: int, income: float) -> None:
    """Refuses an age or income no real citizen can have."""
    low, high = AGE_LIMITS
    if not low <= age <= high:
        raise InvalidCitizenError(f"citizen age must lie in [{low}, {high}], got {age}")
    if not math.isfinite(income) or income < 0:
        raise InvalidCitizenError(f"citizen income must be a finite number >= 0, got {income}")


def check_columns(ages: npt.NDArray[np.integer], incomes: npt.NDArray[np.float64]) -> None:
    """Refuses a batch whose columns differ in length: no citizen of it can be read."""
    if ages.shape != incomes.shape:
        raise InvalidBatchError(f"a batch needs one income per age, got {ages.size} ages and {incomes.size} incomes")


def impossible_citizens(ages: npt.NDArray[np.integer], incomes: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which citizens of a batch have an age or income no real citizen can have (check_citizen says why)."""
    low, high = AGE_LIMITS
    with np.errstate(invalid="ignore"):  # NaN compares False, which is what is wanted
        return (ages < low) | (ages > high) | ~np.isfinite(incomes) | (incomes < 0)


def decide(age: int, income: float, rules: Rules) -> Verdict:
    """The pinned rule: age first, then the income ceiling, then the review band just below it."""
    threshold = rules.review_threshold
    age_passed = rules.min_age <= age <= rules.max_age
    ceiling_passed = not income > rules.max_income
    band_passed = not income >= threshold
    reasons = (
        Reason(
            criterion="age",
            passed=age_passed,
            detail=f"age {age} is {'within' if age_passed else 'outside'} [{rules.min_age}, {rules.max_age}]",
        ),
        Reason(
            criterion="income_ceiling",
            passed=ceiling_passed,
            detail=(
                f"income {_number(income)} {'does not exceed' if ceiling_passed else 'exceeds'} "
                f"{_number(rules.max_income)}"
            ),
        ),
        Reason(
            criterion="review_band",
            passed=band_passed,
            detail=(
                f"income {_number(income)} is {'below' if band_passed else 'at or above'} "
                f"90% of the ceiling ({_number(threshold)})"
            ),
        ),
    )
    # Age is decided first so that a citizen the age rule excludes can never land in review.
    if not age_passed or not ceiling_passed:
        decision = NOT_ELIGIBLE
    elif not band_passed:
        decision = NEEDS_REVIEW
    else:
        decision = ELIGIBLE
    return Verdict(decision=decision, reasons=reasons)


def decide_batch(ages: npt.NDArray[np.integer], incomes: npt.NDArray[np.float64], rules: Rules) -> npt.NDArray[np.int8]:
    """`decide` over whole columns at once: the same comparisons in the same order, element-wise."""
    threshold = rules.review_threshold
    excluded = (ages < rules.min_age) | (ages > rules.max_age) | (incomes > rules.max_income)
    in_review_band = incomes >= threshold
    decisions = np.full(ages.shape, ELIGIBLE, dtype=np.int8)
    decisions[in_review_band] = NEEDS_REVIEW
    # Written last so that exclusion overrides the review band, exactly as in `decide`.
    decisions[excluded] = NOT_ELIGIBLE
    return decisions


def _number(value: float) -> str:
    """Whole amounts without a trailing .0; anything else exactly as Python would repeat it."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
