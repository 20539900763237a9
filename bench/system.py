"""The system under measurement, started with the launcher's own code on free ports, run around a workload."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx2
from honcho.printer import Printer

from bench.credentials import BenchCredentials
from civicflow.auth.local_issuer import LocalTokenIssuer
from civicflow.auth.principals import Role
from civicflow.launch.local_database import embedded_database, scratch_database
from civicflow.launch.process_plan import (
    plan_processes,
    prepare_credentials,
    prepare_database,
    token_issuer_key_path,
)
from civicflow.launch.settings import LauncherSettings, on_free_ports
from civicflow.launch.supervisor import RunOutcome, Supervisor
from civicflow.settings import REPO_ROOT

T = TypeVar("T")
STARTUP_SECONDS = 90.0
# Service logs go here rather than to the terminal, where the figures are printed.
LOG_FILE = REPO_ROOT / ".civicflow" / "bench.log"
# The benchmark is one subject per role sending as fast as the system answers, which is what the per-subject
# rate limit (civicflow/rate_limits.py) is there to refuse: its systems raise the limit out of reach. The
# limiter still admits every request, so what it costs is in the figures.
UNTHROTTLED = {"RATE_LIMIT_PER_SECOND": "1000000", "RATE_LIMIT_BURST": "1000000"}


class BenchSystemError(RuntimeError):
    """The system did not become healthy."""


# The roles whose work is measured: eligibility checks, and impact analyses.
LOAD_ROLES = (Role.CASEWORKER, Role.ANALYST, Role.ADMIN)


@dataclass(frozen=True)
class RunningSystem:
    gateway_url: str
    # For the figures measured over gRPC as well: the orchestrator's address, and what its clients trust.
    orchestrator_target: str
    credentials: BenchCredentials
    # Pid of every service process, by process name: the processes whose memory is reported.
    pids: dict[str, int]
    evaluators: int
    # A bearer token per role of LOAD_ROLES, signed with the system's own local issuer key.
    tokens: dict[Role, str]


def run_with_system(
    workload: Callable[[RunningSystem], T],
    *,
    progress: Callable[[str], None],
    evaluators: int | None = None,
    before_start: Callable[[str], None] | None = None,
) -> tuple[T, RunOutcome]:
    """Starts the services (and a fresh embedded PostgreSQL unless DATABASE_URL is set), runs `workload`, stops all.

    `evaluators` replicas of the evaluator (default: EVALUATORS, as `make run`). A process
    that dies is not restarted: it ends the benchmark rather than hide in its figures.
    `before_start`, if given, is called with the database owner's URL once the schemas are
    migrated and before any service starts, to fill the database in bulk; on a DATABASE_URL
    server the system then gets a database of its own, dropped afterwards, since what it
    writes (runs, say) cannot be deleted.

    The supervisor must own the main thread (it handles the signals), so the workload runs
    on a second thread started once every process is spawned. Returns the workload's result
    and how the services stopped: the figures stand even if a service did not stop cleanly.
    """
    settings = LauncherSettings()
    if evaluators is not None:
        settings = settings.model_copy(update={"evaluators": evaluators})
    settings = on_free_ports(settings)
    with ExitStack() as stack:
        if settings.database_url is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="civicflow-bench-"))) / "pgdata"
            progress(f"starting a fresh embedded PostgreSQL in {data_dir}")
            database_url = stack.enter_context(embedded_database(data_dir))
        elif before_start is not None:
            database_url = stack.enter_context(scratch_database(settings.database_url, prefix="civicflow_bench"))
        else:
            database_url = settings.database_url
        accounts = prepare_database(settings, database_url)
        if before_start is not None:
            before_start(database_url)
        made = prepare_credentials(settings)
        plan = plan_processes(settings, database=accounts, credentials=made)
        # The key `make run` keeps too (where the launcher settings say): the services trust what it signs.
        credentials = BenchCredentials(made=made, issuer=LocalTokenIssuer(token_issuer_key_path(settings)))
        tokens = {role: credentials.token(role) for role in LOAD_ROLES}
        LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
        log = stack.enter_context(LOG_FILE.open("a"))
        supervisor = Supervisor(
            plan,
            printer=Printer(log, colour=False),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            inherited_env={**os.environ, **UNTHROTTLED},
        )
        stopped = threading.Event()
        results: list[T] = []
        errors: list[BaseException] = []

        def run_workload() -> None:
            try:
                system = RunningSystem(
                    gateway_url=f"http://127.0.0.1:{settings.gateway_port}",
                    orchestrator_target=f"127.0.0.1:{settings.orchestrator_port}",
                    credentials=credentials,
                    pids={process.name: supervisor.pids[process.name] for process in plan},
                    evaluators=settings.evaluators,
                    tokens=tokens,
                )
                progress(f"starting {len(plan)} processes (logs in {LOG_FILE})")
                wait_until_healthy(system.gateway_url, stopped.is_set)
                results.append(workload(system))
            except BaseException as error:  # handed to the main thread, which raises it
                errors.append(error)
            finally:
                supervisor.stop()

        worker = threading.Thread(target=run_workload, name="bench-workload")
        outcome = supervisor.run(on_started=worker.start)
        stopped.set()
        if worker.ident is not None:  # started
            worker.join()
    if errors:
        raise errors[0]
    return results[0], outcome


def wait_until_healthy(gateway_url: str, exited: Callable[[], bool]) -> None:
    """Returns once GET /healthz answers 200; BenchSystemError once `exited()` is true, or if it takes too long."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx2.Client(base_url=gateway_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if exited():
                raise BenchSystemError(f"a service exited during startup; see {LOG_FILE}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
    raise BenchSystemError(f"/healthz did not answer 200 within {STARTUP_SECONDS:.0f} s; see {LOG_FILE}")


def stderr_progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
