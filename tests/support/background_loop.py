"""An asyncio loop on a thread of its own, and servers started on it for as long as a test needs them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from civicflow.grpc_server import RunningServer

T = TypeVar("T")


class BackgroundLoop:
    """An asyncio loop on its own thread: the gRPC servers under test live there while tests call them synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="grpc-servers", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextmanager
def running_on_loopback(
    background_loop: BackgroundLoop, start: Coroutine[Any, Any, RunningServer], *, grace: float = 1.0
) -> Iterator[RunningServer]:
    """Runs the server that `start` starts on the background loop; yields it, then stops it."""
    running = background_loop.run(start)
    try:
        yield running
    finally:
        background_loop.run(running.stop(grace=grace))


@contextmanager
def serve_on_loopback(
    background_loop: BackgroundLoop, start: Coroutine[Any, Any, RunningServer], *, grace: float = 1.0
) -> Iterator[str]:
    """As running_on_loopback, yielding the server's address."""
    with running_on_loopback(background_loop, start, grace=grace) as running:
        yield f"127.0.0.1:{running.port}"
