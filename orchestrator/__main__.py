"""`python -m orchestrator`: serve the orchestrator until SIGTERM."""

from __future__ import annotations

import sys

from civicflow.grpc_server import run_service
from civicflow.logs import configure_logging
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import ConfigurationError
from orchestrator.server import start


def main() -> int:
    settings = OrchestratorSettings()  # database_url comes from DATABASE_URL
    configure_logging("orchestrator", settings.log_level, settings.log_format)
    return run_service(
        "orchestrator",
        lambda: start(settings),
        grace=settings.shutdown_grace_seconds,
        configuration_errors=(ConfigurationError,),
    )


if __name__ == "__main__":
    sys.exit(main())
