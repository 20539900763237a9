"""Entry point: `python -m gateway`."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn

from civicflow.launch.restart_policy import EXIT_BAD_CONFIGURATION
from civicflow.logs import configure_logging
from civicflow.settings import ConfigurationError
from civicflow.tracing import configure_tracing, shutdown_tracing
from gateway.access_log import filter_access_log
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.http_protocol import with_deadlines


class _Server(uvicorn.Server):
    """uvicorn's server, except that a graceful stop on SIGTERM ends the process with status 0.

    After draining, uvicorn re-raises the signal it caught so that the process dies of it;
    like the other services, the gateway exits 0 when it stopped as asked.
    """

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def main() -> int:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    filter_access_log()
    configure_tracing()
    try:
        app = create_app(settings)
    except ConfigurationError as error:
        logging.getLogger("gateway").error("refusing to start: %s", error)
        return EXIT_BAD_CONFIGURATION
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.gateway_port,
        log_config=None,
        # httptools parses HTTP in C, a good share of a short request's cost (this is uvicorn's
        # httptools protocol with deadlines on headers); the loop stays the standard one, which
        # grpc.aio's channels are built for.
        http=with_deadlines(
            header_timeout_seconds=settings.header_read_timeout_seconds,
            discard_timeout_seconds=settings.body_read_timeout_seconds,
        ),
        loop="asyncio",
        # uvicorn takes whole seconds; rounding up never cuts the grace short.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )
    try:
        _Server(config).run()
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
