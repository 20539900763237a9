"""The supervisor under real processes: a requested stop is clean; a process that dies takes the others down,
or, under a restart policy, is started again until it fails too often too quickly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from civicflow.settings import REPO_ROOT
from tests.support.process_tree import descendants, is_alive

# Runs in its own interpreter: the supervisor handles signals and forks, which a test process must not.
DRIVER = """
import json, logging, sys, threading
from honcho.printer import Printer
from pythonjsonlogger.json import JsonFormatter
from civicflow.launch.process_plan import ProcessSpec
from civicflow.launch.restart_policy import RestartPolicy
from civicflow.launch.supervisor import Supervisor

scripts, stop_after, grace = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
policy = RestartPolicy(**json.loads(sys.argv[4])) if sys.argv[4] != "null" else None
handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(JsonFormatter())
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
plan = [
    ProcessSpec(name=name, module=name, port=index, argv=(sys.executable, "-c", code))
    for index, (name, code) in enumerate(scripts.items())
]
supervisor = Supervisor(plan, printer=Printer(sys.stderr), shutdown_grace_seconds=grace, restart_policy=policy)

def stop_later():
    threading.Timer(stop_after, supervisor.stop).start()

outcome = supervisor.run(on_started=stop_later if stop_after >= 0 else None)
print(json.dumps({"stop_requested": outcome.stop_requested, "returncodes": outcome.returncodes,
                  "restarts": outcome.restarts}))
sys.exit(outcome.exit_code)
"""
GRACEFUL = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"
)
CRASHING = "import sys, time\ntime.sleep(0.5)\nsys.exit(3)\n"


def start_driver(
    scripts: dict[str, str],
    *,
    stop_after: float = -1.0,
    grace: float = 2.0,
    restart_policy: dict[str, Any] | None = None,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, json.dumps(scripts), str(stop_after), str(grace), json.dumps(restart_policy)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(driver: subprocess.Popen[str], text: str, count: int) -> list[str]:
    assert driver.stderr is not None
    seen: list[str] = []
    while sum(text in line for line in seen) < count:
        line = driver.stderr.readline()
        assert line, f"the driver ended early: {''.join(seen)}"
        seen.append(line)
    return seen


def finish(driver: subprocess.Popen[str]) -> tuple[int, dict[str, Any], str]:
    stdout, stderr = driver.communicate(timeout=20)
    return driver.returncode, json.loads(stdout.strip().splitlines()[-1]), stderr


def test_sigterm_stops_every_process_and_a_graceful_exit_of_all_is_clean() -> None:
    driver = start_driver({"first": GRACEFUL, "second": GRACEFUL})
    wait_for_lines(driver, "| ready", 2)
    children = descendants(driver.pid)

    driver.send_signal(signal.SIGTERM)
    returncode, outcome, stderr = finish(driver)

    assert returncode == 0, stderr
    assert outcome == {"stop_requested": True, "returncodes": {"first": 0, "second": 0}, "restarts": {}}
    assert not [pid for pid in children if is_alive(pid)]


def test_a_stop_requested_from_another_thread_is_clean() -> None:
    driver = start_driver({"only": GRACEFUL}, stop_after=0.5)
    returncode, outcome, stderr = finish(driver)

    assert returncode == 0, stderr
    assert outcome == {"stop_requested": True, "returncodes": {"only": 0}, "restarts": {}}


def test_a_process_that_dies_on_its_own_stops_the_others_and_fails_the_run() -> None:
    started = time.monotonic()
    driver = start_driver({"steady": GRACEFUL, "crashing": CRASHING})
    returncode, outcome, stderr = finish(driver)

    assert returncode == 1
    assert outcome == {"stop_requested": False, "returncodes": {"steady": 0, "crashing": 3}, "restarts": {}}
    assert "process exited on its own" in stderr
    assert time.monotonic() - started < 10


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period_and_fails_the_run() -> None:
    driver = start_driver({"stubborn": STUBBORN}, grace=0.0)
    wait_for_lines(driver, "| ready", 1)
    children = descendants(driver.pid)
    started = time.monotonic()

    driver.send_signal(signal.SIGINT)
    returncode, outcome, stderr = finish(driver)

    assert returncode == 1
    assert outcome == {"stop_requested": True, "returncodes": {"stubborn": -signal.SIGKILL}, "restarts": {}}
    assert time.monotonic() - started < 15
    assert not [pid for pid in children if is_alive(pid)]


# Short delays so that a crash loop plays out within a test; 0.5 s of life counts as a quick failure.
FAST_RESTARTS = {
    "backoff_seconds": 0.2,
    "max_backoff_seconds": 1.0,
    "max_quick_failures": 3,
    "quick_failure_seconds": 5.0,
}
# Sleeps first so that the others have set their SIGTERM handlers before the stop.
REFUSING = "import sys, time\ntime.sleep(0.5)\nsys.exit(2)\n"


def logged(stderr: str, message: str) -> list[dict[str, Any]]:
    """The supervisor's structured log records with this message (the driver logs them as JSON lines)."""
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [record for record in records if record.get("message") == message]


