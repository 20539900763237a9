"""Runs a process plan with honcho: prefixed logs, restarts of dead processes, SIGINT/SIGTERM stop all, exit 0 if clean.

honcho's Manager starts each process in its own session, relays its output line by line
under its name, and on SIGINT or SIGTERM sends SIGTERM to every process, then SIGKILL to
those still running after a deadline. It stops everything as soon as one process exits.
The supervisor adds what a launcher needs on top, all at honcho's event queue: the pid and
exit code of each process, a stop that any thread may request, the verdict of whether the
run ended cleanly, and, under a RestartPolicy, restarts. The `stop` message of a process
that died unasked is kept from honcho (which would stop everything) and the process is
started again after a backoff; honcho sees it only when the supervisor gives up on it.
"""

from __future__ import annotations

import datetime
import logging
import multiprocessing
import os
import shlex
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import honcho.manager
from honcho.manager import Manager
from honcho.printer import Message, Printer

from civicflow.launch.process_plan import ProcessSpec
from civicflow.launch.restart_policy import RestartPolicy, RestartTracker

log = logging.getLogger(__name__)

# honcho.manager.loop() sets Manager.returncode to these when it stops on a signal.
_SIGNAL_RETURN_CODES = frozenset(entry["rc"] for entry in honcho.manager.SIGNALS.values())
# Time beyond the services' own shutdown grace before honcho sends SIGKILL.
_KILL_MARGIN_SECONDS = 5.0
LAUNCHER_NAME = "launcher"


