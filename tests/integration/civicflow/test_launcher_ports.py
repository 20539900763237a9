"""A port already in use: the launcher says which and which variable moves it, in one line, within 2 s, before
anything starts, and exits 2."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from civicflow.settings import REPO_ROOT
from tests.support.terminal_session import make_run_environment


@pytest.mark.parametrize("variable", ["GATEWAY_PORT", "ORCHESTRATOR_PORT", "AUDIT_PORT", "EVALUATOR_PORT"])
def test_a_port_in_use_is_named_with_its_variable_at_once_and_nothing_starts(tmp_path: Path, variable: str) -> None:
    environment = make_run_environment(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment[variable] = str(port)
        started = time.monotonic()
        launcher = subprocess.run(
            [sys.executable, "-m", "civicflow.launch"],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
        )
        seconds = time.monotonic() - started

    assert launcher.returncode == 2, launcher.stdout + launcher.stderr
    assert (launcher.stdout + launcher.stderr).splitlines() == [
        f"port {port} is in use; set {variable} to another port"
    ]
    assert seconds < 2.0
    # Nothing started: no database was made, no certificate either.
    assert not (tmp_path / "pgdata").exists()
    assert not (tmp_path / "tls").exists()
