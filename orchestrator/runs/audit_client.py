"""Writes step attempts to the audit service and reads an instance's trail back.

Appends from concurrent runs are coalesced: while CONCURRENT_CALLS AppendEntries calls are in
flight, the records of every run that asks meanwhile queue up and go in the next call,
together. Under load that is one call for several runs instead of one each, which is most of
the audit's cost per run; a lone run sees no delay. Each run's records stay contiguous and in
order, and a run sends its next records only once the audit service has taken the earlier ones.

A call that does not reach the audit service (UNAVAILABLE, DEADLINE_EXCEEDED: it is down or
restarting) is made again, with the same records, until it does or the outage outlasts its limit
(outages.py): idempotency keys make a record that did arrive the first time a no-op. While an
outage lasts, `unreachable` is true, and new runs are refused rather than started (replica.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.grpc_errors import CallFailure, classify_rpc_error
from civicflow.v1 import audit_pb2, audit_pb2_grpc
from orchestrator.errors import (
    AuditMismatchError,
    AuditUnavailableError,
    DependencyOutageError,
    DependencyUnavailableError,
)
from orchestrator.runs.outages import AUDIT_SERVICE, DEFAULT_OUTAGES, Outage, OutagePolicy

log = logging.getLogger(__name__)
# Entries the orchestrator adopts or accepts as its own must have been appended by it.
ORCHESTRATOR = ServiceIdentity.ORCHESTRATOR.value
# Records per call: well under the audit service's batch size and gRPC's message limit.
MAX_RECORDS_PER_CALL = 500
# Calls in flight at once: one would make every run wait behind the slowest commit.
CONCURRENT_CALLS = 4


@dataclass(frozen=True)
class _Request:
    records: Sequence[audit_pb2.AuditRecord]
    answer: asyncio.Future[list[audit_pb2.AuditEntry]]
    # The caller's context (its run's instance_id for log lines, its span for traces).
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


class AuditClient:
    def __init__(
        self, stub: audit_pb2_grpc.AuditServiceStub, *, timeout: float, outages: OutagePolicy = DEFAULT_OUTAGES
    ) -> None:
        self._stub = stub
        self._timeout = timeout
        self._outages = outages
        self._queue: deque[_Request] = deque()
        self._senders: set[asyncio.Task[None]] = set()
        # Calls waiting for the audit service to come back.
        self._waiting_out = 0

    @property
    def unreachable(self) -> bool:
        """Whether appends are waiting for the audit service to come back right now."""
        return self._waiting_out > 0

    async def append_before_commit(
        self, records: Sequence[audit_pb2.AuditRecord], *, timeout: float, what: str
    ) -> None:
        """Appends the entries of a change whose transaction commits only once they are stored.

        AuditUnavailableError, saying nothing was changed, if the audit service does not take them within
        `timeout`: the caller's transaction rolls back, and the same request sent again does the change again.
        """
        try:
            await asyncio.wait_for(self.append(records), timeout=timeout)
        except TimeoutError:
            raise AuditUnavailableError(
                f"the audit service did not record {what} in time; nothing was changed, send the request again"
            ) from None
        except AuditUnavailableError as error:
            raise AuditUnavailableError(f"{error}; nothing was changed, send the request again") from error

    async def append(self, records: Sequence[audit_pb2.AuditRecord]) -> list[audit_pb2.AuditEntry]:
        """Appends the records atomically and in order; AuditUnavailableError if the service did not take them.

        Every record carries an idempotency key, so appending an attempt again (after a crash,
        or a retry of a call whose answer was lost) stores nothing new.
        """
        answer: asyncio.Future[list[audit_pb2.AuditEntry]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(records, answer))
        if len(self._senders) < CONCURRENT_CALLS:
            # An empty context: a sender drains every run's records, so it must not carry the first caller's
            # instance_id (log lines) or span (traces).
            sender = asyncio.create_task(self._send_queued(), context=contextvars.Context())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        return await answer

    async def entries(self, instance_id: uuid.UUID) -> list[audit_pb2.AuditEntry]:
        try:
            reply = await self._stub.ListEntries(
                audit_pb2.ListEntriesRequest(instance_id=str(instance_id)), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            failure = classify_rpc_error(error)
            log.info(
                "audit trail not read",
                extra={"instance_id": str(instance_id), "error": str(failure), "details": failure.details},
            )
            dependency = AUDIT_SERVICE if failure.transient else None
            raise DependencyUnavailableError("the audit service is unavailable", dependency=dependency) from error
        return list(reply.entries)

    async def _send_queued(self) -> None:
        while self._queue:
            batch: list[_Request] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].records) <= MAX_RECORDS_PER_CALL):
                request = self._queue.popleft()
                batch.append(request)
                size += len(request.records)
            # The call belongs to the first caller's trace and log lines; a sender serves every run, and its own
            # context is empty.
            await asyncio.create_task(self._send(batch), context=batch[0].context.copy())

    async def _send(self, batch: list[_Request]) -> None:
        records = [record for request in batch for record in request.records]
        outage: Outage | None = None
        try:
            while True:
                try:
                    reply: audit_pb2.AppendEntriesResponse = await self._stub.AppendEntries(
                        audit_pb2.AppendEntriesRequest(records=records), timeout=self._timeout
                    )
                    break
                except grpc.aio.AioRpcError as error:
                    failure = classify_rpc_error(error)
                    if not failure.transient:
                        await self._refused(batch, str(failure), separately=failure.failure is CallFailure.REFUSED)
                        return
                    if outage is None:
                        outage = Outage(self._outages, AUDIT_SERVICE)
                        self._waiting_out += 1
                    try:
                        await outage.wait()
                    except DependencyOutageError as outlasted:
                        for request in batch:
                            _settle(request, error=_not_recorded(request, str(outlasted)))
                        return
        finally:
            if outage is not None:
                self._waiting_out -= 1
        if outage is not None:
            outage.healed()
        entries = list(reply.entries)
        for request in batch:
            answered, entries = entries[: len(request.records)], entries[len(request.records) :]
            mismatch = _first_mismatch(request.records, answered)
            if mismatch is None:
                _settle(request, entries=answered)
            else:
                log.error(
                    "audit entry differs from the record sent",
                    extra={"problem": mismatch, "instance_id": request.records[0].instance_id},
                )
                _settle(request, error=AuditMismatchError(mismatch))

    async def _refused(self, batch: list[_Request], why: str, *, separately: bool) -> None:
        if len(batch) > 1 and separately:
            for request in batch:  # one run's bad record must not fail the runs it shared a call with
                await self._send([request])
            return
        for request in batch:
            _settle(request, error=_not_recorded(request, why))


def _first_mismatch(sent: Sequence[audit_pb2.AuditRecord], stored: Sequence[audit_pb2.AuditEntry]) -> str | None:
    """What differs between the records sent and the entries the audit service answers for them, if anything.

    An idempotency key already taken (by an earlier append of the same attempt, or by anyone
    else before writers were identified) answers the entry stored under it: only an identical
    one is this attempt's record.
    """
    if len(stored) != len(sent):
        return f"the audit service answered {len(stored)} entries for {len(sent)} records"
    for record, entry in zip(sent, stored, strict=True):
        if entry.record != record or entry.writer != ORCHESTRATOR:
            fields = [
                field.name
                for field in record.DESCRIPTOR.fields
                if getattr(entry.record, field.name) != getattr(record, field.name)
            ]
            if entry.writer != ORCHESTRATOR:
                fields.append(f"writer {entry.writer or '(none)'!r}")
            return (
                f"audit entry {entry.seq} under key {record.idempotency_key} is not the record of step"
                f" '{record.step_name}' attempt {record.attempt} that was sent: it differs in {', '.join(fields)}"
            )
    return None


def _not_recorded(request: _Request, why: str) -> AuditUnavailableError:
    step = request.records[0].step_name if request.records else "?"
    return AuditUnavailableError(f"audit service did not record step '{step}': {why}")


def _settle(
    request: _Request, *, entries: list[audit_pb2.AuditEntry] | None = None, error: Exception | None = None
) -> None:
    if request.answer.done():  # its run was cancelled meanwhile
        return
    if error is not None:
        request.answer.set_exception(error)
    else:
        request.answer.set_result(entries or [])