@dataclass(frozen=True)
class RunOutcome:
    """How a supervised run ended."""

    stop_requested: bool
    # Exit status of each process's last run.
    returncodes: Mapping[str, int]
    restarts: Mapping[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """Stopped on request, and every process exited 0 after its graceful shutdown."""
        return self.stop_requested and all(code == 0 for code in self.returncodes.values())

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1


@dataclass(frozen=True)
class _PendingRestart:
    due: float
    returncode: int


class Supervisor:
    """Runs every process of a plan until a signal, a `stop()`, or a death that is not (or no longer) restarted."""

    def __init__(
        self,
        plan: Sequence[ProcessSpec],
        *,
        printer: Printer,
        inherited_env: Mapping[str, str] | None = None,
        shutdown_grace_seconds: float = 10.0,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        self._plan = list(plan)
        self._printer = printer
        self._inherited_env = dict(os.environ if inherited_env is None else inherited_env)
        self._kill_wait = shutdown_grace_seconds + _KILL_MARGIN_SECONDS
        # None: a process that dies takes the others down (the benchmark wants a crash to show).
        self._restarts = RestartTracker(restart_policy) if restart_policy is not None else None
        self._pids: dict[str, int] = {}
        self._started_at: dict[str, float] = {}
        self._returncodes: dict[str, int] = {}
        self._pending: dict[str, _PendingRestart] = {}
        self._restart_counts: dict[str, int] = {}
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
        self._printer.write(_line(text))

    def run(self, *, on_started: Callable[[], None] | None = None) -> RunOutcome:
        """Blocks until every process has exited. Must run on the main thread (it handles signals).

        `on_started` runs once, on this thread, when every process has been spawned.
        """
        self._on_started = on_started
        manager = Manager(printer=self._printer)
        manager.events = _ObservedEvents(
            manager.events,
            observe=lambda message: self._observe(message, manager),
            before_read=lambda: self._before_read(manager),
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
            restarts=dict(self._restart_counts),
        )
        if not outcome.clean:
            log.error("processes did not stop cleanly", extra={"returncodes": outcome.returncodes})
        return outcome

    def _stopping(self, manager: Manager) -> bool:
        # honcho sets its return code on a signal or when it lets a death stop everything.
        return self._stop.is_set() or manager.returncode is not None

    def _observe(self, message: Message, manager: Manager) -> Message:
        """Sees each message before honcho does; answers the message honcho gets instead."""
        if message.type == "start":
            self._pids[message.name] = message.data["pid"]
            self._started_at[message.name] = time.monotonic()
            if self._stopping(manager):
                # Restarted just as the stop began: honcho signalled the pid it knew, the dead one.
                _signal_group(message.data["pid"], signal.SIGKILL if self._killed else signal.SIGTERM)
        elif message.type == "stop":
            self._returncodes[message.name] = message.data["returncode"]
            # Read before honcho handles the message: no return code yet means nobody asked for a stop.
            if not self._stopping(manager):
                return self._on_unexpected_exit(message)
        return message

    def _on_unexpected_exit(self, message: Message) -> Message:
        name, returncode = message.name, message.data["returncode"]
        uptime = time.monotonic() - self._started_at.get(name, time.monotonic())
        details = {"process_name": name, "returncode": returncode, "uptime_seconds": round(uptime, 3)}
        if self._restarts is None:
            log.error("process exited on its own; stopping the others", extra=details)
            return message
        decision = self._restarts.decide(name, returncode=returncode, uptime_seconds=uptime)
        if not decision.restart:
            log.error(
                "process exited on its own; giving up on it and stopping the others",
                extra={**details, "reason": decision.reason},
            )
            return message
        log.warning(
            "process exited on its own; restarting it",
            extra={**details, "restart_in_seconds": decision.delay_seconds, "quick_failures": decision.quick_failures},
        )
        self._pending[name] = _PendingRestart(due=time.monotonic() + decision.delay_seconds, returncode=returncode)
        # honcho must not see this stop: it would stop every process.
        return _line(f"{name} exited (rc={returncode}); restarting it in {decision.delay_seconds:g} s")

    def _before_read(self, manager: Manager) -> Message | None:
        """Runs on the main thread before each of honcho's queue reads; a message returned is read instead."""
        self._between_reads(manager)
        if self._pending and self._stopping(manager):
            # A process waiting for its restart is not started again; honcho learns it has stopped.
            name, pending = self._pending.popitem()
            log.warning("restart abandoned: stopping", extra={"process_name": name})
            return Message(
                type="stop",
                data={"returncode": pending.returncode},
                time=datetime.datetime.now(),
                name=name,
                colour=None,
            )
        return None

    def _between_reads(self, manager: Manager) -> None:
        # After honcho has handled the previous message, so terminate() never races its loop
        # and on_started follows its output.
        if len(self._pids) < len(self._plan):
            return  # honcho can signal a process only once it knows its pid
        if self._on_started is not None:
            on_started, self._on_started = self._on_started, None
            on_started()
        if self._stop.is_set():
            manager.terminate()
        self._start_due_restarts(manager)
        self._kill_stragglers(manager)

    def _start_due_restarts(self, manager: Manager) -> None:
        if self._stopping(manager):
            return
        now = time.monotonic()
        for name, pending in list(self._pending.items()):
            if pending.due > now:
                continue
            del self._pending[name]
            self._restart_counts[name] = self._restart_counts.get(name, 0) + 1
            log.warning("restarting process", extra={"process_name": name, "restart": self._restart_counts[name]})
            # As honcho's own start does (honcho 2.0.0, pinned): a relay process runs the
            # command and puts its start, lines and stop on the queue; honcho keeps the old pid
            # until the new start message replaces it.
            entry = manager._processes[name]
            relay = multiprocessing.Process(name=name, target=entry["obj"].run, args=(manager.events, True))
            relay.start()
            entry["process"] = relay

    def _kill_stragglers(self, manager: Manager) -> None:
        # honcho's own SIGKILL deadline starts only once some process has exited; if none
        # does after SIGTERM, this one still ends the run.
        if not self._stopping(manager):
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

    def __init__(
        self,
        queue: Any,
        *,
        observe: Callable[[Message], Message],
        before_read: Callable[[], Message | None],
    ) -> None:
        self._queue = queue
        self._observe = observe
        self._before_read = before_read

    def put(self, message: Message) -> None:
        self._queue.put(message)

    def get(self, timeout: float | None = None) -> Message:
        message = self._before_read()
        if message is None:
            message = self._queue.get(timeout=timeout)
        return self._observe(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Children started with spawn or forkserver only put messages: hand them the bare queue.
        return (_bare_queue, (self._queue,))


def _bare_queue(queue: Any) -> Any:
    return queue


def _signal_group(pid: int, signum: int) -> None:
    # Each process leads its own session (honcho starts it so); a group already gone is fine.
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def _line(text: str) -> Message:
    return Message(type="line", data=text, time=datetime.datetime.now(), name=LAUNCHER_NAME, colour=None)


def _restorable(
    handler: Callable[[int, FrameType | None], Any] | int | None,
) -> Callable[[int, FrameType | None], Any] | int:
    # getsignal() answers None for handlers installed outside Python; the default is the closest.
    return signal.SIG_DFL if handler is None else handler
