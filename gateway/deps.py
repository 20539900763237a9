"""Request dependencies: the settings and the gRPC channels opened once in the app's lifespan."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

import grpc
from fastapi import Depends, Request

from civicflow import tracing
from civicflow.auth.access import ServiceIdentity
from civicflow.tls import Identity
from civicflow.v1 import audit_pb2_grpc, orchestrator_pb2_grpc
from gateway.config import GatewaySettings


@dataclass(frozen=True)
class Upstreams:
    """The orchestrator's channel (workflow routes), the audit service's (/audit routes), the evaluator's (/healthz)."""

    orchestrator: grpc.aio.Channel
    evaluator: grpc.aio.Channel
    audit: grpc.aio.Channel

    @classmethod
    def open(cls, settings: GatewaySettings, identity: Identity) -> Upstreams:
        # Each call continues the request's trace, when tracing is on (civicflow/tracing.py).
        channel = functools.partial(identity.channel, interceptors=tracing.client_interceptors("gateway"))
        return cls(
            orchestrator=channel(settings.orchestrator_target, server=ServiceIdentity.ORCHESTRATOR),
            evaluator=channel(settings.evaluator_target, server=ServiceIdentity.EVALUATOR),
            audit=channel(settings.audit_target, server=ServiceIdentity.AUDIT_SERVICE),
        )

    # Stubs made once: a stub builds one callable per RPC of its service, a cost per request otherwise.
    @cached_property
    def orchestrator_stub(self) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
        return orchestrator_pb2_grpc.OrchestratorServiceStub(self.orchestrator)

    @cached_property
    def audit_stub(self) -> audit_pb2_grpc.AuditServiceStub:
        return audit_pb2_grpc.AuditServiceStub(self.audit)

    async def close(self) -> None:
        for channel in (self.orchestrator, self.evaluator, self.audit):
            await channel.close()


# The dependencies are async only so that FastAPI calls them on the event loop: a plain def costs a
# worker-thread round trip per dependency per request.
async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]


async def get_upstreams(request: Request) -> Upstreams:
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]


async def get_orchestrator(upstreams: UpstreamsDep) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    return upstreams.orchestrator_stub


async def get_timeout(settings: SettingsDep) -> float:
    return settings.request_timeout_seconds


async def get_audit(upstreams: UpstreamsDep) -> audit_pb2_grpc.AuditServiceStub:
    return upstreams.audit_stub


OrchestratorDep = Annotated[orchestrator_pb2_grpc.OrchestratorServiceStub, Depends(get_orchestrator)]
AuditDep = Annotated[audit_pb2_grpc.AuditServiceStub, Depends(get_audit)]
# Deadline of every upstream call, so a stuck run answers 504 instead of hanging the client.
TimeoutDep = Annotated[float, Depends(get_timeout)]
