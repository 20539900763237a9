"""`make run`: an embedded PostgreSQL unless DATABASE_URL is set, then every service as its own process."""

from __future__ import annotations

import logging
import sys

from honcho.printer import Printer

from civicflow.launch.local_database import DATABASE_NAME, database_url_on, ensure_database
from civicflow.launch.postgres_process import prepare_postgres, wait_until_accepting
from civicflow.launch.process_plan import ProcessSpec, plan_processes, prepare_credentials, prepare_database
from civicflow.launch.settings import LauncherSettings
from civicflow.launch.supervisor import RunOutcome, Supervisor
from civicflow.launch.terminal import terminal_foreground
from civicflow.logs import configure_logging

log = logging.getLogger("civicflow.launch")


def run(settings: LauncherSettings) -> RunOutcome:
    """Runs the whole system until SIGINT or SIGTERM, then stops it in dependency order, the database last."""
    if settings.database_url is not None:
        return _run_services(settings, settings.database_url)
    postgres = prepare_postgres(settings.civicflow_data_dir)
    supervisor = _supervisor(settings, [postgres.spec])

    def start_services() -> None:
        log.info("waiting for the embedded PostgreSQL", extra={"data_dir": str(settings.civicflow_data_dir)})
        ready = wait_until_accepting(
            postgres,
            running=lambda: supervisor.running(postgres.spec.name),
            abandoned=lambda: supervisor.stop_requested,
        )
        if not ready:
            return  # Ctrl-C while the database started: only it is left to stop
        ensure_database(postgres.url(), DATABASE_NAME)
        _start_services(supervisor, settings, database_url_on(postgres.url(), DATABASE_NAME))

    return _finished(supervisor.run(on_started=start_services))


def _run_services(settings: LauncherSettings, admin_url: str) -> RunOutcome:
    supervisor = _supervisor(settings, [])
    return _finished(supervisor.run(on_started=lambda: _start_services(supervisor, settings, admin_url)))


def _supervisor(settings: LauncherSettings, plan: list[ProcessSpec]) -> Supervisor:
    return Supervisor(
        plan,
        printer=Printer(sys.stdout),
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        restart_policy=settings.restart_policy(),
    )


def _start_services(supervisor: Supervisor, settings: LauncherSettings, admin_url: str) -> None:
    plan = plan_processes(
        settings, database=prepare_database(settings, admin_url), credentials=prepare_credentials(settings)
    )
    supervisor.add(plan)
    if supervisor.stop_requested:
        return  # Ctrl-C while the database was set up: nothing started, nothing to announce
    for line in banner(settings, plan):
        supervisor.announce(line)


def _finished(outcome: RunOutcome) -> RunOutcome:
    log.info(
        "stopped", extra={"clean": outcome.clean, "returncodes": outcome.returncodes, "restarts": outcome.restarts}
    )
    return outcome


def banner(settings: LauncherSettings, plan: list[ProcessSpec]) -> list[str]:
    database = (
        "embedded PostgreSQL in " + str(settings.civicflow_data_dir)
        if settings.database_url is None
        else "DATABASE_URL"
    )
    return [
        f"Civicflow: REST API and interactive docs at http://localhost:{settings.gateway_port}/docs",
        f"gRPC orchestrator at localhost:{settings.orchestrator_port}; database: {database}",
        "processes: " + ", ".join(f"{process.name} :{process.port}" for process in plan),
        "metrics (Prometheus, internal): "
        + ", ".join(f"{process.name} :{process.metrics_port}" for process in plan if process.metrics_port is not None),
        "a service that dies is restarted; Ctrl-C stops everything in order (a second Ctrl-C at once)."
        if settings.restart_services
        else "Ctrl-C stops everything in order (a second Ctrl-C at once).",
    ]


def launch(settings: LauncherSettings) -> int:
    """The launcher's exit status: 0 when stopped on request and every process stopped cleanly."""
    configure_logging("launcher", settings.log_level, settings.log_format)
    # pgserver logs every initdb and pg_ctl command line and its output at INFO: noise on a developer's terminal.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # Alembic says which dialect it uses at every start, twice; the setup's own line says the database is ready.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    with terminal_foreground():
        return run(settings).exit_code
