"""The evaluator's fault hooks over a real gRPC server: chosen citizens fail or stall, the rest is answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.rules.compiled import compile_rules
from civicflow.rules.document import parse_document
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.config import EvaluatorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.scheme_documents import seed_rule_document
from tests.support.seeded_schemes import seeded_document

SCHEMES = ("scheme_alpha", "scheme_gamma")
ALPHA = seed_rule_document("scheme_alpha")
STALL_SECONDS = 1.0


def _serve(
    background_loop: BackgroundLoop, credentials: Credentials, **faults: Any
) -> Iterator[evaluator_pb2_grpc.EvaluatorServiceStub]:
    """An evaluator with `faults`, called as the orchestrator calls it."""
    from evaluator.server import start

    settings = EvaluatorSettings(
        host="127.0.0.1", evaluator_port=0, **faults, **credentials.tls_settings(ServiceIdentity.EVALUATOR)
    )
    with (
        serve_on_loopback(background_loop, start(settings)) as target,
        credentials.channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR) as channel,
    ):
        yield evaluator_pb2_grpc.EvaluatorServiceStub(channel)


@pytest.fixture(scope="module")
def faulty(
    background_loop: BackgroundLoop, credentials: Credentials
) -> Iterator[evaluator_pb2_grpc.EvaluatorServiceStub]:
    """Fails CIT-0000003 and CIT-0000005 every time; stalls CIT-0000101."""
    yield from _serve(
        background_loop,
        credentials,
        evaluator_fail_citizens=frozenset({"CIT-0000003", "CIT-0000005", "CIT-9"}),
        evaluator_stall_citizens=frozenset({"CIT-0000101", "CIT-77"}),
        evaluator_stall_seconds=STALL_SECONDS,
    )


@pytest.fixture
def fails_once(
    background_loop: BackgroundLoop, credentials: Credentials
) -> Iterator[evaluator_pb2_grpc.EvaluatorServiceStub]:
    yield from _serve(
        background_loop, credentials, evaluator_fail_citizens=frozenset({"CIT-0000002"}), evaluator_fault_times=1
    )


def _batch(
    batch_id: int, first_position: int, ages: list[int], incomes: list[float]
) -> evaluator_pb2.EvaluateStreamRequest:
    return evaluator_pb2.EvaluateStreamRequest(
        batch_id=batch_id,
        documents=[seed_rule_document(name) for name in SCHEMES],
        size=len(ages),
        ages=ages,
        incomes=incomes,
        first_position=first_position,
    )


def test_chosen_citizens_fail_alone_and_the_rest_of_the_batch_stands(
    faulty: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    ages, incomes = [30, 65, 40, 25, 70, 50], [100000.0, 90000.0, 240000.0, 10.0, 300000.0, 1.0]

    (response,) = list(faulty.EvaluateStream(iter([_batch(4, 1, ages, incomes)]), timeout=5))

    assert [(error.index, error.error) for error in response.errors] == [
        (2, "injected fault: evaluation of CIT-0000003 failed (EVALUATOR_FAIL_CITIZENS)"),
        (4, "injected fault: evaluation of CIT-0000005 failed (EVALUATOR_FAIL_CITIZENS)"),
    ]
    for column, name in zip(response.columns, SCHEMES, strict=True):
        rules = compile_rules(parse_document(seeded_document(name)))
        expected = [rules.explain({"age": a, "income": i}).decision for a, i in zip(ages, incomes, strict=True)]
        expected[2] = expected[4] = evaluator_pb2.DECISION_UNSPECIFIED
        assert list(column.decisions) == expected


def test_an_impossible_citizen_is_an_item_error_not_a_refused_batch(
    faulty: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    (response,) = list(faulty.EvaluateStream(iter([_batch(1, 500, [30, 200], [1.0, 1.0])]), timeout=5))

    assert [(error.index, "age" in error.error) for error in response.errors] == [(1, True)]
    assert [list(column.decisions)[0] for column in response.columns] == [
        evaluator_pb2.DECISION_ELIGIBLE,
        evaluator_pb2.DECISION_NOT_ELIGIBLE,
    ]


def test_a_fault_limited_to_once_fails_the_first_time_only(
    fails_once: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    batches = [_batch(1, 1, [30, 30, 30], [1.0, 1.0, 1.0]), _batch(2, 1, [30, 30, 30], [1.0, 1.0, 1.0])]

    first, second = fails_once.EvaluateStream(iter(batches), timeout=5)

    assert [error.index for error in first.errors] == [1]
    assert list(second.errors) == []
    assert list(second.columns[0].decisions) == [evaluator_pb2.DECISION_ELIGIBLE] * 3


def test_a_stalled_batch_is_answered_late_without_holding_up_the_next(
    faulty: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    stalled = _batch(1, 100, [30, 30], [1.0, 1.0])  # positions 100 and 101
    prompt = _batch(2, 200, [30], [1.0])
    started = time.monotonic()
    arrivals = []

    for response in faulty.EvaluateStream(iter([stalled, prompt]), timeout=10):
        arrivals.append((response.batch_id, time.monotonic() - started))

    assert [batch_id for batch_id, _ in arrivals] == [2, 1]
    assert arrivals[0][1] < STALL_SECONDS <= arrivals[1][1]


def test_a_unary_call_for_a_failing_citizen_ends_internal(faulty: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    request = evaluator_pb2.EvaluateRequest(
        citizen=evaluator_pb2.CitizenProfile(citizen_id="CIT-9", age=30, income=1.0), document=ALPHA
    )

    with pytest.raises(grpc.RpcError) as raised:
        faulty.Evaluate(request, timeout=5)

    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "injected fault: evaluation of CIT-9 failed" in (raised.value.details() or "")


def test_a_unary_call_for_a_stalled_citizen_outlives_a_short_deadline(
    faulty: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    request = evaluator_pb2.EvaluateRequest(
        citizen=evaluator_pb2.CitizenProfile(citizen_id="CIT-77", age=30, income=1.0), document=ALPHA
    )

    with pytest.raises(grpc.RpcError) as raised:
        faulty.Evaluate(request, timeout=STALL_SECONDS / 4)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    reply = faulty.Evaluate(request, timeout=STALL_SECONDS * 5)
    assert reply.decision == evaluator_pb2.DECISION_ELIGIBLE
