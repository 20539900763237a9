"""Entry point: `python -m gateway`."""

from __future__ import annotations

import math

import uvicorn

from civicflow.logs import configure_logging
from gateway.app import create_app
from gateway.config import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    # uvicorn drains in-flight requests on SIGTERM within the grace period, then runs the lifespan's shutdown.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.gateway_port,
        log_config=None,
        # uvicorn types this as whole seconds; rounding up never cuts the grace short.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )


if __name__ == "__main__":
    main()
