"""gRPC adapter of the evaluator: proto messages in, evaluation.py decisions out, with the fault hooks' stalls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc

from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator.errors import EvaluatorError, status_code_for
from evaluator.evaluation import evaluate_batch, evaluate_one
from evaluator.faults import Fault, FaultPlan

log = logging.getLogger(__name__)


class _Refused:
    """A batch the stream must end on, with its error, after the answers queued before it."""

    def __init__(self, batch_id: int, error: EvaluatorError) -> None:
        self.batch_id = batch_id
        self.error = error


_END = object()
Answer = evaluator_pb2.EvaluateStreamResponse | _Refused | BaseException | object


class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    """Keeps no state between calls or stream messages, so any replica can serve any of them.

    The fault plan's firing counts are the one exception, by design: "fail once" is per process.
    """

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self._faults = faults or FaultPlan(fail=frozenset(), stall=frozenset(), stall_seconds=0.0, times=0)

    async def Evaluate(
        self, request: evaluator_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.EvaluateResponse:
        if self._faults.fires(Fault.STALL, request.citizen.citizen_id):
            await asyncio.sleep(self._faults.stall_seconds)
        try:
            response = evaluate_one(request, self._faults)
        except EvaluatorError as error:
            await context.abort(status_code_for(error), str(error))
        return response

    async def EvaluateStream(
        self,
        request_iterator: AsyncIterator[evaluator_pb2.EvaluateStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[evaluator_pb2.EvaluateStreamResponse]:
        # Requests are read and answered by a reader task, so that a stalled batch's answer can
        # wait on a timer while later batches are answered: responses may come in any order.
        answers: asyncio.Queue[Answer] = asyncio.Queue()
        held_back: set[asyncio.Task[None]] = set()

        async def answer_later(delay: float, response: evaluator_pb2.EvaluateStreamResponse) -> None:
            await asyncio.sleep(delay)
            answers.put_nowait(response)

        async def read() -> None:
            try:
                async for request in request_iterator:
                    try:
                        response = evaluate_batch(request, self._faults)
                    except EvaluatorError as error:
                        answers.put_nowait(_Refused(request.batch_id, error))
                        return
                    if self._faults.fires_in_batch(Fault.STALL, request.first_position, len(request.ages)):
                        timer = asyncio.create_task(answer_later(self._faults.stall_seconds, response))
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
        batches = 0
        try:
            while (answer := await answers.get()) is not _END:
                if isinstance(answer, _Refused):
                    log.info("batch refused", extra={"batch_id": answer.batch_id, "error": str(answer.error)})
                    await context.abort(status_code_for(answer.error), f"batch {answer.batch_id}: {answer.error}")
                if isinstance(answer, BaseException):
                    raise answer
                assert isinstance(answer, evaluator_pb2.EvaluateStreamResponse)
                batches += 1
                yield answer
        finally:
            reader.cancel()
            for timer in list(held_back):
                timer.cancel()
        log.debug("stream ended", extra={"batches": batches})
