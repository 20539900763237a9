"""The evaluator over a real gRPC server: unary and batched streaming decisions, errors, health, reflection."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.settings import REPO_ROOT
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.rules import Rules, decide
from tests.support.credentials import Credentials

ALPHA = Rules(scheme_name="scheme_alpha", min_age=18, max_age=60, max_income=250000.0)
GAMMA = Rules(scheme_name="scheme_gamma", min_age=60, max_age=99, max_income=120000.0)


@pytest.fixture
def channel(credentials: Credentials, evaluator_target: str) -> Iterator[grpc.Channel]:
    """As the orchestrator connects: with its certificate."""
    with credentials.channel(
        evaluator_target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR
    ) as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.Channel) -> evaluator_pb2_grpc.EvaluatorServiceStub:
    return evaluator_pb2_grpc.EvaluatorServiceStub(channel)


def evaluate_request(age: int, income: float, rules: Rules = ALPHA) -> evaluator_pb2.EvaluateRequest:
    return evaluator_pb2.EvaluateRequest(
        citizen=evaluator_pb2.CitizenProfile(citizen_id="c-1", age=age, income=income),
        rules=rules.to_proto(),
    )


def test_evaluate_returns_the_decision_and_every_reason(stub: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    reply = stub.Evaluate(evaluate_request(45, 240000.0), timeout=5)

    assert reply.decision == evaluator_pb2.DECISION_NEEDS_REVIEW
    assert [(reason.criterion, reason.passed) for reason in reply.reasons] == [
        ("age", True),
        ("income_ceiling", True),
        ("review_band", False),
    ]
    assert reply.reasons[2].detail == "income 240000 is at or above 90% of the ceiling (225000)"


def test_evaluate_excludes_by_age_before_looking_at_income(stub: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    reply = stub.Evaluate(evaluate_request(61, 230000.0), timeout=5)

    assert reply.decision == evaluator_pb2.DECISION_NOT_ELIGIBLE


@pytest.mark.parametrize(
    ("request_message", "message_part"),
    [
        (evaluator_pb2.EvaluateRequest(rules=ALPHA.to_proto()), "no citizen"),
        (evaluator_pb2.EvaluateRequest(citizen=evaluator_pb2.CitizenProfile(age=30, income=1.0)), "no rules"),
        (evaluate_request(30, -1.0), "income"),
        (evaluate_request(30, float("nan")), "income"),
        (evaluate_request(200, 1.0), "age"),
        (
            evaluator_pb2.EvaluateRequest(
                citizen=evaluator_pb2.CitizenProfile(age=30, income=1.0),
                rules=evaluator_pb2.EligibilityRules(scheme_name="bad", min_age=60, max_age=18, max_income=1.0),
            ),
            "min_age",
        ),
    ],
)
def test_evaluate_refuses_bad_input_as_invalid_argument(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub, request_message: evaluator_pb2.EvaluateRequest, message_part: str
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Evaluate(request_message, timeout=5)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message_part in (raised.value.details() or "")


def test_stream_answers_each_batch_once_with_one_column_per_rule_set(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    rng = np.random.default_rng(7)
    batches = {
        batch_id: (rng.integers(18, 81, size=500).tolist(), rng.uniform(50000, 300000, size=500).tolist())
        for batch_id in range(1, 6)
    }
    requests = [
        evaluator_pb2.EvaluateStreamRequest(
            batch_id=batch_id, rule_sets=[ALPHA.to_proto(), GAMMA.to_proto()], ages=ages, incomes=incomes
        )
        for batch_id, (ages, incomes) in batches.items()
    ]

    responses = list(stub.EvaluateStream(iter(requests), timeout=10))

    assert sorted(response.batch_id for response in responses) == sorted(batches)
    for response in responses:
        ages, incomes = batches[response.batch_id]
        assert len(response.columns) == 2
        for column, rules in zip(response.columns, (ALPHA, GAMMA), strict=True):
            expected = [decide(age, income, rules).decision for age, income in zip(ages, incomes, strict=True)]
            assert list(column.decisions) == expected


def test_stream_answers_an_empty_batch_with_empty_columns(stub: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    request = evaluator_pb2.EvaluateStreamRequest(batch_id=9, rule_sets=[ALPHA.to_proto()])

    (response,) = list(stub.EvaluateStream(iter([request]), timeout=5))

    assert response.batch_id == 9
    assert [list(column.decisions) for column in response.columns] == [[]]


@pytest.mark.parametrize(
    ("bad_batch", "message_part"),
    [
        (
            evaluator_pb2.EvaluateStreamRequest(batch_id=2, rule_sets=[ALPHA.to_proto()], ages=[30, 40], incomes=[1.0]),
            "one income per age",
        ),
        (evaluator_pb2.EvaluateStreamRequest(batch_id=2, ages=[30], incomes=[1.0]), "at least one rule set"),
        (
            evaluator_pb2.EvaluateStreamRequest(
                batch_id=2,
                rule_sets=[evaluator_pb2.EligibilityRules(scheme_name="bad", min_age=9, max_age=1)],
                ages=[30],
                incomes=[1.0],
            ),
            "min_age",
        ),
    ],
)
def test_stream_refuses_a_malformed_batch_as_invalid_argument(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub, bad_batch: evaluator_pb2.EvaluateStreamRequest, message_part: str
) -> None:
    good = evaluator_pb2.EvaluateStreamRequest(batch_id=1, rule_sets=[ALPHA.to_proto()], ages=[30], incomes=[1.0])
    received: list[evaluator_pb2.EvaluateStreamResponse] = []

    with pytest.raises(grpc.RpcError) as raised:
        for response in stub.EvaluateStream(iter([good, bad_batch]), timeout=5):
            received.append(response)

    assert [response.batch_id for response in received] == [1]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch 2" in (raised.value.details() or "")
    assert message_part in (raised.value.details() or "")


def test_health_reports_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)

    for service in ("", "civicflow.v1.EvaluatorService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_evaluator_service(channel: grpc.Channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

    (reply,) = list(
        reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    )

    names = {service.name for service in reply.list_services_response.service}
    assert "civicflow.v1.EvaluatorService" in names
    assert "grpc.health.v1.Health" in names


def test_entry_point_serves_then_exits_cleanly_on_sigterm(credentials: Credentials) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "EVALUATOR_PORT": str(port),
        "HOST": "127.0.0.1",
        "SHUTDOWN_GRACE_SECONDS": "2",
        **credentials.environment(ServiceIdentity.EVALUATOR),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "evaluator"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert _becomes_serving(credentials, f"127.0.0.1:{port}", deadline=time.monotonic() + 20), (
            "evaluator never became SERVING"
        )
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, output.decode()
    assert b"termination requested" in output


def _becomes_serving(credentials: Credentials, target: str, *, deadline: float) -> bool:
    with credentials.channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                time.sleep(0.1)
                continue
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return True
    return False
