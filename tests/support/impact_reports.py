"""An evaluate_population output and the rule values it was made under, to build impact reports from in tests."""

from __future__ import annotations

from typing import Any

from tests.support.seeded_schemes import overridden_rules, seeded_rules

BASELINE = seeded_rules("scheme_alpha")
PROPOSED = overridden_rules(BASELINE, {"max_income": 200000})
TRANSITIONS = [
    {"from": a, "to": b, "count": 1 if a == b else 0}
    for a in ("ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW")
    for b in ("ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW")
]


# A report as stored before schemes had versions: no versions, rule hashes, categories or failures.
STORED_BEFORE_VERSIONS: dict[str, Any] = {
    "instance_id": "i-0",
    "scheme_name": "scheme_alpha",
    "total": 3,
    "eligible": 1,
    "not_eligible": 1,
    "needs_review": 1,
    "baseline": {"eligible": 1, "not_eligible": 1, "needs_review": 1},
    "transitions": TRANSITIONS,
    "current_rules": {"min_age": 18, "max_age": 60, "max_income": 250000},
    "proposed_rules": {"min_age": 18, "max_age": 60, "max_income": 200000},
    "results_digest": "cd" * 32,
}


def category_counts(total: int) -> dict[str, Any]:
    return {
        "total": total,
        "eligible": total,
        "not_eligible": 0,
        "needs_review": 0,
        "baseline": {"eligible": 0, "not_eligible": total, "needs_review": 0},
    }


EVALUATION = {
    "total": 4,
    "baseline": {"eligible": 1, "not_eligible": 1, "needs_review": 1},
    "proposed": {"eligible": 1, "not_eligible": 1, "needs_review": 1},
    "by_category": {
        "general": category_counts(0),
        "obc": category_counts(1),
        "sc": category_counts(2),
        "st": category_counts(0),
    },
    "transitions": TRANSITIONS,
    "failed": 1,
    "failures": [{"position": 3, "citizen_id": "CIT-0000003", "error": "refused"}],
    "results_digest": "ab" * 32,
}
