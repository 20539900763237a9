"""Builds, runs and stops a grpc.aio server with TLS, health, reflection and graceful shutdown."""

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

from civicflow import tracing
from civicflow.launch.restart_policy import EXIT_BAD_CONFIGURATION
from civicflow.message_limits import ReceiveLimitInterceptor, ReceiveLimits
from civicflow.metrics.exposition import MetricsServer, start_metrics_server
from civicflow.metrics.rpc import RpcMetricsInterceptor
from civicflow.settings import ConfigurationError
from civicflow.tls import SERVER_OPTIONS, Identity
from civicflow.unreadable_requests import UnreadableRequestInterceptor

log = logging.getLogger(__name__)

# The health service's name for "this process is alive": SERVING from start until shutdown, whatever the
# dependencies say. Liveness probes ask it: a process whose database is down is not ready, but restarting it
# would not bring the database back. Readiness probes ask for the server ("") or a service by name.
LIVENESS_SERVICE = "liveness"

Registrar = Callable[[grpc.aio.Server], None]
ReadinessProbe = Callable[[], Awaitable[bool]]
Cleanup = Callable[[], Awaitable[None]]


@dataclass
class RunningServer:
    """A started server: the port it is bound to, its health servicer, and how to stop it."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    # The plaintext server of the health port, if the service has one, and its port.
    health_server: grpc.aio.Server | None = None
    health_port: int | None = None
    # The metrics server (civicflow/metrics/exposition.py), if the service has a metrics port.
    metrics: MetricsServer | None = None
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
        if self.health_server is not None:
            await self.health_server.stop(0)
        for cleanup in self.cleanups:
            await cleanup()
        if self.metrics is not None:  # last: what the drain counted can still be scraped until here
            await asyncio.to_thread(self.metrics.stop)


async def start_grpc_server(
    *,
    service_names: Sequence[str],
    register: Registrar,
    host: str,
    port: int,
    identity: Identity,
    require_client_certificate: bool,
    health_port: int | None = None,
    readiness: ReadinessProbe | None = None,
    readiness_interval: float = 2.0,
    receive_limits: ReceiveLimits | None = None,
    metrics_port: int | None = None,
    service: str = "civicflow",
) -> RunningServer:
    """Starts a TLS server with the standard health service and reflection; port 0 picks a free port.

    `require_client_certificate`: only callers with a certificate from the service's authority
    get through the handshake (the services among themselves); otherwise any TLS client may
    connect and proves who it is by other means (a bearer token). `health_port`: a plaintext
    server of the same health service alone, for probes that cannot speak TLS.

    Without a readiness probe the server is SERVING once started. With one, it is
    SERVING only while the probe says its own dependencies are reachable. LIVENESS_SERVICE is
    SERVING either way, until the server stops.

    `receive_limits`: how large a request each RPC may receive (civicflow/message_limits.py); without
    them, any RPC up to the 64 MiB every channel allows.

    `service`: the service's short name in traces. `metrics_port`: where its metrics are served
    (civicflow/metrics/); None serves none.
    """
    # Outermost first: every call is counted and traced, refused ones too; an oversized request is refused
    # unparsed; bytes that do not parse become INVALID_ARGUMENT.
    interceptors: list[grpc.aio.ServerInterceptor] = [
        RpcMetricsInterceptor(),
        *tracing.server_interceptors(service),
        UnreadableRequestInterceptor(),
    ]
    options = SERVER_OPTIONS
    if receive_limits is not None:
        interceptors.insert(len(interceptors) - 1, ReceiveLimitInterceptor(receive_limits))
        options = receive_limits.server_options()
    server = grpc.aio.server(options=options, interceptors=interceptors)
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    credentials = identity.server_credentials(require_client_certificate=require_client_certificate)
    bound_port = server.add_secure_port(f"{host}:{port}", credentials)
    health_server: grpc.aio.Server | None = None
    bound_health_port: int | None = None
    if health_port is not None:
        health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        bound_health_port = health_server.add_insecure_port(f"{host}:{health_port}")
    metrics = start_metrics_server(host, metrics_port) if metrics_port is not None else None
    try:
        await server.start()
        if health_server is not None:
            await health_server.start()
    except BaseException:
        if metrics is not None:
            metrics.stop()
        raise
    await health_servicer.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    running = RunningServer(
        server=server,
        port=bound_port,
        health=health_servicer,
        service_names=tuple(service_names),
        health_server=health_server,
        health_port=bound_health_port,
        metrics=metrics,
    )
    if readiness is None:
        await running.set_serving(True)
    else:
        await running.set_serving(await _probe(readiness))
        running.readiness_task = asyncio.create_task(_watch_readiness(running, readiness, readiness_interval))
    log.info(
        "listening",
        extra={
            "port": bound_port,
            "health_port": bound_health_port,
            "metrics_port": metrics.port if metrics is not None else None,
            "services": list(service_names),
        },
    )
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
    refusals: tuple[type[Exception], ...] = (ConfigurationError, *configuration_errors)
    tracing.configure_tracing()
    try:
        asyncio.run(serve_until_terminated(start, grace=grace))
    except refusals as error:
        logging.getLogger(name).error("refusing to start: %s", error)
        return EXIT_BAD_CONFIGURATION
    finally:
        tracing.shutdown_tracing()
    return 0


async def check_health(channel: grpc.aio.Channel, *, timeout: float = 1.0, service: str = "") -> bool:
    """True when the server behind `channel` answers SERVING within `timeout` seconds."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
