"""The gateway's HTTP request metrics: an ASGI middleware counting and timing requests by route and status.

The route is the path template (`/workflows/{instance_id}`), never the path itself, which holds
ids; a path no route matched counts as `unmatched`, and methods outside HTTP's own as `OTHER`.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicflow.metrics.rpc import LATENCY_BUCKETS

HTTP_REQUESTS = Counter(
    "civicflow_http_requests",
    "HTTP requests the gateway answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "civicflow_http_request_seconds",
    "Time from a request's arrival to the end of its response (an event stream's close), by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    """Outermost, so that requests the body limits or the error handlers answer count too."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_noting_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope)
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()


def route_template(scope: Scope) -> str:
    """The matched route's path template, which the router leaves in the scope; `unmatched` without one."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
