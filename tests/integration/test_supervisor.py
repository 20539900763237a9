"""The supervisor under real processes: a requested stop is clean, a process that dies takes the others down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.process_tree import descendants, is_alive

REPO_ROOT = Path(__file__).resolve().parents[2]

# Runs in its own interpreter: the supervisor handles signals and forks, which a test process must not.
DRIVER = """
import json, sys, threading
from honcho.printer import Printer
from civicflow.process_plan import ProcessSpec
from civicflow.supervisor import Supervisor

scripts, stop_after, grace = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
plan = [
    ProcessSpec(name=name, module=name, port=index, argv=(sys.executable, "-c", code))
    for index, (name, code) in enumerate(scripts.items())
]
supervisor = Supervisor(plan, printer=Printer(sys.stderr), shutdown_grace_seconds=grace)

def stop_later():
    threading.Timer(stop_after, supervisor.stop).start()

outcome = supervisor.run(on_started=stop_later if stop_after >= 0 else None)
print(json.dumps({"stop_requested": outcome.stop_requested, "returncodes": outcome.returncodes}))
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


def start_driver(scripts: dict[str, str], *, stop_after: float = -1.0, grace: float = 2.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, json.dumps(scripts), str(stop_after), str(grace)],
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
    assert outcome == {"stop_requested": True, "returncodes": {"first": 0, "second": 0}}
    assert not [pid for pid in children if is_alive(pid)]


def test_a_stop_requested_from_another_thread_is_clean() -> None:
    driver = start_driver({"only": GRACEFUL}, stop_after=0.5)
    returncode, outcome, stderr = finish(driver)

    assert returncode == 0, stderr
    assert outcome == {"stop_requested": True, "returncodes": {"only": 0}}


def test_a_process_that_dies_on_its_own_stops_the_others_and_fails_the_run() -> None:
    started = time.monotonic()
    driver = start_driver({"steady": GRACEFUL, "crashing": CRASHING})
    returncode, outcome, stderr = finish(driver)

    assert returncode == 1
    assert outcome == {"stop_requested": False, "returncodes": {"steady": 0, "crashing": 3}}
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
    assert outcome == {"stop_requested": True, "returncodes": {"stubborn": -signal.SIGKILL}}
    assert time.monotonic() - started < 15
    assert not [pid for pid in children if is_alive(pid)]
