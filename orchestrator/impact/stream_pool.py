"""Concurrent EvaluateStream calls that carry jobs to the evaluator replicas and survive a replica's failure.

Each of `streams` workers keeps one bidirectional stream open with at most `window` jobs
in flight. A stream that breaks (its replica died: UNAVAILABLE; or a job went unanswered
for `batch_timeout` seconds: a stalled replica) is cancelled, its unanswered jobs go back
to the front of the queue for any stream, and the worker opens a new stream, which
round_robin places on a replica that answers. Restarts after stalls are bounded per run;
a stream that cannot reach any evaluator (UNAVAILABLE: every replica down or restarting) is
opened again with a backoff until one answers, for up to the outage limit (runs/outages.py),
without counting as a restart. A job's
answer is handed on exactly once: it leaves `in_flight` when it is read, and a cancelled
stream is never read again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc

from civicflow.grpc_errors import CallFailure, DownstreamError, classify_rpc_error
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from orchestrator.errors import StepFailedError
from orchestrator.impact.batches import Batch, Job, RuleDocuments
from orchestrator.impact.fan_out_config import FanOutConfig
from orchestrator.runs.outages import DEFAULT_OUTAGES, EVALUATOR, Outage, OutagePolicy
from orchestrator.templates.step_policy import ErrorKind, RetryPolicy

log = logging.getLogger(__name__)

_RESTART_BACKOFF = RetryPolicy(initial_backoff_seconds=0.05, max_backoff_seconds=1.0)

Deliver = Callable[[Job, evaluator_pb2.EvaluateStreamResponse], None]


class JobSource:
    """Jobs for the streams: requeued and retried jobs first, then new batches while `admit` allows one."""

    def __init__(self, batches: Iterator[Batch], admit: Callable[[Batch], Job | None]) -> None:
        self._batches = batches
        self._admit = admit
        self._waiting: deque[Job] = deque()
        self._pending_batch: Batch | None = None
        self._exhausted = False
        self._finished = False
        self._changed = asyncio.Event()

    async def next(self) -> Job | None:
        """The next job to send; None once every batch is done and streams should close."""
        while True:
            if self._waiting:
                return self._waiting.popleft()
            if self._finished:
                return None
            if not self._exhausted:
                if self._pending_batch is None:
                    self._pending_batch = next(self._batches, None)
                    self._exhausted = self._pending_batch is None
                if self._pending_batch is not None:
                    job = self._admit(self._pending_batch)
                    if job is not None:
                        self._pending_batch = None
                        return job
            self._changed.clear()
            await self._changed.wait()

    def put_back(self, jobs: Sequence[Job]) -> None:
        """Jobs a broken stream left unanswered: sent again before anything else."""
        self._waiting.extendleft(reversed(jobs))
        self.wake()

    def add(self, job: Job) -> None:
        self._waiting.append(job)
        self.wake()

    def finish(self) -> None:
        self._finished = True
        self.wake()

    def wake(self) -> None:
        self._changed.set()


class StreamPool:
    def __init__(
        self,
        stub: evaluator_pb2_grpc.EvaluatorServiceStub,
        rules: RuleDocuments,
        source: JobSource,
        deliver: Deliver,
        config: FanOutConfig,
        *,
        streams: int,
        batch_timeout: float,
        outages: OutagePolicy = DEFAULT_OUTAGES,
    ) -> None:
        self._stub = stub
        self._rules = rules
        self._source = source
        self._deliver = deliver
        self._streams = streams
        self._window = config.window
        self._batch_timeout = batch_timeout
        self._max_restarts = config.max_stream_restarts
        self._answers = 0
        # Streams opened again after a break; those the limit counts leave out an evaluator outage.
        self.restarts = 0
        self._counted_restarts = 0
        self._outages = outages
        # The evaluators' outage the streams are waiting out, and the answers counted when it began.
        self._outage: Outage | None = None
        self._answers_before_outage = 0

    async def run(self, group: asyncio.TaskGroup) -> None:
        for number in range(self._streams):
            group.create_task(self._keep_streaming(number))

    async def _keep_streaming(self, number: int) -> None:
        failures_in_a_row = 0
        while True:
            answers_before = self._answers
            broken = await self._stream()
            if broken is None:
                return
            if self._answers > answers_before:  # answers came while it ran: not a failing streak, back off anew
                failures_in_a_row = 0
            if broken.failure is CallFailure.REFUSED:  # another stream would be refused the same
                raise StepFailedError(f"evaluator stream failed: {broken}", kind=ErrorKind.FAILED)
            self.restarts += 1
            waiting = self._outage is not None and self._answers == self._answers_before_outage
            log.log(
                logging.DEBUG if waiting else logging.WARNING,  # once per outage, not once per try
                "evaluator stream broke; its unanswered batches go to another stream",
                extra={
                    "stream": number,
                    "code": broken.code.name,
                    "details": broken.details,
                    "restarts": self.restarts,
                },
            )
            if broken.failure is CallFailure.UNAVAILABLE:  # no evaluator reached: an outage, not a failing stream
                await asyncio.sleep(self._outage_pause())
                continue
            self._counted_restarts += 1
            if self._counted_restarts > self._max_restarts:
                kind = ErrorKind.TIMEOUT if broken.failure is CallFailure.TIMEOUT else ErrorKind.UNAVAILABLE
                raise StepFailedError(
                    f"evaluator stream failed: {broken} (streams were restarted {self._max_restarts} times, the limit)",
                    kind=kind,
                )
            failures_in_a_row += 1
            await asyncio.sleep(_RESTART_BACKOFF.backoff_after(failures_in_a_row))

    def _outage_pause(self) -> float:
        """The pause before a stream tries again to reach an evaluator; DependencyOutageError past the limit.

        An outage is one for all streams, and over once any of them was answered again.
        """
        if self._outage is None or self._answers > self._answers_before_outage:
            if self._outage is not None:
                self._outage.healed()
            self._outage, self._answers_before_outage = Outage(self._outages, EVALUATOR), self._answers
        return self._outage.next_pause()

    async def _stream(self) -> DownstreamError | None:
        """One stream until the work is done (None) or it breaks: why, with its jobs put back."""
        loop = asyncio.get_running_loop()
        call = self._stub.EvaluateStream()  # no deadline for the whole stream: each job has its own
        in_flight: dict[int, tuple[Job, float]] = {}  # in send order, so the first is the oldest
        slots = asyncio.Semaphore(self._window)
        sent = asyncio.Event()

        async def send() -> None:
            while True:
                await slots.acquire()
                job = await self._source.next()
                if job is None:
                    break
                in_flight[job.job_id] = (job, loop.time())
                sent.set()
                await call.write(job.request(self._rules))
            await call.done_writing()

        async def receive() -> None:
            async for response in call:
                entry = in_flight.pop(response.batch_id, None)
                if entry is None:
                    raise StepFailedError(
                        f"evaluator answered batch {response.batch_id}, which was not sent on its stream",
                        kind=ErrorKind.INTERNAL,
                    )
                slots.release()
                self._answers += 1
                self._deliver(entry[0], response)

        async def watch() -> Job:
            while True:
                if not in_flight:
                    sent.clear()
                    await sent.wait()
                    continue
                job, sent_at = next(iter(in_flight.values()))
                remaining = sent_at + self._batch_timeout - loop.time()
                if remaining <= 0:
                    return job
                await asyncio.sleep(remaining)

        sender = asyncio.create_task(send())
        receiver = asyncio.create_task(receive())
        watchdog = asyncio.create_task(watch())
        broken: DownstreamError | None = None
        try:
            await self._until_receiver_or_watchdog(sender, receiver, watchdog)
            if watchdog.done():
                stalled = watchdog.result()
                broken = DownstreamError(
                    CallFailure.TIMEOUT,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"citizens from position {stalled.batch.first_position + stalled.start}"
                    f" unanswered after {self._batch_timeout:g} s",
                )
            else:
                try:
                    receiver.result()
                except grpc.aio.AioRpcError as error:
                    broken = classify_rpc_error(error)
                else:
                    if in_flight or not sender.done():
                        broken = DownstreamError(
                            CallFailure.UNAVAILABLE,
                            grpc.StatusCode.UNAVAILABLE,
                            "stream ended before its work was done",
                        )
        finally:
            call.cancel()
            for task in (sender, receiver, watchdog):
                task.cancel()
            # Their errors are the broken call's, already read above; only a cancellation of this task propagates.
            await asyncio.gather(sender, receiver, watchdog, return_exceptions=True)
        if broken is not None:
            self._source.put_back([job for job, _ in in_flight.values()])
        return broken

    @staticmethod
    async def _until_receiver_or_watchdog(
        sender: asyncio.Task[None], receiver: asyncio.Task[None], watchdog: asyncio.Task[Job]
    ) -> None:
        """Waits for the stream's answers to end or stall; a sender that fails on its own (a defect, not the
        call ending, which the receiver reports) ends the wait with its error."""
        waiting: set[asyncio.Task[Any]] = {sender, receiver, watchdog}
        while not (receiver.done() or watchdog.done()):
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if sender.done() and sender in waiting:
                waiting.discard(sender)
                error = None if sender.cancelled() else sender.exception()
                if error is not None and not isinstance(error, grpc.aio.AioRpcError | asyncio.InvalidStateError):
                    raise error
