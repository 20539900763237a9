"""`python -m bench.compare`: two checkouts' systems side by side, here this checkout against itself.

What it prints must be what it measured: runs made in each system's own database, figures that
are those of the bursts it reported round by round, and a system that did not start named.
"""

from __future__ import annotations

import os
import re
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from bench.compare import main
from bench.system import BenchSystemError
from civicflow.launch.local_database import database_url_on
from civicflow.settings import REPO_ROOT
from tests.support.process_tree import descendants

pytestmark = pytest.mark.bench

ROUNDS, SEQUENTIAL, CONCURRENT, CLIENTS = 3, 3, 8, 2
ARGUMENTS = ["--rounds", str(ROUNDS), "--sequential", str(SEQUENTIAL), "--concurrent", str(CONCURRENT)]
WARM_UP = 100  # untimed checks per system before the rounds (bench/compare.py)
SUMMARY = re.compile(
    r"^\s*(?P<system>\w+): sequential p50 (?P<p50>[\d.]+) ms, p99 (?P<p99>[\d.]+) ms \((?P<checks>\d+) checks\);"
    r" concurrent median (?P<median>\d+) checks/s \(rounds (?P<rates>[\d, ]+)\)$"
)
ROUND = re.compile(r"^bench: round (?P<number>\d+) of (?P<rounds>\d+): (?P<systems>.*)$")
SYSTEM_IN_ROUND = re.compile(r"(?P<system>\w+) p50 (?P<p50>[\d.]+) ms, (?P<rate>\d+)/s")


@contextmanager
def runs_counted(server_url: str) -> Iterator[dict[str, int]]:
    """The most completed runs seen in each system's database (compare_<system>_...) while the block runs.

    The databases are dropped when bench.compare ends, so they are read while it runs.
    """
    seen: dict[str, int] = {}
    stop = threading.Event()

    def completed_runs(database: str) -> int:
        engine = sa.create_engine(database_url_on(server_url, database), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                completed = "SELECT count(*) FROM orchestrator.workflow_instances WHERE status = 'completed'"
                return int(connection.execute(sa.text(completed)).scalar_one())
        finally:
            engine.dispose()

    def watch() -> None:
        server = sa.create_engine(server_url, poolclass=NullPool)
        while not stop.wait(0.05):
            with server.connect() as connection:
                names = connection.execute(
                    sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'compare\\_%'")
                ).scalars()
                databases = list(names)
            for name in databases:
                system = name.split("_")[1]
                try:
                    runs = completed_runs(name)
                except sa.exc.SQLAlchemyError:
                    continue  # not migrated yet, or being dropped
                seen[system] = max(seen.get(system, 0), runs)
        server.dispose()

    watcher = threading.Thread(target=watch, name="compare-runs-counter", daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join(timeout=30)


def test_both_systems_are_measured_in_every_round_and_the_figures_are_those_of_their_bursts(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)  # their scratch databases go on the session's server

    with runs_counted(database_url) as runs:
        status = main(["--baseline", str(REPO_ROOT), *ARGUMENTS, "--clients", str(CLIENTS)])

    printed = capsys.readouterr()
    assert status == 0
    # Each system served its warm-up and at least a round of bursts, in its own database, and no more than asked.
    assert set(runs) == {"this", "baseline"}
    for system, made in runs.items():
        assert WARM_UP + SEQUENTIAL + CONCURRENT <= made <= WARM_UP + ROUNDS * (SEQUENTIAL + CONCURRENT), system

    rounds = [match for line in printed.err.splitlines() if (match := ROUND.match(line))]
    assert [(int(r["number"]), int(r["rounds"])) for r in rounds] == [(n, ROUNDS) for n in range(1, ROUNDS + 1)]
    reported: dict[str, list[int]] = {"this": [], "baseline": []}
    for round_line in rounds:
        bursts = list(SYSTEM_IN_ROUND.finditer(round_line["systems"]))
        assert sorted(burst["system"] for burst in bursts) == ["baseline", "this"]
        for burst in bursts:
            reported[burst["system"]].append(int(burst["rate"]))

    summaries = {match["system"]: match for line in printed.out.splitlines() if (match := SUMMARY.match(line))}
    assert set(summaries) == {"this", "baseline"}
    for system, summary in summaries.items():
        rates = [int(rate) for rate in summary["rates"].split(", ")]
        assert int(summary["checks"]) == ROUNDS * SEQUENTIAL, "every sequential check of every round counted"
        assert rates == reported[system], "the concurrent figures are those of the bursts reported round by round"
        assert abs(int(summary["median"]) - statistics.median(rates)) <= 1
        assert 0 < float(summary["p50"]) <= float(summary["p99"])


def test_a_baseline_whose_launcher_dies_is_named_and_nothing_is_left_running(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    baseline = tmp_path / "broken-checkout"
    (baseline / "civicflow").mkdir(parents=True)
    (baseline / "civicflow" / "__init__.py").write_text("")
    (baseline / "civicflow" / "launcher.py").write_text(
        "import sys\nprint('this launcher fails on purpose', file=sys.stderr)\nsys.exit(3)\n"
    )

    with pytest.raises(BenchSystemError) as failed:
        main(["--baseline", str(baseline), *ARGUMENTS, "--clients", str(CLIENTS)])

    assert "baseline did not start" in str(failed.value)
    assert "this launcher fails on purpose" in str(failed.value), "the log of the one that died is shown"
    assert capsys.readouterr().out == "", "no figures without both systems"
    left = [command for command in descendants(os.getpid()).values() if "civicflow.launch" in command]
    assert left == [], "this checkout's system is stopped too"
