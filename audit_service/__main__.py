"""Entry point: `python -m audit_service`."""

from __future__ import annotations

import asyncio
import logging
import sys

from audit_service.config import AuditSettings
from audit_service.server import start
from audit_service.signing import SigningKeyError
from civicflow.grpc_server import serve_until_terminated
from civicflow.logs import configure_logging

# Distinct from a crash (1): a process supervisor should not restart a configuration error.
EXIT_BAD_CONFIGURATION = 2


def main() -> int:
    settings = AuditSettings()  # database_url and audit_signing_key_path come from the environment
    configure_logging("audit_service", settings.log_level)
    try:
        asyncio.run(serve_until_terminated(lambda: start(settings), grace=settings.shutdown_grace_seconds))
    except SigningKeyError as error:
        logging.getLogger("audit_service").error("refusing to start: %s", error)
        return EXIT_BAD_CONFIGURATION
    return 0


if __name__ == "__main__":
    sys.exit(main())
