"""A checkout's `make run` launcher as a child process of its own session, stopped as Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

# How long the launcher may take to stop its services after SIGINT before it is killed with them.
STOP_SECONDS = 60.0


def launcher_module(tree: Path) -> str:
    """`make run`'s module in that checkout: checkouts from before civicflow/launch/ named it civicflow.launcher."""
    return "civicflow.launch" if (tree / "civicflow" / "launch" / "__main__.py").exists() else "civicflow.launcher"


@contextmanager
def launcher_process(tree: Path, environment: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Runs the launcher of `tree` with exactly `environment`, its output in `log`; SIGINT to its group at the end."""
    with log.open("wb") as output:
        # A file, not a pipe: nobody reads a pipe while the caller works, and a full one would block the launcher.
        process = subprocess.Popen(
            [sys.executable, "-m", launcher_module(tree)],
            cwd=tree,
            env=dict(environment),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
