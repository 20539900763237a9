"""The fan-out's memory does not grow with the population: nothing holds its citizens, results or their rows."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from civicflow.auth.access import ServiceIdentity
from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.impact.fan_out import evaluate_population
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.impact.results_store import ImpactResultStore
from orchestrator.templates.step_policy import FAIL_FAST, NO_RETRY
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.impact_results import instance_for_results, migrate, stored_rows
from tests.support.seeded_schemes import overridden_rules, seeded_rules

LARGE = 200_000
# The population's rows as COPY text alone are ~12 MB (61 bytes a citizen); its columns another 2.8 MB.
BUDGET_BYTES = 6 * 1024 * 1024  # measured: ~3.4 MiB; ~24 MiB when the write buffer is let grow unbounded
CONFIG = FanOutConfig(batch_size=1000, streams=4, window=4, flush_bytes=256 * 1024, max_stream_restarts=0)
RULES = (seeded_rules("scheme_alpha"), overridden_rules(seeded_rules("scheme_alpha"), {"max_income": 200000}))


@pytest.fixture(scope="module")
def store(owner: sa.Engine) -> Iterator[ImpactResultStore]:
    migrate(owner)
    yield ImpactResultStore(owner)


def _peak_bytes(
    background_loop: BackgroundLoop,
    credentials: Credentials,
    evaluator_target: str,
    store: ImpactResultStore,
    instance: uuid.UUID,
) -> int:
    async def run() -> int:
        channel = credentials.aio_channel(
            evaluator_target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR
        )
        writer = store.open_writer(instance)
        assert writer.claim()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            await evaluate_population(
                stub=evaluator_pb2_grpc.EvaluatorServiceStub(channel),
                instance_id=instance,
                size=LARGE,
                rules=RULES,
                writer=writer,
                config=CONFIG,
                batch_timeout=30.0,
                retry=NO_RETRY,
                tolerance=FAIL_FAST,
                report_items=lambda done, total: None,
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            writer.commit()
            await channel.close()
        return peak

    return background_loop.run(run(), timeout=120)


def test_a_large_population_is_evaluated_within_a_small_fixed_memory_budget(
    background_loop: BackgroundLoop,
    credentials: Credentials,
    evaluator_target: str,
    store: ImpactResultStore,
    owner: sa.Engine,
) -> None:
    instance = instance_for_results(owner)

    peak = _peak_bytes(background_loop, credentials, evaluator_target, store, instance)

    assert stored_rows(owner, instance) == (LARGE, 1, LARGE)
    assert peak < BUDGET_BYTES, f"peak {peak / 2**20:.1f} MiB of Python allocations for {LARGE} citizens"
