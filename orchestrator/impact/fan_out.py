"""Evaluates a whole mock population over concurrent EvaluateStream calls, in bounded memory, tolerating item failures.

Batches are generated lazily and sent as jobs over a StreamPool (failover between
replicas); answers are checked and folded into per-batch decision columns. A citizen the
evaluator could not evaluate (an ItemError) is retried per the step's retry policy, in a
job of its own after the policy's backoff, when the policy names its kind, `failed`;
otherwise, or once its attempts are spent, it is a failure of its own. A batch whose
every citizen is decided or failed goes to the OrderedSink, which writes it. As soon as
the failures exceed what the step tolerates, the step fails, naming the first of them.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from civicflow.citizen_ids import population_citizen_id
from civicflow.rules.attributes import ATTRIBUTES
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from orchestrator.errors import StepFailedError
from orchestrator.impact.batches import Batch, Job, RuleDocuments, batch_count, generate_batches
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.impact.ordered_sink import CompletedBatch, OrderedSink
from orchestrator.impact.outcome import PopulationOutcome
from orchestrator.impact.results_store import ResultWriter
from orchestrator.impact.stream_pool import JobSource, StreamPool
from orchestrator.runs.outages import OutagePolicy
from orchestrator.tasks.contract import ItemProgress
from orchestrator.templates.step_policy import ErrorKind, FailureTolerance, RetryPolicy

# The evaluator's ItemError is a refusal to decide that citizen; a policy retries it only if it names `failed`.
ITEM_ERROR_KIND = ErrorKind.FAILED
# Failures listed in the outcome (and the report); `failed` counts them all.
FAILURE_LIST_LIMIT = 1000
# Citizens a step failure names, of those that failed.
_NAMED_IN_ERROR = 5


class _OpenBatch:
    """A batch sent and not yet complete: decisions so far, and how many citizens are still undecided."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.proposed = np.zeros(batch.size, dtype=np.int8)
        self.baseline = np.zeros(batch.size, dtype=np.int8)
        self.undecided = batch.size
        self.failures: dict[int, str] = {}


class _FanOut:
    def __init__(
        self,
        *,
        size: int,
        rule_count: int,
        sink: OrderedSink,
        retry: RetryPolicy,
        tolerance: FailureTolerance,
        report_items: ItemProgress,
    ) -> None:
        self._size = size
        self._rule_count = rule_count
        self._sink = sink
        self._retry = retry
        self._allowed_failures = tolerance.allowed(size)
        self._tolerance = tolerance
        self._report_items = report_items
        self._job_ids = itertools.count()
        self._open: dict[int, _OpenBatch] = {}
        self._outstanding: dict[int, Job] = {}
        self._expected_batches = 0
        self._completed_batches = 0
        self._done_items = 0
        self._failed = 0
        self._first_failed: list[tuple[int, str]] = []
        self._retry_timers: set[asyncio.Task[None]] = set()
        self.source: JobSource | None = None

    def admit(self, batch: Batch) -> Job | None:
        """A batch's first job, if the sink has room for one more batch."""
        if not self._sink.has_room():
            return None
        self._sink.admit()
        self._open[batch.index] = _OpenBatch(batch)
        return self._job(batch, 0, batch.size, attempt=1)

    def deliver(self, job: Job, response: evaluator_pb2.EvaluateStreamResponse) -> None:
        """Folds one answer in; an answer to a job already answered changes nothing."""
        if self._outstanding.pop(job.job_id, None) is None:
            return
        open_batch = self._open[job.batch.index]
        proposed, baseline, errors, decided = self._checked(job, response)
        section = slice(job.start, job.stop)
        open_batch.proposed[section] = np.where(decided, proposed, 0)
        open_batch.baseline[section] = np.where(decided, baseline, 0)
        open_batch.undecided -= int(decided.sum())
        if errors:
            self._handle_item_errors(open_batch, job, errors)
        if open_batch.undecided == 0:
            self._complete(open_batch)

    def _checked(
        self, job: Job, response: evaluator_pb2.EvaluateStreamResponse
    ) -> tuple[np.ndarray, np.ndarray, dict[int, str], np.ndarray]:
        """Proposed, baseline, item errors and the mask of decided citizens, from an answer that must fit its job."""
        if len(response.columns) != self._rule_count:
            raise _protocol_error(job, f"{len(response.columns)} decision columns for {self._rule_count} documents")
        baseline, proposed = (np.array(column.decisions, dtype=np.int8) for column in response.columns)
        if len(baseline) != job.size or len(proposed) != job.size:
            raise _protocol_error(job, f"{len(baseline)} decisions for {job.size} citizens")
        errors = {item.index: item.error for item in response.errors}
        if any(index >= job.size for index in errors):
            raise _protocol_error(job, "an item error for a citizen it was not sent")
        decided = np.ones(job.size, dtype=np.bool_)
        decided[list(errors)] = False
        for column in (baseline, proposed):
            if np.any((column[decided] < 1) | (column[decided] > 3)):
                raise _protocol_error(job, "a decision that is not ELIGIBLE, NOT_ELIGIBLE or NEEDS_REVIEW")
        return proposed, baseline, errors, decided

    def _handle_item_errors(self, open_batch: _OpenBatch, job: Job, errors: dict[int, str]) -> None:
        offsets = sorted(job.start + index for index in errors)
        if self._retry.allows_another(attempt=job.attempt, kind=ITEM_ERROR_KIND):
            retries = [self._job(job.batch, start, stop, attempt=job.attempt + 1) for start, stop in _runs(offsets)]
            self._after(self._retry.backoff_after(job.attempt), retries)
            return
        for offset in offsets:
            error = errors[offset - job.start]
            open_batch.failures[offset] = error
            open_batch.undecided -= 1
            self._failed += 1
            self._first_failed.append((job.batch.first_position + offset, error))
        # All of one answer's failures are counted before judging, so the error names them all.
        self._first_failed = sorted(self._first_failed)[:_NAMED_IN_ERROR]
        if self._failed > self._allowed_failures:
            named = "; ".join(f"{population_citizen_id(p)}: {e}" for p, e in self._first_failed)
            unnamed = self._failed - len(self._first_failed)
            more = f" and {unnamed} more" if unnamed else ""
            raise StepFailedError(
                f"{self._failed} citizens failed evaluation, more than the {self._allowed_failures} of {self._size}"
                f" tolerated ({_describe(self._tolerance)}); the step stopped there, the rest unevaluated."
                f" Failed: {named}{more}",
                kind=ITEM_ERROR_KIND,
            )

    def _complete(self, open_batch: _OpenBatch) -> None:
        batch = open_batch.batch
        del self._open[batch.index]
        self._sink.accept(
            CompletedBatch(
                index=batch.index,
                first_position=batch.first_position,
                categories=batch.categories,
                proposed=open_batch.proposed,
                baseline=open_batch.baseline,
                failures=sorted(open_batch.failures.items()),
            )
        )
        self._completed_batches += 1
        self._done_items += batch.size
        self._report_items(self._done_items, self._size)
        if self._completed_batches == self._expected_batches:
            self._jobs().finish()

    def _job(self, batch: Batch, start: int, stop: int, *, attempt: int) -> Job:
        job = Job(job_id=next(self._job_ids), batch=batch, start=start, stop=stop, attempt=attempt)
        self._outstanding[job.job_id] = job
        return job

    def _after(self, delay: float, jobs: list[Job]) -> None:
        async def send_later() -> None:
            await asyncio.sleep(delay)
            for job in jobs:
                self._jobs().add(job)

        timer = asyncio.create_task(send_later())
        self._retry_timers.add(timer)
        timer.add_done_callback(self._retry_timers.discard)

    def _jobs(self) -> JobSource:
        assert self.source is not None
        return self.source

    async def run(self, pool: StreamPool, expected_batches: int) -> None:
        self._expected_batches = expected_batches
        try:
            async with asyncio.TaskGroup() as group:
                await pool.run(group)
        finally:
            for timer in list(self._retry_timers):
                timer.cancel()


