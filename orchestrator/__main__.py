"""`python -m orchestrator`: serve the orchestrator until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys

from civicflow.grpc_server import serve_until_terminated
from civicflow.logs import configure_logging
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import ConfigurationError
from orchestrator.server import start

# Distinct from a crash (1): a process supervisor should not restart a configuration error.
EXIT_BAD_CONFIGURATION = 2


def main() -> int:
    settings = OrchestratorSettings()  # database_url comes from DATABASE_URL
    configure_logging("orchestrator", settings.log_level)
    try:
        asyncio.run(serve_until_terminated(lambda: start(settings), grace=settings.shutdown_grace_seconds))
    except ConfigurationError as error:
        logging.getLogger("orchestrator").error("refusing to start: %s", error)
        return EXIT_BAD_CONFIGURATION
    return 0


if __name__ == "__main__":
    sys.exit(main())
