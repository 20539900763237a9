"""Which processes the launcher starts and the exact environment of each: a pure function of its settings."""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.local_issuer import ensure_issuer_key
from civicflow.database_setup import DatabaseAccounts, civicflow_migrations, load_or_create_passwords, setup_database
from civicflow.launch.settings import LauncherSettings
from civicflow.local_pki import LocalPki, ensure_local_pki
from civicflow.logs import resolve_log_format

LOOPBACK = "127.0.0.1"

# The order of a stop, lowest first: each stage exits before the next is signalled. The gateway
# stops taking requests; the orchestrator finishes or hands over its runs while the services its
# steps call are still up; then those services; then the database under all of them.
STOP_GATEWAY, STOP_ORCHESTRATOR, STOP_SERVICES, STOP_DATABASE = range(4)


class ProcessPlanError(ValueError):
    """The settings describe processes that cannot run together (two of them on one port)."""


@dataclass(frozen=True)
class ProcessSpec:
    """One process to run: its name in the logs, its command line and the settings it is given."""

    name: str
    module: str
    port: int
    argv: tuple[str, ...]
    # Only the variables the service reads; the launcher adds the inherited environment (PATH, ...).
    env: Mapping[str, str] = field(default_factory=dict)
    # Stopped after every process of a lower stage has exited (STOP_GATEWAY, ...).
    stop_stage: int = 0
    # The signal that asks for a graceful stop (PostgreSQL's fast shutdown is SIGINT).
    stop_signal: signal.Signals = signal.SIGTERM
    # Run as this system user (PostgreSQL refuses to run as root); None: as the launcher.
    user: str | None = None
    # Where it serves its Prometheus metrics (METRICS_PORT); None: it serves none (PostgreSQL).
    metrics_port: int | None = None


def evaluator_ports(settings: LauncherSettings) -> list[int]:
    """Evaluator 0 on EVALUATOR_PORT, evaluator i >= 1 on EVALUATOR_REPLICA_PORT_BASE + i."""
    return [
        settings.evaluator_port if index == 0 else settings.evaluator_replica_port_base + index
        for index in range(settings.evaluators)
    ]


def evaluator_metrics_ports(settings: LauncherSettings) -> list[int]:
    """Evaluator 0's metrics on EVALUATOR_METRICS_PORT, evaluator i >= 1's on the replica base + i."""
    return [
        settings.evaluator_metrics_port if index == 0 else settings.evaluator_replica_metrics_port_base + index
        for index in range(settings.evaluators)
    ]


def evaluator_target(ports: list[int]) -> str:
    """One address, or gRPC's ipv4: list of every replica, which the round_robin channel spreads calls over."""
    if len(ports) == 1:
        return f"{LOOPBACK}:{ports[0]}"
    return "ipv4:" + ",".join(f"{LOOPBACK}:{port}" for port in ports)


def audit_signing_key_path(settings: LauncherSettings) -> Path:
    """The checkpoint signing key of a local run, kept beside its database so both survive restarts."""
    return settings.audit_signing_key_path or settings.civicflow_data_dir.parent / "audit-signing-key.pem"


def database_passwords_path(settings: LauncherSettings) -> Path:
    return settings.database_passwords_path or settings.civicflow_data_dir.parent / "database-passwords.json"


def prepare_database(settings: LauncherSettings, admin_url: str) -> DatabaseAccounts:
    """The services' roles, the migrated schemas and the grants (civicflow/database_setup.py), every start."""
    return setup_database(
        admin_url,
        civicflow_migrations(),
        passwords=load_or_create_passwords(database_passwords_path(settings)),
        prefix=settings.database_role_prefix,
    )


def tls_dir(settings: LauncherSettings) -> Path:
    """The local certificate authority and the services' certificates (local_pki.py), beside the database."""
    return settings.tls_dir or settings.civicflow_data_dir.parent / "tls"


def token_issuer_key_path(settings: LauncherSettings) -> Path:
    """The local token issuer's private key; its public key, which the services verify with, lies beside it."""
    return settings.token_issuer_key_path or settings.civicflow_data_dir.parent / "token-issuer-key.pem"


@dataclass(frozen=True)
class Credentials:
    """What the launcher made before starting anything: every service's certificate, and the token issuer's key."""

    pki: LocalPki
    token_public_key: Path

    def tls(self, identity: ServiceIdentity) -> dict[str, str]:
        files = self.pki.files(identity)
        return {
            "TLS_CA_PATH": str(self.pki.ca),
            "TLS_CERT_PATH": str(files.certificate),
            "TLS_KEY_PATH": str(files.key),
        }


