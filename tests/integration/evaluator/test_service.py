"""The evaluator over a real gRPC server: unary and batched streaming decisions, errors, health, reflection."""

from __future__ import annotations

import json
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
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from civicflow.auth.access import ServiceIdentity
from civicflow.rules.compiled import compile_rules
from civicflow.rules.document import parse_document
from civicflow.settings import REPO_ROOT
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from tests.support.credentials import Credentials
from tests.support.scheme_documents import rule_document, seed_rule_document
from tests.support.seeded_schemes import seeded_document

ALPHA = seed_rule_document("scheme_alpha")
DELTA = seed_rule_document("scheme_delta")


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


def evaluate_request(
    age: int, income: float, document: evaluator_pb2.RuleDocument = ALPHA, **citizen: object
) -> evaluator_pb2.EvaluateRequest:
    return evaluator_pb2.EvaluateRequest(
        citizen=evaluator_pb2.CitizenProfile(citizen_id="c-1", age=age, income=income, **citizen),  # type: ignore[arg-type]
        document=document,
    )


def test_evaluate_returns_the_decision_every_reason_and_the_rule_hash(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    reply = stub.Evaluate(evaluate_request(45, 240000.0), timeout=5)

    assert reply.decision == evaluator_pb2.DECISION_NEEDS_REVIEW
    assert [(reason.criterion, reason.kind, reason.passed) for reason in reply.reasons] == [
        ("age", "exclusion", True),
        ("income_ceiling", "exclusion", True),
        ("review_band", "review", False),
    ]
    assert reply.reasons[2].detail == "failed: income clearly below the ceiling"
    assert json.loads(reply.reasons[0].values_json) == {"age": 45, "min_age": 18, "max_age": 60}
    assert reply.rule_hash == parse_document(seeded_document("scheme_alpha")).rule_hash


def test_evaluate_decides_under_any_document(stub: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    with_disability = evaluate_request(68, 1000.0, DELTA, category=1, household_size=1, has_disability=True)
    without = evaluate_request(68, 1000.0, DELTA, category=1, household_size=1, has_disability=False)

    assert stub.Evaluate(with_disability, timeout=5).decision == evaluator_pb2.DECISION_ELIGIBLE
    assert stub.Evaluate(without, timeout=5).decision == evaluator_pb2.DECISION_NOT_ELIGIBLE


def test_evaluate_excludes_by_age_before_looking_at_income(stub: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    reply = stub.Evaluate(evaluate_request(61, 230000.0), timeout=5)

    assert reply.decision == evaluator_pb2.DECISION_NOT_ELIGIBLE


def _badly_typed() -> evaluator_pb2.RuleDocument:
    content = seeded_document("scheme_alpha")
    content["criteria"][1]["test"] = {"<=": [{"var": "category"}, {"param": "max_income"}]}
    return rule_document(content)


@pytest.mark.parametrize(
    ("request_message", "message_part"),
    [
        (evaluator_pb2.EvaluateRequest(document=ALPHA), "no citizen"),
        (evaluator_pb2.EvaluateRequest(citizen=evaluator_pb2.CitizenProfile(age=30, income=1.0)), "no rule document"),
        (evaluate_request(30, -1.0), "income"),
        (evaluate_request(30, float("nan")), "income"),
        (evaluate_request(200, 1.0), "age"),
        (evaluate_request(30, 1.0, DELTA, category=1, household_size=0), "household_size"),
        (evaluate_request(30, 1.0, DELTA, household_size=1), "category"),
        (evaluate_request(30, 1.0, _badly_typed()), "criterion 'income_ceiling': '<=' needs numbers"),
        (evaluate_request(30, 1.0, evaluator_pb2.RuleDocument(document_json="[")), "not JSON"),
    ],
)
def test_evaluate_refuses_bad_input_as_invalid_argument(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub, request_message: evaluator_pb2.EvaluateRequest, message_part: str
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Evaluate(request_message, timeout=5)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message_part in (raised.value.details() or "")


def test_stream_answers_each_batch_once_with_one_column_per_document(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    rng = np.random.default_rng(7)
    size = 500
    batches = {
        batch_id: {
            "ages": rng.integers(18, 81, size=size).tolist(),
            "incomes": rng.uniform(50000, 300000, size=size).tolist(),
            "categories": rng.integers(1, 5, size=size).tolist(),
            "household_sizes": rng.integers(1, 9, size=size).tolist(),
            "disabilities": (rng.random(size) < 0.05).tolist(),
        }
        for batch_id in range(1, 6)
    }
    requests = [
        evaluator_pb2.EvaluateStreamRequest(batch_id=batch_id, documents=[ALPHA, DELTA], size=size, **columns)
        for batch_id, columns in batches.items()
    ]
    compiled = [compile_rules(parse_document(seeded_document(name))) for name in ("scheme_alpha", "scheme_delta")]

    responses = list(stub.EvaluateStream(iter(requests), timeout=10))

    assert sorted(response.batch_id for response in responses) == sorted(batches)
    for response in responses:
        columns = batches[response.batch_id]
        arrays = {
            "age": np.array(columns["ages"], dtype=np.int32),
            "income": np.array(columns["incomes"]),
            "category": np.array(columns["categories"], dtype=np.int32),
            "household_size": np.array(columns["household_sizes"], dtype=np.int32),
            "has_disability": np.array(columns["disabilities"]),
        }
        assert len(response.columns) == 2
        for column, rules in zip(response.columns, compiled, strict=True):
            assert list(column.decisions) == rules.decide_columns(arrays).tolist()


def test_stream_answers_an_empty_batch_with_empty_columns(stub: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    request = evaluator_pb2.EvaluateStreamRequest(batch_id=9, documents=[ALPHA])

    (response,) = list(stub.EvaluateStream(iter([request]), timeout=5))

    assert response.batch_id == 9
    assert [list(column.decisions) for column in response.columns] == [[]]


@pytest.mark.parametrize(
    ("bad_batch", "message_part"),
    [
        (
            evaluator_pb2.EvaluateStreamRequest(batch_id=2, documents=[ALPHA], size=2, ages=[30, 40], incomes=[1.0]),
            "column incomes has 1 values",
        ),
        (
            evaluator_pb2.EvaluateStreamRequest(batch_id=2, documents=[DELTA], size=1, ages=[30], incomes=[1.0]),
            "column categories is empty",
        ),
        (
            evaluator_pb2.EvaluateStreamRequest(batch_id=2, size=1, ages=[30], incomes=[1.0]),
            "at least one rule document",
        ),
        (
            evaluator_pb2.EvaluateStreamRequest(
                batch_id=2, documents=[ALPHA, _badly_typed()], size=1, ages=[30], incomes=[1.0]
            ),
            "documents[1].document_json.criteria[1].test.<=[0]: criterion 'income_ceiling'",
        ),
    ],
)
def test_stream_refuses_a_malformed_batch_as_invalid_argument(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub, bad_batch: evaluator_pb2.EvaluateStreamRequest, message_part: str
) -> None:
    good = evaluator_pb2.EvaluateStreamRequest(batch_id=1, documents=[ALPHA], size=1, ages=[30], incomes=[1.0])
    received: list[evaluator_pb2.EvaluateStreamResponse] = []

    with pytest.raises(grpc.RpcError) as raised:
        for response in stub.EvaluateStream(iter([good, bad_batch]), timeout=5):
            received.append(response)

    assert [response.batch_id for response in received] == [1]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch 2" in (raised.value.details() or "")
    assert message_part in (raised.value.details() or "")


def test_stream_answers_impossible_citizens_with_item_errors(stub: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    request = evaluator_pb2.EvaluateStreamRequest(
        batch_id=3,
        documents=[DELTA],
        size=3,
        ages=[30, 30, 30],
        incomes=[1.0, 1.0, 1.0],
        categories=[1, 0, 2],
        household_sizes=[1, 1, 101],
        disabilities=[False, False, False],
    )

    (response,) = list(stub.EvaluateStream(iter([request]), timeout=5))

    assert [item.index for item in response.errors] == [1, 2]
    assert list(response.columns[0].decisions) == [
        evaluator_pb2.DECISION_ELIGIBLE,
        evaluator_pb2.DECISION_UNSPECIFIED,
        evaluator_pb2.DECISION_UNSPECIFIED,
    ]


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


def _violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found = []
    for detail in status.details:
        request = error_details_pb2.BadRequest()
        if detail.Unpack(request):
            found += [(violation.field, violation.description) for violation in request.field_violations]
    return found


def test_a_document_that_does_not_check_comes_back_with_each_problem_as_a_field_violation(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    stream = evaluator_pb2.EvaluateStreamRequest(batch_id=5, documents=[_badly_typed()], size=1, ages=[30], incomes=[1])

    with pytest.raises(grpc.RpcError) as unary:
        stub.Evaluate(evaluate_request(30, 1.0, _badly_typed()), timeout=5)
    with pytest.raises(grpc.RpcError) as streamed:
        list(stub.EvaluateStream(iter([stream]), timeout=5))

    problem = "criterion 'income_ceiling': '<=' needs numbers; this is a string"
    assert _violations(unary.value) == [("document.document_json.criteria[1].test.<=[0]", problem)]
    assert _violations(streamed.value) == [("documents[0].document_json.criteria[1].test.<=[0]", problem)]
