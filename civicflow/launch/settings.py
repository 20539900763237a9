"""Settings of the local launcher (`make run`) and of the benchmark that starts the system the same way."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path

from pydantic import Field

from civicflow.launch.restart_policy import RestartPolicy
from civicflow.settings import REPO_ROOT, ServiceSettings


class LauncherSettings(ServiceSettings):
    """Read from the environment like every service's settings: EVALUATORS, GATEWAY_PORT, ...

    The port fields use the services' own variable names, so `GATEWAY_PORT=9000 make run`
    moves the gateway. The launcher passes every value on to its children explicitly.
    """

    # Locally the services need to be reachable from this machine only; HOST=0.0.0.0 widens it.
    host: str = "127.0.0.1"
    # Unset: an embedded PostgreSQL whose data lives under civicflow_data_dir. Set: an administrative
    # connection (a superuser, or an owner with CREATEROLE), which makes each service's role.
    database_url: str | None = None
    # The services' database roles are <prefix>_owner, <prefix>_orchestrator and <prefix>_audit.
    database_role_prefix: str = "civicflow"
    # Unset: database-passwords.json beside civicflow_data_dir, the roles' passwords, made on first start.
    database_passwords_path: Path | None = None
    civicflow_data_dir: Path = REPO_ROOT / ".civicflow" / "pgdata"
    # Unset: audit-signing-key.pem beside civicflow_data_dir; the audit service creates it on first start.
    audit_signing_key_path: Path | None = None
    # Unset: tls/ beside civicflow_data_dir, the local certificate authority and each service's certificate.
    tls_dir: Path | None = None
    # Unset: token-issuer-key.pem beside civicflow_data_dir, the key `civicflow token issue` signs with.
    token_issuer_key_path: Path | None = None
    evaluators: int = Field(default=1, ge=1, le=32)
    orchestrator_port: int = 50051
    evaluator_port: int = 50052
    # Evaluator i (i >= 1) listens on evaluator_replica_port_base + i: 50061, 50062, ...
    evaluator_replica_port_base: int = 50060
    audit_port: int = 50053
    gateway_port: int = 8000
    # Each process's Prometheus metrics (METRICS_PORT of the service), plain HTTP on the same host; evaluator
    # i (i >= 1) on evaluator_replica_metrics_port_base + i.
    gateway_metrics_port: int = 9460
    orchestrator_metrics_port: int = 9461
    evaluator_metrics_port: int = 9462
    audit_metrics_port: int = 9463
    evaluator_replica_metrics_port_base: int = 9470
    templates_dir: Path = REPO_ROOT / "templates"
    schemes_dir: Path = REPO_ROOT / "schemes"
    # A service that dies is started again (compose's `restart: unless-stopped`) after a backoff
    # that doubles from restart_backoff_seconds; the launcher gives up on it after
    # restart_max_quick_failures deaths in a row, each within restart_quick_failure_seconds of its start.
    restart_services: bool = True
    restart_backoff_seconds: float = Field(default=1.0, ge=0)
    restart_max_quick_failures: int = Field(default=5, ge=1)
    restart_quick_failure_seconds: float = Field(default=30.0, ge=0)

    def restart_policy(self) -> RestartPolicy | None:
        if not self.restart_services:
            return None
        return RestartPolicy(
            backoff_seconds=self.restart_backoff_seconds,
            max_quick_failures=self.restart_max_quick_failures,
            quick_failure_seconds=self.restart_quick_failure_seconds,
        )


def on_free_ports(settings: LauncherSettings) -> LauncherSettings:
    """The same settings with every process moved to a currently free loopback port."""
    ports = {name.lower(): int(port) for name, port in free_port_environment(settings.evaluators).items()}
    return settings.model_copy(update=ports)


def free_port_environment(evaluators: int = 1) -> dict[str, str]:
    """Port variables that move every process of the launcher onto currently free loopback ports.

    Used by the benchmark and the launcher's tests, which must not collide with a `make run`
    already running on the default ports. A port could in principle be taken between this
    call and the bind; that race is accepted for tests and benchmarks.
    """
    names = (
        "ORCHESTRATOR_PORT",
        "EVALUATOR_PORT",
        "AUDIT_PORT",
        "GATEWAY_PORT",
        "ORCHESTRATOR_METRICS_PORT",
        "EVALUATOR_METRICS_PORT",
        "AUDIT_METRICS_PORT",
        "GATEWAY_METRICS_PORT",
    )
    ports = free_ports(len(names) + (2 if evaluators > 1 else 0))
    environment = {name: str(port) for name, port in zip(names, ports, strict=False)}
    if evaluators > 1:
        # Replica i listens on base + i: replica 1 lands on a port known to be free, the
        # replicas after it on the ports that follow, which are free in practice.
        environment["EVALUATOR_REPLICA_PORT_BASE"] = str(ports[-2] - 1)
        environment["EVALUATOR_REPLICA_METRICS_PORT_BASE"] = str(ports[-1] - 1)
    return environment


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that are free now (tests and benchmarks start servers on them)."""
    # All sockets stay open until every port is chosen, so no port is handed out twice.
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
