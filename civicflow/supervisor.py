"""Runs a process plan with honcho: prefixed logs, SIGINT/SIGTERM stop every process, a clean stop exits 0.

honcho's Manager starts each process in its own session, relays its output line by line
under its name, and on SIGINT or SIGTERM sends SIGTERM to every process, then SIGKILL to
those still running after a deadline. It stops everything as soon as one process exits.
The supervisor adds what a launcher needs on top: the pid and exit code of each process
(read from honcho's event queue), a stop that any thread may request, and the verdict
of whether the run ended cleanly. Restarting a dead process would hook in at the same
place, the event queue, where a process's `stop` message arrives.
"""

from __future__ import annotations

import datetime
import logging
import os
import shlex
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import honcho.manager
from honcho.manager import Manager
from honcho.printer import Message, Printer

from civicflow.process_plan import ProcessSpec

log = logging.getLogger(__name__)

# honcho.manager.loop() sets Manager.returncode to these when it stops on a signal.
_SIGNAL_RETURN_CODES = frozenset(entry["rc"] for entry in honcho.manager.SIGNALS.values())
# Time beyond the services' own shutdown grace before honcho sends SIGKILL.
_KILL_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class RunOutcome:
    """How a supervised run ended."""

    stop_requested: bool
    returncodes: Mapping[str, int]

    @property
    def clean(self) -> bool:
        """Stopped on request, and every process exited 0 after its graceful shutdown."""
        return self.stop_requested and all(code == 0 for code in self.returncodes.values())

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1


class Supervisor:
    """Runs every process of a plan until a signal, a `stop()` or the death of one of them."""

    def __init__(
        self,
        plan: Sequence[ProcessSpec],
        *,
        printer: Printer,
        inherited_env: Mapping[str, str] | None = None,
        shutdown_grace_seconds: float = 10.0,
    ) -> None:
        self._plan = list(plan)
        self._printer = printer
        self._inherited_env = dict(os.environ if inherited_env is None else inherited_env)
        self._kill_wait = shutdown_grace_seconds + _KILL_MARGIN_SECONDS
        self._pids: dict[str, int] = {}
        self._returncodes: dict[str, int] = {}
        self._stop = threading.Event()
        self._on_started: Callable[[], None] | None = None
        self._stopping_since: float | None = None
        self._killed = False

    @property
    def pids(self) -> dict[str, int]:
        """Pid of each started process, by name (the service itself: its command is exec'd)."""
        return dict(self._pids)

    def stop(self) -> None:
        """Asks for a graceful stop of every process; safe to call from any thread."""
        self._stop.set()

    def announce(self, text: str) -> None:
        """Writes a line under the name `launcher`, interleaved with the processes' output."""
        message = Message(type="line", data=text, time=datetime.datetime.now(), name="launcher", colour=None)
        self._printer.write(message)

    def run(self, *, on_started: Callable[[], None] | None = None) -> RunOutcome:
        """Blocks until every process has exited. Must run on the main thread (it handles signals).

        `on_started` runs once, on this thread, when every process has been spawned.
        """
        self._on_started = on_started
        manager = Manager(printer=self._printer)
        manager.events = _ObservedEvents(
            manager.events,
            observe=lambda message: self._observe(message, manager),
            before_read=lambda: self._between_reads(manager),
        )
        for process in self._plan:
            manager.add_process(
                process.name,
                # exec: the shell honcho runs commands in becomes the service, so SIGTERM reaches it directly.
                "exec " + shlex.join(process.argv),
                env={**self._inherited_env, **process.env},
            )
        previous_handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        previous_kill_wait = honcho.manager.KILL_WAIT
        # honcho's SIGKILL deadline is a module constant of 5 s, shorter than the services'
        # shutdown grace; lengthened for the run so in-flight calls may finish.
        honcho.manager.KILL_WAIT = self._kill_wait
        try:
            manager.loop()
        except BaseException:
            # The launcher itself failed: its processes must not outlive it.
            if len(self._pids) == len(self._plan):
                manager.terminate()
            raise
        finally:
            honcho.manager.KILL_WAIT = previous_kill_wait
            for signum, handler in previous_handlers.items():
                signal.signal(signum, _restorable(handler))
        outcome = RunOutcome(
            stop_requested=self._stop.is_set() or manager.returncode in _SIGNAL_RETURN_CODES,
            returncodes=dict(self._returncodes),
        )
        if not outcome.clean:
            log.error("processes did not stop cleanly", extra={"returncodes": outcome.returncodes})
        return outcome

    def _observe(self, message: Message, manager: Manager) -> None:
        if message.type == "start":
            self._pids[message.name] = message.data["pid"]
        elif message.type == "stop":
            self._returncodes[message.name] = message.data["returncode"]
            # Read before honcho handles the message: no return code yet means nobody asked for a stop.
            if not self._stop.is_set() and manager.returncode is None:
                log.error(
                    "process exited on its own; stopping the others",
                    extra={"process_name": message.name, "returncode": message.data["returncode"]},
                )

    def _between_reads(self, manager: Manager) -> None:
        # Runs on the main thread between honcho's queue reads, after honcho has handled the
        # previous message, so terminate() never races its loop and on_started follows its output.
        if len(self._pids) < len(self._plan):
            return  # honcho can signal a process only once it knows its pid
        if self._on_started is not None:
            on_started, self._on_started = self._on_started, None
            on_started()
        if self._stop.is_set():
            manager.terminate()
        self._kill_stragglers(manager)

    def _kill_stragglers(self, manager: Manager) -> None:
        # honcho's own SIGKILL deadline starts only once some process has exited; if none
        # does after SIGTERM, this one still ends the run.
        if manager.returncode is None and not self._stop.is_set():
            return
        now = time.monotonic()
        if self._stopping_since is None:
            self._stopping_since = now
        elif not self._killed and now - self._stopping_since > self._kill_wait:
            log.error("processes ignored SIGTERM; killing them", extra={"waited_seconds": self._kill_wait})
            self._killed = True
            manager.kill()


class _ObservedEvents:
    """honcho's event queue, read through an observer: the manager's loop is left as it is."""

    def __init__(self, queue: Any, *, observe: Callable[[Message], None], before_read: Callable[[], None]) -> None:
        self._queue = queue
        self._observe = observe
        self._before_read = before_read

    def put(self, message: Message) -> None:
        self._queue.put(message)

    def get(self, timeout: float | None = None) -> Message:
        self._before_read()
        message = self._queue.get(timeout=timeout)
        self._observe(message)
        return message

    def __reduce__(self) -> tuple[Any, ...]:
        # Children started with spawn or forkserver only put messages: hand them the bare queue.
        return (_bare_queue, (self._queue,))


def _bare_queue(queue: Any) -> Any:
    return queue


def _restorable(
    handler: Callable[[int, FrameType | None], Any] | int | None,
) -> Callable[[int, FrameType | None], Any] | int:
    # getsignal() answers None for handlers installed outside Python; the default is the closest.
    return signal.SIG_DFL if handler is None else handler
