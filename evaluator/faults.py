"""Faults the evaluator injects on purpose for chosen citizens: failures and stalls, firing a set number of times."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Any

import numpy as np

from civicflow.citizen_ids import population_citizen_id, population_position
from evaluator.config import EvaluatorSettings


class Fault(StrEnum):
    FAIL = "fail"
    STALL = "stall"


class FaultPlan:
    """Which citizens fail or stall, and how often each fault has fired for each citizen in this process."""

    def __init__(
        self, *, fail: frozenset[str], stall: frozenset[str], stall_seconds: float, times: int
    ) -> None:
        self._citizens = {Fault.FAIL: fail, Fault.STALL: stall if stall_seconds > 0 else frozenset()}
        self._positions = {fault: _positions(ids) for fault, ids in self._citizens.items()}
        self._stall_seconds = stall_seconds
        self._times = times
        self._fired: Counter[tuple[Fault, str]] = Counter()

    @classmethod
    def from_settings(cls, settings: EvaluatorSettings) -> FaultPlan:
        return cls(
            fail=settings.evaluator_fail_citizens,
            stall=settings.evaluator_stall_citizens,
            stall_seconds=settings.evaluator_stall_seconds,
            times=settings.evaluator_fault_times,
        )

    @property
    def enabled(self) -> bool:
        return any(self._citizens.values())

    def describe(self) -> dict[str, Any]:
        return {
            "fail_citizens": sorted(self._citizens[Fault.FAIL]),
            "stall_citizens": sorted(self._citizens[Fault.STALL]),
            "stall_seconds": self._stall_seconds,
            "times_per_citizen": self._times or "always",
        }

    def fires(self, fault: Fault, citizen_id: str) -> bool:
        """Whether `fault` strikes this citizen now; counts the firing."""
        if citizen_id not in self._citizens[fault]:
            return False
        if self._times and self._fired[(fault, citizen_id)] >= self._times:
            return False
        self._fired[(fault, citizen_id)] += 1
        return True

    def fires_in_batch(self, fault: Fault, first_position: int, count: int) -> list[int]:
        """Indices, in a batch of `count` citizens from `first_position`, of those `fault` strikes now."""
        positions = self._positions[fault]
        if not positions.size:
            return []
        low, high = np.searchsorted(positions, [first_position, first_position + count])
        return [
            int(position) - first_position
            for position in positions[low:high].tolist()
            if self.fires(fault, population_citizen_id(position))
        ]

    @property
    def stall_seconds(self) -> float:
        return self._stall_seconds


def _positions(citizen_ids: frozenset[str]) -> np.ndarray:
    """Sorted positions of the population ids among `citizen_ids`.

    A batch names its citizens only by position (evaluator.proto, first_position), so only
    population ids can fire in one; other ids fire only in unary calls, which carry the id.
    """
    positions = [population_position(citizen_id) for citizen_id in citizen_ids]
    return np.array(sorted(position for position in positions if position is not None), dtype=np.int64)
