"""The evaluator's fault hooks: off by default, set from the environment, firing a chosen number of times."""

from __future__ import annotations

import pytest

from evaluator.config import EvaluatorSettings
from evaluator.faults import Fault, FaultPlan


def test_no_fault_is_enabled_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EVALUATOR_FAIL_CITIZENS", "EVALUATOR_STALL_CITIZENS", "EVALUATOR_STALL_SECONDS"):
        monkeypatch.delenv(name, raising=False)

    plan = FaultPlan.from_settings(EvaluatorSettings())

    assert not plan.enabled
    assert plan.fires_in_batch(Fault.FAIL, 1, 1000) == []


def test_citizens_are_read_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALUATOR_FAIL_CITIZENS", "CIT-0000007, CIT-0000042,,CIT-x")
    monkeypatch.setenv("EVALUATOR_STALL_CITIZENS", "CIT-0000100")
    monkeypatch.setenv("EVALUATOR_STALL_SECONDS", "2.5")
    monkeypatch.setenv("EVALUATOR_FAULT_TIMES", "1")

    settings = EvaluatorSettings()

    assert settings.evaluator_fail_citizens == {"CIT-0000007", "CIT-0000042", "CIT-x"}
    assert settings.evaluator_stall_citizens == {"CIT-0000100"}
    assert (settings.evaluator_stall_seconds, settings.evaluator_fault_times) == (2.5, 1)


def test_a_fault_fires_for_the_citizens_of_a_batch_it_names() -> None:
    plan = FaultPlan(
        fail=frozenset({"CIT-0000007", "CIT-0001000", "CIT-0001001", "CIT-7"}),
        stall=frozenset(),
        stall_seconds=0,
        times=0,
    )

    assert plan.fires_in_batch(Fault.FAIL, 1, 1000) == [6, 999]
    assert plan.fires_in_batch(Fault.FAIL, 1001, 1000) == [0]
    assert plan.fires_in_batch(Fault.FAIL, 2001, 1000) == []
    # Every time: times 0.
    assert plan.fires_in_batch(Fault.FAIL, 1, 10) == [6]
    # A non-population id can only be matched where the call carries the id.
    assert plan.fires(Fault.FAIL, "CIT-7")


def test_a_fault_limited_to_once_fires_once_per_citizen() -> None:
    plan = FaultPlan(fail=frozenset({"CIT-0000007", "CIT-0000008"}), stall=frozenset(), stall_seconds=0, times=1)

    assert plan.fires_in_batch(Fault.FAIL, 7, 1) == [0]
    assert plan.fires_in_batch(Fault.FAIL, 1, 10) == [7]
    assert plan.fires_in_batch(Fault.FAIL, 1, 10) == []
    assert not plan.fires(Fault.FAIL, "CIT-0000007")


def test_a_stall_of_zero_seconds_is_no_fault() -> None:
    plan = FaultPlan(fail=frozenset(), stall=frozenset({"CIT-0000001"}), stall_seconds=0, times=0)

    assert not plan.enabled
    assert not plan.fires(Fault.STALL, "CIT-0000001")
