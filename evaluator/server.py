"""Builds and starts the evaluator's gRPC server."""

from __future__ import annotations

import logging

import grpc

from civicflow.grpc_server import RunningServer, start_grpc_server
from civicflow.message_limits import MiB, ReceiveLimits
from civicflow.tls import Identity
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.config import EvaluatorSettings
from evaluator.faults import FaultInjectingServicer, FaultPlan
from evaluator.servicer import EvaluatorServicer

log = logging.getLogger(__name__)

SERVICE_NAME = evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"].full_name


# A stream's batch carries at most 100,000 citizens (fan_out_config.py's batch_size), each an age of up to
# 10 bytes and an income of 8, and its rule sets: under 2 MiB. Evaluate carries one citizen.
RECEIVE_LIMITS = ReceiveLimits({"EvaluateStream": 4 * MiB})


async def start(settings: EvaluatorSettings) -> RunningServer:
    """Serves on settings.host:settings.evaluator_port (0 picks a free port); SERVING once started."""
    servicer: evaluator_pb2_grpc.EvaluatorServiceServicer = EvaluatorServicer()
    faults = FaultPlan.from_settings(settings)
    if faults.enabled:
        log.warning("fault hooks enabled: chosen citizens will fail or stall on purpose", extra=faults.describe())
        servicer = FaultInjectingServicer(servicer, faults)

    def register(server: grpc.aio.Server) -> None:
        evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(servicer, server)

    return await start_grpc_server(
        service_names=[SERVICE_NAME],
        register=register,
        host=settings.host,
        port=settings.evaluator_port,
        identity=Identity.load(settings),
        # Only services with a certificate of the authority may call it (the orchestrator, by access.SERVICE_RULES).
        require_client_certificate=True,
        health_port=settings.health_port,
        receive_limits=RECEIVE_LIMITS,
        metrics_port=settings.metrics_port,
        service="evaluator",
    )
