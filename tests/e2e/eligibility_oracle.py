"""The pinned decision rule of the issue, written out independently of the services it checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
