"""`make run`: an embedded PostgreSQL unless DATABASE_URL is set, then every service as its own process."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack

from honcho.printer import Printer

from civicflow.launch.local_database import embedded_database
from civicflow.launch.process_plan import ProcessSpec, plan_processes, prepare_credentials, prepare_database
from civicflow.launch.settings import LauncherSettings
from civicflow.launch.supervisor import RunOutcome, Supervisor
from civicflow.logs import configure_logging

log = logging.getLogger("civicflow.launch")


def run(settings: LauncherSettings) -> RunOutcome:
    """Runs the whole system until SIGINT or SIGTERM, then stops the services and the embedded database."""
    with ExitStack() as stack:
        admin_url = settings.database_url or stack.enter_context(embedded_database(settings.civicflow_data_dir))
        plan = plan_processes(
            settings, database=prepare_database(settings, admin_url), credentials=prepare_credentials(settings)
        )
        supervisor = Supervisor(
            plan,
            printer=Printer(sys.stdout),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            restart_policy=settings.restart_policy(),
        )

        def announce_banner() -> None:
            for line in banner(settings, plan):
                supervisor.announce(line)

        outcome = supervisor.run(on_started=announce_banner)
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
        "a service that dies is restarted; Ctrl-C stops everything."
        if settings.restart_services
        else "Ctrl-C stops everything.",
    ]


def main() -> int:
    settings = LauncherSettings()
    configure_logging("launcher", settings.log_level, settings.log_format)
    # pgserver logs every pg_ctl command line and its output at INFO: noise on a developer's terminal.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # Alembic says which dialect it uses at every start, twice; the setup's own line says the database is ready.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    return run(settings).exit_code
