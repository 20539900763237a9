"""`python -m civicflow.health_probe HOST:PORT`: exits 0 when that gRPC server reports SERVING (healthchecks)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import grpc

from civicflow.grpc_server import check_health


def is_serving(target: str, *, timeout: float, service: str = "") -> bool:
    """check_health on a channel of its own, for callers without an event loop."""
    return asyncio.run(_is_serving(target, timeout=timeout, service=service))


async def _is_serving(target: str, *, timeout: float, service: str) -> bool:
    async with grpc.aio.insecure_channel(target) as channel:
        return await check_health(channel, timeout=timeout, service=service)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m civicflow.health_probe", description=__doc__)
    parser.add_argument("target", help="host:port of a gRPC server with grpc.health.v1")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer")
    parser.add_argument(
        "--service",
        default="",
        help="service name to check; empty means the whole server (ready), 'liveness' whether the process is alive",
    )
    arguments = parser.parse_args(argv)
    serving = is_serving(arguments.target, timeout=arguments.timeout, service=arguments.service)
    print("SERVING" if serving else "NOT SERVING")
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
