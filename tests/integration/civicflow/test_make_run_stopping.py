"""Ctrl-C on `make run`, typed into a terminal, during an impact analysis: everything stops in dependency order,
make exits 0 without "Interrupt" (also piped into tee), and the run completes after the next `make run`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from civicflow.settings import REPO_ROOT
from tests.support.local_system import (
    audit_entries,
    gateway_url,
    issued_token,
    start_impact_analysis,
    wait_for_end,
    wait_for_progress,
    wait_until_healthy,
)
from tests.support.process_tree import descendants, is_alive
from tests.support.terminal_session import TerminalSession, make_run_environment, terminal_session

POPULATION = 200_000
STEPS = [
    "load_beneficiaries",
    "fetch_scheme_rules",
    "fetch_proposed_version",
    "apply_proposed_rules",
    "evaluate_population",
    "build_impact_report",
]
# Each stage's grace (10 s) and kill margin (5 s), and some room: a stop that hangs fails well before this.
STOP_SECONDS = 90.0
# The processes of `make run`, in the order they must stop: each group after every process of the one before.
STOP_ORDER = [["gateway"], ["orchestrator"], ["audit_service", "evaluator"], ["postgres"]]


def stopped_lines(output: str) -> list[tuple[str, str]]:
    """(process, exit status) of each "<name> stopped (rc=N)" line the launcher wrote, in order."""
    return re.findall(r"\| (\S+) stopped \(rc=(-?\d+)\)", output)


def stop_events(output: str) -> list[tuple[str, str]]:
    """("signalled" or "stopped", process) for each line of the launcher's stop, in order."""
    events = re.findall(r"\| (?:sending \S+ to (\S+)|(\S+) stopped \(rc=)", output)
    return [("signalled", signalled) if signalled else ("stopped", stopped) for signalled, stopped in events]


def wait_healthy(session: TerminalSession, url: str) -> None:
    wait_until_healthy(url, alive=lambda: session.process.poll() is None, describe=lambda: session.output()[-6000:])


def stop_with_ctrl_c(session: TerminalSession) -> int:
    session.press_ctrl_c()
    try:
        return session.process.wait(timeout=STOP_SECONDS)
    except Exception:
        pytest.fail(f"make run did not stop within {STOP_SECONDS} s of Ctrl-C:\n{session.output()[-6000:]}")


@pytest.mark.parametrize("piped", [False, True], ids=["terminal", "piped-into-tee"])
def test_ctrl_c_stops_make_run_in_order_with_status_0_and_the_run_completes_after_the_next_make_run(
    tmp_path: Path, piped: bool
) -> None:
    environment = make_run_environment(tmp_path)
    url = gateway_url(environment)
    tee_log = tmp_path / "make-run.log"
    # pipefail: the pipeline's status is make's, not tee's.
    command = ["bash", "-c", f"set -o pipefail; make run 2>&1 | tee {tee_log}"] if piped else ["make", "run"]

    with terminal_session(command, env=environment, screen=tmp_path / "first.screen") as first:
        wait_healthy(first, url)
        analyst = issued_token(environment, subject="alice", role="analyst")
        instance_id = start_impact_analysis(url, analyst, POPULATION)
        wait_for_progress(url, analyst, instance_id)
        processes = descendants(first.process.pid)
        started = time.monotonic()
        returncode = stop_with_ctrl_c(first)
        stop_seconds = time.monotonic() - started
        output = first.output()

    assert returncode == 0, output[-6000:]
    assert "Interrupt" not in output
    assert not [line for pid, line in processes.items() if is_alive(pid)], "processes outlived make run"
    stops = stopped_lines(output)
    assert sorted(stops) == sorted((name, "0") for group in STOP_ORDER for name in group), output[-6000:]
    # Each stage is signalled only once every process of the stage before has stopped.
    events = stop_events(output)
    for earlier, later in zip(STOP_ORDER, STOP_ORDER[1:], strict=False):
        last_stopped = max(events.index(("stopped", name)) for name in earlier)
        first_signalled = min(events.index(("signalled", name)) for name in later)
        assert last_stopped < first_signalled, events
    if piped:
        # tee did not see the Ctrl-C: it logged to the last line.
        assert stopped_lines(tee_log.read_text()) == stops
    print(f"stopped in {stop_seconds:.1f} s")

    with terminal_session(["make", "run"], env=environment, screen=tmp_path / "second.screen") as second:
        wait_healthy(second, url)
        finished = wait_for_end(url, analyst, instance_id)
        entries = audit_entries(url, analyst, instance_id)
        assert stop_with_ctrl_c(second) == 0, second.output()[-6000:]

    assert finished["status"] == "completed", finished
    assert finished["outputs"]["impact_report"]["total"] == POPULATION
    successes = Counter(entry["step_name"] for entry in entries if entry["status"] == "success")
    assert successes == Counter(STEPS), entries


def test_ctrl_c_while_make_run_starts_stops_what_started_with_status_0(tmp_path: Path) -> None:
    environment = make_run_environment(tmp_path)
    with terminal_session(["make", "run"], env=environment, screen=tmp_path / "screen") as session:
        deadline = time.monotonic() + 60
        while "postgres started" not in session.output():
            assert session.process.poll() is None and time.monotonic() < deadline, session.output()
            time.sleep(0.02)
        processes = descendants(session.process.pid)
        returncode = stop_with_ctrl_c(session)
        output = session.output()

    assert returncode == 0, output[-6000:]
    assert "Traceback" not in output and "Interrupt" not in output
    assert ("postgres", "0") in stopped_lines(output)
    assert not [line for pid, line in processes.items() if is_alive(pid)], "processes outlived make run"


def test_a_launcher_whose_output_pipe_closes_keeps_serving_and_stops_in_order_with_status_0(tmp_path: Path) -> None:
    environment = make_run_environment(tmp_path)
    url = gateway_url(environment)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "civicflow.launch"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert launcher.stdout is not None
        # The reader goes away after a line, as `make run | head -1` would: every later write meets EPIPE.
        launcher.stdout.readline()
        launcher.stdout.close()
        wait_until_healthy(url, alive=lambda: launcher.poll() is None, describe=lambda: "(output closed)")
        processes = descendants(launcher.pid)

        launcher.send_signal(signal.SIGTERM)
        returncode = launcher.wait(timeout=STOP_SECONDS)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()

    assert returncode == 0
    assert not [line for pid, line in processes.items() if is_alive(pid)], "processes outlived the launcher"
