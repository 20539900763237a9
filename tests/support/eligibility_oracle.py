"""The pinned decision rule, written out independently of the services it checks: one citizen, or a population."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from orchestrator.citizens import mock_citizen, population_columns

SCHEME_RULES: dict[str, dict[str, int]] = {
    "scheme_alpha": {"min_age": 18, "max_age": 60, "max_income": 250000},
    "scheme_beta": {"min_age": 21, "max_age": 55, "max_income": 180000},
    "scheme_gamma": {"min_age": 60, "max_age": 99, "max_income": 120000},
}
DECISIONS = ("ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW")


def expected_decision(citizen: Mapping[str, Any], rules: Mapping[str, Any]) -> str:
    if not rules["min_age"] <= citizen["age"] <= rules["max_age"]:
        return "NOT_ELIGIBLE"
    if citizen["income"] > rules["max_income"]:
        return "NOT_ELIGIBLE"
    if citizen["income"] >= 0.9 * rules["max_income"]:
        return "NEEDS_REVIEW"
    return "ELIGIBLE"


def reference_decisions(ages: np.ndarray, incomes: np.ndarray, rules: dict[str, Any]) -> np.ndarray:
    """The pinned rule written out independently of the evaluator: 0 ELIGIBLE, 1 NOT_ELIGIBLE, 2 NEEDS_REVIEW."""
    excluded = (ages < rules["min_age"]) | (ages > rules["max_age"]) | (incomes > rules["max_income"])
    return np.where(excluded, 1, np.where(incomes >= 0.9 * rules["max_income"], 2, 0))


def reference_transitions(
    size: int, current: dict[str, Any], proposed: dict[str, Any], *, skip: list[int] | None = None
) -> dict[tuple[str, str], int]:
    """(from, to) -> count over citizens 1..size but those at `skip`, as a direct evaluation gives them."""
    ages, incomes = population_columns(1, size)
    kept = np.ones(size, dtype=np.bool_)
    kept[[position - 1 for position in skip or []]] = False
    before = reference_decisions(ages[kept], incomes[kept], current)
    after = reference_decisions(ages[kept], incomes[kept], proposed)
    pairs = Counter(zip(before.tolist(), after.tolist(), strict=True))
    return {(DECISIONS[a], DECISIONS[b]): pairs[(a, b)] for a in range(3) for b in range(3)}


def citizens_decided(decision: str, scheme_name: str, *, count: int = 1, start: int = 1) -> list[str]:
    """The first `count` citizen ids, from CIT-<start> on, that the pinned rule decides `decision` for."""

    rules = SCHEME_RULES[scheme_name]
    found: list[str] = []
    position = start
    while len(found) < count:
        citizen_id = f"CIT-{position:07d}"
        citizen = mock_citizen(citizen_id)
        if expected_decision({"age": citizen.age, "income": citizen.income}, rules) == decision:
            found.append(citizen_id)
        position += 1
    return found
