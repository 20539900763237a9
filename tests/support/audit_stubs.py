"""The audit service as its own callers reach it, for the tests that talk to it directly.

Each RPC goes out over the channel of a service that access.SERVICE_RULES lets call it: appends and
a run's entries as the orchestrator, everything else as the gateway, carrying an auditor's token
for the reads an auditor must be allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from civicflow.auth.access import SERVICE_RULES, ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2_grpc
from tests.support.credentials import Credentials


@dataclass(frozen=True)
class AuditStubs:
    """Answers `stub.<Rpc>` with the stub of the caller that may call it."""

    orchestrator: audit_pb2_grpc.AuditServiceStub
    gateway: audit_pb2_grpc.AuditServiceStub

    def __getattr__(self, rpc: str) -> Any:
        caller = self.orchestrator if ServiceIdentity.ORCHESTRATOR in SERVICE_RULES[rpc].callers else self.gateway
        return getattr(caller, rpc)


@contextmanager
def audit_stubs(credentials: Credentials, target: str) -> Iterator[AuditStubs]:
    server = ServiceIdentity.AUDIT_SERVICE
    auditor = credentials.token(Role.AUDITOR)
    with (
        credentials.channel(target, server=server, as_=ServiceIdentity.ORCHESTRATOR) as orchestrator,
        credentials.channel(target, server=server, as_=ServiceIdentity.GATEWAY, token=auditor) as gateway,
    ):
        yield AuditStubs(audit_pb2_grpc.AuditServiceStub(orchestrator), audit_pb2_grpc.AuditServiceStub(gateway))
