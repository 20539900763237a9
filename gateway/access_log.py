"""uvicorn's access log without the health probes, and without the values of query strings.

A line every few seconds per probe would bury the requests; a query's values may name a citizen or a subject.
"""

from __future__ import annotations

import logging

from civicflow.query_values import without_query_values

# Probed by Kubernetes, compose and the launcher's operators; its failures show in the probe, not in this log.
QUIET_PATHS = frozenset({"/healthz"})


class AccessLogFilter(logging.Filter):
    """Drops uvicorn's access lines for QUIET_PATHS and blanks query values in the others.

    uvicorn's access records carry (client, method, path?query, version, status) as their arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            if args[2].partition("?")[0] in QUIET_PATHS:
                return False
            record.args = (*args[:2], without_query_values(args[2]), *args[3:])
        return True


def filter_access_log() -> None:
    """Installs the filter on uvicorn's access logger, once, whatever handlers it reaches."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, AccessLogFilter) for existing in access.filters):
        access.addFilter(AccessLogFilter())
