"""Entry point: `python -m audit_service`."""

from __future__ import annotations

import asyncio

from audit_service.config import AuditSettings
from audit_service.server import start
from civicflow.grpc_server import serve_until_terminated
from civicflow.logs import configure_logging


def main() -> None:
    settings = AuditSettings()  # database_url comes from DATABASE_URL
    configure_logging("audit_service", settings.log_level)
    asyncio.run(serve_until_terminated(lambda: start(settings), grace=settings.shutdown_grace_seconds))


if __name__ == "__main__":
    main()
