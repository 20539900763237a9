"""What counts as a dependency's outage, the backoff while it lasts, and the limit past which it fails the step."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.errors import (
    DatabaseUnavailableError,
    DependencyOutageError,
    DependencyUnavailableError,
    RunHandedOverError,
    StepFailedError,
)
from orchestrator.runs.outages import Outage, OutagePolicy, outlasting, unreachable_dependency

QUICK = OutagePolicy(limit_seconds=0.5, first_backoff_seconds=0.01, max_backoff_seconds=0.04)


def test_the_backoff_doubles_up_to_its_maximum() -> None:
    policy = OutagePolicy(first_backoff_seconds=0.1, max_backoff_seconds=2.0)
    assert [policy.backoff(tries) for tries in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]


def test_the_default_limit_is_five_minutes() -> None:
    assert OutagePolicy().limit_seconds == 300


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (DatabaseUnavailableError("the database is unavailable"), "database"),
        (DependencyUnavailableError("audit", dependency="audit service"), "audit service"),
        (StepFailedError("the evaluator is unavailable", dependency="evaluator"), "evaluator"),
        (RuntimeError("wrapped"), None),
        (StepFailedError("no scheme named 'x'"), None),
        (RunHandedOverError("shutting down"), None),
        (DependencyOutageError("evaluator", limit_seconds=300), None),
    ],
)
def test_only_an_unreachable_dependency_is_an_outage(error: Exception, dependency: str | None) -> None:
    assert unreachable_dependency(error) == dependency


def test_an_outage_is_read_from_the_cause_of_a_task_error() -> None:
    try:
        try:
            raise DatabaseUnavailableError("the database is unavailable")
        except DatabaseUnavailableError as lost:
            raise StepFailedError("results not written") from lost
    except StepFailedError as error:
        assert unreachable_dependency(error) == "database"


def test_an_outage_past_its_limit_fails_naming_the_dependency() -> None:
    outage = Outage(OutagePolicy(limit_seconds=0.3, first_backoff_seconds=0.1, max_backoff_seconds=0.1), "evaluator")
    with pytest.raises(DependencyOutageError) as raised:
        for _ in range(10):
            asyncio.run(outage.wait())
    assert str(raised.value) == "the evaluator could not be reached for 0.3 s (DEPENDENCY_OUTAGE_SECONDS)"
    assert 0.2 <= outage.seconds < 0.5


def test_outlasting_tries_again_until_the_dependency_answers() -> None:
    tries: list[int] = []

    async def write() -> str:
        tries.append(1)
        if len(tries) < 4:
            raise DatabaseUnavailableError("the database is unavailable")
        return "written"

    assert asyncio.run(outlasting(write, policy=QUICK)) == "written"
    assert len(tries) == 4


def test_outlasting_gives_up_past_the_limit() -> None:
    async def write() -> None:
        raise DatabaseUnavailableError("the database is unavailable")

    with pytest.raises(DependencyOutageError, match="the database could not be reached"):
        asyncio.run(outlasting(write, policy=QUICK))


def test_outlasting_lets_any_other_error_through_at_once() -> None:
    tries: list[int] = []

    async def write() -> None:
        tries.append(1)
        raise ValueError("a defect")

    with pytest.raises(ValueError, match="a defect"):
        asyncio.run(outlasting(write, policy=QUICK))
    assert len(tries) == 1
