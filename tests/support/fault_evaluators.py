"""An evaluator in the test process whose fault hooks (evaluator/faults.py) fail or stall chosen citizens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from civicflow.auth.access import ServiceIdentity
from evaluator.config import EvaluatorSettings
from evaluator.server import start
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials


@contextmanager
def evaluator_with_faults(background_loop: BackgroundLoop, credentials: Credentials, **faults: Any) -> Iterator[str]:
    """Serves on loopback with the given fault settings (evaluator_fail_citizens=..., evaluator_stall_seconds=...);
    yields its address."""
    settings = EvaluatorSettings(
        host="127.0.0.1", evaluator_port=0, **faults, **credentials.tls_settings(ServiceIdentity.EVALUATOR)
    )
    with serve_on_loopback(background_loop, start(settings), grace=0) as target:
        yield target
