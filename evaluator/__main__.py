"""Entry point: `python -m evaluator`."""

from __future__ import annotations

import asyncio

from civicflow.grpc_server import serve_until_terminated
from civicflow.logs import configure_logging
from evaluator.config import EvaluatorSettings
from evaluator.server import start


def main() -> None:
    settings = EvaluatorSettings()
    configure_logging("evaluator", settings.log_level)
    asyncio.run(serve_until_terminated(lambda: start(settings), grace=settings.shutdown_grace_seconds))


if __name__ == "__main__":
    main()