def test_a_killed_process_is_restarted_and_a_later_stop_is_still_clean() -> None:
    driver = start_driver({"steady": GRACEFUL, "victim": GRACEFUL}, restart_policy=FAST_RESTARTS)
    lines = wait_for_lines(driver, "| ready", 2)
    victim = int(next(line for line in lines if "victim started (pid=" in line).split("pid=")[1].split(")")[0])

    os.kill(victim, signal.SIGKILL)
    lines = wait_for_lines(driver, "victim started (pid=", 1)
    # Only the restarted process says ready now.
    wait_for_lines(driver, "| ready", 1)
    restarted = int(lines[-1].split("pid=")[1].split(")")[0])
    assert restarted != victim and is_alive(restarted)
    assert any(f"victim exited (rc={-signal.SIGKILL}); restarting it in 0.2 s" in line for line in lines)

    driver.send_signal(signal.SIGTERM)
    returncode, outcome, stderr = finish(driver)

    assert returncode == 0, stderr
    assert outcome == {"stop_requested": True, "returncodes": {"steady": 0, "victim": 0}, "restarts": {"victim": 1}}
    assert not is_alive(restarted)


def test_a_crash_loop_backs_off_then_gives_up_and_stops_everything() -> None:
    started = time.monotonic()
    driver = start_driver({"steady": GRACEFUL, "crashing": CRASHING}, restart_policy=FAST_RESTARTS)
    returncode, outcome, stderr = finish(driver)

    assert returncode == 1
    assert outcome == {
        "stop_requested": False,
        "returncodes": {"steady": 0, "crashing": 3},
        "restarts": {"crashing": 2},
    }
    delays = [record["restart_in_seconds"] for record in logged(stderr, "process exited on its own; restarting it")]
    assert delays == [0.2, 0.4]
    (gave_up,) = logged(stderr, "process exited on its own; giving up on it and stopping the others")
    assert gave_up["process_name"] == "crashing" and "3 times in a row" in gave_up["reason"]
    # Three runs of 0.5 s and two delays: the loop did not spin, and did not linger either.
    assert 2.0 < time.monotonic() - started < 15


def test_a_process_refusing_its_configuration_is_not_restarted() -> None:
    driver = start_driver({"steady": GRACEFUL, "refusing": REFUSING}, restart_policy=FAST_RESTARTS)
    returncode, outcome, stderr = finish(driver)

    assert returncode == 1
    assert outcome == {"stop_requested": False, "returncodes": {"steady": 0, "refusing": 2}, "restarts": {}}
    (gave_up,) = logged(stderr, "process exited on its own; giving up on it and stopping the others")
    assert "refused its configuration" in gave_up["reason"]


def test_a_second_sigint_kills_every_process_at_once() -> None:
    # A grace of 30 s: the first SIGINT alone would wait that long for the process that ignores SIGTERM.
    driver = start_driver({"stubborn": STUBBORN, "steady": GRACEFUL}, grace=30.0)
    wait_for_lines(driver, "| ready", 2)
    children = descendants(driver.pid)
    started = time.monotonic()

    driver.send_signal(signal.SIGINT)
    time.sleep(0.5)
    driver.send_signal(signal.SIGINT)
    returncode, outcome, stderr = finish(driver)

    assert time.monotonic() - started < 5, stderr
    assert returncode == 1
    assert outcome["stop_requested"] is True
    assert outcome["returncodes"]["stubborn"] == -signal.SIGKILL
    assert "second interrupt: killing every process now" in stderr
    assert not [pid for pid in children if is_alive(pid)]