async def evaluate_population(
    *,
    stub: evaluator_pb2_grpc.EvaluatorServiceStub,
    instance_id: uuid.UUID,
    size: int,
    rules: Sequence[Mapping[str, Any]],
    writer: ResultWriter,
    config: FanOutConfig,
    batch_timeout: float,
    retry: RetryPolicy,
    tolerance: FailureTolerance,
    report_items: ItemProgress,
    outage_seconds: float = 300.0,
) -> PopulationOutcome:
    """Decides every citizen under the rule values rules[0] (baseline) and rules[1] (proposed); writes them with
    `writer`. Only the citizen attributes the documents read are sent."""
    documents = RuleDocuments.of(rules)
    unknown = documents.attributes.difference(ATTRIBUTES)
    if unknown:  # parse_document refuses such a document; this guards the registry against one that slipped by
        raise StepFailedError(f"the rule documents read {', '.join(sorted(unknown))}, which no citizen has")
    expected = batch_count(size, config.batch_size)
    source: JobSource | None = None
    sink = OrderedSink(
        instance_id,
        writer,
        capacity=config.streams * config.window * 2,
        flush_bytes=config.flush_bytes,
        failure_limit=FAILURE_LIST_LIMIT,
        on_room=lambda: source.wake() if source is not None else None,
    )
    fan_out = _FanOut(
        size=size,
        rule_count=len(documents.documents),
        sink=sink,
        retry=retry,
        tolerance=tolerance,
        report_items=report_items,
    )
    source = fan_out.source = JobSource(generate_batches(size, config.batch_size, documents.attributes), fan_out.admit)
    pool = StreamPool(
        stub,
        documents,
        source,
        fan_out.deliver,
        config,
        streams=min(config.streams, expected),
        batch_timeout=batch_timeout,
        outages=OutagePolicy(limit_seconds=outage_seconds),
    )
    try:
        async with asyncio.TaskGroup() as group:
            writer_task = group.create_task(sink.run_writer())
            await fan_out.run(pool, expected)
            sink.close()
            await writer_task
    except BaseExceptionGroup as errors:
        raise _first_error(errors) from None
    if sink.written_batches != expected:
        raise StepFailedError(f"population evaluation incomplete: {sink.written_batches} of {expected} batches written")
    return sink.outcome()


def _runs(offsets: list[int]) -> list[tuple[int, int]]:
    """Ascending offsets as [start, stop) runs of consecutive ones: a request names citizens from its first one."""
    runs: list[tuple[int, int]] = []
    for offset in offsets:
        if runs and runs[-1][1] == offset:
            runs[-1] = (runs[-1][0], offset + 1)
        else:
            runs.append((offset, offset + 1))
    return runs


def _first_error(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped the fan-out, out of the groups its task groups wrap it in."""
    first = errors.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


def _protocol_error(job: Job, problem: str) -> StepFailedError:
    return StepFailedError(
        f"evaluator answered the batch from position {job.batch.first_position + job.start} with {problem}",
        kind=ErrorKind.INTERNAL,
    )


def _describe(tolerance: FailureTolerance) -> str:
    if tolerance.count is not None:
        return f"tolerated_failures {tolerance.count}"
    return f"tolerated_failures {tolerance.fraction:g} of the population"
