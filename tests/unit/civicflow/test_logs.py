"""Log lines: JSON for collectors, readable lines on a terminal (LOG_FORMAT), decided by where stdout goes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from civicflow.logs import log_format_from_environment, resolve_log_format
from civicflow.settings import REPO_ROOT, ServiceSettings

# A service's first lines: one with a run's instance id, one with an exception.
PROGRAM = """
import logging, sys
from civicflow.logs import configure_logging
print(configure_logging("orchestrator", "INFO", sys.argv[1]), file=sys.stderr)
log = logging.getLogger("orchestrator.runs")
log.info("run resumed", extra={"instance_id": "0c1d", "attempt": 2})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("step failed")
"""


def run_service_logging(log_format: str, *, on_terminal: bool) -> tuple[str, str]:
    """What the program writes to stdout, a pipe or a pseudo-terminal, and the format it resolved."""
    command = [sys.executable, "-c", PROGRAM, log_format]
    if not on_terminal:
        ran = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60)
        return ran.stdout, ran.stderr.strip()
    controller, terminal = os.openpty()
    try:
        ran = subprocess.run(
            command, cwd=REPO_ROOT, stdout=terminal, stderr=subprocess.PIPE, text=True, check=True, timeout=60
        )
        os.close(terminal)
        terminal = -1
        written = b""
        while chunk := _read(controller):
            written += chunk
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    return written.decode().replace("\r\n", "\n"), ran.stderr.strip()


def _read(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except OSError:  # Linux answers EIO once the terminal's other end is closed and drained
        return b""


def test_auto_writes_json_lines_into_a_pipe() -> None:
    out, resolved = run_service_logging("auto", on_terminal=False)

    lines = [json.loads(line) for line in out.splitlines()]
    assert resolved == "json"
    assert lines[0] | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "orchestrator.runs",
        "message": "run resumed",
        "service": "orchestrator",
        "instance_id": "0c1d",
        "attempt": 2,
    }
    assert lines[1]["message"] == "step failed" and "ZeroDivisionError" in lines[1]["exc_info"]


def test_auto_writes_readable_lines_on_a_terminal() -> None:
    out, resolved = run_service_logging("auto", on_terminal=True)

    first, second = out.splitlines()[:2]
    assert resolved == "human"
    time, rest = first.split(" ", 1)
    assert len(time) == len("12:34:56.789") and time[2] == time[5] == ":"
    assert rest == "INFO    orchestrator.runs: run resumed  instance_id=0c1d attempt=2"
    assert second.endswith("ERROR   orchestrator.runs: step failed")
    assert "Traceback (most recent call last):" in out and "ZeroDivisionError: division by zero" in out
    assert "{" not in out


@pytest.mark.parametrize(("chosen", "on_terminal"), [("json", True), ("human", False)])
def test_a_chosen_format_holds_wherever_the_lines_go(chosen: str, on_terminal: bool) -> None:
    out, resolved = run_service_logging(chosen, on_terminal=on_terminal)

    assert resolved == chosen
    first = out.splitlines()[0]
    if chosen == "json":
        assert json.loads(first)["message"] == "run resumed"
    else:
        # Not on a terminal, whoever reads the pipe (the launcher) prefixes the time.
        assert first == "INFO    orchestrator.runs: run resumed  instance_id=0c1d attempt=2"


def test_auto_is_decided_by_the_stream_the_lines_go_to(tmp_path: Path) -> None:
    with open(tmp_path / "log", "w") as file:
        assert resolve_log_format("auto", file) == "json"
    controller, terminal = os.openpty()
    with os.fdopen(terminal, "w") as console:
        assert resolve_log_format("auto", console) == "human"
        assert resolve_log_format("json", console) == "json"
    os.close(controller)


def test_log_format_is_a_setting_of_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert ServiceSettings().log_format == "auto"
    monkeypatch.setenv("LOG_FORMAT", "human")
    assert ServiceSettings().log_format == "human"
    assert [log_format_from_environment(value) for value in ("json", "human", "auto", None, "yaml")] == [
        "json",
        "human",
        "auto",
        "auto",
        "auto",
    ]
