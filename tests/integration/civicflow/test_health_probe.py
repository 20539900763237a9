"""`python -m civicflow.health_probe`, the containers' healthcheck: 0 for a SERVING server, 1 otherwise."""

from __future__ import annotations

from civicflow.health_probe import main
from civicflow.launch.settings import free_ports


def test_a_serving_server_passes_the_probe(evaluator_target: str) -> None:
    assert main([evaluator_target]) == 0


def test_a_named_service_of_a_serving_server_passes_the_probe(evaluator_target: str) -> None:
    assert main([evaluator_target, "--service", "civicflow.v1.EvaluatorService"]) == 0


def test_nothing_listening_fails_the_probe() -> None:
    (nobody,) = free_ports(1)
    assert main([f"127.0.0.1:{nobody}", "--timeout", "0.5"]) == 1
