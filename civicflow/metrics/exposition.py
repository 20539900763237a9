"""Each process serves its metrics over plain HTTP on a port of its own (METRICS_PORT), apart from its API.

The port is internal: Prometheus scrapes it inside the cluster or the compose network; nothing
publishes it. A thread of prometheus_client's serves it, so a scrape costs the event loop nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.registry import CollectorRegistry

log = logging.getLogger(__name__)


@dataclass
class MetricsServer:
    """A started metrics server: the port it is bound to, and how to stop it."""

    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> MetricsServer:
    """Serves `registry` at http://host:port/metrics (any path answers the same); port 0 picks a free one."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    bound = int(server.server_port)
    log.info("metrics listening", extra={"metrics_port": bound})
    return MetricsServer(port=bound, _server=server, _thread=thread)
