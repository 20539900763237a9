"""What evaluating a population came to: decision counts, the results digest and the failed citizens."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from civicflow.decisions import DECISION_ORDER
from orchestrator.impact.result_rows import Decisions

# Decisions are 1..3; a (baseline, proposed) pair indexes a 4x4 matrix, row 0 unused.
_MATRIX_SIDE = 4


@dataclass
class Tally:
    """Transition counts: matrix[baseline][proposed]."""

    matrix: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((_MATRIX_SIDE, _MATRIX_SIDE), dtype=np.int64)
    )

    def add(self, baseline: Decisions, proposed: Decisions) -> None:
        pairs = baseline.astype(np.int64) * _MATRIX_SIDE + proposed
        self.matrix += np.bincount(pairs, minlength=_MATRIX_SIDE**2).reshape(_MATRIX_SIDE, _MATRIX_SIDE)

    def add_count(self, baseline: int, proposed: int, count: int) -> None:
        self.matrix[baseline][proposed] += count

    def counts(self, *, proposed: bool) -> dict[int, int]:
        totals = self.matrix.sum(axis=0 if proposed else 1)
        return {decision: int(totals[decision]) for decision in DECISION_ORDER}

    def transitions(self) -> list[tuple[int, int, int]]:
        return [(a, b, int(self.matrix[a][b])) for a in DECISION_ORDER for b in DECISION_ORDER]


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
