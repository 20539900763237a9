"""Entry point: `python -m audit_service`."""

from __future__ import annotations

import sys

from audit_service.config import AuditSettings
from audit_service.server import start
from audit_service.signing.keys import SigningKeyError
from civicflow.grpc_server import run_service
from civicflow.logs import configure_logging


def main() -> int:
    settings = AuditSettings()  # database_url and audit_signing_key_path come from the environment
    configure_logging("audit_service", settings.log_level, settings.log_format)
    return run_service(
        "audit_service",
        lambda: start(settings),
        grace=settings.shutdown_grace_seconds,
        configuration_errors=(SigningKeyError,),
    )


if __name__ == "__main__":
    sys.exit(main())
