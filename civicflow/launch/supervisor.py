"""Runs a process plan: prefixed logs, restarts of dead processes, a stop in dependency order, exit 0 if clean.

Each process runs in its own session, so a terminal's Ctrl-C reaches the launcher alone and the
launcher decides the order: on SIGINT, SIGTERM, SIGHUP or `stop()` it sends SIGTERM stage by stage
(`ProcessSpec.stop_stage`, lowest first: the gateway before the orchestrator before the services
it calls before PostgreSQL), waits for each stage up to a deadline, then SIGKILLs what is left of
it. A second such signal kills every process at once. Under a RestartPolicy a process that
dies unasked is started again after a backoff; without one, or once the policy gives up, its death
stops the others. Output is relayed line by line by one reader thread per process; when the
launcher's own output goes away (a closed pipe), the processes keep running and the lines are dropped.
"""

from __future__ import annotations

import datetime
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from honcho.printer import Message, Printer

from civicflow.launch.process_plan import ProcessSpec
from civicflow.launch.restart_policy import RestartPolicy, RestartTracker
from civicflow.launch.terminal import keep_writing_without_a_reader

log = logging.getLogger(__name__)

# Time beyond the services' own shutdown grace before a stage is killed.
_KILL_MARGIN_SECONDS = 5.0
# How often the loop looks at deadlines and signals when no process writes anything.
_TICK_SECONDS = 0.1
LAUNCHER_NAME = "launcher"
# Ctrl-C, a service manager's stop, and a terminal closed under the launcher.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RunOutcome:
    """How a supervised run ended."""

    stop_requested: bool
    # Exit status of each process's last run.
    returncodes: Mapping[str, int]
    restarts: Mapping[str, int] = field(default_factory=dict)
    # Processes that died of the stop signal itself: still starting, before their handler was set.
    ended_by_stop_signal: frozenset[str] = frozenset()

    @property
    def clean(self) -> bool:
        """Stopped on request, and every process exited 0 after its graceful shutdown (or before it began)."""
        return self.stop_requested and all(
            code == 0 or name in self.ended_by_stop_signal for name, code in self.returncodes.items()
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1


@dataclass
class _Child:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    started_at: float


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
        self._printer.width = max([len(LAUNCHER_NAME), *(len(spec.name) for spec in plan)])
        self._inherited_env = dict(os.environ if inherited_env is None else inherited_env)
        self._kill_wait = shutdown_grace_seconds + _KILL_MARGIN_SECONDS
        # None: a process that dies takes the others down (the benchmark wants a crash to show).
        self._restarts = RestartTracker(restart_policy) if restart_policy is not None else None
        self._events: queue.Queue[Message] = queue.Queue()
        self._children: dict[str, _Child] = {}
        self._returncodes: dict[str, int] = {}
        self._pending: dict[str, float] = {}
        self._restart_counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._kill = threading.Event()
        self._stopping = False
        # Names signalled to stop, and when the current stage's deadline passes.
        self._signalled: set[str] = set()
        self._stage_deadline: float | None = None
        self._ended_by_stop_signal: set[str] = set()

    @property
    def pids(self) -> dict[str, int]:
        """Pid of each running process, by name (the service itself: no shell in between)."""
        # A copy first: other threads (a benchmark's workload) ask while the loop changes the table.
        children = dict(self._children)
        return {name: child.popen.pid for name, child in children.items()}

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def running(self, name: str) -> bool:
        """Whether process `name` is alive now."""
        child = self._children.get(name)
        return child is not None and child.popen.poll() is None

    def stop(self) -> None:
        """Asks for a stop in dependency order; safe to call from any thread."""
        self._stop.set()

    def announce(self, text: str) -> None:
        """Writes a line under the name `launcher`, interleaved with the processes' output."""
        self._write(_line(text))

    def add(self, specs: Sequence[ProcessSpec]) -> None:
        """Starts more processes, supervised like the plan's; call from `on_started` (the supervisor's thread)."""
        self._plan.extend(specs)
        self._printer.width = max([self._printer.width, *(len(spec.name) for spec in specs)])
        if self._stop.is_set():
            return  # a stop came while they were prepared: nothing to start, nothing to stop
        for spec in specs:
            self._start(spec)

    def run(self, *, on_started: Callable[[], None] | None = None) -> RunOutcome:
        """Blocks until every process has exited. Must run on the main thread (it handles signals).

        `on_started` runs once, on this thread, when every process of the plan has been spawned.
        """
        previous = {signum: signal.signal(signum, self._on_signal) for signum in _STOP_SIGNALS}
        try:
            for spec in list(self._plan):
                self._start(spec)
            if on_started is not None and not self._stop.is_set():
                on_started()
            self._loop()
        except BaseException:
            # The launcher itself failed: its processes must not outlive it.
            self._stop_now()
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, _restorable(handler))
        outcome = RunOutcome(
            stop_requested=self._stop.is_set(),
            returncodes=dict(self._returncodes),
            restarts=dict(self._restart_counts),
            ended_by_stop_signal=frozenset(self._ended_by_stop_signal),
        )
        if not outcome.clean:
            log.error("processes did not stop cleanly", extra={"returncodes": outcome.returncodes})
        return outcome

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only flags here: the loop acts on them within a tick, and nothing here can fail on a closed pipe.
        if self._stop.is_set():
            self._kill.set()
        self._stop.set()

    def _loop(self) -> None:
        announced_kill = False
        while self._children or (self._pending and not self._stopping):
            if self._kill.is_set() and not announced_kill:
                announced_kill = True
                self.announce("second interrupt: killing every process now")
                for child in self._children.values():
                    _signal_group(child.popen.pid, signal.SIGKILL)
            if self._stop.is_set() and not self._stopping:
                self._begin_stop("stop requested")
            if self._stopping:
                self._advance_stop()
            else:
                self._start_due_restarts()
            try:
                message = self._events.get(timeout=_TICK_SECONDS)
            except queue.Empty:
                continue
            self._handle(message)

    def _handle(self, message: Message) -> None:
        if message.type == "line":
            self._write(message)
        elif message.type == "stop":
            child = self._children.pop(message.name)
            # Whatever the process left in its session (a helper process it started) goes with it.
            _signal_group(child.popen.pid, signal.SIGKILL)
            returncode = message.data["returncode"]
            self._returncodes[message.name] = returncode
            self._write(_line(f"{message.name} stopped (rc={returncode})"))
            if message.name in self._signalled:
                if returncode == -child.spec.stop_signal:
                    self._ended_by_stop_signal.add(message.name)
            elif self._stopping:
                # Not restarted: the stop would only have to stop it again. (Killed by a second interrupt: expected.)
                if not self._kill.is_set():
                    log.warning("process exited during the stop", extra={"process_name": message.name})
            else:
                self._on_unexpected_exit(child, returncode)

    def _on_unexpected_exit(self, child: _Child, returncode: int) -> None:
        name = child.spec.name
        uptime = time.monotonic() - child.started_at
        details = {"process_name": name, "returncode": returncode, "uptime_seconds": round(uptime, 3)}
        if self._restarts is None:
            log.error("process exited on its own; stopping the others", extra=details)
            self._begin_stop(f"{name} exited")
            return
        decision = self._restarts.decide(name, returncode=returncode, uptime_seconds=uptime)
        if not decision.restart:
            log.error(
                "process exited on its own; giving up on it and stopping the others",
                extra={**details, "reason": decision.reason},
            )
            self._begin_stop(f"gave up on {name}")
            return
        log.warning(
            "process exited on its own; restarting it",
            extra={**details, "restart_in_seconds": decision.delay_seconds, "quick_failures": decision.quick_failures},
        )
        self._pending[name] = time.monotonic() + decision.delay_seconds
        self.announce(f"{name} exited (rc={returncode}); restarting it in {decision.delay_seconds:g} s")

    def _start_due_restarts(self) -> None:
        now = time.monotonic()
        for name, due in list(self._pending.items()):
            if due > now:
                continue
            del self._pending[name]
            self._restart_counts[name] = self._restart_counts.get(name, 0) + 1
            log.warning("restarting process", extra={"process_name": name, "restart": self._restart_counts[name]})
            self._start(next(spec for spec in self._plan if spec.name == name))

    def _begin_stop(self, reason: str) -> None:
        self._stopping = True
        for name in self._pending:
            log.warning("restart abandoned: stopping", extra={"process_name": name})
        self._pending.clear()
        log.info("stopping in dependency order", extra={"reason": reason})

    def _advance_stop(self) -> None:
        """Signals the next stage once the current one has exited; kills a stage that outlives its deadline."""
        now = time.monotonic()
        current = [child for child in self._children.values() if child.spec.name in self._signalled]
        if current:
            if self._stage_deadline is not None and now > self._stage_deadline:
                names = sorted(child.spec.name for child in current)
                log.error("processes ignored SIGTERM; killing them", extra={"processes": names})
                for child in current:
                    _signal_group(child.popen.pid, signal.SIGKILL)
                self._stage_deadline = None
            return
        remaining = [child for child in self._children.values() if child.spec.name not in self._signalled]
        if not remaining:
            return
        stage = min(child.spec.stop_stage for child in remaining)
        for child in remaining:
            if child.spec.stop_stage == stage:
                self._signalled.add(child.spec.name)
                self._write(_line(f"sending {child.spec.stop_signal.name} to {child.spec.name}"))
                _signal_group(child.popen.pid, child.spec.stop_signal)
        self._stage_deadline = now + self._kill_wait

    def _start(self, spec: ProcessSpec) -> None:
        popen = subprocess.Popen(
            spec.argv,
            env={**self._inherited_env, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session: a terminal's SIGINT reaches the launcher only, which then stops in order.
            start_new_session=True,
            user=spec.user,
        )
        self._children[spec.name] = _Child(spec=spec, popen=popen, started_at=time.monotonic())
        self._signalled.discard(spec.name)
        self._write(_line(f"{spec.name} started (pid={popen.pid})"))
        threading.Thread(target=self._relay, args=(spec.name, popen), name=f"relay {spec.name}", daemon=True).start()

    def _relay(self, name: str, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for line in iter(popen.stdout.readline, b""):
            self._events.put(Message(type="line", data=line, time=datetime.datetime.now(), name=name, colour=None))
        popen.stdout.close()
        returncode = popen.wait()
        self._events.put(
            Message(type="stop", data={"returncode": returncode}, time=datetime.datetime.now(), name=name, colour=None)
        )

    def _stop_now(self) -> None:
        """After a failure of the launcher itself: SIGTERM to all, a bounded wait, SIGKILL to the rest."""
        for child in self._children.values():
            _signal_group(child.popen.pid, child.spec.stop_signal)
        deadline = time.monotonic() + self._kill_wait
        for child in self._children.values():
            try:
                child.popen.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                _signal_group(child.popen.pid, signal.SIGKILL)

    def _write(self, message: Message) -> None:
        keep_writing_without_a_reader(lambda: self._printer.write(message))


def _signal_group(pid: int, signum: int) -> None:
    # Each process leads its own session; a group already gone is fine.
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
