"""A lean HTTP/1.1 JSON client for the load the benchmark sends: one keep-alive connection per client.

The load generator shares the two cores with the system it measures, so every microsecond it
spends is one the services do not get. httpx2 took 1.4 ms of CPU per eligibility check in the
benchmark's process; http.client on a kept-alive connection takes 0.8 ms, and the throughput
figure is that much closer to what the system itself sustains. It answers the part of
httpx2's interface the workloads use (`post(path, json=...)`, `get(path)`, `status_code`, `text`, `json()`),
so the workloads also run against FastAPI's TestClient in the tests.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RestReply:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


# uvicorn closes a connection idle for 5 s; one idle for this long is reopened before a request
# rather than found closed after sending it (a POST is not retried: it may have started a run).
IDLE_REOPEN_SECONDS = 4.0


class RestClient:
    """Sends requests one at a time over one kept-alive connection, each with the bearer `token` if one is given."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        token: str | None = None,
        idle_reopen_seconds: float = IDLE_REOPEN_SECONDS,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"RestClient speaks plain http to host:port, not {base_url!r}")
        self._connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
        self._headers = {"Content-Type": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._idle_reopen_seconds = idle_reopen_seconds
        self._last_used = time.monotonic()

    def post(self, path: str, *, json: Any) -> RestReply:
        return self._send("POST", path, jsonlib.dumps(json).encode())

    def get(self, path: str) -> RestReply:
        """`path` with its query string, already encoded."""
        return self._send("GET", path, None)

    def _send(self, method: str, path: str, body: bytes | None) -> RestReply:
        if time.monotonic() - self._last_used > self._idle_reopen_seconds:
            self._connection.close()  # http.client opens a new one on the next request
        try:
            self._connection.request(method, path, body=body, headers=self._headers)
            response = self._connection.getresponse()
            return RestReply(status_code=response.status, content=response.read())
        finally:
            self._last_used = time.monotonic()

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
