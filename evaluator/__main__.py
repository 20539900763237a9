"""Entry point: `python -m evaluator`."""

from __future__ import annotations

import sys

from civicflow.grpc_server import run_service
from civicflow.logs import configure_logging
from evaluator.config import EvaluatorSettings
from evaluator.server import start


def main() -> int:
    settings = EvaluatorSettings()
    configure_logging("evaluator", settings.log_level, settings.log_format)
    return run_service("evaluator", lambda: start(settings), grace=settings.shutdown_grace_seconds)


if __name__ == "__main__":
    sys.exit(main())
