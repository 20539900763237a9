"""The run-list benchmark in a small configuration: full pages of every view over seeded runs, through the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.run_list_workloads import VIEWS, measure_run_list, run_list_table
from tests.support.databases import launcher_roles

pytestmark = pytest.mark.bench

RUNS, REQUESTS = 20_000, 5


@pytest.fixture
def on_test_server(postgres_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The benchmark's system on the test server, in a database of its own, with roles removed afterwards."""
    with launcher_roles(postgres_server_url, tmp_path / "passwords.json") as environment:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield


@pytest.mark.usefixtures("on_test_server")
def test_every_view_of_the_seeded_runs_is_timed_with_the_pages_it_must_hold() -> None:
    progress: list[str] = []

    # measure_run_list raises if a page does not hold the runs the seeded shape puts on it.
    figures, outcome = measure_run_list(runs=RUNS, requests=REQUESTS, progress=progress.append)

    assert outcome.clean
    assert [timing.view for timing in figures.views] == [view.label for view in VIEWS]
    assert all(len(timing.latencies.seconds) == REQUESTS for timing in figures.views)
    assert "run list: 20,000 stored runs" in run_list_table(figures)
    assert any("seeding 20,000 finished runs" in line for line in progress)
