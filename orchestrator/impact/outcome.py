"""What evaluating a population came to: decision counts by category, the results digest and the failed citizens."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from civicflow.decisions import DECISION_ORDER
from civicflow.rules.attributes import CATEGORIES, CATEGORY_CODES
from orchestrator.citizens import CategoryCodes
from orchestrator.impact.result_rows import Decisions

# Decisions are 1..3; a (baseline, proposed) pair indexes a 4x4 matrix, row 0 unused.
_MATRIX_SIDE = 4
# Category codes are 1..4 (civicflow.v1.Category); one matrix each, the first unused.
_CATEGORY_SIDE = max(CATEGORY_CODES.values()) + 1


@dataclass(frozen=True)
class CategoryCounts:
    """One category's citizens: how many, and the decision counts under each document."""

    total: int
    baseline: dict[int, int]
    proposed: dict[int, int]


@dataclass
class Tally:
    """Transition counts per category: matrix[category][baseline][proposed]."""

    matrix: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((_CATEGORY_SIDE, _MATRIX_SIDE, _MATRIX_SIDE), dtype=np.int64)
    )

    def add(self, categories: CategoryCodes, baseline: Decisions, proposed: Decisions) -> None:
        cells = (categories.astype(np.int64) * _MATRIX_SIDE + baseline) * _MATRIX_SIDE + proposed
        self.matrix += np.bincount(cells, minlength=self.matrix.size).reshape(self.matrix.shape)

    def counts(self, *, proposed: bool) -> dict[int, int]:
        return _decision_counts(self.matrix.sum(axis=0), proposed=proposed)

    def transitions(self) -> list[tuple[int, int, int]]:
        pairs = self.matrix.sum(axis=0)
        return [(a, b, int(pairs[a][b])) for a in DECISION_ORDER for b in DECISION_ORDER]

    def by_category(self) -> dict[str, CategoryCounts]:
        """Each category of civicflow.rules.attributes.CATEGORIES, in that order."""
        counts = {}
        for name in CATEGORIES:
            pairs = self.matrix[CATEGORY_CODES[name]]
            counts[name] = CategoryCounts(
                total=int(pairs.sum()),
                baseline=_decision_counts(pairs, proposed=False),
                proposed=_decision_counts(pairs, proposed=True),
            )
        return counts


def _decision_counts(pairs: npt.NDArray[np.int64], *, proposed: bool) -> dict[int, int]:
    totals = pairs.sum(axis=0 if proposed else 1)
    return {decision: int(totals[decision]) for decision in DECISION_ORDER}


@dataclass(frozen=True)
class FailureRow:
    position: int
    citizen_id: str
    error: str


@dataclass(frozen=True)
class PopulationOutcome:
    """As the sink summed it up while writing the rows, or as the rows an earlier attempt committed sum up."""

    tally: Tally
    results_digest: str
    failed: int
    failures: list[FailureRow]  # the first `failure_limit`, in population order
