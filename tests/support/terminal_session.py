"""`make run` as a person runs it: in a terminal of its own (a pseudo-terminal), stopped by typing Ctrl-C.

The command leads a new session whose controlling terminal is the pseudo-terminal, so Ctrl-C
written to it becomes SIGINT to the terminal's foreground process group, exactly as a keyboard's
does: that is what sends make its "Interrupt", and what a launcher must take for itself.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import termios
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from civicflow.launch.settings import free_port_environment
from civicflow.settings import REPO_ROOT

CTRL_C = b"\x03"


@dataclass
class TerminalSession:
    process: subprocess.Popen[bytes]
    # Everything the terminal showed.
    screen: Path
    _master: int

    def press_ctrl_c(self) -> None:
        os.write(self._master, CTRL_C)

    def output(self) -> str:
        return self.screen.read_text(errors="replace")


@contextmanager
def terminal_session(argv: Sequence[str], *, env: Mapping[str, str], screen: Path) -> Iterator[TerminalSession]:
    """Runs `argv` in a new session on a new pseudo-terminal; what it shows goes to `screen`. Killed at the end."""
    screen.touch()
    master, slave = os.openpty()
    process = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        env=dict(env),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        # After setsid: the terminal on stdin becomes the session's controlling terminal.
        preexec_fn=_take_controlling_terminal,
    )
    os.close(slave)
    copier = threading.Thread(target=_copy, args=(master, screen), daemon=True)
    copier.start()
    try:
        yield TerminalSession(process=process, screen=screen, _master=master)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
        copier.join(timeout=5)
        os.close(master)


def _take_controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _copy(master: int, screen: Path) -> None:
    # The terminal's buffer must be drained, or the processes writing to it would block.
    with screen.open("ab") as out:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return  # EIO: every process holding the terminal has gone
            if not data:
                return
            out.write(data)
            out.flush()


def make_run_environment(workdir: Path) -> dict[str, str]:
    """`make run`'s environment with everything it keeps under `workdir` and every port free: an embedded PostgreSQL."""
    environment = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    return {
        **environment,
        **free_port_environment(),
        "CIVICFLOW_DATA_DIR": str(workdir / "pgdata"),
        "TLS_DIR": str(workdir / "tls"),
        "TOKEN_ISSUER_KEY_PATH": str(workdir / "token-issuer-key.pem"),
        "AUDIT_SIGNING_KEY_PATH": str(workdir / "audit-signing-key.pem"),
        "RESTART_BACKOFF_SECONDS": "0.5",
    }
