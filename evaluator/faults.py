"""Faults the evaluator injects on purpose for chosen citizens: failures and stalls, firing a set number of times.

They wrap the real servicer from outside (FaultInjectingServicer), so that the servicer itself
stays a plain translation of requests into decisions, and a process without faults runs none
of this code.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

import grpc
import numpy as np

from civicflow.auth.access import SERVICE_RULES
from civicflow.auth.guards import ServiceGuard, guarded
from civicflow.citizen_ids import population_citizen_id, population_position
from civicflow.grpc_errors import maps_errors
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.config import EvaluatorSettings
from evaluator.errors import STATUS_CODES, InjectedFaultError


class Fault(StrEnum):
    FAIL = "fail"
    STALL = "stall"


class FaultPlan:
    """Which citizens fail or stall, and how often each fault has fired for each citizen in this process."""

    def __init__(self, *, fail: frozenset[str], stall: frozenset[str], stall_seconds: float, times: int) -> None:
        self._citizens = {Fault.FAIL: fail, Fault.STALL: stall if stall_seconds > 0 else frozenset()}
        self._positions = {fault: _positions(ids) for fault, ids in self._citizens.items()}
        self._stall_seconds = stall_seconds
        self._times = times
        self._fired: Counter[tuple[Fault, str]] = Counter()

    @classmethod
    def from_settings(cls, settings: EvaluatorSettings) -> FaultPlan:
        return cls(
            fail=settings.evaluator_fail_citizens,
            stall=settings.evaluator_stall_citizens,
            stall_seconds=settings.evaluator_stall_seconds,
            times=settings.evaluator_fault_times,
        )

    @property
    def enabled(self) -> bool:
        return any(self._citizens.values())

    def describe(self) -> dict[str, Any]:
        return {
            "fail_citizens": sorted(self._citizens[Fault.FAIL]),
            "stall_citizens": sorted(self._citizens[Fault.STALL]),
            "stall_seconds": self._stall_seconds,
            "times_per_citizen": self._times or "always",
        }

    def fires(self, fault: Fault, citizen_id: str) -> bool:
        """Whether `fault` strikes this citizen now; counts the firing."""
        if citizen_id not in self._citizens[fault]:
            return False
        if self._times and self._fired[(fault, citizen_id)] >= self._times:
            return False
        self._fired[(fault, citizen_id)] += 1
        return True

    def fires_in_batch(self, fault: Fault, first_position: int, count: int) -> list[int]:
        """Indices, in a batch of `count` citizens from `first_position`, of those `fault` strikes now."""
        positions = self._positions[fault]
        if not positions.size:
            return []
        low, high = np.searchsorted(positions, [first_position, first_position + count])
        return [
            int(position) - first_position
            for position in positions[low:high].tolist()
            if self.fires(fault, population_citizen_id(position))
        ]

    @property
    def stall_seconds(self) -> float:
        return self._stall_seconds


def _positions(citizen_ids: frozenset[str]) -> np.ndarray:
    """Sorted positions of the population ids among `citizen_ids`.

    A batch names its citizens only by position (evaluator.proto, first_position), so only
    population ids can fire in one; other ids fire only in unary calls, which carry the id.
    """
    positions = [population_position(citizen_id) for citizen_id in citizen_ids]
    return np.array(sorted(position for position in positions if position is not None), dtype=np.int64)


# A batch's answer while a stall holds it back, and the end of the stream.
_END = object()


@maps_errors(STATUS_CODES)
@guarded
class FaultInjectingServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    """The evaluator with its fault plan applied: chosen citizens fail, or their answers come late."""

    def __init__(self, inner: evaluator_pb2_grpc.EvaluatorServiceServicer, faults: FaultPlan) -> None:
        self.guard = ServiceGuard(SERVICE_RULES)
        self._inner = inner
        self._faults = faults

    async def Evaluate(
        self, request: evaluator_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.EvaluateResponse:
        citizen_id = request.citizen.citizen_id
        if self._faults.fires(Fault.STALL, citizen_id):
            await asyncio.sleep(self._faults.stall_seconds)
        response: evaluator_pb2.EvaluateResponse = await self._inner.Evaluate(request, context)
        if self._faults.fires(Fault.FAIL, citizen_id):
            raise InjectedFaultError(_injected(citizen_id))
        return response

    async def EvaluateStream(
        self,
        request_iterator: AsyncIterator[evaluator_pb2.EvaluateStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[evaluator_pb2.EvaluateStreamResponse]:
        # The inner servicer's answers are read by a task of their own, so that a stalled batch's
        # answer can wait on a timer while later batches are answered: answers may come in any order.
        batches: dict[int, tuple[int, int]] = {}  # batch_id -> (first_position, citizens)
        answers: asyncio.Queue[Any] = asyncio.Queue()
        held_back: set[asyncio.Task[None]] = set()

        async def requests() -> AsyncIterator[evaluator_pb2.EvaluateStreamRequest]:
            async for request in request_iterator:
                batches[request.batch_id] = (request.first_position, request.size)
                yield request

        async def answer_later(response: evaluator_pb2.EvaluateStreamResponse) -> None:
            await asyncio.sleep(self._faults.stall_seconds)
            answers.put_nowait(response)

        async def read() -> None:
            try:
                async for response in self._inner.EvaluateStream(requests(), context):
                    first_position, size = batches.pop(response.batch_id)
                    self._fail_citizens(response, first_position, size)
                    if self._faults.fires_in_batch(Fault.STALL, first_position, size):
                        timer = asyncio.create_task(answer_later(response))
                        held_back.add(timer)
                        timer.add_done_callback(held_back.discard)
                    else:
                        answers.put_nowait(response)
                while held_back:
                    await asyncio.gather(*held_back)
                answers.put_nowait(_END)
            except Exception as error:  # handed to the answering side, which ends the call with it
                answers.put_nowait(error)

        reader = asyncio.create_task(read())
        try:
            while (answer := await answers.get()) is not _END:
                if isinstance(answer, BaseException):
                    raise answer
                yield answer
        finally:
            reader.cancel()
            for timer in list(held_back):
                timer.cancel()

    def _fail_citizens(self, response: evaluator_pb2.EvaluateStreamResponse, first_position: int, size: int) -> None:
        """Turns the answers of the citizens the plan fails into item errors, as an evaluator refusing them would."""
        failing = self._faults.fires_in_batch(Fault.FAIL, first_position, size)
        refused = {item.index for item in response.errors}
        failing = [index for index in failing if index not in refused]
        if not failing:
            return
        for column in response.columns:
            for index in failing:
                column.decisions[index] = evaluator_pb2.DECISION_UNSPECIFIED
        errors = [
            *response.errors,
            *(
                evaluator_pb2.ItemError(index=index, error=_injected(population_citizen_id(first_position + index)))
                for index in failing
            ),
        ]
        del response.errors[:]
        response.errors.extend(sorted(errors, key=lambda item: item.index))


def _injected(citizen_id: str) -> str:
    return f"injected fault: evaluation of {citizen_id} failed (EVALUATOR_FAIL_CITIZENS)"
