"""The run-list benchmark in a small configuration: full pages of every view over seeded runs, through the gateway."""

from __future__ import annotations

import pytest

from bench.run_list_workloads import VIEWS, measure_run_list, run_list_table

pytestmark = pytest.mark.bench

RUNS, REQUESTS = 20_000, 5


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
