"""`python -m orchestrator`: serve the orchestrator until SIGTERM."""

from __future__ import annotations

import asyncio

from civicflow.grpc_server import serve_until_terminated
from civicflow.logs import configure_logging
from orchestrator.config import OrchestratorSettings
from orchestrator.server import start


def main() -> None:
    settings = OrchestratorSettings()  # database_url comes from DATABASE_URL
    configure_logging("orchestrator", settings.log_level)
    asyncio.run(serve_until_terminated(lambda: start(settings), grace=settings.shutdown_grace_seconds))


if __name__ == "__main__":
    main()
