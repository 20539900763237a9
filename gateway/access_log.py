"""uvicorn's access log without the health probes: a line every few seconds per probe would bury the requests."""

from __future__ import annotations

import logging

# Probed by Kubernetes, compose and the launcher's operators; its failures show in the probe, not in this log.
QUIET_PATHS = frozenset({"/healthz"})


class HealthProbeFilter(logging.Filter):
    """Drops uvicorn's access lines for QUIET_PATHS; its records carry (client, method, path?query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return args[2].partition("?")[0] not in QUIET_PATHS
        return True


def quiet_health_probes() -> None:
    """Installs the filter on uvicorn's access logger, once, whatever handlers it reaches."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, HealthProbeFilter) for existing in access.filters):
        access.addFilter(HealthProbeFilter())
