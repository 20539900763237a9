"""The launcher and its terminal: Ctrl-C reaches the launcher alone, and a reader that goes away stops nothing.

A terminal sends Ctrl-C's SIGINT to its whole foreground process group. Under `make run` that
group holds make, whose answer to SIGINT is "make: *** [Makefile] Interrupt" and exit status 130
whatever the launcher does, and with `make run | tee log` it holds tee, whose death closes the
launcher's output. So the launcher moves into a process group of its own and makes it the
terminal's foreground group, as a shell does for a job: Ctrl-C then reaches the launcher only,
make sees its recipe exit 0 and exits 0, and tee keeps logging to the end. Without a terminal
(CI, a service manager) nothing changes: whoever signals the launcher signals it alone.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def terminal_foreground() -> Iterator[None]:
    """Makes this process's own group the controlling terminal's foreground group; gives it back at the end."""
    try:
        terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield  # no controlling terminal: no Ctrl-C to route
        return
    try:
        previous = os.tcgetpgrp(terminal)
        if previous != os.getpgrp():
            yield  # started in the background (`make run &`): the terminal belongs to someone else
            return
        if os.getpid() != os.getsid(0):
            # A session leader (started by setsid) leads its group already and may not change it.
            os.setpgid(0, 0)
        _set_foreground(terminal, os.getpgrp())
        # Ctrl-Z would now stop the launcher alone, behind the shell's back (its job is make's group),
        # leaving the terminal to a stopped process: ignored instead.
        suspend = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGTSTP, suspend)
            # Back to make's group (or the shell's), so the terminal is not left to a group about to vanish.
            _set_foreground(terminal, previous)
    finally:
        os.close(terminal)


def _set_foreground(terminal: int, group: int) -> None:
    # A process outside the foreground group that changes it gets SIGTTOU, which would stop it; blocked meanwhile.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        os.tcsetpgrp(terminal, group)
    except OSError as error:
        log.warning("could not take the terminal's foreground", extra={"error": error.strerror})
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def keep_writing_without_a_reader(write: Callable[[], None]) -> None:
    """Runs `write`; if the reader of stdout or stderr has gone away, later output goes nowhere.

    EPIPE: the reader of a pipe (tee) stopped; EIO: the terminal was closed. The launcher must go
    on stopping its processes in order rather than die halfway.
    """
    try:
        write()
    except OSError as error:
        if error.errno not in {errno.EPIPE, errno.EIO}:
            raise
        _discard_output()


def _discard_output() -> None:
    # dup2 onto the same descriptors, as Python's own docs advise for SIGPIPE: the interpreter's final
    # flush of sys.stdout then succeeds too, instead of turning the exit status into 120.
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass
    os.close(devnull)
