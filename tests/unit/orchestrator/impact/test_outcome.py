"""The tally counts (category, baseline, proposed) triples: the report's totals and its by-category counts agree."""

from __future__ import annotations

import numpy as np

from civicflow.rules.attributes import CATEGORIES, CATEGORY_CODES
from orchestrator.impact.outcome import CategoryCounts, Tally

ELIGIBLE, NOT_ELIGIBLE, NEEDS_REVIEW = 1, 2, 3


def test_each_citizen_is_counted_in_its_category_under_both_documents() -> None:
    tally = Tally()
    sc, st, obc = CATEGORY_CODES["sc"], CATEGORY_CODES["st"], CATEGORY_CODES["obc"]

    tally.add(
        np.array([sc, sc, st, obc], dtype=np.int32),
        np.array([ELIGIBLE, ELIGIBLE, NEEDS_REVIEW, NOT_ELIGIBLE], dtype=np.int8),
        np.array([NOT_ELIGIBLE, ELIGIBLE, NEEDS_REVIEW, NOT_ELIGIBLE], dtype=np.int8),
    )

    by_category = tally.by_category()
    assert list(by_category) == list(CATEGORIES) == ["general", "obc", "sc", "st"]
    assert by_category["sc"] == CategoryCounts(
        total=2,
        baseline={ELIGIBLE: 2, NOT_ELIGIBLE: 0, NEEDS_REVIEW: 0},
        proposed={ELIGIBLE: 1, NOT_ELIGIBLE: 1, NEEDS_REVIEW: 0},
    )
    assert by_category["general"].total == 0
    assert by_category["st"].proposed[NEEDS_REVIEW] == 1 and by_category["obc"].baseline[NOT_ELIGIBLE] == 1


def test_the_totals_are_the_sums_over_categories() -> None:
    rng = np.random.default_rng(14)
    tally = Tally()
    for _ in range(3):
        categories = rng.integers(1, 5, 1000).astype(np.int32)
        tally.add(categories, rng.integers(1, 4, 1000).astype(np.int8), rng.integers(1, 4, 1000).astype(np.int8))

    by_category = tally.by_category().values()
    assert sum(counts.total for counts in by_category) == 3000
    for proposed in (False, True):
        totals = tally.counts(proposed=proposed)
        for decision in (ELIGIBLE, NOT_ELIGIBLE, NEEDS_REVIEW):
            side = [(c.proposed if proposed else c.baseline)[decision] for c in by_category]
            assert totals[decision] == sum(side)
    assert sum(count for _, _, count in tally.transitions()) == 3000