def prepare_credentials(settings: LauncherSettings) -> Credentials:
    """The local authority, the services' certificates and the token issuer's key, made on first start."""
    return Credentials(
        pki=ensure_local_pki(tls_dir(settings)),
        token_public_key=ensure_issuer_key(token_issuer_key_path(settings)),
    )


def orchestrator_replica_id(settings: LauncherSettings) -> str:
    return f"launcher@{socket.gethostname()}:{settings.orchestrator_port}"


def plan_processes(
    settings: LauncherSettings, *, database: DatabaseAccounts, credentials: Credentials, python: str = sys.executable
) -> list[ProcessSpec]:
    """The audit service, the evaluators, the orchestrator and the gateway, wired to each other on loopback."""
    common = {
        "HOST": settings.host,
        "LOG_LEVEL": settings.log_level,
        # Decided here, where the terminal is: the children write into the launcher's pipes.
        "LOG_FORMAT": resolve_log_format(settings.log_format),
        "SHUTDOWN_GRACE_SECONDS": str(settings.shutdown_grace_seconds),
        # Children write into a pipe; unbuffered output keeps their lines in step with what happens.
        "PYTHONUNBUFFERED": "1",
    }
    evaluators = evaluator_ports(settings)
    targets = {
        "EVALUATOR_TARGET": evaluator_target(evaluators),
        "AUDIT_TARGET": f"{LOOPBACK}:{settings.audit_port}",
    }

    def spec(
        name: str, module: str, port: int, env: dict[str, str], *, stop_stage: int, metrics_port: int
    ) -> ProcessSpec:
        return ProcessSpec(
            name=name,
            module=module,
            port=port,
            argv=(python, "-m", module),
            env={**common, "METRICS_PORT": str(metrics_port), **env},
            stop_stage=stop_stage,
            metrics_port=metrics_port,
        )

    plan = [
        spec(
            "audit_service",
            "audit_service",
            settings.audit_port,
            {
                "AUDIT_PORT": str(settings.audit_port),
                "DATABASE_URL": database.audit,
                "AUDIT_SIGNING_KEY_PATH": str(audit_signing_key_path(settings)),
                "AUDIT_SIGNING_KEY_CREATE": "true",
                "TOKEN_PUBLIC_KEY_PATH": str(credentials.token_public_key),
                **credentials.tls(ServiceIdentity.AUDIT_SERVICE),
            },
            stop_stage=STOP_SERVICES,
            metrics_port=settings.audit_metrics_port,
        ),
        *(
            spec(
                "evaluator" if len(evaluators) == 1 else f"evaluator.{index}",
                "evaluator",
                port,
                {"EVALUATOR_PORT": str(port), **credentials.tls(ServiceIdentity.EVALUATOR)},
                stop_stage=STOP_SERVICES,
                metrics_port=metrics_port,
            )
            for index, (port, metrics_port) in enumerate(
                zip(evaluators, evaluator_metrics_ports(settings), strict=True)
            )
        ),
        spec(
            "orchestrator",
            "orchestrator",
            settings.orchestrator_port,
            {
                "ORCHESTRATOR_PORT": str(settings.orchestrator_port),
                # Stable across restarts, unique while it lives (no two processes on a host share a
                # port): an orchestrator the launcher restarts takes its runs back at once.
                "REPLICA_ID": orchestrator_replica_id(settings),
                "DATABASE_URL": database.orchestrator,
                "TEMPLATES_DIR": str(settings.templates_dir),
                "SCHEMES_DIR": str(settings.schemes_dir),
                "TOKEN_PUBLIC_KEY_PATH": str(credentials.token_public_key),
                **credentials.tls(ServiceIdentity.ORCHESTRATOR),
                **targets,
            },
            stop_stage=STOP_ORCHESTRATOR,
            metrics_port=settings.orchestrator_metrics_port,
        ),
        spec(
            "gateway",
            "gateway",
            settings.gateway_port,
            {
                "GATEWAY_PORT": str(settings.gateway_port),
                "ORCHESTRATOR_TARGET": f"{LOOPBACK}:{settings.orchestrator_port}",
                "TOKEN_PUBLIC_KEY_PATH": str(credentials.token_public_key),
                **credentials.tls(ServiceIdentity.GATEWAY),
                **targets,
            },
            stop_stage=STOP_GATEWAY,
            metrics_port=settings.gateway_metrics_port,
        ),
    ]
    _refuse_shared_ports(plan)
    return plan


def _refuse_shared_ports(plan: list[ProcessSpec]) -> None:
    owners: dict[int, str] = {}
    for process in plan:
        for port, what in ((process.port, process.name), (process.metrics_port, f"{process.name}'s metrics")):
            if port is None:
                continue
            if port in owners:
                raise ProcessPlanError(f"{what} and {owners[port]} would both listen on port {port}")
            owners[port] = what
