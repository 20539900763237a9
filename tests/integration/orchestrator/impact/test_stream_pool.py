"""The stream pool against real evaluators on loopback: jobs answered once, stalls and breaks survived, refusals not.

The pool is driven as the fan-out drives it (fan_out.py): batches from the population as jobs,
answers handed to a callback that ends the work once every batch is answered.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.config import EvaluatorSettings
from evaluator.server import start as start_evaluator
from orchestrator.errors import DependencyOutageError, StepFailedError
from orchestrator.impact.batches import Batch, Job, RuleDocuments, batch_count, generate_batches
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.impact.stream_pool import JobSource, StreamPool
from orchestrator.runs.outages import DEFAULT_OUTAGES, OutagePolicy
from orchestrator.templates.step_policy import ErrorKind
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import SCHEME_RULES, reference_decisions
from tests.support.seeded_schemes import seeded_rules

SCHEMES = ("scheme_alpha", "scheme_gamma")  # baseline and proposed, as an impact analysis sends them
RULES = RuleDocuments.of([seeded_rules(scheme) for scheme in SCHEMES])
# A request with no document to decide under: the evaluator refuses it.
NO_DOCUMENTS = RuleDocuments(documents=(), attributes=frozenset({"age", "income"}))
NOWHERE = "127.0.0.1:1"  # nothing listens there


@dataclass
class Evaluation:
    """What the pool handed on: every answer, by job, and when each came."""

    answers: dict[int, list[evaluator_pb2.EvaluateStreamResponse]] = field(default_factory=lambda: defaultdict(list))
    jobs: dict[int, Job] = field(default_factory=dict)
    answered_at: dict[int, float] = field(default_factory=dict)
    restarts: int = 0
    # What stopped the pool, if anything did.
    error: BaseException | None = None


async def evaluate(
    credentials: Credentials,
    target: str,
    *,
    population: int,
    config: FanOutConfig,
    batch_timeout: float = 10.0,
    rules: RuleDocuments = RULES,
    outages: OutagePolicy = DEFAULT_OUTAGES,
) -> Evaluation:
    """Sends the population's batches through a StreamPool to `target`, as the orchestrator does; notes the error
    that stopped it, if any."""
    evaluation = Evaluation()
    job_ids = itertools.count()
    expected = batch_count(population, config.batch_size)
    loop = asyncio.get_running_loop()
    started = loop.time()

    def admit(batch: Batch) -> Job:
        job = Job(job_id=next(job_ids), batch=batch, start=0, stop=batch.size)
        evaluation.jobs[job.job_id] = job
        return job

    source = JobSource(generate_batches(population, config.batch_size, rules.attributes), admit)

    def deliver(job: Job, response: evaluator_pb2.EvaluateStreamResponse) -> None:
        evaluation.answers[job.job_id].append(response)
        evaluation.answered_at[job.job_id] = loop.time() - started
        if len(evaluation.answers) == expected:
            source.finish()

    async with credentials.aio_channel(
        target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR
    ) as channel:
        stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
        pool = StreamPool(
            stub,
            rules,
            source,
            deliver,
            config,
            streams=config.streams,
            batch_timeout=batch_timeout,
            outages=outages,
        )
        try:
            async with asyncio.TaskGroup() as group:
                await pool.run(group)
        except BaseExceptionGroup as errors:
            evaluation.error = errors.exceptions[0]
    evaluation.restarts = pool.restarts
    return evaluation


def run(background_loop: BackgroundLoop, scenario: Coroutine[Any, Any, Evaluation]) -> Evaluation:
    """On the loop the servers run on, as the other fan-out tests do: one event loop for all of grpc.aio."""
    return background_loop.run(asyncio.wait_for(scenario, timeout=60), timeout=70)


def step_failure(evaluation: Evaluation) -> StepFailedError:
    assert isinstance(evaluation.error, StepFailedError), evaluation.error
    return evaluation.error


def assert_each_job_answered_once_and_right(evaluation: Evaluation, *, population: int) -> None:
    assert evaluation.error is None
    assert sorted(evaluation.answers) == sorted(evaluation.jobs)
    assert all(len(answers) == 1 for answers in evaluation.answers.values()), "no job handed on twice"
    assert sum(job.size for job in evaluation.jobs.values()) == population
    for job_id, [answer] in evaluation.answers.items():
        batch = evaluation.jobs[job_id].batch
        for column, scheme in zip(answer.columns, SCHEMES, strict=True):
            ages, incomes = batch.columns.age, batch.columns.income
            assert ages is not None and incomes is not None
            expected = reference_decisions(ages, incomes, SCHEME_RULES[scheme]) + 1
            assert np.array_equal(np.array(column.decisions), expected), f"batch {batch.index} got another's answer"


@pytest.fixture
def stalling_evaluator(
    background_loop: BackgroundLoop, credentials: Credentials, request: pytest.FixtureRequest
) -> Iterator[str]:
    """An evaluator that holds back the answer of any batch holding CIT-0000123 (parametrised: how often)."""
    settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset({"CIT-0000123"}),
        evaluator_stall_seconds=20.0,
        evaluator_fault_times=request.param,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start_evaluator(settings), grace=0) as target:
        yield target


def test_every_job_is_answered_exactly_once_over_several_streams(
    background_loop: BackgroundLoop, credentials: Credentials, evaluator_target: str
) -> None:
    config = FanOutConfig(batch_size=50, streams=3, window=2)

    evaluation = run(background_loop, evaluate(credentials, evaluator_target, population=2_000, config=config))

    assert_each_job_answered_once_and_right(evaluation, population=2_000)
    assert len(evaluation.jobs) == 40
    assert evaluation.restarts == 0


@pytest.mark.parametrize("stalling_evaluator", [1], indirect=True)
def test_a_stalled_batch_is_sent_again_on_a_new_stream_after_the_batch_timeout(
    background_loop: BackgroundLoop, credentials: Credentials, stalling_evaluator: str
) -> None:
    config = FanOutConfig(batch_size=50, streams=2, window=2, max_stream_restarts=3)

    evaluation = run(
        background_loop, evaluate(credentials, stalling_evaluator, population=500, config=config, batch_timeout=1.0)
    )

    assert_each_job_answered_once_and_right(evaluation, population=500)
    assert evaluation.restarts == 1
    [stalled] = [job_id for job_id, job in evaluation.jobs.items() if job.batch.first_position == 101]
    assert 1.0 <= evaluation.answered_at[stalled] < 20.0, "answered by another stream, not by the stalled one"


@pytest.mark.parametrize("stalling_evaluator", [0], indirect=True)
def test_streams_that_keep_stalling_fail_the_step_as_timed_out_past_the_restart_limit(
    background_loop: BackgroundLoop, credentials: Credentials, stalling_evaluator: str
) -> None:
    config = FanOutConfig(batch_size=50, streams=1, window=2, max_stream_restarts=2)

    evaluation = run(
        background_loop, evaluate(credentials, stalling_evaluator, population=500, config=config, batch_timeout=0.3)
    )

    failure = step_failure(evaluation)
    assert failure.kind is ErrorKind.TIMEOUT
    assert "citizens from position 101 unanswered after 0.3 s" in str(failure)
    assert "restarted 2 times, the limit" in str(failure)
    assert evaluation.restarts == 3


def test_an_evaluator_out_of_reach_is_waited_for_past_the_restart_limit_then_fails_the_step_naming_it(
    background_loop: BackgroundLoop, credentials: Credentials
) -> None:
    config = FanOutConfig(batch_size=50, streams=2, window=2, max_stream_restarts=3)
    outages = OutagePolicy(limit_seconds=2.0, first_backoff_seconds=0.05, max_backoff_seconds=0.2)

    started = time.monotonic()
    evaluation = run(background_loop, evaluate(credentials, NOWHERE, population=500, config=config, outages=outages))

    failure = step_failure(evaluation)
    assert isinstance(failure, DependencyOutageError) and failure.kind is ErrorKind.UNAVAILABLE
    assert str(failure) == "the evaluator could not be reached for 2 s (DEPENDENCY_OUTAGE_SECONDS)"
    assert evaluation.restarts > 3, "the restart limit ended the wait"
    assert 1.5 <= time.monotonic() - started < 10
    assert evaluation.answers == {}


def test_a_batch_the_evaluator_refuses_fails_the_step_at_once_without_a_restart(
    background_loop: BackgroundLoop, credentials: Credentials, evaluator_target: str
) -> None:
    # One batch in flight per stream, so that none is being written when the refusal ends the call:
    # a write under way then makes grpc.aio report INTERNAL "Internal error from Core" instead of the
    # evaluator's INVALID_ARGUMENT, which the pool takes for a broken stream and restarts.
    config = FanOutConfig(batch_size=50, streams=2, window=1, max_stream_restarts=8)

    evaluation = run(
        background_loop, evaluate(credentials, evaluator_target, population=500, config=config, rules=NO_DOCUMENTS)
    )

    failure = step_failure(evaluation)
    assert failure.kind is ErrorKind.FAILED
    assert "INVALID_ARGUMENT" in str(failure)
    assert evaluation.restarts == 0
