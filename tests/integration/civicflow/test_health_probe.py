"""`python -m civicflow.health_probe`, the containers' healthcheck: 0 for a SERVING server, 1 otherwise.

The probe speaks plaintext: it asks a service's health port (HEALTH_PORT), which serves grpc.health.v1 alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.grpc_server import LIVENESS_SERVICE, RunningServer, start_grpc_server
from civicflow.health_probe import main
from civicflow.launch.settings import free_ports
from evaluator.config import EvaluatorSettings
from evaluator.server import start
from tests.support.background_loop import BackgroundLoop, running_on_loopback
from tests.support.credentials import Credentials


@pytest.fixture(scope="module")
def health_target(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    """The health port of a real evaluator."""
    settings = EvaluatorSettings(
        host="127.0.0.1", evaluator_port=0, health_port=0, **credentials.tls_settings(ServiceIdentity.EVALUATOR)
    )
    with running_on_loopback(background_loop, start(settings)) as running:
        yield f"127.0.0.1:{running.health_port}"


def test_a_serving_server_passes_the_probe(health_target: str) -> None:
    assert main([health_target]) == 0


def test_a_named_service_of_a_serving_server_passes_the_probe(health_target: str) -> None:
    assert main([health_target, "--service", "civicflow.v1.EvaluatorService"]) == 0


def test_nothing_listening_fails_the_probe() -> None:
    (nobody,) = free_ports(1)
    assert main([f"127.0.0.1:{nobody}", "--timeout", "0.5"]) == 1


async def _start_without_its_dependencies(credentials: Credentials) -> RunningServer:
    async def dependencies_down() -> bool:
        return False

    return await start_grpc_server(
        service_names=["civicflow.v1.EvaluatorService"],
        register=lambda server: None,
        host="127.0.0.1",
        port=0,
        identity=credentials.identity(ServiceIdentity.EVALUATOR),
        require_client_certificate=True,
        health_port=0,
        readiness=dependencies_down,
    )


def test_a_server_whose_dependencies_are_down_is_alive_but_not_ready(
    background_loop: BackgroundLoop, credentials: Credentials
) -> None:
    with running_on_loopback(background_loop, _start_without_its_dependencies(credentials)) as running:
        target = f"127.0.0.1:{running.health_port}"
        ready = main([target])
        ready_by_name = main([target, "--service", "civicflow.v1.EvaluatorService"])
        alive = main([target, "--service", LIVENESS_SERVICE])
        background_loop.run(running.health.enter_graceful_shutdown())
        alive_while_stopping = main([target, "--service", LIVENESS_SERVICE])

    # Readiness takes it out of service; liveness (what a restart would be decided on) stays until it stops.
    assert (ready, ready_by_name, alive) == (1, 1, 0)
    assert alive_while_stopping == 1
