"""Before anything starts: every port the launcher's processes will listen on must be free, or it says which is not."""

from __future__ import annotations

import errno
import socket

from civicflow.launch.settings import LauncherSettings


class PortInUseError(RuntimeError):
    """A port the launcher needs is taken; the message names it and the variable that moves it."""


def listening_ports(settings: LauncherSettings) -> list[tuple[int, str]]:
    """Each port a process will listen on (its API's, then its metrics'), with the variable that sets it (evaluator
    i: the replica base)."""
    ports = [
        (settings.gateway_port, "GATEWAY_PORT"),
        (settings.orchestrator_port, "ORCHESTRATOR_PORT"),
        (settings.audit_port, "AUDIT_PORT"),
        (settings.evaluator_port, "EVALUATOR_PORT"),
    ]
    ports += [
        (settings.evaluator_replica_port_base + index, "EVALUATOR_REPLICA_PORT_BASE")
        for index in range(1, settings.evaluators)
    ]
    ports += [
        (settings.gateway_metrics_port, "GATEWAY_METRICS_PORT"),
        (settings.orchestrator_metrics_port, "ORCHESTRATOR_METRICS_PORT"),
        (settings.audit_metrics_port, "AUDIT_METRICS_PORT"),
        (settings.evaluator_metrics_port, "EVALUATOR_METRICS_PORT"),
    ]
    ports += [
        (settings.evaluator_replica_metrics_port_base + index, "EVALUATOR_REPLICA_METRICS_PORT_BASE")
        for index in range(1, settings.evaluators)
    ]
    return ports


def refuse_ports_in_use(settings: LauncherSettings) -> None:
    """Raises PortInUseError for the first port something already listens on, at the address the services bind."""
    for port, variable in listening_ports(settings):
        if _in_use(settings.host, port):
            raise PortInUseError(f"port {port} is in use; set {variable} to another port")


def _in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR, as the services bind: a connection of an earlier run still in TIME_WAIT is no conflict,
        # a listener is.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False
