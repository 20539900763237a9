"""gRPC adapter of the evaluator: proto messages in, evaluation.py decisions out; nothing kept between calls."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc

from civicflow.auth.access import SERVICE_RULES
from civicflow.auth.guards import ServiceGuard, guarded
from civicflow.grpc_errors import maps_errors
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from evaluator import metrics
from evaluator.errors import STATUS_CODES, BatchRefusedError, EvaluatorError
from evaluator.evaluation import evaluate_batch, evaluate_one
from evaluator.rules import CompiledDocuments


@maps_errors(STATUS_CODES)
@guarded
class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    """Keeps no state between calls or stream messages, so any replica can serve any of them.

    The one thing it keeps is compiled documents, by their bytes' hash: saved work, never an answer.
    Only the services access.SERVICE_RULES names (the orchestrator) may call it.
    """

    def __init__(self) -> None:
        self.guard = ServiceGuard(SERVICE_RULES)
        self._compiled = CompiledDocuments()

    async def Evaluate(
        self, request: evaluator_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.EvaluateResponse:
        if request.HasField("document"):  # without one, evaluate_one says so
            await self._compiled.compile_new([request.document], field="document")
        answer = evaluate_one(request, self._compiled)
        metrics.evaluated_one()
        return answer

    async def EvaluateStream(
        self,
        request_iterator: AsyncIterator[evaluator_pb2.EvaluateStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[evaluator_pb2.EvaluateStreamResponse]:
        async for request in request_iterator:
            try:
                await self._compiled.compile_new(request.documents, field="documents")
                started = time.perf_counter()
                answer = evaluate_batch(request, self._compiled)
                metrics.evaluated_batch(request.size, time.perf_counter() - started)
            except EvaluatorError as error:
                # Ends the stream, after the answers to the batches before it.
                raise BatchRefusedError.of(request.batch_id, error) from error
            yield answer
