"""Builds, runs and stops a grpc.aio server with health, reflection and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from civicflow.launch.restart_policy import EXIT_BAD_CONFIGURATION

log = logging.getLogger(__name__)

Registrar = Callable[[grpc.aio.Server], None]
ReadinessProbe = Callable[[], Awaitable[bool]]
Cleanup = Callable[[], Awaitable[None]]

# Impact-analysis batches and long audit trails exceed gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


@dataclass
class RunningServer:
    """A started server: the port it is bound to, its health servicer, and how to stop it."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    readiness_task: asyncio.Task[None] | None = None
    # Run after the server has stopped, in order: close channels, dispose engines.
    cleanups: list[Cleanup] = field(default_factory=list)
    # Run as the server stops, alongside the calls' grace period (given): work that is not a call drains too.
    on_stop: list[Callable[[float], Awaitable[None]]] = field(default_factory=list)

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float) -> None:
        """Reports NOT_SERVING, refuses new calls and lets in-flight calls finish within `grace` seconds."""
        if self.readiness_task is not None:
            self.readiness_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.readiness_task
        await self.health.enter_graceful_shutdown()
        await asyncio.gather(self.server.stop(grace), *(drain(grace) for drain in self.on_stop))
        for cleanup in self.cleanups:
            await cleanup()


async def start_grpc_server(
    *,
    service_names: Sequence[str],
    register: Registrar,
    host: str,
    port: int,
    readiness: ReadinessProbe | None = None,
    readiness_interval: float = 2.0,
) -> RunningServer:
    """Starts a server with the standard health service and reflection; port 0 picks a free port.

    Without a readiness probe the server is SERVING once started. With one, it is
    SERVING only while the probe says its own dependencies are reachable.
    """
    server = grpc.aio.server(options=CHANNEL_OPTIONS)
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound_port = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    running = RunningServer(server=server, port=bound_port, health=health_servicer, service_names=tuple(service_names))
    if readiness is None:
        await running.set_serving(True)
    else:
        await running.set_serving(await _probe(readiness))
        running.readiness_task = asyncio.create_task(_watch_readiness(running, readiness, readiness_interval))
    log.info("listening", extra={"port": bound_port, "services": list(service_names)})
    return running


async def _probe(readiness: ReadinessProbe) -> bool:
    try:
        return await readiness()
    except Exception:  # a probe that raises means "not ready", never a crashed server
        log.exception("readiness probe raised")
        return False


async def _watch_readiness(running: RunningServer, readiness: ReadinessProbe, interval: float) -> None:
    ready: bool | None = None
    while True:
        now_ready = await _probe(readiness)
        if now_ready != ready:
            log.info("readiness changed", extra={"ready": now_ready})
            await running.set_serving(now_ready)
            ready = now_ready
        await asyncio.sleep(interval)


async def serve_until_terminated(start: Callable[[], Awaitable[RunningServer]], *, grace: float) -> None:
    """Entry-point body: start, wait for SIGTERM or SIGINT, then stop gracefully within `grace` seconds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await start()
    await stop.wait()
    log.info("termination requested, draining", extra={"grace_seconds": grace})
    await running.stop(grace)
    log.info("stopped")


def run_service(
    name: str,
    start: Callable[[], Awaitable[RunningServer]],
    *,
    grace: float,
    configuration_errors: tuple[type[Exception], ...] = (),
) -> int:
    """A service's `main`: serves until SIGTERM or SIGINT; exit status 2, after one log line, if it refuses its
    configuration (a process supervisor restarts a crash, not that: civicflow.launch.restart_policy)."""
    try:
        asyncio.run(serve_until_terminated(start, grace=grace))
    except configuration_errors as error:
        logging.getLogger(name).error("refusing to start: %s", error)
        return EXIT_BAD_CONFIGURATION
    return 0


async def check_health(channel: grpc.aio.Channel, *, timeout: float = 1.0, service: str = "") -> bool:
    """True when the server behind `channel` answers SERVING within `timeout` seconds."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def insecure_channel(target: str) -> grpc.aio.Channel:
    """A channel that spreads calls over every address `target` resolves to (round_robin)."""
    return grpc.aio.insecure_channel(
        target,
        options=[*CHANNEL_OPTIONS, ("grpc.lb_policy_name", "round_robin")],
    )
